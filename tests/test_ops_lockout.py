"""A lockout that cannot be turned against the account's owner (issue 14): failures lock an account per
client address; a far higher ceiling per account locks it everywhere, with a verified way out (an
administrator's unlock, or the owner's password change with a one-time password an administrator issued).
Bureau client secrets get the same protection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.middleware.proxy_fix import ProxyFix

from core import clock
from core import db as core_db
from core.auth import Role
from core.lockout import LoginLock
from core.models import AuditEvent
from tests import factories as f
from tests.county_helpers import as_admin

STAFF_LOGIN = "/api/v1/auth/staff-login"
ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"
SECRET = "s3cret-of-the-bureau-system"


def login(client, username, password, address=OWNER):
    return client.post(STAFF_LOGIN, json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def client_login(client, secret=SECRET, address=OWNER):
    return client.post("/api/v1/auth/token", environ_base={"REMOTE_ADDR": address},
                       data={"grant_type": "client_credentials", "client_id": "shaoyang-bureau", "client_secret": secret})


def storm(client, username, failures, *, per_address=9):
    """`failures` wrong passwords from as many addresses as it takes, none reaching the per-address lock."""
    for n in range(failures):
        assert login(client, username, "wrong", address=f"192.0.2.{n // per_address + 1}").status_code == 401


def lock_rows(account: str) -> int:
    return core_db.session.scalar(select(func.count()).select_from(LoginLock).where(LoginLock.account == account))


@pytest.fixture
def doctor(centres):
    return f.staff(centre=centres["home"])


@pytest.fixture
def low_ceiling(app, settings, monkeypatch):
    """An account ceiling of 20 failures an hour, so that tests reach it quickly (the default, 100, has its own test)."""
    monkeypatch.setitem(app.config, "SETTINGS", settings.replace(LOGIN_ACCOUNT_CEILING=20))


@pytest.fixture
def bureau(centres):
    return f.api_client(secret=SECRET)


def test_a_failure_storm_from_one_address_does_not_lock_the_owner_at_another_address(client, doctor):
    for _ in range(30):
        assert login(client, doctor.username, "wrong", address=ATTACKER).status_code in (401, 429)
    assert login(client, doctor.username, f.PASSWORD, address=ATTACKER).status_code == 429
    assert login(client, doctor.username, f.PASSWORD, address=OWNER).status_code == 200


def test_a_lock_from_one_address_still_locks_that_address_against_the_right_password(client, doctor):
    for _ in range(10):
        assert login(client, doctor.username, "wrong", address=ATTACKER).status_code == 401
    locked = login(client, doctor.username, f.PASSWORD, address=ATTACKER)
    assert locked.status_code == 429 and locked.get_json()["details"]["reason"] == "locked_here"
    assert "Retry-After" in locked.headers


def test_behind_a_trusted_proxy_the_lock_follows_the_forwarded_address(app, client, doctor, monkeypatch):
    """With TRUSTED_PROXY_HOPS=1 create_app wraps the app in ProxyFix(x_for=1): the same here, on the test's app."""
    monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1))
    attacker, owner = ({"X-Forwarded-For": address} for address in (ATTACKER, OWNER))
    right = {"username": doctor.username, "password": f.PASSWORD}
    for _ in range(10):
        client.post(STAFF_LOGIN, json={**right, "password": "wrong"}, headers=attacker)
    assert client.post(STAFF_LOGIN, json=right, headers=attacker).status_code == 429
    assert client.post(STAFF_LOGIN, json=right, headers=owner).status_code == 200
    assert client.post(STAFF_LOGIN, json=right).status_code == 200  # the proxy's own address is not the attacker's


def test_a_hundred_failures_an_hour_from_all_addresses_lock_the_account_everywhere_for_an_hour(client, doctor):
    storm(client, doctor.username, 99)
    assert login(client, doctor.username, f.PASSWORD, address="192.0.2.200").status_code == 200
    assert login(client, doctor.username, "wrong", address="192.0.2.201").status_code == 401  # the hundredth
    locked = login(client, doctor.username, f.PASSWORD, address="192.0.2.202")
    assert locked.status_code == 429 and locked.get_json()["details"]["reason"] == "locked_everywhere"
    locked_events = core_db.session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.login_locked"))
    [event] = [event for event in locked_events if event.detail["scope"] == "everywhere"]
    assert event.target_id == doctor.username
    clock.advance(timedelta(minutes=60, seconds=1))
    assert login(client, doctor.username, f.PASSWORD, address="192.0.2.202").status_code == 200


def test_an_administrator_unlocks_an_account_by_api_and_it_is_audited(client, doctor, low_ceiling):
    storm(client, doctor.username, 20)
    assert login(client, doctor.username, f.PASSWORD).status_code == 429
    unlocked = client.post(f"/api/v1/admin/staff/{doctor.id}/unlock", headers=as_admin())
    assert unlocked.status_code == 200 and unlocked.get_json()["username"] == doctor.username
    assert login(client, doctor.username, f.PASSWORD).status_code == 200
    [event] = core_db.session.scalars(select(AuditEvent).where(AuditEvent.action == "admin.staff.unlock"))
    assert event.target_id == str(doctor.id) and event.actor == "staff:900001" and event.detail["locks"] > 0


def test_a_centre_administrator_unlocks_their_own_centres_doctor(client, doctor, centres, low_ceiling):
    storm(client, doctor.username, 20)
    admin = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"]))
    assert client.post(f"/api/v1/admin/staff/{doctor.id}/unlock", headers=admin).status_code == 200
    assert login(client, doctor.username, f.PASSWORD).status_code == 200


def test_an_administrator_of_another_centre_cannot_unlock_and_the_lock_stays(client, doctor, centres, low_ceiling):
    storm(client, doctor.username, 20)
    rows = lock_rows(f"staff:{doctor.username}")
    outsider = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["other"]))
    assert client.post(f"/api/v1/admin/staff/{doctor.id}/unlock", headers=outsider).status_code == 403
    assert client.post(f"/api/v1/admin/staff/{doctor.id}/unlock", headers=f.as_staff(doctor)).status_code == 403
    assert lock_rows(f"staff:{doctor.username}") == rows
    assert login(client, doctor.username, f.PASSWORD).status_code == 429


def test_the_owner_unlocks_by_changing_the_password_with_an_administrator_issued_one_time_password(client, doctor, low_ceiling):
    storm(client, doctor.username, 20)
    assert login(client, doctor.username, f.PASSWORD).status_code == 429
    reset = client.patch(f"/api/v1/admin/staff/{doctor.id}", headers=as_admin(), json={"reset_password": True})
    one_time = reset.get_json()["one_time_password"]
    changed = client.post("/api/v1/auth/password", environ_base={"REMOTE_ADDR": OWNER},
                          json={"username": doctor.username, "password": one_time, "new_password": "a fresh secret 2026"})
    assert changed.status_code == 204, changed.get_json()
    assert lock_rows(f"staff:{doctor.username}") == 0
    assert login(client, doctor.username, "a fresh secret 2026").status_code == 200


def test_a_password_change_without_a_one_time_password_does_not_lift_a_lock_from_everywhere(client, doctor, low_ceiling):
    storm(client, doctor.username, 20)
    refused = client.post("/api/v1/auth/password", environ_base={"REMOTE_ADDR": OWNER},
                          json={"username": doctor.username, "password": f.PASSWORD, "new_password": "a fresh secret 2026"})
    assert refused.status_code == 429
    assert login(client, doctor.username, f.PASSWORD).status_code == 429
    core_db.session.refresh(doctor)
    assert doctor.password_hash == f._password_hash()


def test_wrong_one_time_passwords_still_lock_the_address_they_come_from(client, doctor, low_ceiling):
    storm(client, doctor.username, 20)
    client.patch(f"/api/v1/admin/staff/{doctor.id}", headers=as_admin(), json={"reset_password": True})
    for _ in range(10):
        wrong = client.post("/api/v1/auth/password", environ_base={"REMOTE_ADDR": ATTACKER},
                            json={"username": doctor.username, "password": "guess", "new_password": "a fresh secret 2026"})
        assert wrong.status_code == 401
    assert client.post("/api/v1/auth/password", environ_base={"REMOTE_ADDR": ATTACKER},
                       json={"username": doctor.username, "password": "guess", "new_password": "x" * 20}).status_code == 429


def test_a_bureau_client_secret_is_locked_per_client_and_address(client, bureau):
    for _ in range(10):
        assert client_login(client, secret="wrong", address=ATTACKER).status_code == 401
    assert client_login(client, address=ATTACKER).status_code == 429
    assert client_login(client, address=OWNER).status_code == 200
    assert core_db.session.scalar(select(AuditEvent).where(AuditEvent.action == "client.login_locked")).target_id == "shaoyang-bureau"


def test_a_county_administrator_unlocks_a_bureau_client_and_another_county_cannot(client, bureau, low_ceiling):
    for n in range(20):
        client_login(client, secret="wrong", address=f"192.0.2.{n // 9 + 1}")
    assert client_login(client).status_code == 429
    assert client.post(f"/api/v1/admin/api-clients/{bureau.id}/unlock", headers=as_admin("440823")).status_code == 403
    assert client_login(client).status_code == 429
    assert client.post(f"/api/v1/admin/api-clients/{bureau.id}/unlock", headers=as_admin()).status_code == 200
    assert client_login(client).status_code == 200
    assert core_db.session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "admin.api_client.unlock", AuditEvent.outcome == "ok")) == 1
