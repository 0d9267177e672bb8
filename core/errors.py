"""Domain errors and the one JSON error shape.

Every 4xx/5xx body is `{"code", "status", "message"?, "errors"?, "details"?}`: `errors` names the
offending fields as webargs does (`{"json": {"field": ["why"]}}`), `details` carries what a client
needs to act (e.g. the existing agreement on a 409).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

log = logging.getLogger(__name__)
# What a 503 tells a client to wait before trying again: a lost connection is back in a moment.
RETRY_AFTER_SECONDS = 5


class ErrorSchema(ma.Schema):
    code = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    message = ma.fields.String()
    errors = ma.fields.Dict()
    details = ma.fields.Dict()


class DomainError(Exception):
    """A rule said no. Subclasses set the HTTP status that means the same thing."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, location: str = "json", **details: Any):
        super().__init__(message)
        self.message = message
        self.field = field
        self.location = location
        self.details = details

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.status, "status": HTTPStatus(self.status).phrase, "message": self.message}
        if self.field:
            body["errors"] = {self.location: {self.field: [self.message]}}
        if self.details:
            body["details"] = self.details
        return body


class Invalid(DomainError):
    """The request is well-formed but a rule rejects a field's value."""

    status = 422


class Conflict(DomainError):
    status = 409


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Unauthorized(DomainError):
    status = 401


class TooManyRequests(DomainError):
    status = 429


class UpstreamError(DomainError):
    """An external service (WeChat, SMS gateway) failed; not the client's fault."""

    status = 502


class Unavailable(DomainError):
    """The database (or another part of ours) cannot answer right now: try again after Retry-After."""

    status = 503


# What says "the database cannot answer now" rather than "this statement is wrong": PostgreSQL's SQLSTATEs of
# connection failures (08), insufficient resources (53), shutdown and recovery (57P), a cancelled statement
# (57014), a lock not granted (55P03) and races that outlasted their retries (40001, 40P01); SQLite's
# result codes of a file that cannot be opened or read, is busy, locked or full. A statement that is
# wrong (SQLite reports "no such column" as an OperationalError too) stays a 500: it is our bug.
UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "57014", "55P03", "40001", "40P01")
UNAVAILABLE_SQLITE_CODES = ("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_NOMEM")


def database_unavailable(error: BaseException) -> bool:
    """The database could not answer, as opposed to refusing what we asked: a connection lost or refused
    (SQLAlchemy's `connection_invalidated`, the DBAPI's InterfaceError), or an OperationalError of the
    kinds above (psycopg gives a failed connection no SQLSTATE)."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    sqlite_code = getattr(error.orig, "sqlite_errorname", None)
    if sqlite_code is not None:
        return sqlite_code.startswith(UNAVAILABLE_SQLITE_CODES)
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(UNAVAILABLE_SQLSTATES)


def register(app) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return error.body(), error.status

    @app.errorhandler(IntegrityError)
    def _lost_race(error: IntegrityError):
        # A unique index refused a row a concurrent request wrote first: the client's conflict, not ours.
        log.info("integrity error answered as 409: %s", type(error.orig).__name__)
        return Conflict("This conflicts with a record written at the same moment; reload and try again.").body(), 409

    @app.errorhandler(DBAPIError)
    def _database_error(error: DBAPIError):
        if not database_unavailable(error):
            return _unexpected(error)
        log.warning("database unavailable, answered 503: %s", type(error.orig).__name__)
        unavailable = Unavailable("The database is unavailable for a moment; try again shortly.")
        return unavailable.body(), unavailable.status, {"Retry-After": str(RETRY_AFTER_SECONDS)}

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # HTTPExceptions have flask-smorest's more specific handler; this is only the unforeseen.
        log.exception("unhandled error")
        return {"code": 500, "status": HTTPStatus(500).phrase, "message": "Internal error"}, 500
