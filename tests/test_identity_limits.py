"""Identity binding and household calls are limited per WeChat account and per address, across workers.

The attack of the issue: no limit on binding or household members (60 fake residents in 2.4 s),
and different answers confirmed whether a name + ID pair was registered.
"""

from __future__ import annotations

import os
import uuid
from datetime import date

import pytest

from core.auth import Actor, Role
from tests import factories as f
from tests.identity_support import residents_count
from tests.live import another_app

REDIS_URL = os.environ.get("TEST_REDIS_URL")
MEMBERS = "/api/v1/me/household-members"


@pytest.fixture
def adults(db):
    f.regions()
    return [f.resident(openid=f"wx-adult-{i}") for i in range(3)]


def child(i: int) -> dict:
    return {"name": f"假孩子{i}", "id_number": f.id_number(date(2020, 1, 1))}


def test_sixty_fake_household_members_are_stopped_at_the_accounts_limit_and_no_more_are_written(client, limited, adults):
    limited(IDENTITY_RATE_LIMIT="10 per hour")
    headers, count = f.as_resident(adults[0]), residents_count()
    statuses = [client.post(MEMBERS, json=child(i), headers=headers).status_code for i in range(60)]
    assert statuses[:10] == [201] * 10 and set(statuses[10:]) == {429}
    assert residents_count() == count + 10
    refused = client.post(MEMBERS, json=child(99), headers=headers)
    assert refused.get_json()["code"] == 429 and "Retry-After" in refused.headers


def test_binding_and_household_calls_share_the_accounts_budget_and_reading_is_not_limited(client, limited, adults):
    limited(IDENTITY_RATE_LIMIT="3 per minute")
    headers = f.as_resident(adults[0])
    calls = [
        lambda: client.post("/api/v1/me/identity", json={"name": "x", "id_number": "1"}, headers=headers),
        lambda: client.post("/api/v1/me/household-invitations", headers=headers),
        lambda: client.delete("/api/v1/me/household", headers=headers),
        lambda: client.post("/api/v1/me/presence-codes", headers=headers),
    ]
    assert [call().status_code for call in calls] == [422, 201, 200, 429]
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/me/household-invitations", headers=f.as_resident(adults[1])).status_code == 201


def test_many_accounts_behind_one_address_are_stopped_at_the_addresss_limit(client, limited, adults):
    limited(IDENTITY_ADDRESS_RATE_LIMIT="4 per minute")
    statuses = [client.post("/api/v1/me/household-invitations", headers=f.as_resident(adults[i % 3])).status_code
                for i in range(6)]
    assert statuses == [201, 201, 201, 201, 429, 429]


def test_staff_registrations_are_limited_per_staff_member(client, limited):
    limited(REGISTRATION_RATE_LIMIT="2 per minute")
    f.regions()
    doctor = f.as_staff(f.staff(centre=f.centre()))
    statuses = [client.post("/api/v1/residents", json={}, headers=doctor).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]


@pytest.fixture
def two_workers(app, settings):
    """Two app instances (as two gunicorn workers) counting in the same Redis."""
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set (.ci/run sets it): no Redis to share limits through")
    shared = settings.replace(REDIS_URL=REDIS_URL, IDENTITY_RATE_LIMIT="3 per minute",
                              RATE_LIMIT_KEY_PREFIX=f"jiayi-test-{uuid.uuid4().hex}")
    with another_app(shared, restore=app) as first, another_app(shared, restore=app) as second:
        yield first.test_client(), second.test_client()


def test_the_identity_limit_holds_across_workers_through_redis(db, two_workers):
    first, second = two_workers
    headers = f.bearer(Actor(role=Role.RESIDENT, subject="wx:someone-unbound"))
    body = {"name": "x", "id_number": "1"}
    assert [first.post("/api/v1/me/identity", json=body, headers=headers).status_code for _ in range(2)] == [422, 422]
    assert second.post("/api/v1/me/identity", json=body, headers=headers).status_code == 422
    assert second.post("/api/v1/me/identity", json=body, headers=headers).status_code == 429
    assert first.post("/api/v1/me/identity", json=body, headers=headers).status_code == 429
