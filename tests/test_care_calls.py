"""Call lists for overdue care: riskiest first, each call's outcome from a fixed list, people who moved away or
died leave the lists, and who returned to care within 15 days of a call, per team."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from care.fulfilment_models import Call
from care.models import Visit
from core import clock
from notifications import jobs
from registry.models import Resident
from signing.models import Agreement
from tests import factories as f
from tests.packages_support import signed, site


def _visit(db, person, code) -> Visit:
    found = db.scalar(select(Visit).where(Visit.resident_id == person.id, Visit.code == code))
    db.refresh(found)
    return found


def _log(client, place, visit, served_on, **vitals):
    body = {"served_on": served_on, "mode": "clinic"} | (vitals or {"systolic": 130, "diastolic": 80})
    response = client.post(f"/api/v1/visits/{visit.id}/records", json=body, headers=f.as_staff(place.doctor))
    assert response.status_code == 201, response.get_json()


def _call(client, place, person, outcome, **body):
    return client.post(f"/api/v1/residents/{person.id}/calls", json={"outcome": outcome, **body},
                       headers=f.as_staff(place.doctor))


def _chronic(client, place, db, born, kind="hypertension", phone="13800000000"):
    person = signed(client, place, born=born)
    response = client.post(f"/api/v1/residents/{person.id}/conditions", json={"kind": kind, "diagnosed_on": "2020-01-01"},
                           headers=f.as_staff(place.doctor))
    assert response.status_code == 201, response.get_json()
    if phone:
        person.phone = phone
        db.commit()
    return person


def _calls(db) -> int:
    return db.scalar(select(func.count()).select_from(Call))


@pytest.fixture
def overdue(client, db):
    """Signed on 5 January 2026 with quarterly follow-ups; read on 20 July.
    - 安 (hypertension): Q1 on 1 February read 185/100, a danger sign: Q2 was pulled to 15 February and not done.
    - 白 (diabetes, no phone; his wife's is on file): neither Q1 nor Q2 done.
    - 陈 (hypertension): Q1 done on time; Q2 not done.
    - 丁 (hypertension): neither done.
    The nightly job marked what was overdue on 5 April as missed; Q2s closed since are still planned."""
    clock.set_today(date(2026, 1, 5))
    place = site()
    an = _chronic(client, place, db, date(1950, 1, 1))
    bai = _chronic(client, place, db, date(1955, 1, 1), kind="diabetes", phone=None)
    wife = f.resident(born=date(1957, 1, 1), household=bai.household, name="白妻")
    wife.phone = "13900001111"
    db.commit()
    chen = _chronic(client, place, db, date(1960, 1, 1))
    ding = _chronic(client, place, db, date(1962, 1, 1))
    clock.set_today(date(2026, 2, 1))
    _log(client, place, _visit(db, an, "2026-q1"), "2026-02-01", systolic=185, diastolic=100)
    _log(client, place, _visit(db, chen, "2026-q1"), "2026-02-01")
    clock.set_today(date(2026, 4, 5))
    jobs.mark_overdue()
    clock.set_today(date(2026, 7, 20))
    return SimpleNamespace(place=place, an=an, bai=bai, chen=chen, ding=ding)


def test_the_call_list_puts_danger_signs_first_then_most_visits_missed_then_longest_overdue(client, overdue):
    response = client.get("/api/v1/call-list", headers=f.as_staff(overdue.place.doctor))
    assert response.status_code == 200, response.get_json()
    rows = [(r["resident_id"], r["danger_sign"], r["missed_visits"], r["days_overdue"]) for r in response.get_json()["items"]]
    assert rows == [
        (overdue.an.id, True, 2, 155),     # the re-visit the danger sign added (by 15 February) and Q2
        (overdue.bai.id, False, 2, 111),   # Q1 closed 31 March
        (overdue.ding.id, False, 2, 111),
        (overdue.chen.id, False, 1, 20),   # Q2 closed 30 June
    ]


def test_the_call_list_gives_a_number_to_call_in_full_and_a_household_members_when_the_person_has_none(client, overdue):
    rows = {r["resident_id"]: r for r in client.get("/api/v1/call-list", headers=f.as_staff(overdue.place.doctor))
            .get_json()["items"]}
    assert (rows[overdue.an.id]["phone"], rows[overdue.an.id]["phone_of"]) == ("13800000000", None)
    assert (rows[overdue.bai.id]["phone"], rows[overdue.bai.id]["phone_of"]) == ("13900001111", "白妻")
    assert "*" in rows[overdue.an.id]["id_number"]
    assert [v["title"] for v in rows[overdue.bai.id]["visits"]] == ["2型糖尿病随访（第1季度）", "2型糖尿病随访（第2季度）"]


def test_the_call_list_comes_a_page_at_a_time_in_the_same_order(client, overdue):
    doctor, seen, cursor = f.as_staff(overdue.place.doctor), [], None
    while True:
        page = client.get("/api/v1/call-list", query_string={"limit": 3, **({"cursor": cursor} if cursor else {})},
                          headers=doctor).get_json()
        seen += [row["resident_id"] for row in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [overdue.an.id, overdue.bai.id, overdue.ding.id, overdue.chen.id]


def test_a_cursor_the_call_list_did_not_give_out_is_422(client, overdue):
    response = client.get("/api/v1/call-list?cursor=bm9wZQ==", headers=f.as_staff(overdue.place.doctor))
    assert response.status_code == 422 and "cursor" in response.get_json()["errors"]["query"]


@pytest.mark.parametrize("outcome", ["moved_away", "died"])
def test_a_person_who_moved_away_or_died_leaves_the_call_list_and_what_the_team_owes(client, overdue, outcome):
    learned = {"died_on": "2026-07-10"} if outcome == "died" else {}
    assert _call(client, overdue.place, overdue.ding, outcome, **learned).status_code == 201
    doctor = f.as_staff(overdue.place.doctor)
    listed = [r["resident_id"] for r in client.get("/api/v1/call-list", headers=doctor).get_json()["items"]]
    owed = [r["resident_id"] for r in client.get("/api/v1/fulfilment/owed", headers=doctor).get_json()["items"]]
    assert overdue.ding.id not in listed and overdue.ding.id not in owed
    assert overdue.chen.id in listed and overdue.chen.id in owed


def test_a_call_that_learns_of_a_death_records_it_and_every_agreement_of_the_person_ends(client, db, overdue):
    response = _call(client, overdue.place, overdue.ding, "died", died_on="2026-07-10")
    assert response.status_code == 201, response.get_json()
    db.expire_all()
    assert db.get(Resident, overdue.ding.id).died_on == date(2026, 7, 10)
    ended = db.scalars(select(Agreement).where(Agreement.resident_id == overdue.ding.id)).all()
    assert ended and all((a.status.value, a.termination_reason.value, a.terminated_on) == ("terminated", "death", date(2026, 7, 10))
                         for a in ended)


@pytest.mark.parametrize("body", [{}, {"died_on": "2026-07-21"}, {"died_on": "1900-01-01"}])
def test_a_died_call_without_a_date_or_with_one_outside_the_life_is_422_and_nothing_is_written(client, db, overdue, body):
    before = _calls(db)
    response = _call(client, overdue.place, overdue.ding, "died", **body)
    assert response.status_code == 422 and "died_on" in response.get_json()["errors"]["json"]
    db.expire_all()
    assert _calls(db) == before and db.get(Resident, overdue.ding.id).died_on is None


def test_only_a_died_call_gives_a_date_of_death(client, db, overdue):
    before = _calls(db)
    response = _call(client, overdue.place, overdue.chen, "no_answer", died_on="2026-07-10")
    assert response.status_code == 422 and _calls(db) == before


@pytest.mark.parametrize("outcome", ["no_answer", "wrong_number", "reached_will_come"])
def test_other_outcomes_keep_the_person_on_the_call_list_with_the_last_call_shown(client, overdue, outcome):
    assert _call(client, overdue.place, overdue.chen, outcome).status_code == 201
    rows = {r["resident_id"]: r for r in client.get("/api/v1/call-list", headers=f.as_staff(overdue.place.doctor))
            .get_json()["items"]}
    assert rows[overdue.chen.id]["last_call"] == {"outcome": outcome, "reason": None, "called_on": "2026-07-20"}


def test_a_refusal_is_recorded_with_its_reason_from_the_fixed_list(client, overdue):
    response = _call(client, overdue.place, overdue.an, "refused", reason="cannot_travel", note="腿脚不便")
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["reason"], response.get_json()["team_id"]) == ("cannot_travel", overdue.place.team_id)
    history = client.get(f"/api/v1/residents/{overdue.an.id}/calls", headers=f.as_staff(overdue.place.admin)).get_json()
    assert [call["outcome"] for call in history["items"]] == ["refused"]


# Refusals: each leaves nothing written.

@pytest.mark.parametrize("body, field", [
    ({"outcome": "refused"}, "reason"),                                # a refusal without its reason
    ({"outcome": "no_answer", "reason": "no_time"}, "reason"),         # a reason for anything but a refusal
    ({"outcome": "busy"}, "outcome"),                                  # an outcome outside the list
    ({"outcome": "refused", "reason": "too lazy"}, "reason"),          # a reason outside the list
])
def test_a_call_outside_the_fixed_outcomes_and_reasons_is_422(client, db, overdue, body, field):
    before = _calls(db)
    response = client.post(f"/api/v1/residents/{overdue.an.id}/calls", json=body, headers=f.as_staff(overdue.place.doctor))
    assert response.status_code == 422 and field in response.get_json()["errors"]["json"]
    assert _calls(db) == before


def test_a_call_to_someone_with_no_agreement_in_force_with_the_centre_is_409(client, db, overdue):
    registered = client.post("/api/v1/residents", headers=f.as_staff(overdue.place.doctor),
                             json={"name": "未签约", "id_number": f.id_number(date(1970, 1, 1)), "phone": "13700000000",
                                   "identity_document": "id_card"})
    assert registered.status_code == 201
    before = _calls(db)
    response = client.post(f"/api/v1/residents/{registered.get_json()['id']}/calls", json={"outcome": "no_answer"},
                           headers=f.as_staff(overdue.place.doctor))
    assert response.status_code == 409 and _calls(db) == before


def test_staff_of_another_centre_cannot_record_a_call_403(client, db, overdue):
    before = _calls(db)
    response = _call(client, site(), overdue.an, "no_answer")
    assert response.status_code == 403 and _calls(db) == before


def test_a_call_that_reached_the_person_is_contact_with_the_named_doctor(client, db):
    place = site()
    person = signed(client, place, born=date(1980, 1, 1), openid="wx-contact")
    agreement_id = client.get("/api/v1/me/agreements", headers=f.as_resident(person)).get_json()["items"][0]["id"]

    def contact():
        ledger = client.get(f"/api/v1/agreements/{agreement_id}/fulfilment", headers=f.as_staff(place.doctor)).get_json()
        return next(line["delivered"] for line in ledger["lines"] if line["item_code"] == "named-doctor")

    assert _call(client, place, person, "no_answer").status_code == 201
    assert contact() == 0
    assert _call(client, place, person, "reached_will_come").status_code == 201
    assert contact() == 1


def test_returned_to_care_within_15_days_of_a_call_is_reported_per_team(client, db, overdue):
    place = overdue.place
    assert _call(client, place, overdue.bai, "reached_will_come").status_code == 201
    assert _call(client, place, overdue.chen, "no_answer").status_code == 201
    assert _call(client, place, overdue.an, "refused", reason="feels_well").status_code == 201
    assert _call(client, place, overdue.ding, "moved_away").status_code == 201
    clock.set_today(date(2026, 7, 25))
    _log(client, place, _visit(db, overdue.bai, "2026-q2"), "2026-07-25")   # 5 days after the call
    clock.set_today(date(2026, 8, 10))
    _log(client, place, _visit(db, overdue.chen, "2026-q2"), "2026-08-10")  # 21 days after: too late to count
    clock.set_today(date(2026, 8, 20))
    response = client.get("/api/v1/calls/returns?from=2026-07-01&to=2026-07-31", headers=f.as_staff(place.admin))
    assert response.status_code == 200, response.get_json()
    [row] = response.get_json()["items"]
    assert row == {"centre_id": place.centre.id, "team_id": place.team_id, "called": 4, "reached": 1, "returned": 1,
                   "left": 1, "waiting": 0, "return_rate": "0.3333"}  # 丁 moved away: out of the rate


def test_people_called_less_than_15_days_ago_are_waiting_and_out_of_the_rate(client, overdue):
    assert _call(client, overdue.place, overdue.chen, "reached_will_come").status_code == 201
    clock.set_today(date(2026, 7, 30))
    [row] = client.get("/api/v1/calls/returns?from=2026-07-01&to=2026-07-31",
                       headers=f.as_staff(overdue.place.doctor)).get_json()["items"]
    assert (row["called"], row["returned"], row["waiting"], row["return_rate"]) == (1, 0, 1, None)


def test_returns_for_a_period_that_ends_before_it_starts_is_422(client, overdue):
    response = client.get("/api/v1/calls/returns?from=2026-07-31&to=2026-07-01", headers=f.as_staff(overdue.place.doctor))
    assert response.status_code == 422 and "to" in response.get_json()["errors"]["query"]
