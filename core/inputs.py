"""What no request may carry, refused the same way on every route before its view runs.

- A NUL character in any string (JSON keys and values, query, form, path, headers): PostgreSQL cannot
  store it in text and answered 500. Now a 422 naming the field (`items.0.name` for nested JSON).
- JSON nested deeper than MAX_JSON_DEPTH: the bodies this API takes are a few levels deep, and Python's
  parser runs out of stack (RecursionError, a 500) at a few thousand. Now a 400.
"""

from __future__ import annotations

from typing import Any, Iterable

from flask import Flask, request

from core.errors import DomainError, Invalid

MAX_JSON_DEPTH = 32
NUL = "\x00"


class TooDeep(DomainError):
    status = 400


def init_app(app: Flask) -> None:
    app.before_request(refuse_unstorable_input)


def refuse_unstorable_input() -> None:
    sources = [("query", request.args.items(multi=True)), ("path", (request.view_args or {}).items()),
               ("headers", request.headers.items())]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(("form", request.form.items(multi=True)))
    for location, pairs in sources:
        for name, value in pairs:
            if isinstance(value, str) and (NUL in name or NUL in value):
                raise Invalid("Text may not contain a NUL character (\\u0000).", field=name, location=location)
    if request.is_json and request.content_length != 0:
        try:
            body = request.get_json(silent=True)  # cached for the view; invalid JSON is the view's 400
        except RecursionError:
            raise TooDeep(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.", location="json") from None
        _check_json(body)


def _check_json(body: Any) -> None:
    """Walk the body without recursion: refuse depth beyond MAX_JSON_DEPTH and NUL in any key or string."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                raise Invalid("Text may not contain a NUL character (\\u0000).", field=_name(path), location="json")
        elif isinstance(value, (dict, list)):
            if len(path) >= MAX_JSON_DEPTH:  # this object or array is inside MAX_JSON_DEPTH others
                raise TooDeep(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.", location="json")
            items: Iterable = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and NUL in key:
                    raise Invalid("A field name may not contain a NUL character (\\u0000).",
                                  field=_name((*path, key)), location="json")
                stack.append(((*path, str(key)), item))


def _name(path: tuple[str, ...]) -> str:
    return ".".join(path) or "_schema"
