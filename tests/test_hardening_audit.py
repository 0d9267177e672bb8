"""The audit log: reads and writes of residents' data are recorded (who, what, when, from where,
outcome; the names of the fields written, never their values), the log is append-only, kept at least
180 days in monthly partitions on PostgreSQL, and no log line holds a full ID number or phone."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core import audit, clock, migrate
from core import db as core_db
from core.config import ROOT, ConfigError
from core.errors import Invalid
from core.models import AuditEvent
from tests import factories as f
from tests.conftest import PG_URL, _create_pg_database
from tests.logscan import personal_numbers_in
from tests.packages_support import signed, site


def events(action: str) -> list[AuditEvent]:
    return list(core_db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def registered(client):
    """A resident registered on site by a doctor of centre A, and that doctor."""
    f.regions()
    doctor = f.staff(centre=f.centre())
    number = f.id_number(date(1950, 2, 3))
    body = {"name": "赵六", "id_number": number, "phone": "13700002222", "identity_document": "id_card"}
    response = client.post("/api/v1/residents", json=body, headers=f.as_staff(doctor))
    assert response.status_code == 201, response.get_json()
    return doctor, response.get_json()["id"], body


def test_a_staff_read_of_a_resident_is_audited_with_who_what_when_where(client, registered):
    doctor, resident_id, _ = registered
    response = client.get(f"/api/v1/residents/{resident_id}", headers=f.as_staff(doctor))
    assert response.status_code == 200
    [event] = events("resident.read")
    assert (event.actor, event.target_type, event.target_id, event.outcome, event.ip) == (
        f"staff:{doctor.id}", "resident", str(resident_id), "ok", "127.0.0.1")
    assert event.at == clock.now()
    assert event.request_id == response.headers["X-Request-Id"]


def test_a_refused_read_of_a_resident_is_audited_as_refused(client, registered):
    _, resident_id, _ = registered
    stranger = f.staff(centre=f.centre())
    assert client.get(f"/api/v1/residents/{resident_id}", headers=f.as_staff(stranger)).status_code == 403
    [event] = events("resident.read")
    assert (event.actor, event.outcome) == (f"staff:{stranger.id}", "refused_403")


def test_finding_a_known_resident_by_id_number_is_audited_as_a_read(client, registered):
    doctor, resident_id, body = registered
    assert client.post("/api/v1/residents", json=body, headers=f.as_staff(doctor)).status_code == 200
    assert [e.target_id for e in events("resident.register")] == [str(resident_id)]
    assert [e.target_id for e in events("resident.read")] == [str(resident_id)]


def test_a_staff_update_of_a_resident_is_audited_with_the_fields_not_the_values(client, registered):
    doctor, resident_id, _ = registered
    response = client.patch(f"/api/v1/residents/{resident_id}", json={"has_health_record": True},
                            headers=f.as_staff(doctor))
    assert response.status_code == 200
    [event] = events("resident.update")
    assert event.detail == {"fields": ["has_health_record"]}


def test_an_audit_event_cannot_be_updated_or_deleted(app, db):
    with app.test_request_context():
        event_id = audit.record("resident.read", "resident", 1)
    for statement in (update(AuditEvent).values(outcome="forged"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.begin_nested():
                db.execute(statement.where(AuditEvent.id == event_id))
    db.expire_all()
    assert db.get(AuditEvent, event_id).outcome == "ok"


def test_no_code_updates_or_deletes_audit_events():
    sources = [p for p in ROOT.glob("*/**/*.py") if ".venv" not in p.parts and "tests" not in p.parts]
    writers = [str(p.relative_to(ROOT)) for p in sources
               if any(f"{verb}(AuditEvent" in Path(p).read_text() for verb in ("update", "delete"))]
    assert writers == []


def test_flows_with_id_numbers_and_phones_log_neither(client, wechat, caplog, registered):
    caplog.set_level(logging.DEBUG)
    doctor, resident_id, body = registered
    login = client.post("/api/v1/auth/wechat-login", json={"code": "ok-logscan"})
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    claim = {"name": body["name"], "id_number": body["id_number"]}
    proven = {**claim, "phone_code": f"phone-{body['phone']}"}
    assert client.post("/api/v1/me/identity", json=proven, headers=headers).status_code == 200
    assert client.post("/api/v1/me/identity", json={**claim, "name": "别人"}, headers=headers).status_code == 422
    client.post("/api/v1/residents", json={**body, "name": "别人"}, headers=f.as_staff(doctor))
    client.get(f"/api/v1/residents/{resident_id}", headers=f.as_staff(doctor))
    logged = caplog.text
    assert logged
    assert body["id_number"] not in logged and body["phone"] not in logged
    assert personal_numbers_in(logged) == []


def test_a_write_is_audited_with_the_names_of_the_fields_sent_never_their_values(client, registered):
    doctor, resident_id, _ = registered
    body = {"kind": "hypertension", "diagnosed_on": "2026-03-01"}
    response = client.post(f"/api/v1/residents/{resident_id}/conditions", json=body, headers=f.as_staff(doctor))
    assert response.status_code == 201, response.get_json()
    [event] = events("condition.create")
    assert (event.actor, event.target_type, event.target_id, event.outcome, event.detail) == (
        f"staff:{doctor.id}", "resident", str(resident_id), "ok", {"fields": ["diagnosed_on", "kind"]})


def test_a_read_of_a_residents_health_is_audited(client, registered):
    doctor, resident_id, _ = registered
    assert client.get(f"/api/v1/residents/{resident_id}/health", headers=f.as_staff(doctor)).status_code == 200
    [event] = events("health.read")
    assert (event.actor, event.target_id, event.outcome, event.detail) == (f"staff:{doctor.id}", str(resident_id), "ok", None)


def test_a_role_refused_before_entering_is_audited_naming_the_tokens_holder(client, registered):
    _, resident_id, _ = registered
    person = f.resident(openid="openid-curious")
    assert client.get(f"/api/v1/residents/{resident_id}/health", headers=f.as_resident(person)).status_code == 403
    [event] = events("health.read")
    assert (event.actor, event.target_id, event.outcome) == ("wx:openid-curious", str(resident_id), "refused_403")


def test_a_call_without_a_valid_token_leaves_no_event(client, registered):
    _, resident_id, _ = registered
    for headers in ({}, {"Authorization": "Bearer forged"}):
        assert client.get(f"/api/v1/residents/{resident_id}/health", headers=headers).status_code == 401
    assert events("health.read") == []


def test_a_value_sent_as_a_field_name_is_not_recorded(client, registered):
    doctor, resident_id, body = registered
    sent = {body["id_number"]: 1, "kind": "hypertension", "Diagnosed On": "x"}
    response = client.post(f"/api/v1/residents/{resident_id}/conditions", json=sent, headers=f.as_staff(doctor))
    assert response.status_code == 422
    [event] = events("condition.create")
    assert (event.outcome, event.detail) == ("refused_422", {"fields": ["kind"]})


def test_what_came_of_the_work_is_detail_and_the_events_outcome_stays_ok(client, db):
    place = site()
    person = signed(client, place, born=date(1950, 1, 1))
    response = client.post(f"/api/v1/residents/{person.id}/calls", json={"outcome": "no_answer"},
                           headers=f.as_staff(place.doctor))
    assert response.status_code == 201, response.get_json()
    [event] = events("call.record")
    assert (event.outcome, event.detail) == ("ok", {"result": "no_answer"})


# Retention and monthly partitions.

def test_a_retention_under_180_days_is_refused_and_nothing_is_created_or_dropped(app, db):
    before = partitions(db)
    with pytest.raises(Invalid, match="180"):
        audit.maintain_partitions(db, today=clock.today(), retention_days=179)
    assert partitions(db) == before
    with pytest.raises(ConfigError, match="AUDIT_RETENTION_DAYS"):
        app.config["SETTINGS"].replace(AUDIT_RETENTION_DAYS=179)
    refused = app.test_cli_runner().invoke(args=["db", "audit-partitions", "--retention-days", "179"])
    assert refused.exit_code != 0 and "180" in refused.output
    assert partitions(db) == before


def test_the_audit_partitions_job_is_scheduled_daily_and_the_command_runs_it(app, db):
    assert "audit_partitions" in [job.id for job in app.extensions["jobs"]]
    assert app.config["SETTINGS"].SCHEDULES["audit_partitions"] == "hour=1 minute=15"
    done = app.test_cli_runner().invoke(args=["db", "audit-partitions"])
    assert done.exit_code == 0, done.output
    made = "audit_events_2026_03, audit_events_2026_04" if db.get_bind().dialect.name == "postgresql" else "none"
    assert done.output.startswith(f"created: {made}")


def test_the_month_to_drop_is_one_whose_every_day_is_past_retention():
    months = ["audit_events_2025_08", "audit_events_2025_09", "audit_events_2025_10", "audit_events_default"]
    # 180 days before 2026-03-30 is 2025-10-01: all of September is past; on 03-29, September 30 is not yet.
    assert list(audit.months_to_drop(months, date(2026, 3, 30), 180)) == ["audit_events_2025_08", "audit_events_2025_09"]
    assert list(audit.months_to_drop(months, date(2026, 3, 29), 180)) == ["audit_events_2025_08"]


postgresql_only = pytest.mark.usefixtures("postgresql")


@pytest.fixture
def postgresql(db):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("monthly partitions are PostgreSQL's; SQLite keeps one table")


def partitions(db) -> list[str]:
    if db.get_bind().dialect.name != "postgresql":
        return []
    return sorted(db.scalars(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                  "WHERE i.inhparent = 'audit_events'::regclass")))


def partition_of(db, event_id: int) -> str:
    return db.scalar(text("SELECT tableoid::regclass::text FROM audit_events WHERE id = :id"), {"id": event_id})


@postgresql_only
def test_an_event_lands_in_the_partition_of_its_month(app, db):
    done = audit.maintain_partitions(db, today=clock.today(), retention_days=180)
    assert done["created"][:2] == ["audit_events_2026_03", "audit_events_2026_04"]
    with app.test_request_context():
        event = audit.record("resident.read", "resident", 1)
    assert partition_of(db, event) == "audit_events_2026_03"
    clock.set_now(datetime(2026, 4, 1, 0, 0, 1, tzinfo=clock.SHANGHAI))  # midnight in Asia/Shanghai starts April
    with app.test_request_context():
        event = audit.record("resident.read", "resident", 1)
    assert partition_of(db, event) == "audit_events_2026_04"


@postgresql_only
def test_a_month_past_retention_goes_by_dropping_its_partition_not_by_deleting(app, db):
    audit.maintain_partitions(db, today=date(2025, 6, 10), retention_days=180)
    written = {}
    for day in (date(2025, 6, 10), date(2025, 9, 15)):
        clock.set_today(day)
        with app.test_request_context():
            written[day.month] = audit.record("resident.read", "resident", 1)
    assert partition_of(db, written[6]) == "audit_events_2025_06"
    done = audit.maintain_partitions(db, today=date(2026, 3, 16), retention_days=180)
    assert done["dropped"] == ["audit_events_2025_06", "audit_events_2025_07", "audit_events_2025_08"]
    assert "audit_events_2025_09" in partitions(db) and "audit_events_2025_06" not in partitions(db)
    assert db.scalars(select(AuditEvent.id)).all() == [written[9]]
    for statement in ("DELETE FROM audit_events", "DELETE FROM audit_events_2025_09", "TRUNCATE audit_events_2025_09",
                      "UPDATE audit_events_2025_09 SET outcome = 'forged'"):
        with pytest.raises(DBAPIError, match="append-only"):  # a month still kept is still append-only
            with db.begin_nested():
                db.execute(text(statement))


@postgresql_only
def test_partitioning_keeps_the_events_written_before_it_and_their_append_only_guard(database_url):
    url, drop = _create_pg_database()
    engine = create_engine(url)
    try:
        migrate.upgrade(url, "0016-1")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO audit_events (at, actor, action, target_type, target_id, outcome) VALUES "
                "('2025-01-31 23:30+08', 'staff:1', 'resident.read', 'resident', '7', 'ok'), "
                "('2025-02-01 00:30+08', 'staff:1', 'resident.update', 'resident', '7', 'ok')"))
        migrate.upgrade(url, "0016")
        with engine.begin() as connection:
            kept = connection.execute(text(
                "SELECT id, action, tableoid::regclass::text FROM audit_events ORDER BY id")).all()
            assert kept == [(1, "resident.read", "audit_events_2025_01"), (2, "resident.update", "audit_events_2025_02")]
            assert connection.scalar(text("INSERT INTO audit_events (at, actor, action, target_type, outcome) "
                                          "VALUES (now(), 'staff:1', 'x', 'y', 'ok') RETURNING id")) == 3
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("UPDATE audit_events_2025_01 SET outcome = 'forged'"))
    finally:
        engine.dispose()
        drop()


@postgresql_only
def test_the_readme_role_split_lets_the_app_only_insert_and_read_the_audit_log(database_url):
    """Run README's GRANTs (roles renamed for this run) and try what the application's role must not do."""
    sql = (ROOT / "README.md").read_text().split("### Database roles and the audit log")[1].split("```sql")[1].split("```")[0]
    suffix = uuid.uuid4().hex[:8]
    sql = re.sub(r"\bjiayi(_owner|_migrate|_maint|_app)?\b", lambda m: f"{m[0]}_{suffix}", sql).replace("'…'", "'pw'")
    create, rest = sql.split("\\c ")
    database, rest = rest.split("\n", 1)
    setup, grants = rest.split("-- after every")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    url = lambda role: make_url(PG_URL).set(username=f"jiayi_{role}_{suffix}", password="pw", database=database)  # noqa: E731
    engines = []
    try:
        with admin.connect() as connection:
            for statement in filter(None, (part.strip() for part in re.sub(r"--[^\n]*", "", create).split(";"))):
                connection.exec_driver_sql(statement)
        with create_engine(make_url(PG_URL).set(database=database), isolation_level="AUTOCOMMIT").connect() as owner_db:
            owner_db.exec_driver_sql(setup)
        migrate.upgrade(url("migrate").render_as_string(hide_password=False))
        engines = [create_engine(url(role)) for role in ("migrate", "app", "maint")]
        migrator, application, maintainer = engines
        with migrator.begin() as connection:  # psycopg itself: the DO block's format('%s') is not a parameter
            connection.connection.driver_connection.execute(grants.split("\n", 1)[1])
        with Session(maintainer) as session:  # the job's run as the maintenance role: it makes March 2026
            assert "audit_events_2026_03" in audit.maintain_partitions(session, today=clock.today(), retention_days=180)["created"]
        with application.begin() as connection:
            connection.execute(text("INSERT INTO audit_events (at, actor, action, target_type, outcome) "
                                    "VALUES ('2026-03-16 10:00+08', 'staff:1', 'resident.read', 'resident', 'ok')"))
            assert connection.scalar(text("SELECT count(*) FROM audit_events")) == 1
        refused = {"UPDATE audit_events SET outcome = 'forged'": "permission denied",
                   "DELETE FROM audit_events": "permission denied",
                   "TRUNCATE audit_events": "permission denied",
                   "DELETE FROM audit_events_2026_03": "permission denied",
                   "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only": "must be owner",
                   "DROP TRIGGER audit_events_append_only ON audit_events": "must be owner",
                   "DROP TABLE audit_events_2026_03": "must be owner",
                   "ALTER TABLE audit_events DETACH PARTITION audit_events_2026_03": "must be owner"}
        for statement, why in refused.items():
            with pytest.raises(DBAPIError, match=why), application.begin() as connection:
                connection.exec_driver_sql(statement)
        with pytest.raises(DBAPIError, match="append-only"), maintainer.begin() as connection:
            connection.exec_driver_sql("UPDATE audit_events SET outcome = 'forged'")  # even the owner's roles
    finally:
        for engine in engines:
            engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            for role in ("app", "maint", "migrate", "owner"):
                connection.exec_driver_sql(f"DROP ROLE IF EXISTS jiayi_{role}_{suffix}")
        admin.dispose()
