"""Newborns (issue part E): registered under a guardian without an ID number, planned from the birth date,
the number added to the same person when issued."""

from __future__ import annotations

from datetime import date

from core import db as core_db
from core.auth import Role
from registry.idcard import check_character
from registry.models import InsuranceScheme, Resident, Sex
from tests import factories as f
from tests.county_helpers import count
from tests.settlement_helpers import as_bureau


def _newborn(client, mother, **body):
    return client.post(f"/api/v1/residents/{mother.id}/newborns", headers=f.as_resident(mother),
                       json={"sex": "M", "birth_date": "2026-03-12", **body})


def _staff(centres):
    return f.as_staff(f.staff(role=Role.DOCTOR, centre=centres["home"]))


def _number(birth: date, sex: Sex) -> str:
    first17 = f"430523{birth:%Y%m%d}{'013' if sex is Sex.MALE else '024'}"
    return first17 + check_character(first17)


def test_a_newborn_is_registered_under_the_guardian_without_an_id_number(client, alice):
    response = _newborn(client, alice)
    assert response.status_code == 201, response.get_json()
    child = core_db.session.get(Resident, response.get_json()["id"])
    assert (child.name, child.id_number, child.household_id) == ("李爱丽之子", None, alice.household_id)


def test_a_signed_newborns_child_programme_plans_from_the_birth_date(client, alice, centres, settings):
    child = _newborn(client, alice, name="李小宝").get_json()
    signed = client.post("/api/v1/agreements", headers=f.as_resident(alice), json={
        "centre_id": centres["home"].id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION,
        "resident_ids": [child["id"]]})
    assert signed.status_code == 201, signed.get_json()
    visits = client.get("/api/v1/me/visits", headers=f.as_resident(alice)).get_json()["items"]
    mine = [v for v in visits if v["resident_id"] == child["id"]]
    assert mine and min(v["due_date"] for v in mine) == "2026-03-12"  # the newborn home visit, due from birth


def test_a_birth_date_more_than_a_year_ago_is_refused_and_nothing_is_written(client, alice):
    before = count(Resident)
    response = _newborn(client, alice, birth_date="2024-01-01")
    assert response.status_code == 422 and "birth_date" in response.get_json()["errors"]["json"]
    assert count(Resident) == before


def test_the_issued_id_number_is_added_to_the_same_person_by_the_centres_staff(client, alice, centres, settings):
    child = _newborn(client, alice).get_json()
    client.post("/api/v1/agreements", headers=f.as_resident(alice), json={  # the child is the centre's through signing
        "centre_id": centres["home"].id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION,
        "resident_ids": [child["id"]]})
    number = _number(date(2026, 3, 12), Sex.MALE)
    response = client.put(f"/api/v1/residents/{child['id']}/id-number", headers=_staff(centres), json={"id_number": number})
    assert response.status_code == 200, response.get_json()
    assert core_db.session.get(Resident, child["id"]).id_number == number
    assert count(Resident, Resident.id_number_hash.is_not(None), Resident.name.like("李爱丽之%")) == 1


def test_a_resident_cannot_type_in_an_id_number_and_nothing_is_written(client, alice):
    child = _newborn(client, alice).get_json()
    response = client.put(f"/api/v1/residents/{child['id']}/id-number", headers=f.as_resident(alice),
                          json={"id_number": _number(date(2026, 3, 12), Sex.MALE)})
    assert response.status_code == 403
    assert core_db.session.get(Resident, child["id"]).id_number is None


def _signed_child(client, alice, centres, settings):
    child = _newborn(client, alice).get_json()
    client.post("/api/v1/agreements", headers=f.as_resident(alice), json={
        "centre_id": centres["home"].id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION,
        "resident_ids": [child["id"]]})
    return child


def test_an_id_number_whose_birth_date_differs_is_refused_and_nothing_is_written(client, alice, centres, settings):
    child = _signed_child(client, alice, centres, settings)
    response = client.put(f"/api/v1/residents/{child['id']}/id-number", headers=_staff(centres),
                          json={"id_number": _number(date(2026, 3, 11), Sex.MALE)})
    assert response.status_code == 422
    assert core_db.session.get(Resident, child["id"]).id_number is None


def test_an_id_number_another_resident_holds_is_409_not_a_duplicate(client, alice, centres, settings):
    child = _signed_child(client, alice, centres, settings)
    holder = f.resident(born=date(2026, 3, 12), sex=Sex.MALE)
    response = client.put(f"/api/v1/residents/{child['id']}/id-number", headers=_staff(centres),
                          json={"id_number": holder.id_number})
    assert response.status_code == 409
    assert core_db.session.get(Resident, child["id"]).id_number is None


def test_two_newborns_without_numbers_do_not_collide(client, alice):
    assert _newborn(client, alice).status_code == 201
    assert _newborn(client, alice, sex="F").status_code == 201


def test_a_child_is_not_a_newborns_guardian_and_nothing_is_written(client, alice, centres):
    child = _newborn(client, alice).get_json()
    before = count(Resident)
    response = client.post(f"/api/v1/residents/{child['id']}/newborns", headers=f.as_resident(alice),
                           json={"sex": "F", "birth_date": "2026-03-12"})
    assert response.status_code == 422 and "resident_id" in response.get_json()["errors"]["json"]
    assert count(Resident) == before


def test_newborns_a_resident_registers_count_against_the_accounts_identity_limit_and_no_more_are_written(
        client, limited, alice):
    limited(IDENTITY_RATE_LIMIT="3 per hour")
    before = count(Resident)
    statuses = [_newborn(client, alice).status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    assert count(Resident) == before + 3
    invitation = client.post("/api/v1/me/household-invitations", headers=f.as_resident(alice))
    assert invitation.status_code == 429  # one budget with the account's other household calls


def test_newborns_staff_register_count_against_the_staff_members_registration_limit(client, limited, alice, centres):
    limited(REGISTRATION_RATE_LIMIT="2 per minute", IDENTITY_RATE_LIMIT="1 per hour")
    doctor = _staff(centres)
    statuses = [client.post(f"/api/v1/residents/{alice.id}/newborns", headers=doctor, json={}).status_code
                for _ in range(3)]
    assert statuses == [422, 422, 429]


def test_a_newborn_a_guardian_registers_online_is_a_claim_the_on_site_check_keeps_only_with_the_guardians_code(
        client, alice, centres, settings):
    child = _signed_child(client, alice, centres, settings)
    assert core_db.session.get(Resident, child["id"]).household_claimed is True
    number = _number(date(2026, 3, 12), Sex.MALE)
    staff = _staff(centres)
    assert client.put(f"/api/v1/residents/{child['id']}/id-number", headers=staff, json={"id_number": number}).status_code == 200
    code = client.post("/api/v1/me/presence-codes", headers=f.as_resident(alice)).get_json()["code"]
    checked = client.post("/api/v1/residents", headers=staff, json={
        "name": "李小宝", "id_number": number, "identity_document": "household_register", "guardian_presence_code": code})
    assert checked.status_code == 200, checked.get_json()
    core_db.session.expire_all()
    kept = core_db.session.get(Resident, child["id"])
    assert (kept.name, kept.household_id, kept.household_claimed, kept.verified) == ("李小宝", alice.household_id, False, True)


def test_a_newborn_staff_register_is_not_a_claim(client, alice, centres, settings):
    signed = client.post("/api/v1/agreements", headers=f.as_resident(alice), json={  # the centre's staff reach her
        "centre_id": centres["home"].id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION})
    assert signed.status_code == 201, signed.get_json()
    registered = client.post(f"/api/v1/residents/{alice.id}/newborns", headers=_staff(centres),
                             json={"sex": "F", "birth_date": "2026-03-12"})
    assert registered.status_code == 201, registered.get_json()
    assert core_db.session.get(Resident, registered.get_json()["id"]).household_claimed is False


def test_the_on_site_check_of_a_newborn_registered_online_without_the_guardians_code_ends_the_claim(
        client, alice, centres, settings):
    child = _signed_child(client, alice, centres, settings)
    number = _number(date(2026, 3, 12), Sex.MALE)
    staff = _staff(centres)
    client.put(f"/api/v1/residents/{child['id']}/id-number", headers=staff, json={"id_number": number})
    checked = client.post("/api/v1/residents", headers=staff, json={
        "name": "李小宝", "id_number": number, "identity_document": "household_register"})
    assert checked.status_code == 200, checked.get_json()
    core_db.session.expire_all()
    assert core_db.session.get(Resident, child["id"]).household_id != alice.household_id


def test_a_newborn_lives_where_the_guardian_does_so_the_centre_signs_it_with_the_village_clinics_team(client):
    f.regions()
    centre = f.centre(teams=2)
    window = centre.windows[0]
    window.team_id = centre.teams[1].id
    mother = f.resident(openid="wx-villager-mother", home_window_id=window.id, residence_window_id=window.id)
    doctor = f.as_staff(f.staff(centre=centre))
    child = client.post(f"/api/v1/residents/{mother.id}/newborns", headers=doctor,
                        json={"sex": "F", "birth_date": "2026-03-12"}).get_json()
    born = core_db.session.get(Resident, child["id"])
    assert (born.home_window_id, born.residence_window_id) == (window.id, window.id)
    signed = client.post("/api/v1/agreements", headers=doctor, json={
        "centre_id": centre.id, "term_years": 1, "consent_version": "2025-01", "resident_ids": [child["id"]],
        "guardian_id": mother.id})
    assert signed.status_code == 201, signed.get_json()
    assert signed.get_json()["items"][0]["team_id"] == centre.teams[1].id


def test_a_newborn_given_the_id_number_the_bureau_enrolled_takes_the_enrolment_held_for_it(client, alice, centres, settings):
    """The bureau enrols a child by the ID number issued before the centre adds it to the child's record."""
    child = _newborn(client, alice).get_json()
    client.post("/api/v1/agreements", headers=f.as_resident(alice), json={
        "centre_id": centres["home"].id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION,
        "resident_ids": [child["id"]]})
    number = _number(date(2026, 3, 12), Sex.MALE)
    enrolled = client.post("/api/v1/insurance/enrolments", headers=as_bureau("430523"), json={"items": [
        {"id_number": number, "scheme": "resident", "region_code": "430523", "valid_from": "2026-03-12"}]})
    assert len(enrolled.get_json()["unmatched"]) == 1
    response = client.put(f"/api/v1/residents/{child['id']}/id-number", headers=_staff(centres), json={"id_number": number})
    assert response.status_code == 200, response.get_json()
    person = core_db.session.get(Resident, child["id"], populate_existing=True)
    assert (person.insurance_scheme, person.insurance_region_code, person.in_insurance_master) == (
        InsuranceScheme.RESIDENT, "430523", True)
