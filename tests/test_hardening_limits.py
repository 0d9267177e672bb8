"""Abuse limits: staff login lockout (OWASP ASVS 2.2.1), rate limits per address and caller (shared by
workers through Redis), body size, page size and array length caps."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import clock
from core import db as core_db
from core.db import DB_INT_MAX
from core.lockout import LoginLock
from core.models import AuditEvent
from core.pagination import MAX_LIMIT
from signing.models import Agreement
from tests import factories as f
from tests.live import another_app

STAFF_LOGIN = "/api/v1/auth/staff-login"
REDIS_URL = os.environ.get("TEST_REDIS_URL")


def login(client, username, password):
    return client.post(STAFF_LOGIN, json={"username": username, "password": password})


def test_ten_failed_staff_logins_lock_the_account_for_fifteen_minutes(client):
    doctor = f.staff()
    for _ in range(10):
        assert login(client, doctor.username, "wrong").status_code == 401
    locked = login(client, doctor.username, f.PASSWORD)
    assert locked.status_code == 429
    assert locked.get_json()["code"] == 429
    assert core_db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.login_locked")).target_id == doctor.username
    clock.advance(timedelta(minutes=14))
    assert login(client, doctor.username, f.PASSWORD).status_code == 429
    clock.advance(timedelta(minutes=1, seconds=1))
    assert login(client, doctor.username, f.PASSWORD).status_code == 200


def test_nine_failures_do_not_lock_and_a_good_login_clears_them(client):
    doctor = f.staff()
    for _ in range(9):
        login(client, doctor.username, "wrong")
    assert login(client, doctor.username, f.PASSWORD).status_code == 200
    assert core_db.session.scalar(select(LoginLock).where(LoginLock.username == doctor.username)) is None
    for _ in range(9):
        login(client, doctor.username, "wrong")
    assert login(client, doctor.username, f.PASSWORD).status_code == 200


def test_failures_older_than_an_hour_are_not_counted(client):
    doctor = f.staff()
    for _ in range(9):
        login(client, doctor.username, "wrong")
    clock.advance(timedelta(hours=1, minutes=1))
    assert login(client, doctor.username, "wrong").status_code == 401
    assert login(client, doctor.username, f.PASSWORD).status_code == 200


def test_an_unknown_username_is_locked_like_a_real_one(client):
    for _ in range(10):
        assert login(client, "nobody-at-all", "wrong").status_code == 401
    assert login(client, "nobody-at-all", "wrong").status_code == 429


def test_logins_beyond_the_limit_per_address_answer_429_in_the_error_shape(client, limited):
    limited(LOGIN_RATE_LIMIT="3 per minute")
    statuses = [client.post(STAFF_LOGIN, json={}).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    refused = client.post("/api/v1/auth/wechat-login", json={"code": "x"})
    assert refused.status_code == 429
    assert refused.get_json()["code"] == 429
    assert "Retry-After" in refused.headers


def test_signing_is_limited_per_caller_not_for_everyone(client, limited):
    limited(SIGN_RATE_LIMIT="2 per minute")
    f.regions()
    first, second = f.as_resident(f.resident(openid="wx-busy")), f.as_resident(f.resident(openid="wx-calm"))
    statuses = [client.post("/api/v1/agreements", json={}, headers=first).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    assert client.post("/api/v1/agreements", json={}, headers=second).status_code == 422


@pytest.fixture
def two_workers(app, settings):
    """Two app instances (as two gunicorn workers) counting in the same Redis."""
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set (.ci/run sets it): no Redis to share limits through")
    shared = settings.replace(REDIS_URL=REDIS_URL, LOGIN_RATE_LIMIT="3 per minute",
                              RATE_LIMIT_KEY_PREFIX=f"jiayi-test-{uuid.uuid4().hex}")
    with another_app(shared, restore=app) as first, another_app(shared, restore=app) as second:
        yield first.test_client(), second.test_client()


def test_the_login_limit_holds_across_workers_through_redis(two_workers):
    first, second = two_workers
    assert [first.post(STAFF_LOGIN, json={}).status_code for _ in range(2)] == [422, 422]
    assert second.post(STAFF_LOGIN, json={}).status_code == 422
    assert second.post(STAFF_LOGIN, json={}).status_code == 429
    assert first.post(STAFF_LOGIN, json={}).status_code == 429


def test_with_redis_unreachable_each_worker_keeps_limiting_on_its_own(app, settings):
    unreachable = settings.replace(REDIS_URL="redis://127.0.0.1:9/0", LOGIN_RATE_LIMIT="2 per minute")
    with another_app(unreachable, restore=app) as worker:
        client = worker.test_client()
        assert [client.post(STAFF_LOGIN, json={}).status_code for _ in range(3)] == [422, 422, 429]


def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_login_budget(app, settings):
    behind_proxy = settings.replace(TRUSTED_PROXY_HOPS=1, LOGIN_RATE_LIMIT="2 per minute",
                                    RATE_LIMIT_KEY_PREFIX=f"jiayi-test-{uuid.uuid4().hex}")
    with another_app(behind_proxy, restore=app) as proxied:
        client = proxied.test_client()
        first, second = ({"X-Forwarded-For": address} for address in ("10.0.0.1", "10.0.0.2"))
        assert [client.post(STAFF_LOGIN, json={}, headers=first).status_code for _ in range(3)] == [422, 422, 429]
        assert client.post(STAFF_LOGIN, json={}, headers=second).status_code == 422


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(client, limited):
    limited(LOGIN_RATE_LIMIT="2 per minute")
    statuses = [client.post(STAFF_LOGIN, json={}, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                for i in range(3)]
    assert statuses == [422, 422, 429]


def test_a_body_over_max_content_length_is_413_in_the_error_shape(client, settings):
    body = b'{"code": "' + b"x" * settings.MAX_CONTENT_LENGTH + b'"}'
    response = client.post("/api/v1/auth/wechat-login", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["code"] == 413


def test_a_page_larger_than_the_cap_is_422_naming_limit(client):
    f.regions()
    headers = f.as_staff(f.staff(centre=f.centre()))
    assert client.get(f"/api/v1/agreements?limit={MAX_LIMIT}", headers=headers).status_code == 200
    response = client.get(f"/api/v1/agreements?limit={MAX_LIMIT + 1}", headers=headers)
    assert response.status_code == 422
    assert "limit" in response.get_json()["errors"]["query"]


def test_signing_more_than_twenty_residents_at_once_is_422_and_nothing_is_written(client):
    f.regions()
    centre = f.centre()
    headers = f.as_staff(f.staff(centre=centre))
    response = client.post("/api/v1/agreements", headers=headers,
                           json={"centre_id": centre.id, "term_years": 1, "consent_version": "2025-01",
                                 "resident_ids": list(range(1, 22))})
    assert response.status_code == 422
    assert "resident_ids" in response.get_json()["errors"]["json"]
    assert core_db.session.scalar(select(func.count()).select_from(Agreement)) == 0


BOUNDS = {"array": "maxItems", "integer": "maximum"}


def _unbounded(node, spec, path):
    """Arrays without maxItems and integers without a maximum (beyond which PostgreSQL would fail)."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            yield from _unbounded(spec["components"]["schemas"][name], spec, f"{path}->{name}")
            return
        if node.get("type") in BOUNDS and BOUNDS[node["type"]] not in node:
            yield path
        for key, value in node.items():
            yield from _unbounded(value, spec, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _unbounded(value, spec, f"{path}[{index}]")


def test_every_array_and_integer_a_client_may_send_is_bounded(client):
    spec = client.get("/openapi.json").get_json()
    unbounded = []
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            inputs = operation if method == "parameters" else [operation.get("parameters"), operation.get("requestBody")]
            unbounded += _unbounded(inputs, spec, f"{method.upper()} {route}")
    assert unbounded == []


def test_an_id_beyond_the_databases_integer_range_is_422_in_a_body_and_404_in_a_path(client):
    f.regions()
    headers = f.as_resident(f.resident(openid="wx-huge-ids"))
    too_big = DB_INT_MAX + 1
    response = client.post("/api/v1/agreements", headers=headers,
                           json={"centre_id": too_big, "term_years": 1, "consent_version": "2025-01"})
    assert response.status_code == 422
    assert "centre_id" in response.get_json()["errors"]["json"]
    assert client.get(f"/api/v1/centres/{too_big}").status_code == 404
