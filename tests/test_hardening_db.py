"""Database faults: lost races (40001, 40P01) run again; a unique violation from a race is a 409."""

from __future__ import annotations

import uuid

import psycopg.errors
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from core import db as core_db
from core.db import RETRY_ATTEMPTS, retrying
from core.models import IdempotencyRecord
from registry import service as registry
from registry.models import Centre
from signing import service
from signing.models import Agreement
from tests import factories as f
from tests.identity_support import sign_body


def failing(times: int, error: Exception, then=None):
    """A unit of work that fails `times` times with `error`, then calls `then` (or returns how often it ran)."""
    calls = []

    def work(*args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise error
        return then(*args, **kwargs) if then else len(calls)

    return work


def lost_race(psycopg_error: type[Exception]) -> OperationalError:
    return OperationalError("UPDATE ...", {}, psycopg_error("could not serialize access"))


@pytest.mark.parametrize("error", [psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected])
def test_a_serialization_failure_or_deadlock_runs_the_work_again(db, error):
    assert retrying(failing(2, lost_race(error)))() == 3


def test_a_lost_race_that_keeps_losing_fails_after_the_last_attempt(db):
    work = failing(RETRY_ATTEMPTS, lost_race(psycopg.errors.SerializationFailure))
    with pytest.raises(OperationalError):
        retrying(work)()


def test_other_database_errors_are_not_run_again(db):
    work = failing(1, IntegrityError("INSERT ...", {}, psycopg.errors.UniqueViolation("duplicate key")))
    with pytest.raises(IntegrityError):
        retrying(work)()


def test_a_request_that_loses_a_race_is_run_again_and_answers_normally(client, monkeypatch):
    f.regions()
    centre = f.centre()
    monkeypatch.setattr(registry, "get_centre", failing(1, lost_race(psycopg.errors.DeadlockDetected), then=registry.get_centre))
    response = client.get(f"/api/v1/centres/{centre.id}")
    assert response.status_code == 200
    assert response.get_json()["id"] == centre.id


def test_a_real_serialization_failure_on_postgresql_is_retried(app):
    engine = app.extensions["engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: it has no serialization failures to induce")
    table = f"retry_probe_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE {table} (n integer)")
        connection.exec_driver_sql(f"INSERT INTO {table} VALUES (0)")
    attempts = []

    def bump():
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as mine, mine.begin():
            seen = mine.exec_driver_sql(f"SELECT n FROM {table}").scalar()
            attempts.append(seen)
            if len(attempts) == 1:  # another transaction changes the row after this one took its snapshot
                with engine.begin() as other:
                    other.exec_driver_sql(f"UPDATE {table} SET n = n + 1")
            mine.exec_driver_sql(f"UPDATE {table} SET n = {seen + 1}")

    try:
        retrying(bump)()
        with engine.connect() as connection:
            assert connection.exec_driver_sql(f"SELECT n FROM {table}").scalar() == 2
        assert attempts == [0, 1]
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE {table}")


def test_a_unique_violation_the_service_did_not_foresee_is_a_409_not_a_500(client, settings, monkeypatch):
    f.regions()
    centre = f.centre()
    resident = f.resident(openid="wx-unforeseen")
    body = {"centre_id": centre.id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION}
    assert client.post("/api/v1/agreements", json=body, headers=f.as_resident(resident)).status_code == 201
    monkeypatch.setattr(service, "standing_in_cycle",  # blind to the first agreement
                        lambda resident_ids, cycle: {rid: service.CycleStanding() for rid in resident_ids})
    response = client.post("/api/v1/agreements", json=body, headers=f.as_resident(resident))
    assert response.status_code == 409
    assert response.get_json()["code"] == 409
    assert core_db.session.scalar(select(func.count()).select_from(Agreement)) == 1


def test_a_write_after_reads_waits_for_the_lock_instead_of_failing_when_another_writer_committed(committed_db):
    """SQLite (WAL): a deferred transaction that read, then writes after another writer committed, used to fail
    at once with "database is locked"; a write transaction now begins with the lock (BEGIN IMMEDIATE)."""
    f.regions()
    centre = f.centre()
    core_db.session.scalar(select(Centre).where(Centre.id == centre.id))  # a read opens the session's transaction
    other = core_db.make_engine(committed_db)
    with other.begin() as connection:  # meanwhile another writer commits
        connection.execute(update(Centre).where(Centre.id == centre.id).values(phone="0739-1111111"))
    with core_db.transaction():
        core_db.session.execute(update(Centre).where(Centre.id == centre.id).values(address="白仓镇1号"))
    other.dispose()
    core_db.session.expire_all()
    stored = core_db.session.get(Centre, centre.id)
    assert (stored.phone, stored.address) == ("0739-1111111", "白仓镇1号")


def test_a_keys_claim_and_answer_are_committed_on_their_own_and_a_replay_signs_nobody_twice(app, committed_db):
    """On a real database (PostgreSQL: in autocommit, on a connection of their own) the Idempotency-Key's claim and
    stored answer are committed by themselves: another connection sees the answer, and a replay returns it."""
    f.regions()
    centre = f.centre()
    person = f.resident(openid="o-keyed")
    client = app.test_client()
    headers = {**f.as_resident(person), "Idempotency-Key": "sign-on-a-real-database"}
    first = client.post("/api/v1/agreements", json=sign_body(centre), headers=headers)
    again = client.post("/api/v1/agreements", json=sign_body(centre), headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    other = core_db.make_engine(committed_db)
    with other.connect() as connection:
        kept = connection.execute(select(IdempotencyRecord.response_status, IdempotencyRecord.response_body)).all()
        signed = connection.scalar(select(func.count()).select_from(Agreement))
    other.dispose()
    assert kept == [(201, first.get_json())] and signed == 1
    refused = client.post("/api/v1/agreements", json=sign_body(centre, term_years=2), headers=headers)
    assert refused.status_code == 422
