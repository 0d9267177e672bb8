"""Failures that must not spread: an Idempotency-Key held by a killed worker lapses with the request's
deadline; a lost database connection is a 503 with Retry-After (reads try once more), never a 500."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import sqlite3
from datetime import datetime, timedelta

import marshmallow as ma
import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from core import clock
from core import db as core_db
from core import schemas as core_schemas
from core.clock import SHANGHAI
from core.config import ROOT
from core.errors import database_unavailable
from core.models import IdempotencyRecord
from notifications.models import Lecture
from registry.models import Resident
from signing.models import Agreement
from tests import factories as f
from tests.request_schemas import request_fields
from tests.settlement_helpers import as_bureau
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
    clock.advance(2 * timedelta(seconds=app.config["SETTINGS"].IDEMPOTENCY_IN_FLIGHT_SECONDS))
    again = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    assert agreements(db) == 1


class LostConnections:
    """Makes the next `times` database connections of the app fail for real.

    PostgreSQL: the server ends the connection (pg_terminate_backend, as a restart or a failover does)
    just before a statement of the request runs on it. SQLite: the pooled connections are dropped and
    opening the next ones fails (the file cannot be opened), as when its volume goes away.
    """

    def __init__(self, url: str):
        self.url, self.left = url, 0
        self.sqlite = url.startswith("sqlite")
        self.admin = None if self.sqlite else create_engine(url, poolclass=NullPool)
        self.engine = core_db.make_engine(url, **({"creator": self._open_sqlite} if self.sqlite else {}))
        if not self.sqlite:
            event.listen(self.engine, "before_cursor_execute", self._terminate)
        core_db.session.remove()
        core_db.session.configure(bind=self.engine)

    def _open_sqlite(self):
        path = make_url(self.url).database
        if self.left:
            self.left -= 1
            path = f"file:{path}.gone/jiayi.sqlite?mode=rw"  # a file that is not there: SQLITE_CANTOPEN
        return sqlite3.connect(path, check_same_thread=False, timeout=30, uri=path.startswith("file:"))

    def _terminate(self, connection, *_):
        if self.left:
            self.left -= 1
            pid = connection.connection.dbapi_connection.info.backend_pid
            with self.admin.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def next(self, times: int) -> None:
        core_db.session.remove()  # between requests, as in a served app (the test's app context outlives them)
        self.left = times
        if self.sqlite:
            self.engine.dispose()

    def close(self):
        core_db.session.remove()
        self.engine.dispose()
        if self.admin is not None:
            self.admin.dispose()


@pytest.fixture
def lost(committed_db):
    connections = LostConnections(committed_db)
    yield connections
    connections.close()


def answered_503(response) -> bool:
    body = response.get_json()
    return (response.status_code, body["code"], body["status"]) == (503, 503, "Service Unavailable") \
        and int(response.headers["Retry-After"]) > 0 and "errors" not in body


def test_a_read_whose_database_connection_is_lost_is_read_again_on_a_fresh_one(app, lost):
    client = app.test_client()
    assert client.get("/api/v1/centres").status_code == 200
    lost.next(1)
    response = client.get("/api/v1/centres")
    assert response.status_code == 200 and lost.left == 0


def test_a_read_that_loses_the_database_twice_is_503_with_retry_after(app, lost):
    client = app.test_client()
    lost.next(2)
    assert answered_503(client.get("/api/v1/centres"))
    assert client.get("/api/v1/centres").status_code == 200  # and the next request finds the database again


def test_a_write_whose_database_connection_is_lost_is_503_with_retry_after_and_not_run_twice(app, lost):
    client = app.test_client()
    lost.next(1)
    response = client.post("/api/v1/auth/staff-login", json={"username": "nobody", "password": "wrong-password"})
    assert answered_503(response)
    assert client.post("/api/v1/auth/staff-login", json={"username": "nobody", "password": "wrong-password"}).status_code == 401


def test_every_date_and_instant_a_client_sends_is_bounded(app):
    unbounded = [where for where, field in request_fields(app)
                 if isinstance(field, (ma.fields.Date, ma.fields.DateTime)) and not isinstance(field, core_schemas._Bounded)]
    assert unbounded == []


def named_422(response, location: str, field: str) -> bool:
    body = response.get_json()
    return response.status_code == 422 and list(body["errors"][location]) == [field]


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00"])
def test_a_roster_pull_since_the_ends_of_time_is_422_naming_updated_since(client, centres, since):
    response = client.get("/api/v1/rosters", query_string={"updated_since": since}, headers=as_bureau())
    assert named_422(response, "query", "updated_since")


def test_signed_counts_as_of_year_one_is_422_naming_as_of(client, centres):
    response = client.get("/api/v1/settlement/signed-counts", query_string={"region": "430523", "as_of": "0001-01-01"},
                          headers=as_bureau())
    assert named_422(response, "query", "as_of")


def test_a_lecture_on_the_last_day_of_9999_with_an_offset_is_422_and_nothing_is_written(client, db, centres):
    centre = centres["home"]
    body = {"title": "x", "place": "y", "starts_at": "9999-12-31T23:00:00-12:00"}
    response = client.post(f"/api/v1/centres/{centre.id}/lectures", json=body, headers=f.as_staff(f.staff(centre=centre)))
    assert named_422(response, "json", "starts_at")
    assert db.scalars(select(Lecture)).all() == []


def cursor(*key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


@pytest.mark.parametrize("key", [[2**64], [2**31], [-(2**63) - 1]], ids=["2^64", "2^31", "below-int64"])
def test_a_cursor_beyond_what_an_id_column_holds_is_422_naming_cursor(client, centres, key):
    doctor = f.staff(centre=centres["home"])
    response = client.get("/api/v1/agreements", query_string={"cursor": cursor(*key)}, headers=f.as_staff(doctor))
    assert named_422(response, "query", "cursor")


@pytest.mark.parametrize("key", [[2**63, 1], [2**64, 1], [1, 2**31]], ids=["2^63-seq", "2^64-seq", "2^31-id"])
def test_a_roster_cursor_beyond_its_columns_is_422_naming_cursor(client, centres, key):
    response = client.get("/api/v1/rosters", query_string={"cursor": cursor(*key)}, headers=as_bureau())
    assert named_422(response, "query", "cursor")


def test_a_roster_cursor_at_the_largest_change_seq_is_read(client, centres):
    """change_seq is a BIGINT: a cursor past 2**31 is one the roster may really give out."""
    response = client.get("/api/v1/rosters", query_string={"cursor": cursor(2**63 - 1, 1)}, headers=as_bureau())
    assert response.status_code == 200 and response.get_json()["items"] == []


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+08:00"])
def test_a_cursor_for_the_ends_of_time_is_422_naming_cursor(client, centres, instant):
    doctor = f.staff(centre=centres["home"])
    response = client.get(f"/api/v1/centres/{centres['home'].id}/slots", query_string={"cursor": cursor(instant, 1)},
                          headers=f.as_staff(doctor))
    assert named_422(response, "query", "cursor")


def test_an_over_long_openid_from_wechat_is_a_502_and_no_resident_is_written(client, db, wechat):
    count = db.scalar(select(func.count(Resident.id)))
    response = client.post("/api/v1/auth/wechat-login", json={"code": "ok-" + "o" * 65})
    assert response.status_code == 502 and response.get_json()["code"] == 502
    assert db.scalar(select(func.count(Resident.id))) == count


def test_an_openid_of_the_longest_length_we_store_logs_in(client, wechat):
    assert client.post("/api/v1/auth/wechat-login", json={"code": "ok-" + "o" * 64}).status_code == 200


def test_a_statement_the_database_refuses_as_wrong_is_not_the_database_being_away(db):
    """A bug of ours (SQL naming a column that does not exist: an OperationalError on SQLite) stays a 500."""
    with pytest.raises(DBAPIError) as refused:
        db.execute(text("SELECT no_such_column FROM job_runs"))
    db.rollback()
    assert not database_unavailable(refused.value)


def test_an_unanswered_idempotency_key_lapses_only_after_any_request_has_ended(app):
    """The in-flight deadline outlasts gunicorn's worker timeout: no live request loses its key."""
    config = ast.parse((ROOT / "gunicorn.conf.py").read_text())  # read, not run: running it sets up metrics files
    timeout = next(ast.literal_eval(node.value) for node in config.body
                   if isinstance(node, ast.Assign) and [target.id for target in node.targets] == ["timeout"])
    assert app.config["SETTINGS"].IDEMPOTENCY_IN_FLIGHT_SECONDS > timeout


def test_a_login_code_that_is_not_printable_ascii_is_422_naming_code_and_wechat_is_not_asked(client, wechat):
    asked = len(wechat.calls)
    for code in ("码" * 8, "ok-" + "\u00a0" * 3, "x" * 129):
        response = client.post("/api/v1/auth/wechat-login", json={"code": code})
        assert response.status_code == 422 and "code" in response.get_json()["errors"]["json"]
    assert len(wechat.calls) == asked
