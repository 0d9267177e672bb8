"""What no request may carry, refused the same way on every route before its view runs.

- A NUL character in any string (JSON keys and values, query, form, path, headers): PostgreSQL cannot
  store it in text and answered 500. Now a 422 naming the field (`items.0.name` for nested JSON).
- JSON nested deeper than MAX_JSON_DEPTH: the bodies this API takes are a few levels deep, and Python's
  parser runs out of stack (RecursionError, a 500) at a few thousand. Now a 400.
- A body over MAX_CONTENT_LENGTH (1 MiB) is a 413, except a file uploaded to a view that takes files
  (`@takes_files`: a county's export, the bureau's file), which may weigh UPLOAD_MAX_BYTES; over that a 413
  naming the file.
"""

from __future__ import annotations

from typing import Any, Iterable

from flask import Flask, current_app, request

from core.errors import DomainError, Invalid

MAX_JSON_DEPTH = 32
NUL = "\x00"


class TooDeep(DomainError):
    status = 400


class TooLarge(DomainError):
    status = 413


def takes_files(view_class: type) -> type:
    """Mark a MethodView whose multipart uploads may weigh UPLOAD_MAX_BYTES rather than MAX_CONTENT_LENGTH."""
    view_class.takes_files = True
    return view_class


def init_app(app: Flask) -> None:
    app.before_request(refuse_unstorable_input)


def _allow_upload() -> None:
    view = current_app.view_functions.get(request.endpoint)
    if request.mimetype != "multipart/form-data" or not getattr(getattr(view, "view_class", view), "takes_files", False):
        return
    limit = current_app.config["SETTINGS"].UPLOAD_MAX_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"A file of at most {limit // 2**20} MiB: import a larger one from the server's shell "
                       "(flask registry import).", field="file", location="files")
    request.max_content_length = limit


def refuse_unstorable_input() -> None:
    _allow_upload()  # before the form is read below
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
