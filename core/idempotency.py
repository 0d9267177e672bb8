"""Idempotency-Key, as payment APIs do it: a retried request never acts twice.

The same key with the same request returns the first response; with a different request → 422;
while the first is still running → 409. Only successes are kept (a rejected request may be
retried with the same key); keys live at least IDEMPOTENCY_KEY_HOURS. A claim whose request never
answered (its worker was killed mid-request) lapses after IDEMPOTENCY_IN_FLIGHT_SECONDS, the longest a
request lives: a retry with the key then runs.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from datetime import timedelta

from flask import current_app, request
from sqlalchemy import and_, delete, or_, select, update

from core import clock, db
from core.auth import current_actor
from core.errors import Conflict, Invalid
from core.models import IdempotencyRecord

HEADER = "Idempotency-Key"


def _request_hash() -> str:
    return hashlib.sha256(f"{request.method} {request.path}\n".encode() + request.get_data()).hexdigest()


def _claim(actor: str, key: str, digest: str) -> IdempotencyRecord | None:
    """Claim the key for this request and return None, or return the record that holds it already.

    One statement in the usual case (an INSERT that does nothing on a taken key), committed on its own
    (`db.on_its_own`: on PostgreSQL one round trip, and the request's reads go on in their transaction); a taken
    key whose record has lapsed — kept past IDEMPOTENCY_KEY_HOURS, or claimed by a request that never answered within
    IDEMPOTENCY_IN_FLIGHT_SECONDS — is taken over by a conditional UPDATE, so two retries cannot both win it.
    """
    settings, now = current_app.config["SETTINGS"], clock.now()
    lapsed = or_(IdempotencyRecord.created_at < now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS),
                 and_(IdempotencyRecord.response_status.is_(None),
                      IdempotencyRecord.created_at < now - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_SECONDS)))
    mine = and_(IdempotencyRecord.actor == actor, IdempotencyRecord.key == key)
    if db.on_its_own(db.unless_exists(IdempotencyRecord, actor=actor, key=key, request_hash=digest, created_at=now)):
        return None
    if db.on_its_own(update(IdempotencyRecord).where(mine, lapsed).values(
            request_hash=digest, created_at=now, response_status=None, response_body=None)):
        return None
    return db.session.scalar(select(IdempotencyRecord).where(mine))


def _release(actor: str, key: str) -> None:
    db.on_its_own(delete(IdempotencyRecord).where(IdempotencyRecord.actor == actor, IdempotencyRecord.key == key))


def idempotent(view):
    """Honour an Idempotency-Key header on a POST view. Goes below `requires`, above flask-smorest's decorators."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise Invalid("An Idempotency-Key has 1 to 255 characters.", field=HEADER, location="headers")
        actor, digest = current_actor().subject, _request_hash()
        first = _claim(actor, key, digest)
        if first is not None:
            if first.request_hash != digest:
                raise Invalid("This Idempotency-Key was used for a different request.", field=HEADER, location="headers")
            if first.response_status is None:
                raise Conflict("The first request with this Idempotency-Key is still being processed.")
            return first.response_body, first.response_status
        try:
            response = view(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            _release(actor, key)
            raise
        db.on_its_own(update(IdempotencyRecord).where(IdempotencyRecord.actor == actor, IdempotencyRecord.key == key)
                      .values(response_status=response.status_code, response_body=response.get_json()))
        return response

    apidoc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))
    apidoc.setdefault("manual_doc", {}).setdefault("parameters", []).append(
        {"in": "header", "name": HEADER, "required": False, "schema": {"type": "string", "maxLength": 255},
         "description": "Retrying with the same key and body returns the first response."}
    )
    wrapper._apidoc = apidoc
    return wrapper
