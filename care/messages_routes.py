"""HTTP for messages between signed people and their team: write, read, the team inbox, answers. Thin views, audited."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from care import messages
from care import messages_schemas as s
from core import audit
from core.audit import audited
from core.auth import STAFF, Role, current_actor, requires
from core.pagination import PageArgs, page_schema

messages_blp = Blueprint("team-messages", __name__, url_prefix="/api/v1",
                         description="Messages between signed people and their family-doctor team")
blueprints = [messages_blp]


@messages_blp.route("/me/messages")
class MyMessages(MethodView):
    @audited("message.read")
    @requires(Role.RESIDENT)
    @messages_blp.arguments(s.MyMessagesQuerySchema, location="query")
    @messages_blp.response(200, page_schema(s.ConversationMessageSchema))
    def get(self, query):
        """The messages between the caller (or a household member) and their team, a page at a time"""
        page = messages.my_messages(current_actor(), **query)
        audit.record("message.read", "resident", query["resident_id"])
        return page

    @audited("message.send")
    @requires(Role.RESIDENT)
    @messages_blp.arguments(s.ResidentMessageInSchema)
    @messages_blp.response(201, s.ConversationMessageSchema)
    def post(self, body):
        """Write to your family-doctor team (checked by WeChat's content security first; risky text is refused)"""
        message = messages.send(current_actor(), **body)
        audit.record("message.send", "conversation", message.conversation_id)
        return message


@messages_blp.route("/inbox")
class Inbox(MethodView):
    @audited("inbox.read")
    @requires(*STAFF)
    @messages_blp.arguments(PageArgs, location="query")
    @messages_blp.response(200, page_schema(s.InboxEntrySchema))
    def get(self, query):
        """The team's threads waiting for an answer, the longest waiting first"""
        page = messages.inbox(current_actor(), **query)
        audit.record("inbox.read", "centre", current_actor().centre_id,
                     residents=[entry["resident_id"] for entry in page["items"]])
        return page


@messages_blp.route("/residents/<int:resident_id>/messages")
class ResidentMessages(MethodView):
    @audited("message.read")
    @requires(*STAFF)
    @messages_blp.arguments(PageArgs, location="query")
    @messages_blp.response(200, page_schema(s.ConversationMessageSchema))
    def get(self, query, resident_id):
        """A person's thread with the centre"""
        page = messages.thread_of(current_actor(), resident_id=resident_id, **query)
        audit.record("message.read", "resident", resident_id)
        return page

    @audited("message.answer")
    @requires(*STAFF)
    @messages_blp.arguments(s.StaffMessageInSchema)
    @messages_blp.response(201, s.ConversationMessageSchema)
    def post(self, body, resident_id):
        """Answer a person (or write first); their thread stops waiting"""
        message = messages.answer(current_actor(), resident_id=resident_id, **body)
        audit.record("message.answer", "resident", resident_id, conversation_id=message.conversation_id)
        return message
