"""HTTP for the package catalogue, agreement packages, health facts and follow-ups. Thin views."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import STAFF, Role, current_actor, public, requires
from core.pagination import page_schema
from packages import followups, health, service
from packages import schemas as s

packages_blp = Blueprint("packages", __name__, url_prefix="/api/v1/packages", description="The service-package catalogue")
agreement_packages_blp = Blueprint("agreement-packages", __name__, url_prefix="/api/v1/agreements",
                                   description="The packages an agreement includes")
health_blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Health facts that drive follow-ups")
followups_blp = Blueprint("followups", __name__, url_prefix="/api/v1", description="Follow-up visits")
blueprints = [packages_blp, agreement_packages_blp, health_blp, followups_blp]


@packages_blp.route("")
class Packages(MethodView):
    @public
    @packages_blp.arguments(s.PackageQuerySchema, location="query")
    @packages_blp.response(200, s.PackageSchema(many=True))
    def get(self, query):
        """The 2025 package catalogue, optionally with a centre's prices or only what the calling resident may choose"""
        return service.list_packages(tier=query["tier"], centre_id=query["centre"], eligible_for=query["eligible_for"])


@packages_blp.route("/<code>")
class PackageByCode(MethodView):
    @public
    @packages_blp.arguments(s.PackageDetailQuerySchema, location="query")
    @packages_blp.response(200, s.PackageSchema)
    def get(self, query, code):
        """One package with its service items"""
        return service.get_package(code, centre_id=query["centre"])


@packages_blp.route("/<code>/prices/<int:centre_id>")
class PackagePrice(MethodView):
    @requires(Role.CENTRE_ADMIN)
    @packages_blp.arguments(s.PriceInSchema)
    @packages_blp.response(200, s.PriceSchema)
    def put(self, body, code, centre_id):
        """Set the centre's price of a personalised package (integer fen)"""
        return service.set_price(current_actor(), code=code, centre_id=centre_id, **body)


@agreement_packages_blp.route("/<int:agreement_id>/packages")
class AgreementPackages(MethodView):
    @requires(Role.RESIDENT, *STAFF, Role.BUREAU)
    @agreement_packages_blp.response(200, s.AgreementPackageSchema(many=True))
    def get(self, agreement_id):
        """Every package the agreement has had, current and dropped"""
        return service.agreement_packages(current_actor(), agreement_id=agreement_id)

    @requires(Role.RESIDENT, *STAFF)
    @agreement_packages_blp.arguments(s.PackageChoiceSchema)
    @agreement_packages_blp.response(201, s.AgreementPackageSchema)
    def post(self, body, agreement_id):
        """Add a personalised package to a running agreement"""
        return service.add_package(current_actor(), agreement_id=agreement_id, **body)


@agreement_packages_blp.route("/<int:agreement_id>/packages/<code>")
class AgreementPackageByCode(MethodView):
    @requires(Role.RESIDENT, *STAFF)
    @agreement_packages_blp.response(200, s.AgreementPackageSchema)
    def delete(self, agreement_id, code):
        """Drop a personalised package (kept in the history with the day it ended)"""
        return service.drop_package(current_actor(), agreement_id=agreement_id, code=code)


@health_blp.route("/residents/<int:resident_id>/health")
class ResidentHealth(MethodView):
    @requires(*STAFF)
    @health_blp.response(200, s.HealthSchema)
    def get(self, resident_id):
        """A resident's conditions, pregnancies, tags and key populations"""
        return health.health_of(current_actor(), resident_id=resident_id)


@health_blp.route("/residents/<int:resident_id>/conditions")
class Conditions(MethodView):
    @requires(Role.DOCTOR)
    @health_blp.arguments(s.ConditionInSchema)
    @health_blp.response(201, s.ConditionSchema)
    def post(self, body, resident_id):
        """Record a diagnosis (hypertension, type-2 diabetes, COPD, TB, severe mental disorder, ...)"""
        return health.record_condition(current_actor(), resident_id=resident_id, **body)


@health_blp.route("/residents/<int:resident_id>/pregnancies")
class Pregnancies(MethodView):
    @requires(Role.DOCTOR)
    @health_blp.arguments(s.PregnancyInSchema)
    @health_blp.response(201, s.PregnancySchema)
    def post(self, body, resident_id):
        """Register a pregnancy by last menstrual period or expected delivery date"""
        return health.register_pregnancy(current_actor(), resident_id=resident_id, **body)


@health_blp.route("/pregnancies/<int:pregnancy_id>/delivery")
class Delivery(MethodView):
    @requires(Role.DOCTOR)
    @health_blp.arguments(s.DeliveryInSchema)
    @health_blp.response(200, s.PregnancySchema)
    def post(self, body, pregnancy_id):
        """Record the delivery: prenatal visits end, postpartum visits are planned"""
        return health.record_delivery(current_actor(), pregnancy_id=pregnancy_id, **body)


@health_blp.route("/residents/<int:resident_id>/tags")
class Tags(MethodView):
    @requires(Role.DOCTOR)
    @health_blp.arguments(s.TagInSchema)
    @health_blp.response(201, s.TagInSchema)
    def post(self, body, resident_id):
        """Record a key-population tag: disabled, poverty-alleviated, special family-planning family"""
        return health.record_tag(current_actor(), resident_id=resident_id, **body)


@followups_blp.route("/worklist")
class Worklist(MethodView):
    @requires(*STAFF)
    @followups_blp.arguments(s.WorklistQuerySchema, location="query")
    @followups_blp.response(200, page_schema(s.VisitSchema))
    def get(self, query):
        """The team's due and overdue visits, most urgent first"""
        return followups.worklist(current_actor(), **query)


@followups_blp.route("/visits/<int:visit_id>")
class VisitById(MethodView):
    @requires(*STAFF)
    @followups_blp.response(200, s.VisitSchema)
    def get(self, visit_id):
        """One scheduled visit"""
        return followups.get_visit(current_actor(), visit_id)


@followups_blp.route("/visits/<int:visit_id>/records")
class VisitRecords(MethodView):
    @requires(*STAFF)
    @followups_blp.response(200, s.VisitRecordListSchema)
    def get(self, visit_id):
        """The visit's record with every correction"""
        return {"records": followups.visit_records(current_actor(), visit_id=visit_id)}

    @requires(Role.DOCTOR)
    @followups_blp.arguments(s.VisitRecordInSchema)
    @followups_blp.response(201, s.VisitRecordSchema)
    def post(self, body, visit_id):
        """Log a visit made (date, mode, vitals, findings, referral)"""
        return followups.log_visit(current_actor(), visit_id=visit_id, **body)


@followups_blp.route("/visit-records/<int:record_id>")
class VisitRecordById(MethodView):
    @requires(Role.DOCTOR)
    @followups_blp.arguments(s.VisitRecordInSchema)
    @followups_blp.response(200, s.VisitRecordSchema)
    def put(self, body, record_id):
        """Correct a record (its author only); the earlier revision is kept"""
        return followups.correct_record(current_actor(), record_id=record_id, **body)


@followups_blp.route("/followups/completion")
class Completion(MethodView):
    @requires(*STAFF)
    @followups_blp.arguments(s.CompletionQuerySchema, location="query")
    @followups_blp.response(200, s.CompletionSchema)
    def get(self, query):
        """Completion per team and programme for visits whose window closes in the period"""
        return {"rows": followups.completion(current_actor(), **query)}


@followups_blp.route("/me/visits")
class MyVisits(MethodView):
    @requires(Role.RESIDENT)
    @followups_blp.response(200, s.VisitListSchema)
    def get(self):
        """The follow-up visits of the caller and their household"""
        return {"visits": followups.visits_of_household(current_actor())}
