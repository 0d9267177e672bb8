"""HTTP for logins, identity, centres, residents and agreements. Thin: the rules are in the services."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core import audit
from core.auth import STAFF, Role, current_actor, public, requires
from core.errors import DomainError
from core.idempotency import idempotent
from core.pagination import page_schema
from signing import access, accounts, registry, service
from signing import schemas as s

auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Logins: residents, staff, bureau systems")
me_blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The calling resident")
centres_blp = Blueprint("centres", __name__, url_prefix="/api/v1/centres", description="Health centres to sign with")
residents_blp = Blueprint("residents", __name__, url_prefix="/api/v1/residents", description="Residents, for staff")
agreements_blp = Blueprint("agreements", __name__, url_prefix="/api/v1/agreements", description="Signing agreements")
blueprints = [auth_blp, me_blp, centres_blp, residents_blp, agreements_blp]


@auth_blp.route("/wechat-login")
class WechatLogin(MethodView):
    @public
    @auth_blp.arguments(s.WechatLoginSchema)
    @auth_blp.response(200, s.WechatTokenSchema)
    def post(self, body):
        """Log a resident in with a wx.login() code"""
        return accounts.wechat_login(**body)


@auth_blp.route("/staff-login")
class StaffLogin(MethodView):
    @public
    @auth_blp.arguments(s.StaffLoginSchema)
    @auth_blp.response(200, s.TokenSchema)
    def post(self, body):
        """Log a doctor, centre admin or bureau user in"""
        return accounts.staff_login(**body)


@auth_blp.route("/token")
class ClientToken(MethodView):
    @public
    @auth_blp.arguments(s.ClientCredentialsSchema, location="form")
    @auth_blp.response(200, s.TokenSchema)
    def post(self, body):
        """Give a bureau system a token (client credentials)"""
        return accounts.client_token(client_id=body["client_id"], client_secret=body["client_secret"])


@me_blp.route("")
class Me(MethodView):
    @requires(Role.RESIDENT)
    @me_blp.response(200, s.MeSchema)
    def get(self):
        """The calling resident and their household"""
        return access.resident_of(current_actor())


@me_blp.route("/identity")
class Identity(MethodView):
    @requires(Role.RESIDENT)
    @me_blp.arguments(s.IdentitySchema)
    @me_blp.response(200, s.ResidentSchema)
    def post(self, body):
        """Bind the caller's WeChat account to their resident ID"""
        return accounts.bind_identity(current_actor(), **body)


@me_blp.route("/household-members")
class HouseholdMembers(MethodView):
    @requires(Role.RESIDENT)
    @me_blp.arguments(s.HouseholdMemberSchema)
    @me_blp.response(201, s.ResidentSchema)
    def post(self, body):
        """Register a family member in the caller's household"""
        return accounts.add_household_member(current_actor(), **body)


@me_blp.route("/agreements")
class MyAgreements(MethodView):
    @requires(Role.RESIDENT)
    @me_blp.response(200, s.AgreementListSchema)
    def get(self):
        """The agreements of the caller and their household"""
        return {"agreements": service.agreements_of(current_actor())}


@centres_blp.route("")
class Centres(MethodView):
    @public
    @centres_blp.arguments(s.CentreQuerySchema, location="query")
    @centres_blp.response(200, s.CentreSchema(many=True))
    def get(self, query):
        """Centres a resident can sign with, with their village clinics and teams"""
        return registry.list_centres(**query)


@centres_blp.route("/<int:centre_id>")
class CentreById(MethodView):
    @public
    @centres_blp.response(200, s.CentreSchema)
    def get(self, centre_id):
        """One centre"""
        return registry.get_centre(centre_id)


@residents_blp.route("")
class Residents(MethodView):
    @requires(*STAFF)
    @residents_blp.arguments(s.OnSiteRegistrationSchema)
    @residents_blp.response(201, s.ResidentSchema)
    @residents_blp.alt_response(200, schema=s.ResidentSchema, description="Already registered: the existing resident")
    def post(self, body):
        """Register a resident on site, or find them by ID number"""
        resident, created = accounts.register_on_site(current_actor(), **body)
        audit.record("resident.register" if created else "resident.read", "resident", resident.id)
        return resident, 201 if created else 200


@residents_blp.route("/<int:resident_id>")
class ResidentById(MethodView):
    @requires(*STAFF, Role.BUREAU)
    @residents_blp.response(200, s.ResidentSchema)
    def get(self, resident_id):
        """One resident (ID number and phone masked)"""
        try:
            resident = access.get_resident(current_actor(), resident_id)
        except DomainError as refused:
            audit.record("resident.read", "resident", resident_id, outcome=f"refused_{refused.status}")
            raise
        audit.record("resident.read", "resident", resident_id)
        return resident

    @requires(*STAFF)
    @residents_blp.arguments(s.ResidentUpdateSchema)
    @residents_blp.response(200, s.ResidentSchema)
    def patch(self, body, resident_id):
        """Record insurance and health-record facts of a resident"""
        resident = service.update_insurance(current_actor(), resident_id, **body)
        audit.record("resident.update", "resident", resident_id, fields=sorted(body))
        return resident


@agreements_blp.route("")
class Agreements(MethodView):
    @requires(Role.RESIDENT, *STAFF)
    @idempotent
    @agreements_blp.arguments(s.SignRequestSchema)
    @agreements_blp.response(201, s.SignResultSchema)
    @agreements_blp.alt_response(200, schema=s.SignResultSchema, description="Already signed with this centre")
    def post(self, body):
        """Sign residents with a centre for the current cycle"""
        agreements, created = service.sign(current_actor(), **body)
        return {"agreements": agreements}, 201 if created else 200

    @requires(*STAFF)
    @agreements_blp.arguments(s.AgreementQuerySchema, location="query")
    @agreements_blp.response(200, page_schema(s.AgreementSchema))
    def get(self, query):
        """The agreements of the caller's centre, a page at a time"""
        return service.centre_agreements(current_actor(), **query)


@agreements_blp.route("/<int:agreement_id>")
class AgreementById(MethodView):
    @requires(Role.RESIDENT, *STAFF, Role.BUREAU)
    @agreements_blp.response(200, s.AgreementSchema)
    def get(self, agreement_id):
        """One agreement"""
        return access.get_agreement(current_actor(), agreement_id)


@agreements_blp.route("/<int:agreement_id>/change-requests")
class ChangeRequests(MethodView):
    @requires(Role.RESIDENT, *STAFF)
    @agreements_blp.arguments(s.ChangeRequestInSchema)
    @agreements_blp.response(201, s.ChangeRequestSchema)
    def post(self, body, agreement_id):
        """Ask to change centre from the next cycle (only inside the change window)"""
        return service.request_change(current_actor(), agreement_id, **body)


@agreements_blp.route("/<int:agreement_id>/termination")
class Termination(MethodView):
    @requires(*STAFF)
    @agreements_blp.arguments(s.TerminationSchema)
    @agreements_blp.response(200, s.AgreementSchema)
    def post(self, body, agreement_id):
        """Terminate an agreement with a reason"""
        return service.terminate(current_actor(), agreement_id, **body)
