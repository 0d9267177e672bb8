""""1+1+1" [002 §(三)3] (issue 12, "Signing forms the policy names"): beside the centre, one secondary and one tertiary
hospital of the pooling region, chosen at signing (online and on site) or later, shown on the agreement, its
document and the roster; hospitals are registry entities a county administrator keeps."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from core import clock
from core import db as core_db
from core.auth import Role
from core.models import AuditEvent
from registry.models import Hospital
from signing import rollover
from signing.models import Agreement
from tests import factories as f
from tests.county_helpers import as_admin, count
from tests.settlement_helpers import as_bureau

CONSENT = "2025-01"


def _hospital(client, code, grade, region="430523", headers=None) -> int:
    response = client.post("/api/v1/admin/hospitals", headers=headers or as_admin(region[:4] + "00"), json={
        "code": code, "name": f"{code} 医院", "grade": grade, "region_code": region})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def hospitals(client, centres):
    """A secondary and a tertiary hospital of 邵阳县, and a tertiary one of 新邵县 (another pooling region)."""
    return {"secondary": _hospital(client, "SYX-2", "secondary"), "tertiary": _hospital(client, "SYX-3", "tertiary"),
            "elsewhere": _hospital(client, "XS-3", "tertiary", region="430522")}


def _sign_online(client, person, centre, **choice):
    return client.post("/api/v1/agreements", headers=f.as_resident(person), json={
        "centre_id": centre.id, "term_years": 1, "consent_version": CONSENT, **choice})


def _signed(client, person, centre, **choice) -> dict:
    response = _sign_online(client, person, centre, **choice)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["items"][0]


# Hospitals, registry entities ----------------------------------------------------------------------

def test_county_administrator_adds_lists_and_regrades_hospitals_and_every_change_is_audited(client, hospitals):
    listed = client.get("/api/v1/admin/hospitals", headers=as_admin()).get_json()["items"]
    assert {h["code"] for h in listed} == {"SYX-2", "SYX-3"}  # 新邵县's is not 邵阳县's administrator's
    changed = client.patch(f"/api/v1/admin/hospitals/{hospitals['secondary']}", headers=as_admin(),
                           json={"name": "邵阳县人民医院"})
    assert changed.status_code == 200 and changed.get_json()["name"] == "邵阳县人民医院"
    actions = core_db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "hospital")).all()
    assert actions.count("admin.hospital.create") == 3 and actions.count("admin.hospital.update") == 1


def test_a_hospital_of_another_county_is_403_for_its_administrator_and_nothing_is_written(client, centres):
    response = client.post("/api/v1/admin/hospitals", headers=as_admin("440823"), json={
        "code": "SY-2", "name": "邵阳某医院", "grade": "secondary", "region_code": "430523"})
    assert response.status_code == 403
    assert count(Hospital) == 0


def test_a_hospital_code_taken_is_409_and_nothing_is_written(client, hospitals):
    response = client.post("/api/v1/admin/hospitals", headers=as_admin(), json={
        "code": "SYX-2", "name": "重名", "grade": "secondary", "region_code": "430523"})
    assert response.status_code == 409
    assert count(Hospital) == 3


def test_residents_see_the_hospitals_of_their_centres_pooling_region_to_choose_from(client, centres, hospitals):
    response = client.get(f"/api/v1/hospitals?centre_id={centres['home'].id}")
    assert response.status_code == 200
    assert sorted(h["id"] for h in response.get_json()["items"]) == sorted([hospitals["secondary"], hospitals["tertiary"]])
    tertiary = client.get(f"/api/v1/hospitals?centre_id={centres['home'].id}&grade=tertiary").get_json()["items"]
    assert [h["id"] for h in tertiary] == [hospitals["tertiary"]]


# Chosen at signing -------------------------------------------------------------------------------

def test_a_resident_signing_online_chooses_a_secondary_and_a_tertiary_hospital(client, centres, alice, hospitals):
    signed = _signed(client, alice, centres["home"], secondary_hospital_id=hospitals["secondary"],
                     tertiary_hospital_id=hospitals["tertiary"])
    assert (signed["secondary_hospital_id"], signed["tertiary_hospital_id"]) == (hospitals["secondary"], hospitals["tertiary"])


def test_staff_signing_on_site_record_the_hospital_choice(client, centres, hospitals):
    person = f.resident(home_window_id=centres["home"].windows[0].id)
    doctor = f.as_staff(f.staff(centre=centres["home"]))
    response = client.post("/api/v1/agreements", headers=doctor, json={
        "centre_id": centres["home"].id, "term_years": 1, "consent_version": CONSENT, "resident_ids": [person.id],
        "tertiary_hospital_id": hospitals["tertiary"]})
    assert response.status_code == 201, response.get_json()
    signed = response.get_json()["items"][0]
    assert (signed["channel"], signed["secondary_hospital_id"], signed["tertiary_hospital_id"]) == (
        "on_site", None, hospitals["tertiary"])


def test_a_hospital_of_another_pooling_region_is_422_naming_the_field_and_nothing_is_written(
        client, centres, alice, hospitals):
    response = _sign_online(client, alice, centres["home"], tertiary_hospital_id=hospitals["elsewhere"])
    assert response.status_code == 422
    assert list(response.get_json()["errors"]["json"]) == ["tertiary_hospital_id"]
    assert response.get_json()["details"]["reason"] == "hospital_region"
    assert count(Agreement) == 0


def test_a_secondary_hospital_in_the_tertiary_slot_is_422_and_nothing_is_written(client, centres, alice, hospitals):
    response = _sign_online(client, alice, centres["home"], tertiary_hospital_id=hospitals["secondary"])
    assert response.status_code == 422
    assert list(response.get_json()["errors"]["json"]) == ["tertiary_hospital_id"]
    assert response.get_json()["details"]["reason"] == "hospital_grade"
    assert count(Agreement) == 0


def test_a_tertiary_hospital_in_the_secondary_slot_is_422_and_nothing_is_written(client, centres, alice, hospitals):
    response = _sign_online(client, alice, centres["home"], secondary_hospital_id=hospitals["tertiary"])
    assert response.status_code == 422 and list(response.get_json()["errors"]["json"]) == ["secondary_hospital_id"]
    assert count(Agreement) == 0


def test_a_retired_hospital_is_not_chosen_anew(client, centres, alice, hospitals):
    client.patch(f"/api/v1/admin/hospitals/{hospitals['secondary']}", headers=as_admin(), json={"active": False})
    response = _sign_online(client, alice, centres["home"], secondary_hospital_id=hospitals["secondary"])
    assert response.status_code == 422 and "secondary_hospital_id" in response.get_json()["errors"]["json"]
    assert count(Agreement) == 0


# Changed later, shown everywhere --------------------------------------------------------------------

def test_the_resident_changes_the_hospitals_later_and_the_change_is_audited(client, centres, alice, hospitals):
    signed = _signed(client, alice, centres["home"], secondary_hospital_id=hospitals["secondary"])
    response = client.put(f"/api/v1/agreements/{signed['id']}/hospitals", headers=f.as_resident(alice),
                          json={"secondary_hospital_id": None, "tertiary_hospital_id": hospitals["tertiary"]})
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["secondary_hospital_id"], response.get_json()["tertiary_hospital_id"]) == (
        None, hospitals["tertiary"])
    event = core_db.session.scalar(select(AuditEvent).where(AuditEvent.action == "agreement.hospitals"))
    assert event.detail == {"secondary_hospital_id": None, "tertiary_hospital_id": hospitals["tertiary"]}


def test_a_change_to_a_hospital_of_another_pooling_region_is_422_and_the_choice_stays(client, centres, alice, hospitals):
    signed = _signed(client, alice, centres["home"], tertiary_hospital_id=hospitals["tertiary"])
    response = client.put(f"/api/v1/agreements/{signed['id']}/hospitals", headers=f.as_resident(alice),
                          json={"secondary_hospital_id": None, "tertiary_hospital_id": hospitals["elsewhere"]})
    assert response.status_code == 422 and "tertiary_hospital_id" in response.get_json()["errors"]["json"]
    assert core_db.session.get(Agreement, signed["id"]).tertiary_hospital_id == hospitals["tertiary"]


def test_a_terminated_agreement_takes_no_hospital_choice_and_nothing_is_written(client, centres, alice, hospitals):
    signed = _signed(client, alice, centres["home"])
    doctor = f.as_staff(f.staff(centre=centres["home"]))
    assert client.post(f"/api/v1/agreements/{signed['id']}/termination", headers=doctor,
                       json={"reason": "own_request"}).status_code == 200
    response = client.put(f"/api/v1/agreements/{signed['id']}/hospitals", headers=f.as_resident(alice),
                          json={"secondary_hospital_id": hospitals["secondary"], "tertiary_hospital_id": None})
    assert response.status_code == 409
    assert core_db.session.get(Agreement, signed["id"]).secondary_hospital_id is None


def test_the_agreement_document_shows_the_hospitals(client, centres, alice, hospitals):
    signed = _signed(client, alice, centres["home"], secondary_hospital_id=hospitals["secondary"])
    page = client.get(f"/api/v1/agreements/{signed['id']}/document.html", headers=f.as_resident(alice))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "组合签约（1+1+1）" in text and "二级医院：SYX-2 医院" in text and "三级医院：未选择" in text
    assert client.get(f"/api/v1/agreements/{signed['id']}/document.pdf", headers=f.as_resident(alice)).status_code == 200


def test_the_roster_shows_the_hospitals(client, centres, alice, hospitals):
    _signed(client, alice, centres["home"], secondary_hospital_id=hospitals["secondary"],
            tertiary_hospital_id=hospitals["tertiary"])
    [item] = client.get("/api/v1/rosters", headers=as_bureau()).get_json()["items"]
    assert (item["secondary_hospital_id"], item["secondary_hospital_name"], item["tertiary_hospital_id"],
            item["tertiary_hospital_name"]) == (hospitals["secondary"], "SYX-2 医院", hospitals["tertiary"], "SYX-3 医院")


def test_a_renewal_keeps_the_hospital_choice(client, centres, alice, hospitals):
    _signed(client, alice, centres["home"], secondary_hospital_id=hospitals["secondary"],
            tertiary_hospital_id=hospitals["tertiary"])
    clock.set_today(date(2027, 1, 1), hour=0)
    rollover.roll_over(cycle=2027)
    renewed = core_db.session.scalar(select(Agreement).where(Agreement.resident_id == alice.id, Agreement.cycle == 2027))
    assert (renewed.secondary_hospital_id, renewed.tertiary_hospital_id) == (hospitals["secondary"], hospitals["tertiary"])


def test_centre_administrators_do_not_administer_hospitals(client, centres):
    admin = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"]))
    response = client.post("/api/v1/admin/hospitals", headers=admin, json={
        "code": "X-2", "name": "某医院", "grade": "secondary", "region_code": "430523"})
    assert response.status_code == 403
    assert count(Hospital) == 0
