"""Request and response shapes of messages between signed people and their team."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from care.fulfilment_models import Author
from core.pagination import PageArgs
from core.schemas import ID, Integer

CONTENT = validate.Length(min=1, max=500)


class ResidentMessageInSchema(ma.Schema):
    content = fields.String(required=True, validate=CONTENT)
    resident_id = Integer(load_default=None, validate=ID,
                                 metadata={"description": "a household member to write for (default: yourself)"})


class StaffMessageInSchema(ma.Schema):
    content = fields.String(required=True, validate=CONTENT)


class MyMessagesQuerySchema(PageArgs):
    resident_id = Integer(load_default=None, validate=ID,
                                 metadata={"description": "a household member's threads (default: yours)"})


class ConversationMessageSchema(ma.Schema):
    id = Integer(required=True)
    conversation_id = Integer(required=True)
    author = fields.Enum(Author, by_value=True, required=True)
    resident_author_id = Integer(allow_none=True)
    staff_author_id = Integer(allow_none=True)
    content = fields.String(required=True)
    text_check = fields.String(allow_none=True, metadata={"description": "WeChat's suggestion for a resident's text: "
                                                                          "pass, or review (flagged for the team)"})
    sent_at = fields.DateTime(required=True)


class InboxEntrySchema(ma.Schema):
    conversation_id = Integer(required=True)
    resident_id = Integer(required=True)
    resident_name = fields.String(required=True)
    team_id = Integer(allow_none=True)
    waiting_since = fields.DateTime(required=True, metadata={"description": "the oldest unanswered message"})
    waiting_hours = Integer(required=True)
    unanswered = Integer(required=True, metadata={"description": "messages since the team last wrote"})
