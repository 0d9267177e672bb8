"""Request and response shapes of the call list, calls and returns to care."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from care.fulfilment_models import CallOutcome, RefusalReason
from core.crypto import mask_id_number
from core.schemas import Date, Integer


class CallInSchema(ma.Schema):
    outcome = fields.Enum(CallOutcome, by_value=True, required=True)
    reason = fields.Enum(RefusalReason, by_value=True, load_default=None,
                         metadata={"description": "why a person refused (required for refused, and only then)"})
    note = fields.String(load_default=None, validate=validate.Length(max=500))
    died_on = Date(load_default=None, load_only=True,
                          metadata={"description": "the date of death a `died` call learned (required for died, and only then)"})


class CallSchema(CallInSchema):
    id = Integer(required=True)
    resident_id = Integer(required=True)
    agreement_id = Integer(required=True)
    team_id = Integer(allow_none=True)
    staff_id = Integer(required=True)
    called_at = fields.DateTime(required=True)
    called_on = fields.Date(required=True)


class LastCallSchema(ma.Schema):
    outcome = fields.Enum(CallOutcome, by_value=True, required=True)
    reason = fields.Enum(RefusalReason, by_value=True, allow_none=True)
    called_on = fields.Date(required=True)


class OverdueVisitSchema(ma.Schema):
    visit_id = Integer(required=True)
    title = fields.String(required=True)
    on_time_until = fields.Date(required=True)
    days_overdue = Integer(required=True)


class CallListEntrySchema(ma.Schema):
    """A person to call. The phone is in full: staff call it."""

    resident_id = Integer(required=True)
    name = fields.String(required=True)
    id_number = fields.Function(lambda entry: mask_id_number(entry["id_number"]), required=True)
    phone = fields.String(allow_none=True)
    phone_of = fields.String(allow_none=True, metadata={"description": "the household member whose phone it is, "
                                                                       "when not the person's own"})
    agreement_id = Integer(required=True)
    team_id = Integer(allow_none=True)
    danger_sign = fields.Boolean(required=True, metadata={"description": "the last reading was a danger sign"})
    last_reading_on = fields.Date(allow_none=True)
    missed_visits = Integer(required=True)
    days_overdue = Integer(required=True, metadata={"description": "of the oldest overdue visit"})
    visits = fields.List(fields.Nested(OverdueVisitSchema), required=True)
    last_call = fields.Nested(LastCallSchema, allow_none=True)


class ReturnsQuerySchema(ma.Schema):
    date_from = Date(required=True, data_key="from", metadata={"description": "calls made on or after"})
    date_to = Date(required=True, data_key="to", metadata={"description": "calls made on or before"})


class ReturnsRowSchema(ma.Schema):
    centre_id = Integer(required=True)
    team_id = Integer(allow_none=True)
    called = Integer(required=True, metadata={"description": "people called in the period"})
    reached = Integer(required=True, metadata={"description": "of them, reached and agreed to come"})
    returned = Integer(required=True, metadata={"description": "of them, a face-to-face visit done within 15 "
                                                                      "days after a call"})
    left = Integer(required=True, metadata={"description": "of them, moved away or died (as a call found)"})
    waiting = Integer(required=True, metadata={"description": "called less than 15 days ago, not back yet"})
    return_rate = fields.Decimal(as_string=True, allow_none=True,
                                 metadata={"description": "returned / (called - left - waiting)"})


