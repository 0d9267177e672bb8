"""Failures that must not spread: an Idempotency-Key held by a killed worker lapses with the request's
deadline; a lost database connection is a 503 with Retry-After (reads try once more), never a 500."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import func, select

from core import clock
from core.clock import SHANGHAI
from core.models import IdempotencyRecord
from signing.models import Agreement
from tests import factories as f
from tests.test_signing_agreements import sign_body


def agreements(db) -> int:
    return db.scalar(select(func.count(Agreement.id)))


def claim_left_by_a_killed_worker(db, body: dict, key: str) -> bytes:
    """The row a worker writes when it takes an Idempotency-Key, and never finishes: it was killed mid-request."""
    raw = json.dumps(body).encode()
    digest = hashlib.sha256(b"POST /api/v1/agreements\n" + raw).hexdigest()
    db.add(IdempotencyRecord(actor="wx:openid-alice", key=key, request_hash=digest, created_at=clock.now()))
    db.commit()
    return raw


def test_an_idempotency_key_held_by_a_killed_worker_is_free_again_after_the_request_deadline(app, client, db, centres, alice):
    clock.set_now(datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI))
    raw = claim_left_by_a_killed_worker(db, sign_body(centres["home"]), "k-killed")
    headers = {**f.as_resident(alice), "Idempotency-Key": "k-killed"}
    deadline = timedelta(seconds=app.config["SETTINGS"].IDEMPOTENCY_IN_FLIGHT_SECONDS)
    clock.advance(deadline - timedelta(seconds=1))  # the first request could still be running
    assert client.post("/api/v1/agreements", data=raw, content_type="application/json", headers=headers).status_code == 409
    assert agreements(db) == 0
    clock.advance(timedelta(seconds=2))  # no request lives this long: its worker is gone
    retried = client.post("/api/v1/agreements", data=raw, content_type="application/json", headers=headers)
    assert retried.status_code == 201 and agreements(db) == 1
    again = client.post("/api/v1/agreements", data=raw, content_type="application/json", headers=headers)
    assert (again.status_code, again.get_json()) == (201, retried.get_json()) and agreements(db) == 1


def test_a_finished_idempotency_key_outlives_the_request_deadline(app, client, db, centres, alice):
    clock.set_now(datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI))
    headers = {**f.as_resident(alice), "Idempotency-Key": "k-done"}
    first = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=headers)
    clock.advance(timedelta(hours=1))
    again = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    assert agreements(db) == 1
