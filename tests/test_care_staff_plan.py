"""Staff see a resident's whole plan (issue 11, "the agreement itself"): every visit by due date, done and
upcoming ones too, not only the worklist's due and overdue. Reached like other staff reads of a resident
(registry.access), audited as a read of health data."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from care.models import Visit, VisitState
from core import clock
from core.auth import Role
from core.models import AuditEvent
from tests import factories as f
from tests.packages_support import signed, site


def _plan(client, person, headers):
    return client.get(f"/api/v1/residents/{person.id}/visits", headers=headers)


def _audited(db, resident_id) -> list[tuple[str, str]]:
    return db.execute(select(AuditEvent.action, AuditEvent.outcome).where(
        AuditEvent.target_type == "resident", AuditEvent.target_id == str(resident_id),
        AuditEvent.action == "plan.read")).all()


def test_staff_of_the_residents_centre_see_the_whole_plan_with_done_and_upcoming_visits(client, db):
    place = site()
    child = signed(client, place, born=date(2025, 12, 20))
    visits = db.scalars(select(Visit).where(Visit.resident_id == child.id).order_by(Visit.due_date, Visit.id)).all()
    today = clock.today()
    first = next(visit for visit in visits if visit.on_time_from <= today)
    logged = client.post(f"/api/v1/visits/{first.id}/records", headers=f.as_staff(place.doctor),
                         json={"served_on": today.isoformat(), "mode": first.modes[0]})
    assert logged.status_code == 201, logged.get_json()
    response = _plan(client, child, f.as_staff(place.doctor))
    assert response.status_code == 200
    body = response.get_json()
    assert [item["id"] for item in body["items"]] == [visit.id for visit in visits] and body["next_cursor"] is None
    statuses = {item["status"] for item in body["items"]}
    assert "done" in statuses and "upcoming" in statuses  # neither is on the worklist
    worklist = client.get("/api/v1/worklist", headers=f.as_staff(place.doctor)).get_json()["items"]
    assert len(body["items"]) > len([item for item in worklist if item["resident_id"] == child.id])


def test_the_staff_plan_is_the_plan_the_resident_sees(client, db):
    place = site()
    person = signed(client, place, born=date(1950, 5, 1), openid="wx-plan-same")
    mine = client.get("/api/v1/me/visits", headers=f.as_resident(person)).get_json()["items"]
    theirs = _plan(client, person, f.as_staff(place.admin)).get_json()["items"]
    assert theirs == mine and theirs


def test_cancelled_visits_are_left_out_of_the_plan(client, db):
    place = site()
    person = signed(client, place, born=date(1950, 5, 1))
    cancelled = db.scalar(select(Visit).where(Visit.resident_id == person.id).limit(1))
    cancelled.state = VisitState.CANCELLED
    db.commit()
    ids = [item["id"] for item in _plan(client, person, f.as_staff(place.doctor)).get_json()["items"]]
    assert cancelled.id not in ids


def test_the_read_is_audited_as_a_health_data_read(client, db):
    place = site()
    person = signed(client, place, born=date(1950, 5, 1))
    assert _plan(client, person, f.as_staff(place.doctor)).status_code == 200
    assert _audited(db, person.id) == [("plan.read", "ok")]


def test_staff_of_another_centre_are_refused_and_the_refusal_is_audited(client, db):
    place, elsewhere = site(), site()
    person = signed(client, place, born=date(1950, 5, 1))
    response = _plan(client, person, f.as_staff(elsewhere.doctor))
    assert response.status_code == 403
    assert "items" not in response.get_json()
    assert _audited(db, person.id) == [("plan.read", "refused_403")]


def test_an_unknown_resident_is_404_and_residents_and_the_bureau_cannot_use_the_staff_route(client, db):
    place = site()
    person = signed(client, place, born=date(1950, 5, 1), openid="wx-plan-own")
    assert _plan(client, f.resident(), f.as_staff(place.doctor)).status_code == 403
    assert client.get("/api/v1/residents/999999/visits", headers=f.as_staff(place.doctor)).status_code == 404
    assert _plan(client, person, f.as_resident(person)).status_code == 403
    bureau = f.as_staff(f.staff(role=Role.BUREAU, region="430523"))
    assert _plan(client, person, bureau).status_code == 403
