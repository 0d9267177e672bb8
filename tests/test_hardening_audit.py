"""The audit log: staff reads of residents are recorded (who, what, when, from where, outcome), the
log is append-only, and no log line holds a full ID number or phone."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from core import audit, clock
from core import db as core_db
from core.config import ROOT
from core.models import AuditEvent
from tests import factories as f
from tests.logscan import personal_numbers_in


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
    assert client.get(f"/api/v1/residents/{resident_id}", headers=f.as_staff(doctor)).status_code == 200
    [event] = events("resident.read")
    assert (event.actor, event.target_type, event.target_id, event.outcome, event.ip) == (
        f"staff:{doctor.id}", "resident", str(resident_id), "ok", "127.0.0.1")
    assert event.at == clock.now()


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
        event = audit.record("resident.read", "resident", 1)
    for statement in (update(AuditEvent).values(outcome="forged"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.begin_nested():
                db.execute(statement.where(AuditEvent.id == event.id))
    db.expire_all()
    assert db.get(AuditEvent, event.id).outcome == "ok"


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
