"""Vaccinations of children: doses recorded by staff, what is due next by the national schedule and its
catch-up intervals, the parent's view, and reminders that skip doses given."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from care.delivery_models import VaccinationDose
from care.vaccinations import next_doses
from core import clock
from core.calendar import add_months
from core.models import AuditEvent
from notifications import jobs
from notifications.models import Kind, OutboxMessage
from tests import factories as f
from tests.factories_notifications import signed

BORN = date(2025, 9, 20)  # six months old on 20 March 2026


def _due(given: dict[str, date], today: date = date(2026, 3, 16), born: date = BORN) -> dict[str, tuple[date, bool]]:
    return {due.dose.code: (due.due_on, due.catch_up) for due in next_doses(born, given, today)}


def _at(months: int, days: int = 0, born: date = BORN) -> date:
    return add_months(born, months) + timedelta(days=days)


def test_a_child_without_records_is_due_each_dose_at_its_scheduled_age():
    due = _due({})
    assert due["HepB-3"] == (date(2026, 3, 20), False) and due["MMR-1"] == (date(2026, 5, 20), False)
    assert due["HepB-1"] == (BORN, False)  # not recorded here: shown as due since birth, never pushed back


def test_doses_given_are_not_due_again():
    due = _due({"HepB-1": BORN, "BCG-1": BORN, "HepB-2": _at(1)})
    assert not {"HepB-1", "BCG-1", "HepB-2"} & set(due)
    assert due["HepB-3"] == (_at(6), False)


def test_a_catch_up_dose_is_due_the_minimum_interval_after_a_late_previous_dose():
    late = _at(5, 5)  # DTaP-1 given at five months instead of three
    assert _due({"DTaP-1": late})["DTaP-2"] == (late + timedelta(days=28), True)


def test_a_dose_given_on_time_keeps_the_next_one_at_its_scheduled_age():
    assert _due({"DTaP-1": _at(3)})["DTaP-2"] == (_at(4), False)


def test_hepb_3_comes_60_days_after_dose_2_and_4_months_after_dose_1():
    assert _due({"HepB-1": BORN, "HepB-2": _at(5)})["HepB-3"][0] == _at(5, 60)
    assert _due({"HepB-1": _at(3), "HepB-2": _at(4)})["HepB-3"][0] == _at(7)


def test_after_a_missing_dose_the_next_one_waits_for_it():
    today = _at(6, 10)
    due = _due({"IPV-1": _at(2)}, today=today)
    assert due["IPV-2"] == (_at(3), False) and next(d for d in next_doses(BORN, {"IPV-1": _at(2)}, today)
                                                     if d.dose.code == "IPV-2").overdue
    assert due["bOPV-1"] == (today + timedelta(days=28), True)  # IPV-2 given today at the earliest


def test_injected_live_vaccines_not_given_on_the_same_day_are_28_days_apart():
    je = _at(8, 3)
    assert _due({"JE-L-1": je}, today=je + timedelta(days=1))["MMR-1"] == (je + timedelta(days=28), True)
    assert _due({"JE-L-1": je}, today=je)["MMR-1"] == (je, True)  # still the same day: given together


def test_a_dose_missing_before_a_recorded_one_is_not_asked_for():
    assert "HepB-1" not in _due({"HepB-2": _at(1)})


@pytest.fixture
def nursery(db):
    """A centre, its doctor, a mother and her child (born 20 Sep 2025), both signed with it."""
    f.regions()
    centre = f.centre()
    mother = f.resident(openid="o-mother", born=date(1992, 1, 5))
    child = f.resident(born=BORN, household=mother.household)
    for person in (mother, child):
        signed(person, centre)
    doctor = f.staff(centre=centre)
    return SimpleNamespace(centre=centre, mother=mother, child=child, doctor_id=doctor.id, doctor=f.as_staff(doctor))


def _record(client, nursery, **dose):
    body = {"vaccine": "HepB", "number": 1, "given_on": "2025-09-20", "place": "塘渡口镇预防接种门诊",
            "batch": "202508A01", **dose}
    return client.post(f"/api/v1/residents/{nursery.child.id}/vaccinations", json=body, headers=nursery.doctor)


def _doses(db) -> int:
    return db.scalar(select(func.count()).select_from(VaccinationDose))


def test_staff_record_a_dose_and_the_parent_sees_the_childs_record_and_what_is_next(client, nursery):
    recorded = _record(client, nursery, vaccine="DTaP", number=1, given_on="2026-02-25")
    assert recorded.status_code == 201, recorded.get_json()
    assert (recorded.get_json()["code"], recorded.get_json()["batch"]) == ("DTaP-1", "202508A01")
    seen = client.get(f"/api/v1/me/children/{nursery.child.id}/vaccinations", headers=f.as_resident(nursery.mother))
    assert seen.status_code == 200, seen.get_json()
    body = seen.get_json()
    assert [dose["code"] for dose in body["given"]] == ["DTaP-1"]
    nxt = {dose["code"]: dose for dose in body["next"]}
    assert (nxt["DTaP-2"]["due_on"], nxt["DTaP-2"]["catch_up"], nxt["DTaP-2"]["overdue"]) == ("2026-03-25", True, False)
    assert body["next"] == sorted(body["next"], key=lambda dose: dose["due_on"])


@pytest.mark.parametrize(("dose", "field"), [
    ({"vaccine": "HPV"}, "vaccine"),
    ({"vaccine": "HepB", "number": 4}, "number"),
    ({"given_on": "2026-03-17"}, "given_on"),
    ({"given_on": "2025-09-19"}, "given_on"),
])
def test_a_dose_outside_the_schedule_in_the_future_or_before_birth_is_422_and_nothing_is_written(
        client, db, nursery, dose, field):
    response = _record(client, nursery, **dose)
    assert response.status_code == 422 and field in response.get_json()["errors"]["json"], response.get_json()
    assert _doses(db) == 0


def test_a_dose_is_recorded_once_the_second_time_is_409_and_nothing_is_written(client, db, nursery):
    assert _record(client, nursery).status_code == 201
    response = _record(client, nursery, batch="other")
    assert response.status_code == 409
    assert db.scalars(select(VaccinationDose.batch)).all() == ["202508A01"]


def test_doses_of_a_series_are_recorded_in_order_and_an_earlier_date_is_422_with_nothing_written(client, db, nursery):
    assert _record(client, nursery, number=2, given_on="2025-10-20").status_code == 201
    response = _record(client, nursery, number=1, given_on="2025-10-21")
    assert response.status_code == 422 and "given_on" in response.get_json()["errors"]["json"]
    assert _doses(db) == 1


def test_staff_of_another_centre_cannot_record_a_dose_and_nothing_is_written(client, db, nursery):
    stranger = f.as_staff(f.staff(centre=f.centre()))
    response = client.post(f"/api/v1/residents/{nursery.child.id}/vaccinations", headers=stranger,
                           json={"vaccine": "HepB", "number": 1, "given_on": "2025-09-20", "place": "x", "batch": "y"})
    assert response.status_code == 403
    assert _doses(db) == 0


def test_a_parent_sees_only_children_of_their_household(client, nursery):
    neighbour_child = f.resident(born=BORN)
    parent = f.as_resident(nursery.mother)
    assert client.get(f"/api/v1/me/children/{neighbour_child.id}/vaccinations", headers=parent).status_code == 404
    grandfather = f.resident(born=date(1950, 1, 1), household=nursery.mother.household)
    assert client.get(f"/api/v1/me/children/{grandfather.id}/vaccinations", headers=parent).status_code == 404


def test_records_and_reads_of_vaccinations_are_audited(client, db, nursery):
    _record(client, nursery)
    client.get(f"/api/v1/residents/{nursery.child.id}/vaccinations", headers=nursery.doctor)
    client.get(f"/api/v1/me/children/{nursery.child.id}/vaccinations", headers=f.as_resident(nursery.mother))
    events = db.execute(select(AuditEvent.action, AuditEvent.actor, AuditEvent.target_id).order_by(AuditEvent.id)).all()
    staff_subject = f"staff:{nursery.doctor_id}"
    assert [tuple(event) for event in events] == [
        ("vaccination.record", staff_subject, str(nursery.child.id)),
        ("vaccination.read", staff_subject, str(nursery.child.id)),
        ("vaccination.read", f"wx:{nursery.mother.openid}", str(nursery.child.id)),
    ]


def test_reminders_skip_doses_already_given(client, db, nursery):
    clock.set_today(date(2026, 3, 13))  # HepB-3 and MPSV-A-1 due on 20 March: the 7-day reminder
    assert _record(client, nursery, vaccine="MPSV-A", number=1, given_on="2026-03-13").status_code == 201
    assert jobs.remind_vaccinations() == 1
    keys = db.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == Kind.VACCINATION_DUE)).all()
    assert keys == [f"vaccination:{nursery.child.id}:HepB-3:7:2026-03-20"]


def test_a_reminder_follows_the_catch_up_date_of_a_child_who_is_behind(client, db, nursery):
    assert _record(client, nursery, vaccine="DTaP", number=1, given_on="2026-02-25").status_code == 201
    clock.set_today(date(2026, 3, 18))  # DTaP-2: scheduled 20 January, due 25 March (28 days after DTaP-1)
    jobs.remind_vaccinations()
    message = db.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("%DTaP-2%"))).one()
    assert (message.dedupe_key, message.content["date"]) == (
        f"vaccination:{nursery.child.id}:DTaP-2:7:2026-03-25", "2026-03-25")
