"""The fulfilment ledger (POLICY.md "Fulfilment"): what each agreement promises, per item of its packages, and what
was delivered, derived from visits, lecture attendance, the health record and logged deliveries; the resident's,
the doctor's and the bureau's views of it, against counts made by hand."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from care import fulfilment
from care.fulfilment_models import ItemDelivery
from care.models import Visit
from core import clock
from core.models import AuditEvent
from notifications.models import LectureAttendance
from packages import catalogue
from packages import protocols as p
from tests import factories as f
from tests.packages_support import price, signed, site
from tests.settlement_helpers import as_bureau

SIGNED_ON = date(2026, 1, 5)


def _visit(db, person, programme, code) -> Visit:
    return db.scalar(select(Visit).where(Visit.resident_id == person.id, Visit.programme == programme, Visit.code == code))


def _log_visit(client, place, visit, served_on, mode="clinic"):
    response = client.post(f"/api/v1/visits/{visit.id}/records", json={"served_on": served_on, "mode": mode},
                           headers=f.as_staff(place.doctor))
    assert response.status_code == 201, response.get_json()


def _deliver(client, place, agreement_id, package_code, item_code, delivered_on="2026-03-12"):
    return client.post(f"/api/v1/agreements/{agreement_id}/deliveries", headers=f.as_staff(place.doctor),
                       json={"package_code": package_code, "item_code": item_code, "delivered_on": delivered_on})


def _lecture(client, place, starts_at: str) -> int:
    response = client.post(f"/api/v1/centres/{place.centre.id}/lectures", headers=f.as_staff(place.doctor),
                           json={"title": "高血压健康讲座", "place": "卫生院会议室", "starts_at": starts_at})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _attend(client, place, lecture_id, *people):
    return client.post(f"/api/v1/centres/{place.centre.id}/lectures/{lecture_id}/attendance",
                       headers=f.as_staff(place.doctor), json={"resident_ids": [person.id for person in people]})


def _agreement_id(client, person) -> int:
    return client.get("/api/v1/me/agreements", headers=f.as_resident(person)).get_json()["items"][0]["id"]


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def scenario(client, db):
    """A centre with one team. Signed on 5 January 2026:
    - 王 (75, hypertension, elderly pack, health record): lectures attended in January and March (not February);
      Q1 hypertension visit in the clinic on 10 February; the elderly check in the clinic and the elderly TCM
      by phone on 12 March; from the elderly pack an ECG once and the lab panel twice; a physical exam (per need).
    - 李 (46): nothing recorded.
    - 赵 (46): moved away, agreement terminated on 1 February; nothing recorded.
    Read on 16 March 2026."""
    clock.set_today(SIGNED_ON)
    place = site()
    assert price(client, place, "elderly", 12000).status_code == 200
    wang = signed(client, place, born=date(1950, 6, 1), package_codes=["elderly"], openid="wx-wang",
                  has_health_record=True)
    li = signed(client, place, born=date(1980, 2, 2), openid="wx-li")
    zhao = signed(client, place, born=date(1980, 3, 3), openid="wx-zhao")
    condition = client.post(f"/api/v1/residents/{wang.id}/conditions", headers=f.as_staff(place.doctor),
                            json={"kind": "hypertension", "diagnosed_on": "2020-05-01"})
    assert condition.status_code == 201
    lectures = [_lecture(client, place, f"2026-{month:02d}-10T09:00:00+08:00") for month in (1, 2, 3)]
    wang_agreement, zhao_agreement = _agreement_id(client, wang), _agreement_id(client, zhao)

    clock.set_today(date(2026, 1, 10))
    assert _attend(client, place, lectures[0], wang).status_code == 201
    clock.set_today(date(2026, 2, 1))
    ended = client.post(f"/api/v1/agreements/{zhao_agreement}/termination", json={"reason": "moved_away"},
                        headers=f.as_staff(place.doctor))
    assert ended.status_code == 200, ended.get_json()
    clock.set_today(date(2026, 2, 10))
    _log_visit(client, place, _visit(db, wang, "hypertension", "2026-q1"), "2026-02-10")
    clock.set_today(date(2026, 3, 12))
    assert _attend(client, place, lectures[2], wang).status_code == 201
    _log_visit(client, place, _visit(db, wang, "elderly", "2026-health-check"), "2026-03-12")
    _log_visit(client, place, _visit(db, wang, "elderly", "2026-tcm"), "2026-03-12", mode="phone")
    for package_code, item_code in [("elderly", "ecg"), ("elderly", "lab-panel"), ("elderly", "lab-panel"),
                                     ("value-added", "physical-exam")]:
        response = _deliver(client, place, wang_agreement, package_code, item_code)
        assert response.status_code == 201, response.get_json()
    clock.set_today(date(2026, 3, 16))
    return SimpleNamespace(place=place, wang=wang, li=li, zhao=zhao, wang_agreement=wang_agreement)


def _lines(ledger) -> dict[tuple[str, str], tuple]:
    return {(line["package_code"], line["item_code"]): (line["due"], line["delivered"], line["missed"], line["coming"])
            for line in ledger["lines"]}


# Hand counts for 王, 5 January – 31 December 2026, read on 16 March: (due, delivered, missed, coming).
WANG_PROMISED = {
    ("basic", "health-record"): (1, 1, 0, 0),
    ("basic", "named-doctor"): (1, 1, 0, 0),         # a team is named and it saw him on 10 February
    ("basic", "health-lecture"): (12, 2, 1, 9),      # January and March attended, February missed, April–December to come
    ("value-added", "chronic-follow-up"): (4, 1, 0, 3),
    ("value-added", "elderly-health-check"): (1, 1, 0, 0),
    ("value-added", "elderly-tcm"): (1, 0, 0, 1),    # by phone: recorded, not delivered
    ("elderly", "home-rounds"): (1, 0, 0, 1),
    ("elderly", "lab-panel"): (1, 2, 0, 0),          # twice; the promise is once
    ("elderly", "ecg"): (1, 1, 0, 0),
    ("elderly", "fundoscopy"): (1, 0, 0, 1),
    ("elderly", "chest-fluoroscopy"): (1, 0, 0, 1),
    ("elderly", "carotid-ultrasound"): (1, 0, 0, 1),
    ("elderly", "abdominal-ultrasound"): (1, 0, 0, 1),
    ("elderly", "tcm-care"): (1, 0, 0, 1),
}
WANG_TOTALS = {"due": 28, "delivered": 8, "missed": 1, "coming": 19}
# 李: health record and contact still to come; lectures: January and February missed, ten months to come.
LI_TOTALS = {"due": 14, "delivered": 0, "missed": 2, "coming": 12}
# 赵: 5–31 January: the record, the contact and January's lecture, all missed.
ZHAO_TOTALS = {"due": 3, "delivered": 0, "missed": 3, "coming": 0}


def test_a_residents_ledger_matches_the_hand_counts_of_what_was_promised_and_recorded(client, scenario):
    response = client.get("/api/v1/me/fulfilment", headers=f.as_resident(scenario.wang))
    assert response.status_code == 200, response.get_json()
    [ledger] = response.get_json()["items"]
    assert (ledger["period_start"], ledger["period_end"], ledger["served"]) == ("2026-01-05", "2026-12-31", True)
    lines = _lines(ledger)
    assert {key: value for key, value in lines.items() if value[0] is not None} == WANG_PROMISED
    assert ledger["totals"] == WANG_TOTALS
    # Per-need and continuous items promise no count and show what was delivered.
    assert lines["value-added", "physical-exam"] == (None, 1, 0, 0)
    assert lines["basic", "appointment"] == (None, 0, 0, 0)
    # Nothing for populations he is not in: no child visits, no home visit for 80+, no vaccination.
    assert not {("value-added", "infant-visits"), ("value-added", "elderly-home-visit"),
                ("value-added", "vaccination")} & set(lines)


def test_every_promised_line_splits_into_delivered_missed_and_coming(client, scenario):
    ledger = client.get("/api/v1/me/fulfilment", headers=f.as_resident(scenario.wang)).get_json()["items"][0]
    for line in ledger["lines"]:
        if line["due"] is not None:
            assert min(line["delivered"], line["due"]) + line["missed"] + line["coming"] == line["due"], line


def test_the_doctor_sees_what_the_team_still_owes_by_resident(client, scenario):
    response = client.get("/api/v1/fulfilment/owed", headers=f.as_staff(scenario.place.doctor))
    assert response.status_code == 200, response.get_json()
    rows = {row["resident_id"]: row for row in response.get_json()["items"]}
    assert set(rows) == {scenario.wang.id, scenario.li.id}  # 赵's agreement has ended
    assert rows[scenario.wang.id]["totals"] == WANG_TOTALS
    assert rows[scenario.li.id]["totals"] == LI_TOTALS
    owed = {(line["package_code"], line["item_code"]) for line in rows[scenario.wang.id]["owed"]}
    assert owed == {key for key, (_, delivered, missed, coming) in WANG_PROMISED.items() if missed + coming}
    assert rows[scenario.li.id]["resident_id_number"].startswith("430") and "*" in rows[scenario.li.id]["resident_id_number"]


def test_what_a_team_owes_comes_a_page_at_a_time(client, scenario):
    doctor = f.as_staff(scenario.place.doctor)
    first = client.get("/api/v1/fulfilment/owed?limit=1", headers=doctor).get_json()
    second = client.get(f"/api/v1/fulfilment/owed?limit=1&cursor={first['next_cursor']}", headers=doctor).get_json()
    assert [row["resident_id"] for row in first["items"] + second["items"]] == [scenario.wang.id, scenario.li.id]
    assert second["next_cursor"] is None


def test_the_bureau_sees_fulfilment_per_centre_and_team_and_the_people_never_served(client, scenario):
    response = client.get("/api/v1/settlement/fulfilment?region=430523", headers=as_bureau())
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["region"], body["cycle"], body["as_of"]) == ("430523", 2026, "2026-03-16")
    [row] = [row for row in body["centres"] if row["centre_id"] == scenario.place.centre.id]
    expected = {"signed": 3, "served": 1, "never_served": 2,
                **{name: WANG_TOTALS[name] + LI_TOTALS[name] + ZHAO_TOTALS[name] for name in WANG_TOTALS},
                "fulfilment_rate": "0.5714"}  # 8 delivered of the 14 due by now
    assert {name: row[name] for name in expected} == expected
    [team] = row["teams"]
    assert team["team_id"] == scenario.place.team_id and {name: team[name] for name in expected} == expected

    never = client.get(f"/api/v1/settlement/fulfilment/never-served?region=430523&centre_id={scenario.place.centre.id}",
                       headers=as_bureau()).get_json()
    assert [(row["resident_id"], row["status"]) for row in never["items"]] == [
        (scenario.li.id, "active"), (scenario.zhao.id, "terminated")]
    assert "*" in never["items"][0]["id_number"]


def test_a_bureau_sees_no_other_regions_fulfilment(client, scenario):
    for path in ("/api/v1/settlement/fulfilment", "/api/v1/settlement/fulfilment/never-served"):
        assert client.get(f"{path}?region=430523", headers=as_bureau("440823")).status_code == 403


def test_fulfilment_of_a_cycle_not_begun_is_422(client, scenario):
    response = client.get("/api/v1/settlement/fulfilment?region=430523&cycle=2027", headers=as_bureau())
    assert response.status_code == 422 and "cycle" in response.get_json()["errors"]["query"]


def test_reading_a_ledger_is_audited(client, db, scenario):
    client.get(f"/api/v1/agreements/{scenario.wang_agreement}/fulfilment", headers=f.as_staff(scenario.place.doctor))
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "fulfilment.read",
                                                  AuditEvent.target_type == "agreement")).all()
    assert (event.actor, event.target_id, event.detail) == (
        f"staff:{scenario.place.doctor.id}", str(scenario.wang_agreement), {"resident_id": scenario.wang.id})


def test_a_phone_follow_up_does_not_deliver_a_face_to_face_item_until_it_is_corrected(client, db, scenario):
    tcm = _visit(db, scenario.wang, "elderly", "2026-tcm")
    [record] = client.get(f"/api/v1/visits/{tcm.id}/records", headers=f.as_staff(scenario.place.doctor)).get_json()["items"]
    corrected = client.put(f"/api/v1/visit-records/{record['id']}", json={"served_on": "2026-03-12", "mode": "clinic"},
                           headers=f.as_staff(scenario.place.doctor))
    assert corrected.status_code == 200
    ledger = client.get(f"/api/v1/agreements/{scenario.wang_agreement}/fulfilment",
                        headers=f.as_staff(scenario.place.doctor)).get_json()
    assert _lines(ledger)["value-added", "elderly-tcm"] == (1, 1, 0, 0)


# Logged deliveries: each refusal leaves nothing written.

def _refused(client, db, scenario, status, field, **body):
    before = _count(db, ItemDelivery)
    payload = {"package_code": "elderly", "item_code": "ecg", "delivered_on": "2026-03-16", **body}
    response = client.post(f"/api/v1/agreements/{scenario.wang_agreement}/deliveries", json=payload,
                           headers=f.as_staff(scenario.place.doctor))
    assert response.status_code == status, response.get_json()
    if field:
        assert field in response.get_json()["errors"]["json"]
    assert _count(db, ItemDelivery) == before


def test_a_delivery_of_a_package_the_agreement_does_not_hold_is_422(client, db, scenario):
    _refused(client, db, scenario, 422, "package_code", package_code="hypertension", item_code="ecg")


def test_a_delivery_of_an_item_the_package_does_not_have_is_422(client, db, scenario):
    _refused(client, db, scenario, 422, "item_code", item_code="sputum-culture")


def test_an_item_delivered_by_visits_attendance_or_the_record_is_not_logged_422(client, db, scenario):
    for package_code, item_code in [("value-added", "chronic-follow-up"), ("basic", "health-lecture"),
                                    ("basic", "health-record"), ("basic", "named-doctor")]:
        _refused(client, db, scenario, 422, "item_code", package_code=package_code, item_code=item_code)


def test_an_item_for_another_population_is_422(client, db, scenario):
    _refused(client, db, scenario, 422, "item_code", package_code="value-added", item_code="vaccination")


def test_a_delivery_in_the_future_is_422(client, db, scenario):
    _refused(client, db, scenario, 422, "delivered_on", delivered_on="2026-03-17")


def test_a_delivery_outside_the_agreements_period_is_422(client, db, scenario):
    _refused(client, db, scenario, 422, "delivered_on", delivered_on="2026-01-04")


def test_a_delivery_before_a_package_was_added_is_422(client, db, scenario):
    assert price(client, scenario.place, "hypertension", 9000).status_code == 200
    response = client.post(f"/api/v1/agreements/{scenario.wang_agreement}/packages", json={"code": "hypertension"},
                           headers=f.as_staff(scenario.place.doctor))
    assert response.status_code == 201, response.get_json()  # from today: not held in February
    _refused(client, db, scenario, 422, "package_code", package_code="hypertension", item_code="ecg",
             delivered_on="2026-02-10")


def test_staff_of_another_centre_cannot_log_a_delivery_403(client, db, scenario):
    stranger = f.staff(centre=f.centre())
    before = _count(db, ItemDelivery)
    response = client.post(f"/api/v1/agreements/{scenario.wang_agreement}/deliveries", headers=f.as_staff(stranger),
                           json={"package_code": "elderly", "item_code": "ecg", "delivered_on": "2026-03-16"})
    assert response.status_code == 403 and _count(db, ItemDelivery) == before


def test_a_delivery_logged_is_listed_with_its_author(client, scenario):
    listed = client.get(f"/api/v1/agreements/{scenario.wang_agreement}/deliveries",
                        headers=f.as_staff(scenario.place.admin)).get_json()["items"]
    assert [(d["package_code"], d["item_code"], d["staff_id"]) for d in listed][:2] == [
        ("elderly", "ecg", scenario.place.doctor.id), ("elderly", "lab-panel", scenario.place.doctor.id)]


# Lecture attendance.

def _attendance_refused(client, db, place, lecture_id, people, status):
    before = _count(db, LectureAttendance)
    response = _attend(client, place, lecture_id, *people)
    assert response.status_code == status, response.get_json()
    assert _count(db, LectureAttendance) == before
    return response


def test_attendance_before_the_lecture_began_is_409(client, db, scenario):
    lecture_id = _lecture(client, scenario.place, "2026-04-10T09:00:00+08:00")
    _attendance_refused(client, db, scenario.place, lecture_id, [scenario.wang], 409)


def test_attendance_of_someone_not_signed_with_the_centre_that_day_is_422(client, db, scenario):
    clock.set_today(date(2026, 1, 4))
    lecture_id = _lecture(client, scenario.place, "2026-01-04T15:00:00+08:00")
    clock.set_now(datetime(2026, 3, 16, 10, tzinfo=clock.SHANGHAI))
    response = _attendance_refused(client, db, scenario.place, lecture_id, [scenario.wang], 422)
    assert "resident_ids" in response.get_json()["errors"]["json"]


def test_attendance_at_another_centres_lecture_is_403(client, db, scenario):
    other = site()
    clock.set_today(date(2026, 3, 1))
    lecture_id = _lecture(client, other, "2026-03-02T09:00:00+08:00")
    clock.set_today(date(2026, 3, 16))
    before = _count(db, LectureAttendance)
    response = client.post(f"/api/v1/centres/{other.centre.id}/lectures/{lecture_id}/attendance",
                           headers=f.as_staff(scenario.place.doctor), json={"resident_ids": [scenario.wang.id]})
    assert response.status_code == 403 and _count(db, LectureAttendance) == before


def test_attendance_recorded_twice_counts_once(client, db, scenario):
    lectures = db.scalars(select(LectureAttendance.lecture_id).where(LectureAttendance.resident_id == scenario.wang.id)
                          .order_by(LectureAttendance.lecture_on)).all()
    again = _attend(client, scenario.place, lectures[0], scenario.wang)
    assert again.status_code == 201 and len(again.get_json()["items"]) == 1
    ledger = client.get("/api/v1/me/fulfilment", headers=f.as_resident(scenario.wang)).get_json()["items"][0]
    assert _lines(ledger)["basic", "health-lecture"] == WANG_PROMISED["basic", "health-lecture"]


# The sources as data.

def test_every_planned_visit_belongs_to_exactly_one_item_of_the_value_added_package():
    items = {item.code for package in catalogue.PACKAGES_2025 if package.code == "value-added" for item in package.items}
    for protocol in p.PROTOCOLS.values():
        for visit in protocol.visits:
            planned = Visit(programme=protocol.programme, code=f"2026-{visit.code}" if protocol.anchor == p.CYCLE else visit.code)
            owners = [key for key, source in fulfilment.SOURCES.items() if source.kind == fulfilment.VISITS
                      and source.holds(planned)]
            assert len(owners) == 1, (protocol.programme, visit.code, owners)
            assert owners[0][1] in items


def test_a_danger_signs_re_visit_is_extra_and_no_items_promise():
    recheck = Visit(programme="hypertension", code="2026-q2-recheck")
    assert not any(source.holds(recheck) for source in fulfilment.SOURCES.values())
