"""Request and response shapes of the packages and follow-up API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from care import followups
from care.models import Reading, Timeliness, VisitMode, VisitState
from core import clock
from core.pagination import PageArgs
from core.schemas import Date, Decimal, Integer
from packages.protocols import PROGRAMMES


class VisitSchema(ma.Schema):
    """A visit, without even a masked ID number: a child's visit dates are birth date + months, and the
    birth date beside a mask is the whole number (POLICY.md signing rule 10). Serialises a Visit, or a row of
    care.followups.VISIT_ROW."""

    id = fields.Integer(required=True)
    resident_id = fields.Integer(required=True)
    resident_name = fields.Function(lambda v: v.resident_name, required=True)
    programme = fields.String(required=True)
    code = fields.String(required=True)
    title = fields.String(required=True)
    due_date = fields.Date(required=True)
    on_time_from = fields.Date(required=True)
    on_time_until = fields.Date(required=True)
    state = fields.Enum(VisitState, by_value=True, required=True)
    status = fields.Function(lambda v: followups.status_of(v, clock.today()), required=True,
                             metadata={"description": "upcoming, due, overdue (computed today) or the state"})
    days_overdue = fields.Function(lambda v: followups.days_overdue(v, clock.today()), required=True)
    centre_id = fields.Integer(required=True)
    team_id = fields.Integer(allow_none=True)
    served_on = fields.Date(allow_none=True)
    timeliness = fields.Enum(Timeliness, by_value=True, allow_none=True)
    referral = fields.Boolean(required=True)
    modes = fields.List(fields.String(), required=True,
                        metadata={"description": "the modes of contact that complete this visit (its protocol); "
                                                 "a contact in another mode is recorded but leaves the visit to be made"})


class WorklistQuerySchema(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf([followups.DUE, followups.OVERDUE]),
                           metadata={"description": "default: both"})
    date_from = Date(load_default=None, data_key="from", metadata={"description": "due on or after"})
    date_to = Date(load_default=None, data_key="to", metadata={"description": "due on or before"})
    programme = fields.String(load_default=None, validate=validate.OneOf(PROGRAMMES))


class VisitRecordInSchema(ma.Schema):
    served_on = Date(required=True)
    mode = fields.Enum(VisitMode, by_value=True, required=True)
    systolic = Integer(load_default=None, validate=validate.Range(min=50, max=300), metadata={"description": "mmHg"})
    diastolic = Integer(load_default=None, validate=validate.Range(min=30, max=200), metadata={"description": "mmHg"})
    glucose = Decimal(load_default=None, places=1, as_string=True, validate=validate.Range(min=1, max=40),
                             metadata={"description": "mmol/L", "minimum": 1, "maximum": 40})
    glucose_fasting = fields.Boolean(load_default=None)
    heart_rate = Integer(load_default=None, validate=validate.Range(min=20, max=250))
    weight_kg = Decimal(load_default=None, places=1, as_string=True, validate=validate.Range(min=0.5, max=300),
                               metadata={"minimum": 0.5, "maximum": 300})
    findings = fields.String(load_default=None, validate=validate.Length(max=2000))
    referral = fields.Boolean(load_default=False)
    notes = fields.String(load_default=None, validate=validate.Length(max=2000))


class VisitRecordSchema(VisitRecordInSchema):
    id = fields.Integer(required=True)
    visit_id = fields.Integer(required=True)
    revision = fields.Integer(required=True)
    current = fields.Boolean(required=True)
    completes = fields.Boolean(required=True, metadata={"description": "whether this record's mode completes the visit"})
    author_id = fields.Integer(required=True)
    reading = fields.Enum(Reading, by_value=True, allow_none=True)
    timeliness = fields.Enum(Timeliness, by_value=True, required=True)
    on_time_from = fields.Date(required=True)
    on_time_until = fields.Date(required=True)


class CompletionQuerySchema(ma.Schema):
    date_from = Date(required=True, data_key="from")
    date_to = Date(required=True, data_key="to")
    programme = fields.String(load_default=None, validate=validate.OneOf(PROGRAMMES))


class CompletionRowSchema(ma.Schema):
    centre_id = fields.Integer(required=True)
    team_id = fields.Integer(allow_none=True)
    programme = fields.String(required=True)
    done_on_time = fields.Integer(required=True)
    done_late = fields.Integer(required=True)
    missed = fields.Integer(required=True)
    open = fields.Integer(required=True)
