"""HTTP for follow-ups: the worklist, visits, their records, completion, a household's visits. Thin views."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from care import followups
from care import schemas as s
from core.audit import audited
from core.auth import STAFF, Role, current_actor, requires
from core.pagination import one_page, page_schema

followups_blp = Blueprint("followups", __name__, url_prefix="/api/v1", description="Follow-up visits")
blueprints = [followups_blp]


@followups_blp.route("/worklist")
class Worklist(MethodView):
    @audited("worklist.read")
    @requires(*STAFF)
    @followups_blp.arguments(s.WorklistQuerySchema, location="query")
    @followups_blp.response(200, page_schema(s.VisitSchema))
    def get(self, query):
        """The team's due and overdue visits, most urgent first"""
        return followups.worklist(current_actor(), **query)


@followups_blp.route("/visits/<int:visit_id>")
class VisitById(MethodView):
    @audited("visit.read")
    @requires(*STAFF)
    @followups_blp.response(200, s.VisitSchema)
    def get(self, visit_id):
        """One scheduled visit"""
        return followups.get_visit(current_actor(), visit_id)


@followups_blp.route("/visits/<int:visit_id>/records")
class VisitRecords(MethodView):
    @audited("visit_record.read")
    @requires(*STAFF)
    @followups_blp.response(200, page_schema(s.VisitRecordSchema))
    def get(self, visit_id):
        """The visit's record with every correction"""
        return one_page(followups.visit_records(current_actor(), visit_id=visit_id))

    @audited("visit_record.create")
    @requires(Role.DOCTOR)
    @followups_blp.arguments(s.VisitRecordInSchema)
    @followups_blp.response(201, s.VisitRecordSchema)
    def post(self, body, visit_id):
        """Log a visit made (date, mode, vitals, findings, referral)"""
        return followups.log_visit(current_actor(), visit_id=visit_id, **body)


@followups_blp.route("/visit-records/<int:record_id>")
class VisitRecordById(MethodView):
    @audited("visit_record.update")
    @requires(Role.DOCTOR)
    @followups_blp.arguments(s.VisitRecordInSchema)
    @followups_blp.response(200, s.VisitRecordSchema)
    def put(self, body, record_id):
        """Correct a record (its author only); the earlier revision is kept"""
        return followups.correct_record(current_actor(), record_id=record_id, **body)


@followups_blp.route("/followups/completion")
class Completion(MethodView):
    @audited("followup.completion.read")
    @requires(*STAFF)
    @followups_blp.arguments(s.CompletionQuerySchema, location="query")
    @followups_blp.response(200, page_schema(s.CompletionRowSchema))
    def get(self, query):
        """Completion per team and programme for visits whose on-time range closes in the period"""
        return one_page(followups.completion(current_actor(), **query))


@followups_blp.route("/me/visits")
class MyVisits(MethodView):
    @audited("visit.list")
    @requires(Role.RESIDENT)
    @followups_blp.response(200, page_schema(s.VisitSchema))
    def get(self):
        """The follow-up visits of the caller and their household"""
        return one_page(followups.visits_of_household(current_actor()))


@followups_blp.route("/residents/<int:resident_id>/visits")
class ResidentPlan(MethodView):
    @audited("plan.read")
    @requires(*STAFF)
    @followups_blp.response(200, page_schema(s.VisitSchema))
    def get(self, resident_id):
        """A resident's whole plan: every visit by due date, done and upcoming too (audited)"""
        return one_page(followups.plan_of(current_actor(), resident_id=resident_id))
