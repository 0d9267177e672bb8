"""Staff scope over people and false signing (POLICY.md signing rules 9 and 10).

The attack of the issue: a doctor of one county signed any resident of another by id; the agreement
then gave that doctor read/write access to the resident's health data and made the resident count
for capitation (ghost signing, 虚假签约). Sequential ids and 409 details helped enumerate.
"""

from datetime import date

import pytest
from sqlalchemy import func, select

from core import db as core_db
from registry.models import IdentityCheck, Resident
from signing.models import Agreement, SigningBasis
from tests import factories as f
from tests.identity_support import fingerprint, presence_code, register_on_site, sign_body
from tests.settlement_helpers import agreement


@pytest.fixture
def counties(db):
    """Centre A of 邵阳县 with a villager; centre B of 新邵县 with its doctor (the attacker)."""
    f.regions()
    a, b = f.centre(region="430523"), f.centre(region="430522")
    villager = f.resident(name="村民", home_window_id=a.windows[0].id)
    return a, b, villager, f.staff(centre=a), f.staff(centre=b)


def agreements() -> int:
    return core_db.session.scalar(select(func.count(Agreement.id)))


def test_false_signing_of_a_stranger_of_another_county_is_refused_and_nothing_is_written(client, counties):
    a, b, villager, _, rogue = counties
    before, count = fingerprint(villager.id), agreements()
    response = client.post("/api/v1/agreements", json=sign_body(b, resident_ids=[villager.id]), headers=f.as_staff(rogue))
    assert response.status_code == 403
    body = response.get_json()
    assert "resident_ids" in body["errors"]["json"] and body["details"]["reason"] == "presence_required"
    assert "presence_codes" in body["message"] and "identity_document" in body["message"]
    assert agreements() == count and fingerprint(villager.id) == before
    for url in (f"/api/v1/residents/{villager.id}", f"/api/v1/residents/{villager.id}/health"):
        assert client.get(url, headers=f.as_staff(rogue)).status_code == 403


def test_false_signing_cannot_probe_ids_unknown_and_out_of_reach_get_one_answer(client, counties):
    a, b, villager, _, rogue = counties
    answers = [client.post("/api/v1/agreements", json=sign_body(b, resident_ids=[rid]), headers=f.as_staff(rogue))
               for rid in (villager.id, 999_999)]
    assert [a.status_code for a in answers] == [403, 403]
    first, second = (answer.get_json() for answer in answers)
    assert first["message"].replace(f"[{villager.id}]", "[X]") == second["message"].replace("[999999]", "[X]")
    assert (first["details"]["reason"], first["code"]) == (second["details"]["reason"], second["code"])


def test_a_doctor_signs_a_villager_of_the_centres_service_area(client, counties):
    a, _, villager, doctor, _ = counties
    response = client.post("/api/v1/agreements", json=sign_body(a, resident_ids=[villager.id]), headers=f.as_staff(doctor))
    assert response.status_code == 201
    assert core_db.session.scalar(select(Agreement.basis)) is SigningBasis.SERVICE_AREA


def test_a_person_present_with_their_presence_code_is_signed_and_the_code_covers_their_household(client, counties):
    a, b, villager, _, doctor_b = counties
    child = f.resident(born=date(2018, 1, 1), household=villager.household)
    villager.openid = "wx-villager"
    core_db.session.commit()
    code = presence_code(client, f.as_resident(villager))
    response = client.post("/api/v1/agreements", json=sign_body(b, resident_ids=[villager.id, child.id],
                                                                  presence_codes=[code], guardian_id=villager.id),
                           headers=f.as_staff(doctor_b))
    assert response.status_code == 201, response.get_json()
    assert set(core_db.session.scalars(select(Agreement.basis))) == {SigningBasis.PRESENCE_CODE}
    assert client.get(f"/api/v1/residents/{child.id}", headers=f.as_staff(doctor_b)).status_code == 200


def test_a_wrong_presence_code_is_422_naming_it_and_nothing_is_written(client, counties):
    a, b, villager, _, doctor_b = counties
    response = client.post("/api/v1/agreements", json=sign_body(b, resident_ids=[villager.id], presence_codes=["WRONG234"]),
                           headers=f.as_staff(doctor_b))
    assert response.status_code == 422 and "presence_codes" in response.get_json()["errors"]["json"]
    assert agreements() == 0


def test_a_person_present_whose_id_card_was_checked_today_is_signed_with_the_check_recorded(client, counties):
    a, b, villager, _, doctor_b = counties
    checked = register_on_site(client, doctor_b, name=villager.name, id_number=villager.id_number,
                               identity_document="id_card")
    assert checked.status_code == 200
    response = client.post("/api/v1/agreements", json=sign_body(b, resident_ids=[villager.id]), headers=f.as_staff(doctor_b))
    assert response.status_code == 201
    signed = core_db.session.scalar(select(Agreement))
    check = core_db.session.scalar(select(IdentityCheck))
    assert (signed.basis, signed.identity_check_id, check.centre_id) == (SigningBasis.IDENTITY_CHECK, check.id, b.id)


def test_registering_someone_outside_the_service_area_needs_the_on_site_check_and_nothing_is_written(client, counties):
    a, b, villager, _, rogue = counties
    before = fingerprint(villager.id)
    found = register_on_site(client, rogue, name=villager.name, id_number=villager.id_number)
    assert found.status_code == 403 and "identity_document" in found.get_json()["errors"]["json"]
    new = register_on_site(client, rogue, name="幽灵", id_number=f.id_number(date(1960, 1, 1)))
    assert new.status_code == 403 and found.get_json() == new.get_json()
    assert fingerprint(villager.id) == before
    assert core_db.session.scalar(select(func.count(Resident.id)).where(Resident.name == "幽灵")) == 0


def test_a_person_present_with_their_presence_code_is_found_by_a_centre_outside_their_area(client, counties):
    a, b, villager, _, doctor_b = counties
    villager.openid = "wx-villager"
    core_db.session.commit()
    code = presence_code(client, f.as_resident(villager))
    before = fingerprint(villager.id)
    found = register_on_site(client, doctor_b, name=villager.name, id_number=villager.id_number, presence_code=code)
    assert found.status_code == 200 and found.get_json()["id"] == villager.id
    assert fingerprint(villager.id) == before
    someone = f.resident(openid="wx-someone")
    refused = register_on_site(client, doctor_b, name=villager.name, id_number=villager.id_number,
                               presence_code=presence_code(client, f.as_resident(someone)))
    assert refused.status_code == 422 and "presence_code" in refused.get_json()["errors"]["json"]


def test_a_new_person_of_a_village_of_the_centre_is_registered_unverified(client, counties):
    a, *_ , doctor, _ = counties
    response = register_on_site(client, doctor, name="新村民", id_number=f.id_number(date(1960, 1, 1)),
                                home_window_id=a.windows[0].id)
    assert response.status_code == 201 and response.get_json()["verified"] is False
    elsewhere = register_on_site(client, doctor, name="新村民二", id_number=f.id_number(date(1961, 1, 1)),
                                 home_window_id=f.centre().windows[0].id)
    assert elsewhere.status_code == 422 and "home_window_id" in elsewhere.get_json()["errors"]["json"]


def test_signing_is_not_access_an_agreement_without_proof_reaches_nobody(client, counties):
    """A ghost agreement from before the rule (no basis) gives the centre no access to the person."""
    a, b, villager, _, rogue = counties
    agreement(villager, b, basis=None)
    for url in (f"/api/v1/residents/{villager.id}", f"/api/v1/residents/{villager.id}/health"):
        assert client.get(url, headers=f.as_staff(rogue)).status_code == 403
    record = client.post(f"/api/v1/residents/{villager.id}/conditions", headers=f.as_staff(rogue),
                         json={"kind": "hypertension", "diagnosed_on": "2025-01-01"})
    assert record.status_code == 403


def test_a_conflict_does_not_show_staff_another_centres_agreement(client, counties):
    a, b, villager, doctor_a, doctor_b = counties
    client.post("/api/v1/agreements", json=sign_body(a, resident_ids=[villager.id]), headers=f.as_staff(doctor_a))
    register_on_site(client, doctor_b, name=villager.name, id_number=villager.id_number, identity_document="id_card")
    response = client.post("/api/v1/agreements", json=sign_body(b, resident_ids=[villager.id]), headers=f.as_staff(doctor_b))
    assert response.status_code == 409
    assert "agreement_id" not in response.get_json()["details"]
    assert response.get_json()["details"]["centre_id"] == a.id
    assert agreements() == 1


def test_false_signing_of_a_person_with_a_recorded_death_is_refused_and_nothing_is_written(client, counties):
    a, _, villager, doctor, _ = counties
    died = client.patch(f"/api/v1/residents/{villager.id}", json={"died_on": "2026-02-01"}, headers=f.as_staff(doctor))
    assert died.status_code == 200 and died.get_json()["died_on"] == "2026-02-01"
    response = client.post("/api/v1/agreements", json=sign_body(a, resident_ids=[villager.id]), headers=f.as_staff(doctor))
    assert response.status_code == 409 and response.get_json()["details"]["reason"] == "dead"
    assert agreements() == 0


def test_a_date_of_death_before_birth_or_in_the_future_is_422(client, counties):
    a, _, villager, doctor, _ = counties
    for day in ("1900-01-01", "2026-03-17"):
        response = client.patch(f"/api/v1/residents/{villager.id}", json={"died_on": day}, headers=f.as_staff(doctor))
        assert response.status_code == 422 and "died_on" in response.get_json()["errors"]["json"]
    assert fingerprint(villager.id)["row"]["died_on"] is None


def test_an_unverified_person_signed_by_staff_does_not_count_for_capitation(client, counties):
    a, _, _, doctor, _ = counties
    ghost = f.resident(home_window_id=a.windows[0].id, verified=False)
    response = client.post("/api/v1/agreements", json=sign_body(a, resident_ids=[ghost.id]), headers=f.as_staff(doctor))
    assert response.status_code == 201
    assert response.get_json()["items"][0]["counts_for_capitation"] is False
