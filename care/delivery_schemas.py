"""Request and response shapes of appointments, vaccinations and referrals."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from care import referrals
from care.delivery_models import BookingState, ReferralState, Urgency
from core import clock
from core.crypto import mask_id_number
from core.pagination import PageArgs
from core.schemas import ID, AwareDateTime, Date, Integer

MAX_CAPACITY = 500


class SlotInSchema(ma.Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=120),
                          metadata={"description": "e.g. 全科门诊, 慢病随访门诊"})
    starts_at = AwareDateTime(required=True)
    ends_at = AwareDateTime(required=True)
    capacity = Integer(required=True, validate=validate.Range(min=1, max=MAX_CAPACITY))
    team_id = Integer(load_default=None, validate=ID)
    staff_id = Integer(load_default=None, validate=ID, metadata={"description": "the doctor who holds the hours"})
    window_id = Integer(load_default=None, validate=ID, metadata={"description": "a village clinic, else the centre"})


class SlotSchema(ma.Schema):
    id = Integer(required=True)
    centre_id = Integer(required=True)
    team_id = Integer(allow_none=True)
    staff_id = Integer(allow_none=True)
    window_id = Integer(allow_none=True)
    title = fields.String(required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    capacity = Integer(required=True)
    booked = Integer(required=True)
    available = fields.Function(lambda slot: slot.capacity - slot.booked, required=True)


class SlotQuerySchema(PageArgs):
    date_from = Date(load_default=None, data_key="from", metadata={"description": "starting on or after; default today"})
    date_to = Date(load_default=None, data_key="to", metadata={"description": "starting on or before"})
    team_id = Integer(load_default=None, validate=ID)
    open_only = fields.Boolean(load_default=False, data_key="open", metadata={"description": "only slots with a free place"})


class CapacitySchema(ma.Schema):
    capacity = Integer(required=True, validate=validate.Range(min=1, max=MAX_CAPACITY))


class BookingInSchema(ma.Schema):
    slot_id = Integer(required=True, validate=ID)
    resident_id = Integer(load_default=None, validate=ID,
                                 metadata={"description": "a member of the caller's household; default the caller"})
    visit_id = Integer(load_default=None, validate=ID, metadata={"description": "the follow-up visit booked"})


class MoveSchema(ma.Schema):
    slot_id = Integer(required=True, validate=ID)


class OutcomeSchema(ma.Schema):
    outcome = fields.Enum(BookingState, by_value=True, required=True,
                          metadata={"description": "attended or no_show"})


class BookingSchema(ma.Schema):
    id = Integer(required=True)
    slot = fields.Nested(SlotSchema, required=True)
    resident_id = Integer(required=True)
    resident_name = fields.Function(lambda b: b.resident.name, required=True)
    resident_id_number = fields.Function(lambda b: mask_id_number(b.resident.id_number), required=True)
    visit_id = Integer(allow_none=True)
    state = fields.Enum(BookingState, by_value=True, required=True)
    moved_from_id = Integer(allow_none=True)
    created_at = fields.DateTime(required=True)


class BookingQuerySchema(PageArgs):
    state = fields.Enum(BookingState, by_value=True, load_default=None)


class DoseInSchema(ma.Schema):
    vaccine = fields.String(required=True, validate=validate.Length(min=1, max=20),
                            metadata={"description": "a vaccine code of the national schedule, e.g. HepB, DTaP, MMR"})
    number = Integer(required=True, validate=validate.Range(min=1, max=9), metadata={"description": "dose number"})
    given_on = Date(required=True)
    place = fields.String(required=True, validate=validate.Length(min=1, max=120), metadata={"description": "接种单位"})
    batch = fields.String(required=True, validate=validate.Length(min=1, max=40), metadata={"description": "疫苗批号"})


class DoseGivenSchema(DoseInSchema):
    id = Integer(required=True)
    code = fields.String(required=True)
    centre_id = Integer(allow_none=True)


class DoseDueSchema(ma.Schema):
    code = fields.Function(lambda due: due.dose.code, required=True)
    vaccine = fields.Function(lambda due: due.dose.vaccine, required=True)
    number = fields.Function(lambda due: due.dose.number, required=True)
    title = fields.Function(lambda due: due.dose.title, required=True)
    scheduled_on = fields.Date(required=True, metadata={"description": "the day the schedule gives it by age"})
    due_on = fields.Date(required=True, metadata={"description": "the day it can be given: scheduled, or later "
                                                                 "after the minimum interval from a late dose"})
    overdue = fields.Boolean(required=True)
    catch_up = fields.Boolean(required=True, metadata={"description": "pushed back by a minimum interval"})


class VaccinationRecordSchema(ma.Schema):
    resident_id = Integer(required=True)
    birth_date = fields.Date(required=True)
    edition = fields.String(required=True, metadata={"description": "edition of the national schedule"})
    given = fields.List(fields.Nested(DoseGivenSchema), required=True)
    next = fields.List(fields.Nested(DoseDueSchema), required=True, metadata={"description": "by due date"})


class ScheduleDoseSchema(ma.Schema):
    code = fields.String(required=True)
    vaccine = fields.String(required=True)
    name = fields.String(required=True)
    number = Integer(required=True)
    months = Integer(required=True, metadata={"description": "age in whole months at which it is given"})


class ReferralInSchema(ma.Schema):
    resident_id = Integer(required=True, validate=ID)
    hospital = fields.String(required=True, validate=validate.Length(min=1, max=120),
                             metadata={"description": "the secondary or tertiary hospital referred to"})
    department = fields.String(load_default=None, validate=validate.Length(max=60))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    urgency = fields.Enum(Urgency, by_value=True, required=True)
    expected_by = Date(load_default=None, metadata={
        "description": "when the resident is expected back; default by urgency (emergency 7, urgent 14, routine 30 days)"})


class ReferralSchema(ReferralInSchema):
    id = Integer(required=True)
    resident_name = fields.Function(lambda r: r.resident.name, required=True)
    centre_id = Integer(required=True)
    team_id = Integer(allow_none=True)
    referred_by = fields.String(required=True)
    state = fields.Enum(ReferralState, by_value=True, required=True)
    overdue = fields.Function(lambda r: referrals.is_overdue(r, clock.today()), required=True,
                              metadata={"description": "open and past the day the resident was expected back"})
    sent_on = fields.Date(required=True)
    expected_by = fields.Date(required=True)
    accepted_on = fields.Date(allow_none=True)
    seen_on = fields.Date(allow_none=True)
    returned_on = fields.Date(allow_none=True)
    cancelled_on = fields.Date(allow_none=True)
    note = fields.String(allow_none=True)
    visit_id = Integer(allow_none=True, metadata={"description": "the return visit a return brought"})


class TransitionSchema(ma.Schema):
    to = fields.Enum(ReferralState, by_value=True, required=True,
                     metadata={"description": "the next step: accepted, seen, returned (or cancelled before seen)"})
    on = Date(load_default=None, metadata={"description": "the day it happened; default today"})
    note = fields.String(load_default=None, validate=validate.Length(max=1000),
                         metadata={"description": "e.g. the hospital's summary on return"})


class ReferralQuerySchema(PageArgs):
    overdue = fields.Boolean(load_default=False, metadata={"description": "only open referrals past their expected day"})
    state = fields.Enum(ReferralState, by_value=True, load_default=None)
    resident_id = Integer(load_default=None, validate=ID)
