"""Revocable sessions (issue 14, 等保 level 3): every token names a server-side session checked at each
request; logout, disabling or deleting an account, disabling a bureau client end it at once; access
tokens are short and renewed by a rotating refresh token; staff sessions end when idle. Staff password
policy and the one-time password's first login. Logins audited without the secret."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import event, select

from app import scheduled_jobs
from core import clock, sessions
from core import db as core_db
from core.auth import Role
from core.jobs import forget_spent_logins
from core.lockout import LoginLock
from core.models import AuditEvent
from registry.demo import LOGINS
from registry.models import Staff
from tests import factories as f
from tests.county_helpers import as_admin

STAFF_LOGIN = "/api/v1/auth/staff-login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
STAFF_ROUTE = "/api/v1/agreements"
SECRET = "s3cret-of-the-bureau-system"


def bearer(answer) -> dict[str, str]:
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def log_in(client, member: Staff, password: str = f.PASSWORD, **kwargs):
    answer = client.post(STAFF_LOGIN, json={"username": member.username, "password": password}, **kwargs)
    assert answer.status_code == 200, answer.get_json()
    return answer


def refresh(client, answer_or_token):
    token = answer_or_token if isinstance(answer_or_token, str) else answer_or_token.get_json()["refresh_token"]
    return client.post(REFRESH, json={"refresh_token": token})


def events(action: str) -> list[AuditEvent]:
    return list(core_db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def doctor(centres):
    return f.staff(centre=centres["home"])


@pytest.fixture
def bureau(centres):
    return f.api_client(secret=SECRET)


def client_login(client, client_id="shaoyang-bureau", secret=SECRET, **kwargs):
    return client.post("/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                    "client_secret": secret}, **kwargs)


# Revocation -------------------------------------------------------------------------------------------

def test_logout_ends_the_session_at_once_for_its_access_and_refresh_tokens(client, doctor):
    answer = log_in(client, doctor)
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 200
    assert client.post(LOGOUT, headers=bearer(answer)).status_code == 204
    after = client.get(STAFF_ROUTE, headers=bearer(answer))
    assert after.status_code == 401 and "ended" in after.get_json()["message"]
    assert refresh(client, answer).status_code == 401
    assert len(events("auth.logout")) == 1


def test_logout_needs_a_token_and_ends_no_other_session(client, doctor):
    first, second = log_in(client, doctor), log_in(client, doctor)
    assert client.post(LOGOUT).status_code == 401
    assert client.post(LOGOUT, headers=bearer(first)).status_code == 204
    assert client.get(STAFF_ROUTE, headers=bearer(second)).status_code == 200


def test_a_disabled_staff_accounts_token_stops_working_at_once(client, doctor):
    answer = log_in(client, doctor)
    disabled = client.patch(f"/api/v1/admin/staff/{doctor.id}", headers=as_admin(), json={"active": False})
    assert disabled.status_code == 200, disabled.get_json()
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 401
    assert refresh(client, answer).status_code == 401
    assert client.post(STAFF_LOGIN, json={"username": doctor.username, "password": f.PASSWORD}).status_code == 401


def test_disabling_an_account_one_does_not_administer_is_403_and_its_token_keeps_working(client, doctor, centres):
    answer = log_in(client, doctor)
    outsider = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["other"]))
    refused = client.patch(f"/api/v1/admin/staff/{doctor.id}", headers=outsider, json={"active": False})
    assert refused.status_code == 403
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 200
    core_db.session.refresh(doctor)
    assert doctor.active is True


def test_a_deleted_staff_accounts_token_stops_working_at_once(client, doctor):
    answer = log_in(client, doctor)
    core_db.session.delete(doctor)
    core_db.session.commit()
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 401


def test_a_password_reset_by_an_administrator_logs_the_account_out(client, doctor):
    answer = log_in(client, doctor)
    reset = client.patch(f"/api/v1/admin/staff/{doctor.id}", headers=as_admin(), json={"reset_password": True})
    assert reset.status_code == 200 and reset.get_json()["one_time_password"]
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 401


def test_moving_a_doctor_to_another_team_ends_the_sessions_that_carry_the_old_team(client, centres):
    home = centres["home"]
    second = client.post(f"/api/v1/admin/centres/{home.id}/teams", headers=as_admin(), json={"name": "第二团队"})
    doctor = f.staff(centre=home)
    answer, renamed = log_in(client, doctor), log_in(client, doctor)
    assert client.patch(f"/api/v1/admin/staff/{doctor.id}", headers=as_admin(), json={"name": "李医生"}).status_code == 200
    assert client.get(STAFF_ROUTE, headers=bearer(renamed)).status_code == 200  # a new name changes no token
    moved = client.patch(f"/api/v1/admin/staff/{doctor.id}", headers=as_admin(), json={"team_id": second.get_json()["id"]})
    assert moved.status_code == 200, moved.get_json()
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 401


def test_disabling_a_bureau_client_revokes_its_tokens_at_once(client, bureau):
    answer = client_login(client)
    assert answer.status_code == 200
    assert client.get("/api/v1/rosters", headers=bearer(answer)).status_code == 200
    disabled = client.patch(f"/api/v1/admin/api-clients/{bureau.id}", headers=as_admin(), json={"active": False})
    assert disabled.status_code == 200, disabled.get_json()
    assert client.get("/api/v1/rosters", headers=bearer(answer)).status_code == 401
    assert client_login(client).status_code == 401


def test_a_bureau_of_another_county_cannot_disable_the_client_and_its_token_keeps_working(client, bureau):
    answer = client_login(client)
    refused = client.patch(f"/api/v1/admin/api-clients/{bureau.id}", headers=as_admin("440823"), json={"active": False})
    assert refused.status_code == 403
    assert client.get("/api/v1/rosters", headers=bearer(answer)).status_code == 200


def test_rotating_a_clients_secret_ends_the_tokens_of_the_old_one(client, bureau):
    answer = client_login(client)
    rotated = client.post(f"/api/v1/admin/api-clients/{bureau.id}/secret", headers=as_admin())
    assert rotated.status_code == 201
    assert client.get("/api/v1/rosters", headers=bearer(answer)).status_code == 401
    assert client_login(client, secret=rotated.get_json()["client_secret"]).status_code == 200


def test_a_signed_token_without_a_live_session_is_refused(client, doctor, settings):
    """A token signed with the right key but naming no session (as every token did before sessions) is 401."""
    now = int(clock.now().timestamp())
    claims = {"sub": f"staff:{doctor.id}", "role": "doctor", "centre_id": doctor.centre_id, "iat": now, "exp": now + 600}
    sessionless = jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")
    assert client.get(STAFF_ROUTE, headers={"Authorization": f"Bearer {sessionless}"}).status_code == 401
    invented = jwt.encode({**claims, "sid": "no-such-session"}, settings.SECRET_KEY, algorithm="HS256")
    assert client.get(STAFF_ROUTE, headers={"Authorization": f"Bearer {invented}"}).status_code == 401


def test_a_token_naming_another_subjects_session_is_refused(client, doctor, settings):
    answer = log_in(client, doctor)
    claims = jwt.decode(answer.get_json()["access_token"], options={"verify_signature": False})
    stolen = jwt.encode({**claims, "sub": f"staff:{doctor.id + 1000}", "role": "admin"}, settings.SECRET_KEY, algorithm="HS256")
    assert client.get("/api/v1/admin/staff", headers={"Authorization": f"Bearer {stolen}"}).status_code == 401


# Short access tokens, rotating refresh tokens, idle time ------------------------------------------------

def test_access_tokens_last_fifteen_minutes_and_a_refresh_token_renews_them(client, doctor):
    answer = log_in(client, doctor)
    body = answer.get_json()
    assert body["expires_in"] == 15 * 60 and body["token_type"] == "Bearer" and body["password_change_required"] is False
    assert body["refresh_token"] and body["refresh_expires_in"] == 12 * 3600
    clock.advance(timedelta(minutes=15, seconds=1))
    expired = client.get(STAFF_ROUTE, headers=bearer(answer))
    assert expired.status_code == 401 and "expired" in expired.get_json()["message"]
    renewed = refresh(client, answer)
    assert renewed.status_code == 200, renewed.get_json()
    assert renewed.get_json()["refresh_token"] != body["refresh_token"]
    assert client.get(STAFF_ROUTE, headers=bearer(renewed)).status_code == 200


def test_a_used_refresh_token_cannot_be_reused_and_reuse_revokes_the_session(client, doctor):
    answer = log_in(client, doctor)
    renewed = refresh(client, answer)
    assert renewed.status_code == 200
    reused = refresh(client, answer)
    assert reused.status_code == 401 and "already used" in reused.get_json()["message"]
    assert client.get(STAFF_ROUTE, headers=bearer(renewed)).status_code == 401
    assert refresh(client, renewed).status_code == 401
    assert [event.target_id for event in events("auth.refresh_reused")] == [f"staff:{doctor.id}"]


def test_a_forged_refresh_token_is_401_and_does_not_end_the_session_it_names(client, doctor):
    """Knowing a session id (it is readable in the access token) is not enough to end someone's session."""
    answer = log_in(client, doctor)
    session_id, generation, _ = answer.get_json()["refresh_token"].split(".")
    for forged in (f"{session_id}.{generation}.{'0' * 43}", f"{session_id}.0.x", session_id, "..", "x" * 128):
        assert refresh(client, forged).status_code == 401
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 200
    assert refresh(client, answer).status_code == 200


def test_a_staff_session_ends_after_thirty_minutes_without_a_request(client, doctor):
    answer = log_in(client, doctor)
    clock.advance(timedelta(minutes=14))
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 200  # activity: the idle time restarts
    clock.advance(timedelta(minutes=29))
    renewed = refresh(client, answer)
    assert renewed.status_code == 200  # 43 minutes after the login, 29 after the last request
    clock.advance(timedelta(minutes=30, seconds=1))
    idle = refresh(client, renewed)
    assert idle.status_code == 401 and "without activity" in idle.get_json()["message"]


def test_a_staff_session_ends_at_its_lifetime_even_when_busy(client, doctor):
    answer = log_in(client, doctor)
    for _ in range(12 * 4 - 1):
        clock.advance(timedelta(minutes=15))
        answer = refresh(client, answer)
        assert answer.status_code == 200
    clock.advance(timedelta(minutes=15))
    assert refresh(client, answer).status_code == 401


def test_residents_wechat_sessions_get_refresh_and_logout_and_do_not_end_when_idle(client, wechat, alice):
    answer = client.post("/api/v1/auth/wechat-login", json={"code": f"ok-{alice.openid}"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["refresh_token"] and body["identity_bound"] is True and body["refresh_expires_in"] == 30 * 86400
    clock.advance(timedelta(hours=6))
    renewed = refresh(client, answer)
    assert renewed.status_code == 200
    assert client.get("/api/v1/me", headers=bearer(renewed)).status_code == 200
    assert client.post(LOGOUT, headers=bearer(renewed)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(renewed)).status_code == 401
    assert refresh(client, renewed).status_code == 401


def test_a_bureau_client_gets_no_refresh_token_and_logs_in_again(client, bureau):
    body = client_login(client).get_json()
    assert "refresh_token" not in body and body["expires_in"] == 15 * 60


def test_the_session_check_is_one_primary_key_read(client, doctor, app):
    """Each request reads its session by primary key (and writes last_seen_at at most once a minute)."""
    answer = log_in(client, doctor)
    statements = []
    engine = app.extensions["engine"]

    def seen(_conn, _cursor, statement, *_args):
        if "sessions" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1 and "WHERE sessions.id =" in statements[0], statements


# Password policy and the first login with a one-time password ------------------------------------------

@pytest.fixture
def newcomer(client, centres):
    """An account an administrator opened: (staff, one-time password)."""
    created = client.post("/api/v1/admin/staff", headers=as_admin(), json={
        "username": "doctor.zhao", "name": "赵医生", "role": "doctor", "centre_id": centres["home"].id})
    assert created.status_code == 201
    return core_db.session.get(Staff, created.get_json()["id"]), created.get_json()["one_time_password"]


def change(client, username, password, new_password):
    return client.post("/api/v1/auth/password", json={"username": username, "password": password,
                                                      "new_password": new_password})


def test_a_one_time_password_login_answers_but_every_other_route_refuses_403_until_changed(client, newcomer):
    staff, one_time = newcomer
    answer = log_in(client, staff, one_time)
    assert answer.get_json()["password_change_required"] is True
    for method, path in (("GET", STAFF_ROUTE), ("GET", "/api/v1/rosters"), ("POST", "/api/v1/agreements")):
        refused = client.open(path, method=method, headers=bearer(answer), json={})
        assert refused.status_code == 403, path
        assert refused.get_json()["details"]["reason"] == "password_change_required"
    assert change(client, staff.username, one_time, "a much longer secret 2026").status_code == 204
    assert client.get(STAFF_ROUTE, headers=bearer(answer)).status_code == 401  # the change ended that session
    again = log_in(client, staff, "a much longer secret 2026")
    assert again.get_json()["password_change_required"] is False
    assert client.get(STAFF_ROUTE, headers=bearer(again)).status_code == 200


def test_a_one_time_password_session_may_log_out(client, newcomer):
    staff, one_time = newcomer
    answer = log_in(client, staff, one_time)
    assert client.post(LOGOUT, headers=bearer(answer)).status_code == 204


@pytest.mark.parametrize("weak, reason", [
    ("short-pw-26", "too_short"),
    ("I am doctor.zhao, really", "contains_username"),
    ("XX-DOCTOR.ZHAO-2026", "contains_username"),
    (LOGINS["doctor"][1] + "!", None),  # long enough and not a default: accepted (the control case)
    ("demo-county-2025", "default_password"),
])
def test_a_new_staff_password_has_twelve_characters_and_not_the_username(client, newcomer, weak, reason):
    staff, one_time = newcomer
    before = staff.password_hash
    answer = change(client, staff.username, one_time, weak)
    core_db.session.refresh(staff)
    if reason is None:
        assert answer.status_code == 204
        return
    assert answer.status_code == 422 and answer.get_json()["details"]["reason"] == reason
    assert "new_password" in answer.get_json()["errors"]["json"]
    assert staff.password_hash == before and staff.must_change_password is True


def test_a_new_password_may_not_be_the_one_time_password(client, newcomer, monkeypatch, app, settings):
    staff, one_time = newcomer
    monkeypatch.setitem(app.config, "SETTINGS", settings.replace(STAFF_PASSWORD_MIN_LENGTH=8))
    answer = change(client, staff.username, one_time, one_time)
    assert answer.status_code == 422 and answer.get_json()["details"]["reason"] == "unchanged"
    core_db.session.refresh(staff)
    assert staff.must_change_password is True


def test_a_new_password_may_not_be_a_published_default(client, newcomer):
    staff, one_time = newcomer
    answer = change(client, staff.username, one_time, LOGINS["doctor"][1].upper())
    assert answer.status_code == 422
    answer = change(client, staff.username, one_time, "demo-client-secret-2025")
    assert answer.status_code == 422 and answer.get_json()["details"]["reason"] == "default_password"
    core_db.session.refresh(staff)
    assert staff.must_change_password is True


def test_the_minimum_password_length_is_configuration(client, newcomer, monkeypatch, app, settings):
    staff, one_time = newcomer
    monkeypatch.setitem(app.config, "SETTINGS", settings.replace(STAFF_PASSWORD_MIN_LENGTH=20))
    assert change(client, staff.username, one_time, "nineteen characters").status_code == 422
    assert change(client, staff.username, one_time, "twenty characters ok").status_code == 204


# Logins audited ---------------------------------------------------------------------------------------

def test_a_successful_staff_login_is_audited_with_the_account(client, doctor):
    log_in(client, doctor)
    [event] = events("auth.login")
    assert (event.target_type, event.target_id, event.outcome) == ("staff", str(doctor.id), "ok")


def test_a_failed_login_of_an_existing_account_is_audited_with_its_username_never_the_password(client, doctor):
    password = "my-guess-Tr0ub4dor&3"
    assert client.post(STAFF_LOGIN, json={"username": doctor.username, "password": password}).status_code == 401
    [event] = events("auth.login")
    assert (event.target_type, event.target_id, event.outcome) == ("staff_account", doctor.username, "refused_401")
    assert event.detail["known"] is True
    assert password not in repr((event.target_id, event.detail))


def test_a_failed_login_of_an_unknown_name_is_audited_under_a_pseudonym(client, centres):
    typed = "correct horse battery staple"  # a password typed into the username field
    assert client.post(STAFF_LOGIN, json={"username": typed, "password": "x"}).status_code == 401
    [event] = events("auth.login")
    assert event.target_id != typed and typed not in repr(event.detail) and event.detail["known"] is False
    assert client.post(STAFF_LOGIN, json={"username": typed, "password": "y"}).status_code == 401
    assert events("auth.login")[1].target_id == event.target_id  # the same name, the same pseudonym


def test_bureau_client_logins_are_audited_on_success_and_failure(client, bureau):
    assert client_login(client, secret="wrong").status_code == 401
    assert client_login(client).status_code == 200
    failed, succeeded = events("auth.login")
    assert (failed.target_type, failed.target_id, failed.outcome) == ("client_account", "shaoyang-bureau", "refused_401")
    assert (succeeded.target_type, succeeded.target_id, succeeded.outcome) == ("api_client", str(bureau.id), "ok")


def test_a_wechat_login_is_audited_without_the_openid(client, wechat):
    assert client.post("/api/v1/auth/wechat-login", json={"code": "ok-wx-audited"}).status_code == 200
    [event] = events("auth.login")
    assert event.target_type == "wechat_account" and "wx-audited" not in (event.target_id or "")


def test_sessions_are_stored_without_any_token(client, doctor):
    answer = log_in(client, doctor).get_json()
    row = core_db.session.scalars(select(sessions.Session).where(sessions.Session.subject == f"staff:{doctor.id}")).one()
    stored = repr([getattr(row, column.name) for column in sessions.Session.__table__.columns])
    assert answer["access_token"] not in stored and answer["refresh_token"] not in stored


def test_sessions_and_login_counters_that_can_no_longer_matter_are_deleted_daily(db):
    expired = sessions.open_session(subject="staff:901", role="doctor")
    revoked = sessions.open_session(subject="staff:902", role="doctor")
    live = sessions.open_session(subject="wx:still-signed-in", role="resident")
    now = clock.now()
    with core_db.transaction():
        core_db.session.get(sessions.Session, expired.id).expires_at = now - timedelta(days=2)
        core_db.session.get(sessions.Session, revoked.id).revoked_at = now - timedelta(days=2)
        core_db.session.add_all([
            LoginLock(account="staff:901", source="10.0.0.1", failures=3, counting_since=now - timedelta(hours=2)),
            LoginLock(account="staff:902", source="10.0.0.2", failures=10, counting_since=now - timedelta(hours=2),
                      locked_until=now + timedelta(minutes=5)),
            LoginLock(account="staff:903", source="10.0.0.3", failures=2, counting_since=now - timedelta(minutes=5)),
        ])
    forgotten = forget_spent_logins()
    assert forgotten["sessions"] >= 2 and forgotten["login_counters"] >= 1  # others' spent rows may go too
    mine = {expired.id, revoked.id, live.id}
    assert set(core_db.session.scalars(select(sessions.Session.id).where(sessions.Session.id.in_(mine)))) == {live.id}
    assert set(core_db.session.scalars(select(LoginLock.account).where(LoginLock.account.like("staff:90%")))) == {
        "staff:902", "staff:903"}
    assert "spent_logins" in {job.id for job in scheduled_jobs()}
