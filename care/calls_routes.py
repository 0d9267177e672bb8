"""HTTP for calling people overdue for care: the call list, recording calls, returns to care. Thin views, audited."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from care import calls
from care import calls_schemas as s
from core import audit
from core.audit import audited
from core.auth import STAFF, current_actor, requires
from core.pagination import PageArgs, one_page, page_schema

calls_blp = Blueprint("calls", __name__, url_prefix="/api/v1", description="Calling people overdue for care")
blueprints = [calls_blp]


@calls_blp.route("/call-list")
class CallList(MethodView):
    @audited("call_list.read")
    @requires(*STAFF)
    @calls_blp.arguments(PageArgs, location="query")
    @calls_blp.response(200, page_schema(s.CallListEntrySchema))
    def get(self, query):
        """The team's people with overdue visits to call: danger signs first, then most visits missed, then longest overdue"""
        page = calls.call_list(current_actor(), **query)
        audit.record("call_list.read", "centre", current_actor().centre_id,
                     residents=[entry["resident_id"] for entry in page["items"]])
        return page


@calls_blp.route("/residents/<int:resident_id>/calls")
class ResidentCalls(MethodView):
    @audited("call.read")
    @requires(*STAFF)
    @calls_blp.response(200, page_schema(s.CallSchema))
    def get(self, resident_id):
        """The calls the centre made to a person"""
        found = calls.calls_of(current_actor(), resident_id=resident_id)
        audit.record("call.read", "resident", resident_id)
        return one_page(found)

    @audited("call.record")
    @requires(*STAFF)
    @calls_blp.arguments(s.CallInSchema)
    @calls_blp.response(201, s.CallSchema)
    def post(self, body, resident_id):
        """Record a call and its outcome (moved away or died: the person leaves the lists)"""
        call = calls.record_call(current_actor(), resident_id=resident_id, **body)
        audit.record("call.record", "resident", resident_id, result=call.outcome.value)
        return call


@calls_blp.route("/calls/returns")
class Returns(MethodView):
    @audited("call.returns.read")
    @requires(*STAFF)
    @calls_blp.arguments(s.ReturnsQuerySchema, location="query")
    @calls_blp.response(200, page_schema(s.ReturnsRowSchema))
    def get(self, query):
        """Per team, people called in the period and how many returned to care within 15 days of a call"""
        return one_page(calls.returns(current_actor(), **query))
