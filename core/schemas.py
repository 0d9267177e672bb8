"""Request-shape pieces every domain's schemas share."""

from __future__ import annotations

from marshmallow import validate

from core.db import DB_INT_MAX

ID = validate.Range(min=1, max=DB_INT_MAX)  # what an integer column holds: larger is a 422 here, not a 500 there
