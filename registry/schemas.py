"""Request and response shapes of the signing API. Requests carry only what a client may set."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.crypto import mask_id_number, mask_phone
from core.pagination import PageArgs
from core.schemas import ID, Date, Integer, Name, phone, region_code
from registry.models import CodePurpose, ConditionKind, IdentityDocument, InsuranceScheme, RecordedTag, Sex

NAME = validate.Length(min=1, max=80)
ID_NUMBER = validate.Length(min=18, max=18)
CODE = validate.Length(min=1, max=32)


class WechatLoginSchema(ma.Schema):
    # wx.login() gives printable ASCII (32 characters today); anything else is refused before asking WeChat.
    code = fields.String(required=True, validate=validate.Regexp(r"[\x21-\x7e]{1,128}\Z",
                                                                 error="A login code is 1 to 128 printable ASCII characters."))


class StaffLoginSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class ClientCredentialsSchema(ma.Schema):
    grant_type = fields.String(required=True, validate=validate.Equal("client_credentials"))
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    client_secret = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class TokenSchema(ma.Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "seconds the access token is good for"})
    refresh_token = fields.String(metadata={
        "description": "staff and residents: spend it at POST /api/v1/auth/refresh for new tokens, once (a second "
                       "use ends the session); bureau clients get none and log in again"})
    refresh_expires_in = fields.Integer(metadata={"description": "seconds until the session ends at the latest"})
    password_change_required = fields.Boolean(required=True, metadata={
        "description": "true after a login with a one-time password: every route but logout answers 403 until "
                       "POST /api/v1/auth/password replaced it"})


class RefreshSchema(ma.Schema):
    refresh_token = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=128))


class WechatTokenSchema(TokenSchema):
    identity_bound = fields.Boolean(required=True)


class IdentitySchema(ma.Schema):
    name = Name(required=True, validate=NAME)
    id_number = fields.String(required=True, validate=ID_NUMBER,
                              metadata={"description": "18 characters; full-width digits are read as ASCII"})
    phone_code = fields.String(load_default=None, validate=validate.Length(min=1, max=128), metadata={
        "description": "the code of the mini-program's phone-number button: WeChat verifies the number, which "
                       "proves a verified person whose number on file it is, or becomes the number on file"})
    binding_code = fields.String(load_default=None, validate=CODE, metadata={
        "description": "the one-time code the health centre gave after checking your ID card on site"})


class HouseholdMemberSchema(ma.Schema):
    name = Name(load_default=None, validate=NAME, metadata={"description": "a child nobody has registered"})
    id_number = fields.String(load_default=None, validate=ID_NUMBER)
    join_code = fields.String(load_default=None, validate=CODE, metadata={
        "description": "the one-time code the centre gave after checking the person, and your link to them, on site"})


class JoinHouseholdSchema(ma.Schema):
    invitation_code = fields.String(required=True, validate=CODE,
                                    metadata={"description": "the code an adult of that household invited you with"})


class OnSiteRegistrationSchema(ma.Schema):
    name = Name(required=True, validate=NAME)
    id_number = fields.String(required=True, validate=ID_NUMBER)
    phone = phone(load_default=None)
    insurance_scheme = fields.Enum(InsuranceScheme, by_value=True, load_default=InsuranceScheme.UNINSURED)
    insurance_region_code = region_code(load_default=None)
    home_window_id = Integer(load_default=None, validate=ID,
                             metadata={"description": "village clinic of your centre where a new person lives"})
    identity_document = fields.Enum(IdentityDocument, by_value=True, load_default=None, metadata={
        "description": "the identity document you checked on site: verifies the person, lets your centre sign them today"})
    presence_code = fields.String(load_default=None, validate=CODE, metadata={
        "description": "the person's own mini-program code: their WeChat binding stands proven"})
    guardian_presence_code = fields.String(load_default=None, validate=CODE, metadata={
        "description": "for a child: the code of the adult of their household who came along"})


class ResidentUpdateSchema(ma.Schema):
    insurance_scheme = fields.Enum(InsuranceScheme, by_value=True)
    insurance_region_code = region_code(allow_none=True)
    has_health_record = fields.Boolean()
    in_insurance_master = fields.Boolean()
    home_window_id = Integer(allow_none=True, validate=ID)
    residence_window_id = Integer(allow_none=True, validate=ID)
    died_on = Date(allow_none=True, metadata={"description": "the date of death, as recorded"})


class BindingCodeInSchema(ma.Schema):
    purpose = fields.String(required=True, validate=validate.OneOf([CodePurpose.BINDING.value, CodePurpose.JOIN.value]),
                            metadata={"description": "binding: a WeChat account for the person; join: into a household"})


class CodeSchema(ma.Schema):
    """A one-time code, shown once: only its hash is kept."""

    code = fields.String(required=True)
    purpose = fields.Enum(CodePurpose, by_value=True, required=True)
    expires_at = fields.DateTime(required=True)
    resident_id = fields.Integer(required=True)


class ResidentSchema(ma.Schema):
    """A resident as others see them: ID number and phone masked, and so the birth year, not the date
    (the masked digits of an ID number are the birth date: date and mask together are the number)."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    id_number = fields.Function(lambda r: mask_id_number(r.id_number), required=True)
    phone = fields.Function(lambda r: mask_phone(r.phone), allow_none=True)
    birth_year = fields.Function(lambda r: r.birth_date.year, required=True)
    sex = fields.Enum(Sex, by_value=True, required=True)
    household_id = fields.Integer(allow_none=True)
    insurance_scheme = fields.Enum(InsuranceScheme, by_value=True)
    insurance_region_code = fields.String(allow_none=True)
    verified = fields.Boolean(required=True, metadata={"description": "identity checked on site"})
    died_on = fields.Date(allow_none=True)


class MeSchema(ResidentSchema):
    household = fields.Method("household_members", metadata={"description": "other members of the household"})

    def household_members(self, resident):
        others = [m for m in (resident.household.members if resident.household else []) if m.id != resident.id]
        return ResidentSchema(many=True).dump(others)


class IdRefSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class WindowRefSchema(IdRefSchema):
    team_id = fields.Integer(allow_none=True, metadata={"description": "the team that serves the village"})


class TeamDoctorSchema(IdRefSchema):
    title = fields.String(allow_none=True, metadata={"description": "职称, e.g. 主治医师"})
    speciality = fields.String(allow_none=True)
    photo_url = fields.String(allow_none=True)


class TeamRefSchema(IdRefSchema):
    doctors = fields.List(fields.Nested(TeamDoctorSchema), required=True, metadata={
        "description": "whom a resident can name as family doctor (doctor_id), the team's lead doctor first"})


class CentreSchema(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    region_code = fields.String(required=True)
    windows = fields.List(fields.Nested(WindowRefSchema), required=True)
    teams = fields.List(fields.Nested(TeamRefSchema), required=True)


class CentreQuerySchema(PageArgs):
    region = region_code(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(max=50))


class ConditionInSchema(ma.Schema):
    kind = fields.Enum(ConditionKind, by_value=True, required=True)
    diagnosed_on = Date(required=True)


class ConditionSchema(ConditionInSchema):
    id = fields.Integer(required=True)
    resident_id = fields.Integer(required=True)
    recorded_on = fields.Date(required=True)


class PregnancyInSchema(ma.Schema):
    last_menstrual_period = Date(load_default=None)
    expected_delivery = Date(load_default=None)


class PregnancySchema(ma.Schema):
    id = fields.Integer(required=True)
    resident_id = fields.Integer(required=True)
    last_menstrual_period = fields.Date(required=True)
    expected_delivery = fields.Date(required=True)
    delivered_on = fields.Date(allow_none=True)
    registered_on = fields.Date(required=True)


class DeliveryInSchema(ma.Schema):
    delivered_on = Date(required=True)


class TagInSchema(ma.Schema):
    tag = fields.Enum(RecordedTag, by_value=True, required=True)


class HealthSchema(ma.Schema):
    resident_id = fields.Integer(required=True)
    conditions = fields.List(fields.Nested(ConditionSchema), required=True)
    pregnancies = fields.List(fields.Nested(PregnancySchema), required=True)
    tags = fields.List(fields.String(), required=True)
    key_populations = fields.List(fields.String(), required=True)
