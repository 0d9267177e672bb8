"""The one pagination style: keyset cursors. `?cursor=&limit=` in, `{items, next_cursor}` out.

A cursor is the opaque, url-safe encoding of the sort key of the last row a client saw, so a page
stays correct while rows are added or removed between calls.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from typing import Any, Sequence

import marshmallow as ma
from sqlalchemy import Select, tuple_

from core import db
from core.errors import Invalid
from core.schemas import Integer

MAX_LIMIT = 500


class PageArgs(ma.Schema):
    cursor = ma.fields.String(load_default=None, metadata={"description": "next_cursor of the previous page"})
    limit = Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_LIMIT))


def page_schema(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """`{items: [item_schema], next_cursor}`; next_cursor is null on the last page."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(
        name,
        (ma.Schema,),
        {"items": ma.fields.List(ma.fields.Nested(item_schema), required=True), "next_cursor": ma.fields.String(allow_none=True)},
    )


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), default=str).encode()).decode()


def decode_cursor(cursor: str, key_columns: Sequence) -> list[Any]:
    """The key values a cursor carries, typed like `key_columns` (dates travel as ISO text)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(key, list) or len(key) != len(key_columns):
            raise ValueError
        return [_typed(value, column.type.python_type) for value, column in zip(key, key_columns, strict=True)]
    except (ValueError, TypeError):
        raise Invalid("Not a cursor this list gave out.", field="cursor", location="query") from None


def _typed(value: Any, kind: type) -> Any:
    if kind in (date, datetime) and isinstance(value, str):
        return kind.fromisoformat(value)
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}")
    return value


def paginate(query: Select, *, key_columns: Sequence, cursor: str | None, limit: int, key_of=None) -> dict:
    """Run `query` one page at a time, ordered by `key_columns` (unique together, ascending).

    `key_of(row)` gives a row's key values; by default the attributes named like the key columns.
    """
    key_of = key_of or (lambda row: [getattr(row, column.key) for column in key_columns])
    if cursor:
        after = decode_cursor(cursor, key_columns)
        query = query.where(tuple_(*key_columns) > tuple_(*after)) if len(key_columns) > 1 else query.where(key_columns[0] > after[0])
    rows = db.session.scalars(query.order_by(*key_columns).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": encode_cursor(key_of(rows[-1])) if has_more else None}
