"""Request and response shapes of the notification API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.pagination import PageArgs
from core.schemas import ID, AwareDateTime, Integer
from notifications.models import Channel, Kind, MessageState


class SubscriptionGrantSchema(ma.Schema):
    template_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                               validate=validate.Length(min=1, max=20))


class SubscriptionSchema(ma.Schema):
    template_id = fields.String()
    credits = fields.Integer(metadata={"description": "messages this grant still allows (ignored when long_term)"})
    long_term = fields.Boolean()


class PreferencesSchema(ma.Schema):
    off = fields.List(fields.Enum(Kind, by_value=True), required=True, validate=validate.Length(max=len(Kind)),
                      metadata={"description": "kinds of reminder the resident turned off"})


class MessageSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.Enum(Kind, by_value=True)
    content = fields.Dict()
    state = fields.Enum(MessageState, by_value=True)
    channel = fields.Enum(Channel, by_value=True, allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class StaffMessageSchema(MessageSchema):
    resident_id = fields.Integer(allow_none=True)
    staff_id = fields.Integer(allow_none=True)
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    last_error = fields.String(allow_none=True, metadata={"description": "why it failed, or the last transient error"})


class MessageQuerySchema(PageArgs):
    state = fields.Enum(MessageState, by_value=True, load_default=None)
    kind = fields.Enum(Kind, by_value=True, load_default=None)
    resident_id = Integer(load_default=None, validate=ID)


class LectureInSchema(ma.Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=120))
    place = fields.String(required=True, validate=validate.Length(min=1, max=120))
    starts_at = AwareDateTime(required=True)


class LectureSchema(LectureInSchema):
    id = fields.Integer()
    centre_id = fields.Integer()


class AttendanceInSchema(ma.Schema):
    resident_ids = fields.List(Integer(validate=ID), required=True, validate=validate.Length(min=1, max=500))


class AttendanceSchema(ma.Schema):
    lecture_id = fields.Integer(required=True)
    resident_id = fields.Integer(required=True)
    centre_id = fields.Integer(required=True)
    lecture_on = fields.Date(required=True)
    recorded_by = fields.String(required=True)
    recorded_at = fields.DateTime(required=True)
