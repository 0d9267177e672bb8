"""Referrals (双向转诊): out to a hospital and back, one step at a time in order; the return brings a
follow-up visit within two weeks; overdue open referrals show on the doctors' list."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from care import plans
from care.delivery_models import Referral, ReferralState
from care.models import Visit, VisitState
from core import clock
from core.auth import Role
from core.models import AuditEvent
from tests import factories as f
from tests.factories_notifications import signed

REFERRAL = {"hospital": "邵阳市中心医院", "department": "心内科", "reason": "血压控制不佳，伴胸闷", "urgency": "urgent"}


@pytest.fixture
def practice(db):
    """A centre of two teams, a doctor of the first and a signed resident (with a WeChat account)."""
    f.regions()
    centre = f.centre(teams=2)
    patient = f.resident(openid="o-patient", born=date(1958, 7, 9))
    signed(patient, centre)
    doctor = f.staff(centre=centre)
    return SimpleNamespace(centre=centre, patient=patient, doctor=doctor)


def _doctor(practice):
    return f.as_staff(practice.doctor)  # issued on the current clock (tokens last two hours)


def _refer(client, practice, **body):
    return client.post("/api/v1/referrals", json={"resident_id": practice.patient.id, **REFERRAL, **body},
                       headers=_doctor(practice))


def _step(client, practice, referral_id, to, **body):
    return client.post(f"/api/v1/referrals/{referral_id}/transitions", json={"to": to, **body}, headers=_doctor(practice))


def _state(db, referral_id) -> ReferralState:
    return db.scalar(select(Referral.state).where(Referral.id == referral_id).execution_options(populate_existing=True))


def _visits(db) -> list[Visit]:
    return list(db.scalars(select(Visit).where(Visit.programme == "referral-return")
                           .execution_options(populate_existing=True)))


def test_a_doctor_refers_a_resident_out_sent_today_and_expected_back_by_its_urgency(client, practice):
    response = _refer(client, practice)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["state"], body["sent_on"], body["expected_by"], body["overdue"]) == ("sent", "2026-03-16", "2026-03-30", False)
    assert (body["hospital"], body["team_id"]) == ("邵阳市中心医院", practice.doctor.team_id)


def test_a_referral_goes_sent_accepted_seen_returned_and_the_return_plans_a_visit_within_two_weeks(client, db, practice):
    referral_id = _refer(client, practice).get_json()["id"]
    for to in ("accepted", "seen"):
        assert _step(client, practice, referral_id, to).status_code == 200
    returned = _step(client, practice, referral_id, "returned", on="2026-03-16", note="病情稳定，转回社区随访")
    assert returned.status_code == 200, returned.get_json()
    assert (returned.get_json()["state"], returned.get_json()["returned_on"]) == ("returned", "2026-03-16")
    [visit] = _visits(db)
    assert returned.get_json()["visit_id"] == visit.id
    assert (visit.resident_id, visit.state, visit.on_time_from, visit.due_date) == (
        practice.patient.id, VisitState.PLANNED, date(2026, 3, 16), date(2026, 3, 30))
    seen = client.get("/api/v1/me/visits", headers=f.as_resident(practice.patient)).get_json()["items"]
    assert visit.id in {v["id"] for v in seen}
    worklist = client.get("/api/v1/worklist", headers=_doctor(practice)).get_json()["items"]
    assert visit.id in {v["id"] for v in worklist}


@pytest.mark.parametrize(("done", "to"), [
    ((), "seen"),
    ((), "returned"),
    (("accepted",), "accepted"),
    (("accepted",), "returned"),
    (("accepted", "seen"), "cancelled"),
    (("accepted", "seen", "returned"), "seen"),
    (("cancelled",), "accepted"),
    ((), "sent"),
])
def test_a_step_out_of_order_is_409_and_nothing_changes(client, db, practice, done, to):
    referral_id = _refer(client, practice).get_json()["id"]
    for step in done:
        assert _step(client, practice, referral_id, step).status_code == 200
    before = _state(db, referral_id)
    response = _step(client, practice, referral_id, to)
    assert response.status_code == 409, response.get_json()
    assert _state(db, referral_id) is before and len(_visits(db)) == (1 if "returned" in done else 0)


@pytest.mark.parametrize("on", ["2026-03-17", "2026-03-15"])
def test_a_step_dated_after_today_or_before_the_last_step_is_422_and_nothing_changes(client, db, practice, on):
    referral_id = _refer(client, practice).get_json()["id"]
    response = _step(client, practice, referral_id, "accepted", on=on)
    assert response.status_code == 422 and "on" in response.get_json()["errors"]["json"]
    assert _state(db, referral_id) is ReferralState.SENT


def test_an_expected_day_in_the_past_is_422_and_nothing_is_written(client, db, practice):
    response = _refer(client, practice, expected_by="2026-03-15")
    assert response.status_code == 422 and "expected_by" in response.get_json()["errors"]["json"]
    assert db.scalar(select(func.count()).select_from(Referral)) == 0


def test_another_centres_doctor_neither_refers_the_resident_nor_moves_the_referral_and_nothing_changes(client, db, practice):
    referral_id = _refer(client, practice).get_json()["id"]
    stranger = f.as_staff(f.staff(centre=f.centre()))
    body = {"resident_id": practice.patient.id, **REFERRAL}
    assert client.post("/api/v1/referrals", json=body, headers=stranger).status_code == 403
    moved = client.post(f"/api/v1/referrals/{referral_id}/transitions", json={"to": "accepted"}, headers=stranger)
    assert moved.status_code == 403
    assert db.scalar(select(func.count()).select_from(Referral)) == 1 and _state(db, referral_id) is ReferralState.SENT


def test_open_referrals_past_their_expected_day_show_on_the_doctors_overdue_list(client, practice):
    late = _refer(client, practice, expected_by="2026-03-20").get_json()["id"]
    closed = _refer(client, practice, expected_by="2026-03-20").get_json()["id"]
    for to in ("accepted", "seen", "returned"):
        _step(client, practice, closed, to)
    _refer(client, practice, expected_by="2026-04-30")
    clock.set_today(date(2026, 3, 25))
    overdue = client.get("/api/v1/referrals", query_string={"overdue": "true"}, headers=_doctor(practice)).get_json()
    assert [(r["id"], r["overdue"]) for r in overdue["items"]] == [(late, True)]
    everything = client.get("/api/v1/referrals", headers=_doctor(practice)).get_json()["items"]
    assert len(everything) == 3


def test_another_teams_doctor_does_not_see_the_referral_on_their_list(client, db, practice):
    _refer(client, practice)
    colleague = f.staff(centre=practice.centre)
    colleague.team_id = practice.centre.teams[1].id
    db.commit()
    assert client.get("/api/v1/referrals", headers=f.as_staff(colleague)).get_json()["items"] == []
    admin = f.staff(centre=practice.centre, role=Role.CENTRE_ADMIN)
    assert len(client.get("/api/v1/referrals", headers=f.as_staff(admin)).get_json()["items"]) == 1


def test_the_return_visit_survives_a_plan_rebuild(client, db, practice):
    referral_id = _refer(client, practice).get_json()["id"]
    for to in ("accepted", "seen", "returned"):
        _step(client, practice, referral_id, to)
    plans.rebuild_plans([practice.patient.id])
    db.commit()
    assert [visit.state for visit in _visits(db)] == [VisitState.PLANNED]


def test_the_resident_sees_the_referrals_of_their_household(client, practice):
    referral_id = _refer(client, practice).get_json()["id"]
    stranger = f.resident(openid="o-stranger")
    mine = client.get("/api/v1/me/referrals", headers=f.as_resident(practice.patient)).get_json()["items"]
    assert [r["id"] for r in mine] == [referral_id]
    assert client.get("/api/v1/me/referrals", headers=f.as_resident(stranger)).get_json()["items"] == []


def test_referral_writes_and_reads_are_audited(client, db, practice):
    referral_id = _refer(client, practice).get_json()["id"]
    _step(client, practice, referral_id, "accepted")
    client.get(f"/api/v1/referrals/{referral_id}", headers=_doctor(practice))
    actions = db.execute(select(AuditEvent.action, AuditEvent.target_id, AuditEvent.actor).order_by(AuditEvent.id)).all()
    assert [tuple(a) for a in actions] == [(action, str(referral_id), f"staff:{practice.doctor.id}")
                                           for action in ("referral.create", "referral.accepted", "referral.read")]
