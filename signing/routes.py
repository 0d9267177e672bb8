"""HTTP for signing: agreements, change requests, terminations and the packages an agreement holds. Thin."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.audit import audited
from core.auth import STAFF, Role, current_actor, requires
from core.idempotency import idempotent
from core.pagination import one_page, page_schema
from signing import access, agreement_packages, service
from signing import schemas as s

my_agreements_blp = Blueprint("my-agreements", __name__, url_prefix="/api/v1/me", description="The calling resident's agreements")
agreements_blp = Blueprint("agreements", __name__, url_prefix="/api/v1/agreements", description="Signing agreements")
agreement_packages_blp = Blueprint("agreement-packages", __name__, url_prefix="/api/v1/agreements",
                                   description="The packages an agreement includes")
blueprints = [my_agreements_blp, agreements_blp, agreement_packages_blp]


@my_agreements_blp.route("/agreements")
class MyAgreements(MethodView):
    @audited("agreement.list")
    @requires(Role.RESIDENT)
    @my_agreements_blp.response(200, page_schema(s.AgreementSchema))
    def get(self):
        """The agreements of the caller and their household"""
        return one_page(service.agreements_of(current_actor()))


@agreements_blp.route("")
class Agreements(MethodView):
    @audited("agreement.sign", with_the_write=True)
    @requires(Role.RESIDENT, *STAFF)
    @idempotent
    @agreements_blp.arguments(s.SignRequestSchema)
    @agreements_blp.response(201, page_schema(s.AgreementSchema))
    @agreements_blp.alt_response(200, schema=page_schema(s.AgreementSchema), description="Already signed with this centre")
    def post(self, body):
        """Sign residents with a centre for the current cycle"""
        agreements, created = service.sign(current_actor(), **body)
        return one_page(agreements), 201 if created else 200

    @audited("agreement.list")
    @requires(*STAFF)
    @agreements_blp.arguments(s.AgreementQuerySchema, location="query")
    @agreements_blp.response(200, page_schema(s.AgreementSchema))
    def get(self, query):
        """The agreements of the caller's centre, a page at a time"""
        return service.centre_agreements(current_actor(), **query)


@agreements_blp.route("/<int:agreement_id>")
class AgreementById(MethodView):
    @audited("agreement.read")
    @requires(Role.RESIDENT, *STAFF, Role.BUREAU)
    @agreements_blp.response(200, s.AgreementSchema)
    def get(self, agreement_id):
        """One agreement"""
        return access.get_agreement(current_actor(), agreement_id)


@agreements_blp.route("/<int:agreement_id>/change-requests")
class ChangeRequests(MethodView):
    @audited("change_request.create")
    @requires(Role.RESIDENT, *STAFF)
    @agreements_blp.arguments(s.ChangeRequestInSchema)
    @agreements_blp.response(201, s.ChangeRequestSchema)
    def post(self, body, agreement_id):
        """Ask to change centre from the next cycle (only inside the change period)"""
        return service.request_change(current_actor(), agreement_id, **body)


@agreements_blp.route("/<int:agreement_id>/termination")
class Termination(MethodView):
    @audited("agreement.terminate")
    @requires(*STAFF)
    @agreements_blp.arguments(s.TerminationSchema)
    @agreements_blp.response(200, s.AgreementSchema)
    def post(self, body, agreement_id):
        """Terminate an agreement with a reason"""
        return service.terminate(current_actor(), agreement_id, **body)


@agreement_packages_blp.route("/<int:agreement_id>/packages")
class AgreementPackages(MethodView):
    @audited("agreement_package.list")
    @requires(Role.RESIDENT, *STAFF, Role.BUREAU)
    @agreement_packages_blp.response(200, page_schema(s.AgreementPackageSchema))
    def get(self, agreement_id):
        """Every package the agreement has had, current and dropped"""
        return one_page(agreement_packages.agreement_packages(current_actor(), agreement_id=agreement_id))

    @audited("agreement_package.add")
    @requires(Role.RESIDENT, *STAFF)
    @agreement_packages_blp.arguments(s.PackageChoiceSchema)
    @agreement_packages_blp.response(201, s.AgreementPackageSchema)
    def post(self, body, agreement_id):
        """Add a personalised package to a running agreement"""
        return agreement_packages.add_package(current_actor(), agreement_id=agreement_id, **body)


@agreement_packages_blp.route("/<int:agreement_id>/packages/<code>")
class AgreementPackageByCode(MethodView):
    @audited("agreement_package.remove")
    @requires(Role.RESIDENT, *STAFF)
    @agreement_packages_blp.response(200, s.AgreementPackageSchema)
    def delete(self, agreement_id, code):
        """Drop a personalised package (kept in the history with the day it ended)"""
        return agreement_packages.drop_package(current_actor(), agreement_id=agreement_id, code=code)
