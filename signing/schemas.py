"""Request and response shapes of the signing API. Requests carry only what a client may set."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.crypto import mask_id_number, mask_phone
from core.db import DB_INT_MAX
from core.pagination import PageArgs
from signing.models import AgreementStatus, Channel, InsuranceScheme, Sex, TerminationReason

PHONE = validate.Regexp(r"^1\d{10}$", error="A mainland mobile number has 11 digits and starts with 1.")
NAME = validate.Length(min=1, max=80)
ID = validate.Range(min=1, max=DB_INT_MAX)  # what an integer column holds: larger is a 422 here, not a 500 there


class WechatLoginSchema(ma.Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128))


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
    expires_in = fields.Integer(required=True)


class WechatTokenSchema(TokenSchema):
    identity_bound = fields.Boolean(required=True)


class IdentitySchema(ma.Schema):
    name = fields.String(required=True, validate=NAME)
    id_number = fields.String(required=True, validate=validate.Length(min=18, max=18))
    phone = fields.String(required=True, validate=PHONE)


class HouseholdMemberSchema(ma.Schema):
    name = fields.String(required=True, validate=NAME)
    id_number = fields.String(required=True, validate=validate.Length(min=18, max=18))
    phone = fields.String(load_default=None, validate=PHONE)


class OnSiteRegistrationSchema(HouseholdMemberSchema):
    insurance_scheme = fields.Enum(InsuranceScheme, by_value=True, load_default=InsuranceScheme.UNINSURED)
    insurance_region_code = fields.String(load_default=None, validate=validate.Regexp(r"^\d{6}$"))


class ResidentUpdateSchema(ma.Schema):
    insurance_scheme = fields.Enum(InsuranceScheme, by_value=True)
    insurance_region_code = fields.String(allow_none=True, validate=validate.Regexp(r"^\d{6}$"))
    has_health_record = fields.Boolean()
    in_insurance_master = fields.Boolean()
    home_window_id = fields.Integer(allow_none=True, validate=ID)


class ResidentSchema(ma.Schema):
    """A resident as others see them: ID number and phone masked."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    id_number = fields.Function(lambda r: mask_id_number(r.id_number), required=True)
    phone = fields.Function(lambda r: mask_phone(r.phone), allow_none=True)
    birth_date = fields.Date(required=True)
    sex = fields.Enum(Sex, by_value=True, required=True)
    household_id = fields.Integer(allow_none=True)
    insurance_scheme = fields.Enum(InsuranceScheme, by_value=True)
    insurance_region_code = fields.String(allow_none=True)


class MeSchema(ResidentSchema):
    household = fields.Method("household_members", metadata={"description": "other members of the household"})

    def household_members(self, resident):
        others = [m for m in (resident.household.members if resident.household else []) if m.id != resident.id]
        return ResidentSchema(many=True).dump(others)


class IdRefSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class CentreSchema(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    region_code = fields.String(required=True)
    windows = fields.List(fields.Nested(IdRefSchema), required=True)
    teams = fields.List(fields.Nested(IdRefSchema), required=True)


class CentreQuerySchema(ma.Schema):
    region = fields.String(load_default=None, validate=validate.Regexp(r"^\d{6}$"))
    q = fields.String(load_default=None, validate=validate.Length(max=50))


class SignRequestSchema(ma.Schema):
    centre_id = fields.Integer(required=True, validate=ID)
    window_id = fields.Integer(load_default=None, validate=ID)
    team_id = fields.Integer(load_default=None, validate=ID)
    resident_ids = fields.List(fields.Integer(validate=ID), load_default=None, validate=validate.Length(min=1, max=20),
                               metadata={"description": "default: the caller; household members for residents"})
    term_years = fields.Integer(required=True, validate=validate.Range(min=1, max=3))
    consent_version = fields.String(required=True, validate=validate.Length(max=20),
                                    metadata={"description": "version of the data-processing consent text agreed to"})
    guardian_id = fields.Integer(load_default=None, validate=ID,
                                 metadata={"description": "adult household member consenting for a child under 14"})
    package_codes = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list,
                                validate=validate.Length(max=20),
                                metadata={"description": "personalised packages; basic + value-added are always included"})


class AgreementSchema(ma.Schema):
    id = fields.Integer(required=True)
    resident_id = fields.Integer(required=True)
    centre_id = fields.Integer(required=True)
    window_id = fields.Integer(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    region_code = fields.String(required=True)
    cycle = fields.Integer(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    term_years = fields.Integer(required=True)
    term_end_date = fields.Date(required=True)
    status = fields.Enum(AgreementStatus, by_value=True, required=True)
    channel = fields.Enum(Channel, by_value=True, required=True)
    counts_for_capitation = fields.Boolean(required=True)
    terminated_on = fields.Date(allow_none=True)
    termination_reason = fields.Enum(TerminationReason, by_value=True, allow_none=True)


class SignResultSchema(ma.Schema):
    agreements = fields.List(fields.Nested(AgreementSchema), required=True)


class AgreementListSchema(ma.Schema):
    agreements = fields.List(fields.Nested(AgreementSchema), required=True)


class ChangeRequestInSchema(ma.Schema):
    centre_id = fields.Integer(required=True, validate=ID)
    window_id = fields.Integer(load_default=None, validate=ID)
    team_id = fields.Integer(load_default=None, validate=ID)


class ChangeRequestSchema(ChangeRequestInSchema):
    id = fields.Integer(required=True)
    agreement_id = fields.Integer(required=True)
    effective_cycle = fields.Integer(required=True)
    status = fields.Function(lambda c: c.status.value, required=True)
    requested_at = fields.DateTime(required=True)


class TerminationSchema(ma.Schema):
    reason = fields.Enum(TerminationReason, by_value=True, required=True)
    note = fields.String(load_default=None, validate=validate.Length(max=500))
    on = fields.Date(load_default=None, metadata={"description": "default: today"})


class AgreementQuerySchema(PageArgs):
    cycle = fields.Integer(load_default=None, validate=ID)
    status = fields.Enum(AgreementStatus, by_value=True, load_default=None)
