"""Request and response shapes of the package catalogue."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.schemas import ID, Integer
from packages import catalogue

MAX_PRICE_FEN = 10_000_000  # 100,000 yuan


class PackageQuerySchema(ma.Schema):
    tier = fields.String(load_default=None, validate=validate.OneOf(catalogue.TIERS))
    centre = Integer(load_default=None, validate=ID, metadata={"description": "show this centre's prices"})
    eligible_for = fields.String(load_default=None, validate=validate.OneOf(["me"]),
                                 metadata={"description": "me: only packages the calling resident may choose"})


class PackageDetailQuerySchema(ma.Schema):
    centre = Integer(load_default=None, validate=ID, metadata={"description": "show this centre's price"})


class PackageItemSchema(ma.Schema):
    code = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": ", ".join(catalogue.KINDS)})
    title = fields.String(required=True)
    frequency = fields.String(required=True)
    population = fields.String(allow_none=True, metadata={"description": "key population it is for; null: everyone"})


class PackageSchema(ma.Schema):
    edition = fields.String(required=True)
    code = fields.String(required=True)
    tier = fields.String(required=True)
    title = fields.String(required=True)
    mandatory = fields.Boolean(required=True, metadata={"description": "basic and value-added: free, signed together"})
    eligible = fields.List(fields.String(), allow_none=True, metadata={"description": "populations it is for; null: everyone"})
    price_fen = fields.Integer(allow_none=True, metadata={"description": "at the centre asked for; null: not offered there"})
    items = fields.List(fields.Nested(PackageItemSchema), required=True)


class PriceInSchema(ma.Schema):
    price_fen = Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_PRICE_FEN))


class PriceSchema(PriceInSchema):
    centre_id = fields.Integer(required=True)
    package_code = fields.String(required=True)
    edition = fields.String(required=True)
