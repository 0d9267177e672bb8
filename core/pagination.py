"""The one pagination style: keyset cursors. `?cursor=&limit=` in, `{items, next_cursor}` out.

A cursor is the opaque, url-safe encoding of the sort key of the last row a client saw, so a page
stays correct while rows are added or removed between calls.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import date, datetime
from typing import Any, Iterable, Sequence

import marshmallow as ma
from sqlalchemy import BigInteger, Select, bindparam, tuple_

from core import db
from core.db import DB_INT_MAX
from core.errors import Invalid
from core.schemas import Integer, within_range

MAX_LIMIT = 500


class PageArgs(ma.Schema):
    cursor = ma.fields.String(load_default=None, metadata={"description": "next_cursor of the previous page"})
    limit = Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_LIMIT))


@functools.cache
def page_schema(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """`{items: [item_schema], next_cursor}`: every list response has this shape; next_cursor is null on the last page."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(
        name,
        (ma.Schema,),
        {"items": ma.fields.List(ma.fields.Nested(item_schema), required=True), "next_cursor": ma.fields.String(allow_none=True)},
    )


def one_page(items: Iterable[Any]) -> dict:
    """A list that is whole in one page (a household's agreements, a visit's records) in the one envelope."""
    return {"items": list(items), "next_cursor": None}


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), default=str).encode()).decode()


def decode_cursor(cursor: str, key_columns: Sequence) -> list[Any]:
    """The key values a cursor carries, typed like `key_columns` (dates travel as ISO text)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(key, list) or len(key) != len(key_columns):
            raise ValueError
        return [_typed(value, column.type.python_type, _largest(column)) for value, column in zip(key, key_columns, strict=True)]
    except (ValueError, TypeError):
        raise Invalid("Not a cursor this list gave out.", field="cursor", location="query") from None


def _largest(column) -> int:
    """The largest integer the column holds: a BIGINT's (a roster's change_seq) or an INTEGER's (ids)."""
    return 2**63 - 1 if isinstance(column.type, BigInteger) else DB_INT_MAX


def _typed(value: Any, kind: type, largest: int) -> Any:
    """A cursor's value as the column's type, within what the column holds (a year-9999 instant or 2**64
    reached the database and answered 500)."""
    if kind in (date, datetime) and isinstance(value, str):
        typed = kind.fromisoformat(value)
        if kind is datetime and typed.tzinfo is None:  # every instant we store is aware; ours carry the offset
            raise ValueError("naive instant")
        if not within_range(typed):
            raise ValueError("out of range")
        return typed
    if not isinstance(value, kind) or (kind is int and not -largest - 1 <= value <= largest) \
            or (kind is str and "\x00" in value):
        raise TypeError(f"expected {kind.__name__}")
    return value


def paginate(query: Select, *, key_columns: Sequence, cursor: str | None, limit: int, key_of=None,
             rows: bool = False, session=None) -> dict:
    """Run `query` one page at a time, ordered by `key_columns` (unique together, ascending).

    `key_of(row)` gives a row's key values; by default the attributes named like the key columns.
    Items are the query's entities, or its rows (named tuples) with `rows=True`. `session` runs it (a replica's,
    see `db.replica_session`); by default the request's.
    """
    session = session or db.session
    key_of = key_of or (lambda row: [getattr(row, column.key) for column in key_columns])
    if cursor:
        # Each value bound with its column's type: a tuple's plain values would skip an Instant's conversion to UTC.
        after = [bindparam(None, value, type_=column.type) for column, value in
                 zip(key_columns, decode_cursor(cursor, key_columns), strict=True)]
        query = query.where(tuple_(*key_columns) > tuple_(*after)) if len(key_columns) > 1 else query.where(key_columns[0] > after[0])
    ordered = query.order_by(*key_columns).limit(limit + 1)
    found = (session.execute(ordered) if rows else session.scalars(ordered)).all()
    page = found[:limit]
    return {"items": page, "next_cursor": encode_cursor(key_of(page[-1])) if len(found) > limit else None}
