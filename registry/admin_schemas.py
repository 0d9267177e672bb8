"""Request and response shapes of registry administration: policy profiles, regions, centres, teams, staff,
bureau API clients."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from core.auth import Role
from core.schemas import ID, Date, Digits, Float, Integer, Name
from core.schemas import region_code as region_code_field
from registry.models import CommunityKind, HospitalGrade, ImportStatus, MemberRole
from registry.service import pooling_region


class ProfileLoadSchema(ma.Schema):
    profile = fields.Dict(required=True, metadata={"description": "a profile file's JSON (see registry/profiles/*.json)"})
    effective_from = Date(required=True)
    source = fields.String(load_default=None, validate=validate.Length(max=200),
                           metadata={"description": "where the profile comes from, e.g. the notice it follows"})


class ProfileFileSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "a profile file: JSON, or YAML (.yaml/.yml), UTF-8"})


class ProfileFileFormSchema(ma.Schema):
    effective_from = Date(required=True)
    source = fields.String(load_default=None, validate=validate.Length(max=200),
                           metadata={"description": "where the profile comes from, e.g. the notice it follows"})


class ProfileSchema(ma.Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    version = Integer(required=True, metadata={"description": "the version in force today"})
    cycle_start_month = Integer(required=True)
    cycle_start_day = Integer(required=True)
    change_period_start = fields.String(required=True)
    change_period_end = fields.String(required=True)
    auto_renew = fields.Boolean(required=True)
    default_assignment = fields.Boolean(required=True)
    max_term_years = Integer(required=True)
    requires_village_clinic = fields.Boolean(required=True, metadata={
        "description": "signing names a village clinic of the centre too (Zhanjiang: 1 centre + 1 village clinic)"})
    settlement = fields.Dict(required=True)


class ProfileVersionSchema(ma.Schema):
    code = fields.String(required=True)
    version = Integer(required=True)
    effective_from = fields.Date(required=True)
    body = fields.Dict(required=True, metadata={"description": "the validated profile"})
    source = fields.String(allow_none=True)
    loaded_at = fields.DateTime(required=True)


CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", error="A code has 1-32 letters, digits, _ or -.")
NAME = validate.Length(min=1, max=120)


def landline(**kwargs) -> Digits:
    """A centre's phone: a landline with its area code or a mobile, ASCII after NFKC."""
    return Digits(r"^[0-9+][0-9 -]{6,29}$", error="A phone number has 7-30 digits, spaces or -.", **kwargs)


URL = validate.URL(schemes={"http", "https"}, require_tld=False)


class RegionInSchema(ma.Schema):
    code = region_code_field(required=True)
    name = Name(required=True, validate=validate.Length(min=1, max=80))
    parent_code = region_code_field(required=True)
    profile_code = fields.String(load_default=None, validate=validate.Length(min=1, max=40),
                                 metadata={"description": "set on a pooling region (county): the rules it settles under"})


class RegionUpdateSchema(ma.Schema):
    name = Name(validate=validate.Length(min=1, max=80))
    profile_code = fields.String(allow_none=True, validate=validate.Length(min=1, max=40))


class RegionSchema(ma.Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    parent_code = fields.String(allow_none=True)
    profile_code = fields.String(allow_none=True)
    pooling_region_code = fields.Function(
        lambda region: getattr(pooling_region(region.code), "code", None), allow_none=True,
        metadata={"type": "string", "description": "the pooling region it settles in: the nearest region at or above "
                                                   "it with a policy profile (none: it cannot be signed in yet)"})


class CentreDetailsSchema(ma.Schema):
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    phone = landline(allow_none=True)
    opening_hours = fields.String(allow_none=True, validate=validate.Length(max=200),
                                  metadata={"description": "e.g. 周一至周日 8:00-17:30"})
    latitude = Float(allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = Float(allow_none=True, validate=validate.Range(min=-180, max=180))


class CentreUpdateSchema(CentreDetailsSchema):
    name = Name(validate=NAME)
    takes_part = fields.Boolean(metadata={"description": "false: a second-level hospital, which does not take part"})


class CentreInSchema(CentreDetailsSchema):
    code = fields.String(required=True, validate=CODE)
    name = Name(required=True, validate=NAME)
    region_code = region_code_field(required=True)
    takes_part = fields.Boolean(load_default=True)


WINDOW_TEAM = {"description": "the centre's family-doctor team that serves the village: a resident who chooses no "
                              "team signs with it and its lead doctor"}


class WindowInSchema(ma.Schema):
    code = fields.String(required=True, validate=CODE)
    name = Name(required=True, validate=NAME)
    team_id = Integer(load_default=None, allow_none=True, validate=ID, metadata=WINDOW_TEAM)


class WindowUpdateSchema(ma.Schema):
    code = fields.String(validate=CODE)
    name = Name(validate=NAME)
    team_id = Integer(allow_none=True, validate=ID, metadata=WINDOW_TEAM)


class WindowSchema(WindowInSchema):
    id = Integer(required=True)
    centre_id = Integer(required=True)


class TeamInSchema(ma.Schema):
    name = Name(required=True, validate=NAME)


class TeamSchema(TeamInSchema):
    id = Integer(required=True)
    centre_id = Integer(required=True)


class AdminCentreSchema(CentreInSchema):
    id = Integer(required=True)
    windows = fields.List(fields.Nested(WindowSchema), required=True)
    teams = fields.List(fields.Nested(TeamSchema), required=True)


class MemberUpdateSchema(ma.Schema):
    role = fields.Enum(MemberRole, by_value=True)
    name = Name(validate=validate.Length(min=1, max=80))
    title = fields.String(allow_none=True, validate=validate.Length(max=60), metadata={"description": "职称, e.g. 主治医师"})
    speciality = fields.String(allow_none=True, validate=validate.Length(max=120))
    photo_url = fields.String(allow_none=True, validate=[validate.Length(max=500), URL])
    contact = fields.String(allow_none=True, validate=validate.Length(max=60))
    staff_id = Integer(allow_none=True, validate=ID, metadata={"description": "the member's login, if any"})
    active = fields.Boolean()


class MemberInSchema(MemberUpdateSchema):
    role = fields.Enum(MemberRole, by_value=True, required=True)
    name = Name(required=True, validate=validate.Length(min=1, max=80))


class MemberSchema(MemberInSchema):
    id = Integer(required=True)
    team_id = Integer(required=True)


class StaffInSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{3,64}$"))
    name = Name(required=True, validate=validate.Length(min=1, max=80))
    role = fields.Enum(Role, by_value=True, required=True, validate=validate.NoneOf([Role.RESIDENT], error="Residents log in through WeChat, not as staff."))
    centre_id = Integer(load_default=None, validate=ID)
    team_id = Integer(load_default=None, validate=ID)
    region_code = region_code_field(load_default=None)


class StaffUpdateSchema(ma.Schema):
    name = Name(validate=validate.Length(min=1, max=80))
    team_id = Integer(allow_none=True, validate=ID)
    active = fields.Boolean()
    reset_password = fields.Boolean(metadata={"description": "issue a new one-time password"})


class StaffSchema(ma.Schema):
    id = Integer(required=True)
    username = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.Enum(Role, by_value=True, required=True, validate=validate.NoneOf([Role.RESIDENT], error="Residents log in through WeChat, not as staff."))
    centre_id = Integer(allow_none=True)
    team_id = Integer(allow_none=True)
    region_code = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    must_change_password = fields.Boolean(required=True)


class StaffCreatedSchema(StaffSchema):
    one_time_password = fields.String(allow_none=True, metadata={"description": "shown once; the first login replaces it"})


class PasswordChangeSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))


class ClientInSchema(ma.Schema):
    client_id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{2,63}$"))
    name = Name(required=True, validate=NAME)
    region_code = region_code_field(required=True)


class ClientUpdateSchema(ma.Schema):
    name = Name(validate=NAME)
    active = fields.Boolean(metadata={"description": "false disables the client: no new tokens, and issued ones stop working at once"})


class ClientSchema(ma.Schema):
    id = Integer(required=True)
    client_id = fields.String(required=True)
    name = fields.String(required=True)
    region_code = fields.String(required=True)
    active = fields.Boolean(required=True)


class ClientSecretSchema(ClientSchema):
    client_secret = fields.String(required=True, metadata={"description": "shown once; only its hash is kept"})


class ImportFileSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "CSV (UTF-8 or GBK/GB18030) or XLSX export of residents "
                                                          "(with conditions, pregnancies, key-population tags) or of "
                                                          "agreements"})


class ImportFormSchema(ma.Schema):
    centre_id = Integer(required=True, validate=ID, metadata={"description": "the centre the residents belong to"})
    kind = fields.String(load_default="residents", validate=validate.Length(max=20),
                         metadata={"description": "what the file holds: residents (default) or agreements"})


class ImportSchema(ma.Schema):
    id = Integer(required=True)
    centre_id = Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "residents or agreements"})
    filename = fields.String(required=True)
    status = fields.Enum(ImportStatus, by_value=True, required=True)
    total_rows = Integer(required=True)
    rows_done = Integer(required=True)
    created = Integer(required=True, metadata={"description": "residents registered (agreements recorded)"})
    unchanged = Integer(required=True, metadata={"description": "rows of residents already registered (agreements "
                                                                "already recorded)"})
    refused = Integer(required=True, metadata={"description": "rows refused: see the report"})
    failure = fields.String(allow_none=True)
    started_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)


class HospitalUpdateSchema(ma.Schema):
    code = fields.String(validate=CODE)
    name = Name(validate=NAME)
    grade = fields.Enum(HospitalGrade, by_value=True, metadata={"description": "secondary (二级) or tertiary (三级)"})
    active = fields.Boolean(metadata={"description": "false: no longer offered for new choices"})


class HospitalInSchema(HospitalUpdateSchema):
    code = fields.String(required=True, validate=CODE)
    name = Name(required=True, validate=NAME)
    grade = fields.Enum(HospitalGrade, by_value=True, required=True,
                        metadata={"description": "secondary (二级) or tertiary (三级)"})
    region_code = region_code_field(required=True)
    active = fields.Boolean(load_default=True)


class HospitalSchema(HospitalInSchema):
    id = Integer(required=True)


class CommunityUpdateSchema(ma.Schema):
    name = Name(validate=NAME)
    kind = fields.Enum(CommunityKind, by_value=True,
                       metadata={"description": "government (党政机关), employer (企事业单位), industrial_park, office_building"})
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    active = fields.Boolean()
    centre_id = Integer(validate=ID, metadata={"description": "county administrator: the centre that signs the community"})
    region_code = region_code_field(metadata={"description": "county administrator: where it lies"})


class CommunityInSchema(CommunityUpdateSchema):
    name = Name(required=True, validate=NAME)
    kind = fields.Enum(CommunityKind, by_value=True, required=True,
                       metadata={"description": "government (党政机关), employer (企事业单位), industrial_park, office_building"})
    centre_id = Integer(required=True, validate=ID, metadata={"description": "the centre that signs the community"})
    region_code = region_code_field(required=True,
                                      metadata={"description": "where it lies: within the centre's pooling region"})
    active = fields.Boolean(load_default=True)


class CommunitySchema(CommunityInSchema):
    id = Integer(required=True)
    created_at = fields.DateTime(required=True)


class CommunityMembersInSchema(ma.Schema):
    resident_ids = fields.List(Integer(validate=ID), required=True, validate=validate.Length(min=1, max=500))


class CommunityMemberSchema(ma.Schema):
    resident_id = Integer(required=True)
    name = fields.String(required=True)
    added_at = fields.DateTime(metadata={"description": "when they were linked"})
    added = fields.Boolean(metadata={"description": "in an answer to linking: false when already a member"})
