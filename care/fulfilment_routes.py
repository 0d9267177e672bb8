"""HTTP for fulfilment: a household's ledger, what a team owes, one agreement's ledger, logged deliveries.
Thin views; every read and write of these health records is audited."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from care import fulfilment
from care import fulfilment_schemas as s
from core import audit
from core.audit import audited
from core.auth import STAFF, Role, current_actor, requires
from core.pagination import PageArgs, one_page, page_schema

fulfilment_blp = Blueprint("fulfilment", __name__, url_prefix="/api/v1",
                           description="Fulfilment: what agreements promise and what was delivered")
blueprints = [fulfilment_blp]


@fulfilment_blp.route("/me/fulfilment")
class MyFulfilment(MethodView):
    @audited("fulfilment.read")
    @requires(Role.RESIDENT)
    @fulfilment_blp.response(200, page_schema(s.LedgerSchema))
    def get(self):
        """What the household's agreements promise, what was delivered and what is coming"""
        found = fulfilment.household_ledgers(current_actor())
        audit.record("fulfilment.read", "household", None, residents=[ledger.agreement.resident_id for ledger in found])
        return one_page(found)


@fulfilment_blp.route("/fulfilment/owed")
class Owed(MethodView):
    @audited("fulfilment.owed.read")
    @requires(*STAFF)
    @fulfilment_blp.arguments(PageArgs, location="query")
    @fulfilment_blp.response(200, page_schema(s.OwedSchema))
    def get(self, query):
        """The team's signed people still owed something this cycle, with the items"""
        page = fulfilment.owed(current_actor(), **query)
        audit.record("fulfilment.owed.read", "centre", current_actor().centre_id,
                     residents=[ledger.agreement.resident_id for ledger in page["items"]])
        return page


@fulfilment_blp.route("/agreements/<int:agreement_id>/fulfilment")
class AgreementFulfilment(MethodView):
    @audited("fulfilment.read")
    @requires(*STAFF, Role.BUREAU)
    @fulfilment_blp.response(200, s.LedgerSchema)
    def get(self, agreement_id):
        """One agreement's ledger: each item promised, delivered, missed and coming"""
        ledger = fulfilment.agreement_ledger(current_actor(), agreement_id=agreement_id)
        audit.record("fulfilment.read", "agreement", agreement_id, resident_id=ledger.agreement.resident_id)
        return ledger


@fulfilment_blp.route("/agreements/<int:agreement_id>/deliveries")
class Deliveries(MethodView):
    @audited("delivery.read")
    @requires(*STAFF)
    @fulfilment_blp.response(200, page_schema(s.ItemDeliverySchema))
    def get(self, agreement_id):
        """The package items logged as delivered under an agreement"""
        found = fulfilment.deliveries_of(current_actor(), agreement_id=agreement_id)
        audit.record("delivery.read", "agreement", agreement_id)
        return one_page(found)

    @audited("delivery.log")
    @requires(Role.DOCTOR)
    @fulfilment_blp.arguments(s.ItemDeliveryInSchema)
    @fulfilment_blp.response(201, s.ItemDeliverySchema)
    def post(self, body, agreement_id):
        """Log a package item delivered (a test, a screening, a personalised service), on the day it was given"""
        delivery = fulfilment.log_delivery(current_actor(), agreement_id=agreement_id, **body)
        audit.record("delivery.log", "resident", delivery.resident_id, agreement_id=agreement_id,
                     item=f"{delivery.package_code}/{delivery.item_code}")
        return delivery
