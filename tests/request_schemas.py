"""Walks every request schema of the app: for tests that hold a rule over every field a client sends."""

from __future__ import annotations

import marshmallow as ma


def _fields(schema, path=""):
    schema = schema() if isinstance(schema, type) else schema
    for name, field in schema.fields.items():
        yield from _field(field, f"{path}.{name}")


def _field(field, path):
    if isinstance(field, ma.fields.Nested):
        yield from _fields(field.schema, path)
    elif isinstance(field, ma.fields.List):
        yield from _field(field.inner, f"{path}[]")
    else:
        yield path, field


def request_fields(app):
    """Every field of every request schema (body, query, path, form, headers), named `endpoint method .path`."""
    for endpoint, view in app.view_functions.items():
        view_class = getattr(view, "view_class", None)
        for method in ("get", "post", "put", "patch", "delete"):
            handler = getattr(view_class, method, None) if view_class else None
            for parameter in getattr(handler, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                for path, field in _fields(parameter["schema"]):
                    yield f"{endpoint} {method} {path}", field
