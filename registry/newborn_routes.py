"""HTTP for newborns: registration under a guardian, and the ID number when it is issued. Thin."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from core.audit import audited
from core.auth import STAFF, Role, current_actor, requires
from core.schemas import Date, Name
from registry import newborns
from registry.models import Sex
from registry.schemas import ResidentSchema

newborns_blp = Blueprint("newborns", __name__, url_prefix="/api/v1/residents", description="Residents, for staff")
blueprints = [newborns_blp]


class NewbornSchema(ma.Schema):
    name = Name(load_default=None, validate=validate.Length(min=1, max=80),
                         metadata={"description": "default: 「<guardian>之子」 or 「<guardian>之女」"})
    sex = fields.Enum(Sex, by_value=True, required=True)
    birth_date = Date(required=True)


class IdNumberSchema(ma.Schema):
    id_number = fields.String(required=True, validate=validate.Length(min=18, max=18), load_only=True)


@newborns_blp.route("/<int:resident_id>/newborns")
class Newborns(MethodView):
    @audited("resident.register_newborn")
    @requires(Role.RESIDENT, *STAFF)
    @newborns_blp.arguments(NewbornSchema)
    @newborns_blp.response(201, ResidentSchema)
    def post(self, body, resident_id):
        """Register a newborn, without an ID number, under this guardian (in their household)"""
        return newborns.register_newborn(current_actor(), guardian_id=resident_id, **body)


@newborns_blp.route("/<int:resident_id>/id-number")
class IdNumber(MethodView):
    @audited("resident.add_id_number")
    @requires(*STAFF)
    @newborns_blp.arguments(IdNumberSchema)
    @newborns_blp.response(200, ResidentSchema)
    def put(self, body, resident_id):
        """Add the ID number issued to a person registered without one, seen on site (the same person, no duplicate)"""
        return newborns.add_id_number(current_actor(), resident_id=resident_id, **body)
