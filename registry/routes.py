"""HTTP for logins, identity, centres, residents and agreements. Thin: the rules are in the services."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.audit import audited
from core.auth import STAFF, Role, current_actor, public, requires
from core.pagination import page_schema
from registry import access, accounts, health, households, residents
from registry import schemas as s
from registry import service as registry
from registry.models import CodePurpose

auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Logins: residents, staff, bureau systems")
me_blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The calling resident")
centres_blp = Blueprint("centres", __name__, url_prefix="/api/v1/centres", description="Health centres to sign with")
health_blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Health facts that drive follow-ups")
residents_blp = Blueprint("residents", __name__, url_prefix="/api/v1/residents", description="Residents, for staff")
blueprints = [auth_blp, me_blp, centres_blp, residents_blp, health_blp]


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
    @audited("identity.bind")
    @requires(Role.RESIDENT)
    @me_blp.arguments(s.IdentitySchema)
    @me_blp.response(200, s.ResidentSchema)
    def post(self, body):
        """Bind the caller's WeChat account to their identity, with proof (phone or binding code)"""
        return accounts.bind_identity(current_actor(), **body)


@me_blp.route("/presence-codes")
class PresenceCodes(MethodView):
    @audited("identity.presence_code")
    @requires(Role.RESIDENT)
    @me_blp.response(201, s.CodeSchema)
    def post(self):
        """A short-lived code to show staff on site: proves the person before them holds this account"""
        return accounts.presence_code(current_actor())


@me_blp.route("/household")
class MyHousehold(MethodView):
    @audited("household.join")
    @requires(Role.RESIDENT)
    @me_blp.arguments(s.JoinHouseholdSchema)
    @me_blp.response(200, s.MeSchema)
    def post(self, body):
        """Join the household of the adult whose invitation code this is"""
        return households.join(current_actor(), **body)

    @audited("household.leave")
    @requires(Role.RESIDENT)
    @me_blp.response(200, s.MeSchema)
    def delete(self):
        """Leave the household for one of your own"""
        return households.leave(current_actor())


@me_blp.route("/household-invitations")
class HouseholdInvitations(MethodView):
    @audited("household.invite")
    @requires(Role.RESIDENT)
    @me_blp.response(201, s.CodeSchema)
    def post(self):
        """A one-time code another adult enters to join the caller's household"""
        return households.invite(current_actor())


@me_blp.route("/household-members")
class HouseholdMembers(MethodView):
    @audited("household.join")
    @requires(Role.RESIDENT)
    @me_blp.arguments(s.HouseholdMemberSchema)
    @me_blp.response(201, s.ResidentSchema)
    def post(self, body):
        """Take a person into the caller's household: a join code from the centre, or a child nobody registered"""
        return households.add_member(current_actor(), **body)


@centres_blp.route("")
class Centres(MethodView):
    @public
    @centres_blp.arguments(s.CentreQuerySchema, location="query")
    @centres_blp.response(200, page_schema(s.CentreSchema))
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
    @audited("resident.register")
    @requires(*STAFF)
    @residents_blp.arguments(s.OnSiteRegistrationSchema)
    @residents_blp.response(201, s.ResidentSchema)
    @residents_blp.alt_response(200, schema=s.ResidentSchema, description="Already registered: the existing resident")
    def post(self, body):
        """Register a person on site, or find them by ID number (service area, or identity document checked)"""
        resident, created = accounts.register_on_site(current_actor(), **body)
        return resident, 201 if created else 200


@residents_blp.route("/<int:resident_id>/binding-codes")
class BindingCodes(MethodView):
    @audited("identity.code_issued")
    @requires(*STAFF)
    @residents_blp.arguments(s.BindingCodeInSchema)
    @residents_blp.response(201, s.CodeSchema)
    def post(self, body, resident_id):
        """Hand a person checked on site today a one-time code: bind their WeChat account, or join a household"""
        return accounts.issue_binding_code(current_actor(), resident_id, purpose=CodePurpose(body["purpose"]))


@residents_blp.route("/<int:resident_id>")
class ResidentById(MethodView):
    @audited("resident.read")
    @requires(*STAFF, Role.BUREAU)
    @residents_blp.response(200, s.ResidentSchema)
    def get(self, resident_id):
        """One resident (ID number and phone masked)"""
        return access.get_resident(current_actor(), resident_id)

    @audited("resident.update")
    @requires(*STAFF)
    @residents_blp.arguments(s.ResidentUpdateSchema)
    @residents_blp.response(200, s.ResidentSchema)
    def patch(self, body, resident_id):
        """Record insurance and health-record facts of a resident"""
        return residents.update_resident(current_actor(), resident_id, **body)


@health_blp.route("/residents/<int:resident_id>/health")
class ResidentHealth(MethodView):
    @audited("health.read")
    @requires(*STAFF)
    @health_blp.response(200, s.HealthSchema)
    def get(self, resident_id):
        """A resident's conditions, pregnancies, tags and key populations"""
        return health.health_of(current_actor(), resident_id=resident_id)


@health_blp.route("/residents/<int:resident_id>/conditions")
class Conditions(MethodView):
    @audited("condition.create")
    @requires(Role.DOCTOR)
    @health_blp.arguments(s.ConditionInSchema)
    @health_blp.response(201, s.ConditionSchema)
    def post(self, body, resident_id):
        """Record a diagnosis (hypertension, type-2 diabetes, COPD, TB, severe mental disorder, ...)"""
        return health.record_condition(current_actor(), resident_id=resident_id, **body)


@health_blp.route("/residents/<int:resident_id>/pregnancies")
class Pregnancies(MethodView):
    @audited("pregnancy.create")
    @requires(Role.DOCTOR)
    @health_blp.arguments(s.PregnancyInSchema)
    @health_blp.response(201, s.PregnancySchema)
    def post(self, body, resident_id):
        """Register a pregnancy by last menstrual period or expected delivery date"""
        return health.register_pregnancy(current_actor(), resident_id=resident_id, **body)


@health_blp.route("/pregnancies/<int:pregnancy_id>/delivery")
class Delivery(MethodView):
    @audited("pregnancy.delivery")
    @requires(Role.DOCTOR)
    @health_blp.arguments(s.DeliveryInSchema)
    @health_blp.response(200, s.PregnancySchema)
    def post(self, body, pregnancy_id):
        """Record the delivery: prenatal visits end, postpartum visits are planned"""
        return health.record_delivery(current_actor(), pregnancy_id=pregnancy_id, **body)


@health_blp.route("/residents/<int:resident_id>/tags")
class Tags(MethodView):
    @audited("key_population.tag")
    @requires(Role.DOCTOR)
    @health_blp.arguments(s.TagInSchema)
    @health_blp.response(201, s.TagInSchema)
    def post(self, body, resident_id):
        """Record a key-population tag: disabled, poverty-alleviated, special family-planning family"""
        return health.record_tag(current_actor(), resident_id=resident_id, **body)
