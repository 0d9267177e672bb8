"""Request and response shapes of fulfilment: ledgers, what a team owes, logged deliveries."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from care import fulfilment
from core.crypto import mask_id_number
from core.schemas import Date, Integer

CODE = validate.Length(min=1, max=40)


class FulfilmentLineSchema(ma.Schema):
    package_code = fields.String(required=True)
    item_code = fields.String(required=True)
    title = fields.String(required=True)
    frequency = fields.String(required=True, metadata={"description": "as annex 1 states it"})
    source = fields.String(required=True, validate=validate.OneOf(fulfilment.SOURCE_KINDS),
                           metadata={"description": "the record that delivers it: visits, lectures (months), record, "
                                                    "contact, logged"})
    due = Integer(allow_none=True, metadata={"description": "promised in the period; null: per need, no count"})
    delivered = Integer(required=True)
    missed = Integer(required=True, metadata={"description": "its time is over and it was not delivered"})
    coming = Integer(required=True, metadata={"description": "still open"})


class FulfilmentTotalsSchema(ma.Schema):
    due = Integer(required=True)
    delivered = Integer(required=True, metadata={"description": "deliveries beyond a promise not counted"})
    missed = Integer(required=True)
    coming = Integer(required=True)


class _LedgerHead(ma.Schema):
    agreement_id = fields.Function(lambda ledger: ledger.agreement.id, required=True)
    resident_id = fields.Function(lambda ledger: ledger.agreement.resident_id, required=True)
    resident_name = fields.Function(lambda ledger: ledger.agreement.resident.name, required=True)
    centre_id = fields.Function(lambda ledger: ledger.agreement.centre_id, required=True)
    team_id = fields.Function(lambda ledger: ledger.agreement.team_id, allow_none=True)
    cycle = fields.Function(lambda ledger: ledger.agreement.cycle, required=True)
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    served = fields.Boolean(required=True, metadata={"description": "any service recorded in the period"})
    totals = fields.Nested(FulfilmentTotalsSchema, required=True)


class LedgerSchema(_LedgerHead):
    lines = fields.List(fields.Nested(FulfilmentLineSchema), required=True)


class OwedSchema(_LedgerHead):
    resident_id_number = fields.Function(lambda ledger: mask_id_number(ledger.agreement.resident.id_number),
                                         required=True)
    owed = fields.List(fields.Nested(FulfilmentLineSchema), required=True, attribute="owed_lines",
                       metadata={"description": "the promised items not yet delivered"})


class ItemDeliveryInSchema(ma.Schema):
    package_code = fields.String(required=True, validate=CODE)
    item_code = fields.String(required=True, validate=CODE)
    delivered_on = Date(required=True)
    note = fields.String(load_default=None, validate=validate.Length(max=500))


class ItemDeliverySchema(ItemDeliveryInSchema):
    id = Integer(required=True)
    agreement_id = Integer(required=True)
    resident_id = Integer(required=True)
    team_id = Integer(allow_none=True)
    edition = fields.String(required=True)
    staff_id = Integer(required=True)
    recorded_at = fields.DateTime(required=True)
