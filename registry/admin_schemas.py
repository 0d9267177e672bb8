"""Request and response shapes of registry administration: policy profiles, regions, centres, teams, staff,
bureau API clients."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate


class ProfileLoadSchema(ma.Schema):
    profile = fields.Dict(required=True, metadata={"description": "a profile file's JSON (see registry/profiles/*.json)"})
    effective_from = fields.Date(required=True)
    source = fields.String(load_default=None, validate=validate.Length(max=200),
                           metadata={"description": "where the profile comes from, e.g. the notice it follows"})


class ProfileSchema(ma.Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "the version in force today"})
    cycle_start_month = fields.Integer(required=True)
    cycle_start_day = fields.Integer(required=True)
    change_window_start = fields.String(required=True)
    change_window_end = fields.String(required=True)
    auto_renew = fields.Boolean(required=True)
    default_assignment = fields.Boolean(required=True)
    max_term_years = fields.Integer(required=True)
    settlement = fields.Dict(required=True)


class ProfileVersionSchema(ma.Schema):
    code = fields.String(required=True)
    version = fields.Integer(required=True)
    effective_from = fields.Date(required=True)
    body = fields.Dict(required=True, metadata={"description": "the validated profile"})
    source = fields.String(allow_none=True)
    loaded_at = fields.DateTime(required=True)
