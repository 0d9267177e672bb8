"""Request and response shapes of signing: agreements, change requests, terminations, packages held."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.pagination import PageArgs
from core.schemas import ID, Date, Integer
from registry.models import HospitalGrade
from signing.models import AgreementStatus, Channel, TerminationReason


class SignRequestSchema(ma.Schema):
    centre_id = Integer(required=True, validate=ID)
    window_id = Integer(load_default=None, validate=ID,
                        metadata={"description": "a village clinic of the centre; required where the region's "
                                                 "profile says so (Zhanjiang)"})
    team_id = Integer(load_default=None, validate=ID,
                      metadata={"description": "a family-doctor team of the centre; default: the team of the village "
                                               "clinic, else the centre's first team with a doctor"})
    doctor_id = Integer(load_default=None, validate=ID,
                        metadata={"description": "the named family doctor: a doctor member of the team; default: the "
                                                 "team's lead (first) doctor"})
    resident_ids = fields.List(Integer(validate=ID), load_default=None, validate=validate.Length(min=1, max=20),
                               metadata={"description": "default: the caller; household members for residents"})
    term_years = Integer(required=True, validate=validate.Range(min=1, max=3))
    consent_version = fields.String(required=True, validate=validate.Length(max=20),
                                    metadata={"description": "version of the data-processing consent text agreed to"})
    guardian_id = Integer(load_default=None, validate=ID,
                                 metadata={"description": "adult household member consenting for a child under 14"})
    package_codes = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list,
                                validate=validate.Length(max=20),
                                metadata={"description": "personalised packages; basic + value-added are always included"})
    presence_codes = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=list,
                                 validate=validate.Length(max=20), metadata={
                                     "description": "staff: codes the residents' own mini-programs show, proving them "
                                                    "present (a code covers its holder's household)"})
    secondary_hospital_id = Integer(load_default=None, validate=ID, metadata={
        "description": "1+1+1 [002 §(三)3]: a secondary hospital of the pooling region (optional)"})
    tertiary_hospital_id = Integer(load_default=None, validate=ID, metadata={
        "description": "1+1+1 [002 §(三)3]: a tertiary hospital of the pooling region (optional)"})


class DoctorSchema(ma.Schema):
    """The named family doctor and how to reach them (annex 1 of 000, basic package item 2)."""

    id = fields.Integer(required=True)
    team_id = fields.Integer(required=True)
    name = fields.String(required=True)
    title = fields.String(allow_none=True, metadata={"description": "职称, e.g. 主治医师"})
    speciality = fields.String(allow_none=True)
    photo_url = fields.String(allow_none=True)
    contact = fields.String(allow_none=True, metadata={"description": "phone or other contact channel"})


class AgreementSchema(ma.Schema):
    id = fields.Integer(required=True)
    resident_id = fields.Integer(required=True)
    centre_id = fields.Integer(required=True)
    window_id = fields.Integer(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    team_name = fields.Method("_team_name", allow_none=True)
    doctor_id = fields.Integer(allow_none=True)
    doctor = fields.Nested(DoctorSchema, allow_none=True)
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
    secondary_hospital_id = fields.Integer(allow_none=True, metadata={"description": "1+1+1: the secondary hospital chosen"})
    tertiary_hospital_id = fields.Integer(allow_none=True, metadata={"description": "1+1+1: the tertiary hospital chosen"})

    def _team_name(self, agreement) -> str | None:
        return agreement.team.name if agreement.team is not None else None

    @ma.post_dump(pass_original=True)
    def _doctor_reached_through_the_centre(self, data: dict, agreement, **kwargs) -> dict:
        """A doctor with no contact of their own is reached through the centre's phone, as the document says."""
        doctor = data.get("doctor")
        if doctor is not None and not doctor.get("contact"):
            doctor["contact"] = agreement.centre.phone
        return data


class ChangeRequestInSchema(ma.Schema):
    centre_id = Integer(required=True, validate=ID)
    window_id = Integer(load_default=None, validate=ID,
                        metadata={"description": "a village clinic of the centre; required where the region's "
                                                 "profile says so (Zhanjiang)"})
    team_id = Integer(load_default=None, validate=ID)
    doctor_id = Integer(load_default=None, validate=ID,
                        metadata={"description": "the family doctor wanted at the new centre: a doctor of the chosen "
                                                 "team (default: the team's lead doctor when the cycle begins)"})


class ChangeRequestSchema(ChangeRequestInSchema):
    id = fields.Integer(required=True)
    agreement_id = fields.Integer(required=True)
    effective_cycle = fields.Integer(required=True)
    status = fields.Function(lambda c: c.status.value, required=True)
    requested_at = fields.DateTime(required=True)


class TerminationSchema(ma.Schema):
    reason = fields.Enum(TerminationReason, by_value=True, required=True)
    note = fields.String(load_default=None, validate=validate.Length(max=500))
    on = Date(load_default=None, metadata={"description": "default: today; with reason death, the date of "
                                                                 "death, which ends every agreement of the person"})


class AgreementQuerySchema(PageArgs):
    cycle = Integer(load_default=None, validate=ID)
    status = fields.Enum(AgreementStatus, by_value=True, load_default=None)


class PackageChoiceSchema(ma.Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))


class AgreementPackageSchema(ma.Schema):
    id = fields.Integer(required=True)
    agreement_id = fields.Integer(required=True)
    package_code = fields.String(required=True)
    edition = fields.String(required=True)
    price_fen = fields.Integer(required=True)
    added_on = fields.Date(required=True)
    dropped_on = fields.Date(allow_none=True)


class HospitalChoiceSchema(ma.Schema):
    secondary_hospital_id = Integer(required=True, allow_none=True, validate=ID,
                                    metadata={"description": "a secondary (二级) hospital of the pooling region; null: none"})
    tertiary_hospital_id = Integer(required=True, allow_none=True, validate=ID,
                                   metadata={"description": "a tertiary (三级) hospital of the pooling region; null: none"})


class HospitalQuerySchema(PageArgs):
    centre_id = Integer(required=True, validate=ID, metadata={"description": "the centre the resident signs with"})
    grade = fields.Enum(HospitalGrade, by_value=True, load_default=None)


class HospitalOptionSchema(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    grade = fields.Enum(HospitalGrade, by_value=True, required=True)
    region_code = fields.String(required=True)


class GroupSignRequestSchema(ma.Schema):
    """Sign members of a functional community with its centre [002 §(三)1]; staff assert each member's consent."""

    resident_ids = fields.List(Integer(validate=ID), load_default=None, validate=validate.Length(min=1, max=500),
                               metadata={"description": "the members to sign; or all_members"})
    all_members = fields.Boolean(load_default=False, metadata={"description": "sign every member of the community"})
    term_years = Integer(required=True, validate=validate.Range(min=1, max=3))
    consent_version = fields.String(required=True, validate=validate.Length(max=20), metadata={
        "description": "version of the data-processing consent text each member signed was agreed to"})
    window_id = Integer(load_default=None, validate=ID)
    team_id = Integer(load_default=None, validate=ID)
    package_codes = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list,
                                validate=validate.Length(max=20))
    secondary_hospital_id = Integer(load_default=None, validate=ID)
    tertiary_hospital_id = Integer(load_default=None, validate=ID)


class MemberOutcomeSchema(ma.Schema):
    resident_id = fields.Integer(required=True)
    outcome = fields.String(required=True, metadata={"description": "signed, already_signed (with this centre) or refused"})
    agreement_id = fields.Integer(allow_none=True)
    rule = fields.String(allow_none=True, metadata={
        "description": "why refused: not_a_member, identity_unverified, presence_required, dead, one_centre_per_cycle, "
                       "centre_fixed_for_cycle, guardian_consent, or the field a member's signing refused"})
    message = fields.String(allow_none=True)
