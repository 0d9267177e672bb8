"""Signing, change requests and termination through the HTTP API (POLICY.md "Signing rules")."""

from datetime import date

from sqlalchemy import func, select

from core import clock
from core.auth import Actor, Role
from core.models import IdempotencyRecord
from registry.models import InsuranceScheme
from signing.models import Agreement, ChangeRequest, Consent
from tests import factories as f

CONSENT = "2025-01"


def sign_body(centre, **extra):
    return {"centre_id": centre.id, "term_years": 1, "consent_version": CONSENT, **extra}


def agreements(db) -> int:
    return db.scalar(select(func.count(Agreement.id)))


def test_resident_signs_online_with_one_centre_for_the_current_cycle(client, db, centres, alice):
    centre = centres["home"]
    response = client.post("/api/v1/agreements", json=sign_body(centre, window_id=centre.windows[0].id,
                                                                 team_id=centre.teams[0].id),
                           headers=f.as_resident(alice))
    assert response.status_code == 201
    [agreement] = response.get_json()["items"]
    assert agreement["resident_id"] == alice.id and agreement["centre_id"] == centre.id
    assert agreement["cycle"] == 2026 and agreement["start_date"] == "2026-03-16" and agreement["end_date"] == "2026-12-31"
    assert agreement["status"] == "active" and agreement["channel"] == "online"
    assert db.scalar(select(Consent.text_version).where(Consent.resident_id == alice.id)) == CONSENT


def test_second_centre_in_same_cycle_is_refused_naming_the_existing_agreement_and_nothing_is_written(
        client, db, centres, alice):
    first = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(alice))
    before = agreements(db)
    response = client.post("/api/v1/agreements", json=sign_body(centres["other"]), headers=f.as_resident(alice))
    assert response.status_code == 409
    assert response.get_json()["details"]["agreement_id"] == first.get_json()["items"][0]["id"]
    assert agreements(db) == before


def test_signing_again_with_the_same_centre_returns_the_same_agreement(client, db, centres, alice):
    first = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(alice))
    again = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(alice))
    assert again.status_code == 200
    assert again.get_json()["items"][0]["id"] == first.get_json()["items"][0]["id"]
    assert agreements(db) == 1


def test_insured_in_the_signing_region_counts_for_capitation(client, centres, alice):
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(alice))
    assert response.get_json()["items"][0]["counts_for_capitation"] is True


def test_uninsured_and_insured_elsewhere_may_sign_but_do_not_count_for_capitation(client, centres):
    uninsured = f.resident(openid="u1", insured_in=None)
    elsewhere = f.resident(openid="u2", insured_in="430522")
    for person in (uninsured, elsewhere):
        response = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(person))
        assert response.status_code == 201
        assert response.get_json()["items"][0]["counts_for_capitation"] is False


def test_employee_scheme_insured_in_region_counts_for_capitation(client, centres):
    employee = f.resident(openid="e1", scheme=InsuranceScheme.EMPLOYEE)
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(employee))
    assert response.get_json()["items"][0]["counts_for_capitation"] is True


def test_a_household_signs_as_one_unit(client, db, centres, alice):
    husband = f.resident(household=alice.household, born=date(1978, 1, 1))
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[alice.id, husband.id]),
                           headers=f.as_resident(alice))
    assert response.status_code == 201
    assert {a["resident_id"] for a in response.get_json()["items"]} == {alice.id, husband.id}


def test_signing_someone_outside_the_household_is_422_and_nothing_is_written(client, db, centres, alice):
    stranger = f.resident()
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[stranger.id]),
                           headers=f.as_resident(alice))
    assert response.status_code == 422
    assert "resident_ids" in response.get_json()["errors"]["json"]
    assert agreements(db) == 0


def test_one_conflicting_member_stops_the_whole_household_signing(client, db, centres, alice):
    husband = f.resident(household=alice.household, openid="husband")
    client.post("/api/v1/agreements", json=sign_body(centres["other"]), headers=f.as_resident(husband))
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[alice.id, husband.id]),
                           headers=f.as_resident(alice))
    assert response.status_code == 409
    assert agreements(db) == 1


def test_a_child_under_14_signs_with_an_adult_household_member_as_guardian(client, db, centres, alice):
    child = f.resident(household=alice.household, born=date(2015, 1, 1))
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[child.id]),
                           headers=f.as_resident(alice))
    assert response.status_code == 201
    assert db.scalar(select(Consent.guardian_id).where(Consent.resident_id == child.id)) == alice.id


def test_a_child_under_14_without_an_adult_guardian_is_422_and_nothing_is_written(client, db, centres):
    teen = f.resident(openid="teen", born=date(2009, 1, 1))  # 17: may sign, but is no guardian
    child = f.resident(household=teen.household, born=date(2016, 1, 1))
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[child.id]),
                           headers=f.as_resident(teen))
    assert response.status_code == 422
    assert "guardian_id" in response.get_json()["errors"]["json"]
    assert agreements(db) == 0


def test_signing_without_consent_is_422_and_nothing_is_written(client, db, centres, alice):
    body = sign_body(centres["home"])
    del body["consent_version"]
    assert client.post("/api/v1/agreements", json=body, headers=f.as_resident(alice)).status_code == 422
    outdated = client.post("/api/v1/agreements", json=sign_body(centres["home"], consent_version="2019-01"),
                           headers=f.as_resident(alice))
    assert outdated.status_code == 422
    assert "consent_version" in outdated.get_json()["errors"]["json"]
    assert agreements(db) == 0


def test_term_is_one_to_three_years(client, db, centres, alice):
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], term_years=4), headers=f.as_resident(alice))
    assert response.status_code == 422 and "term_years" in response.get_json()["errors"]["json"]
    three = client.post("/api/v1/agreements", json=sign_body(centres["home"], term_years=3), headers=f.as_resident(alice))
    assert three.get_json()["items"][0]["term_end_date"] == "2028-12-31"


def test_an_institution_at_second_level_hospital_standard_cannot_be_signed_with(client, db, centres, alice):
    response = client.post("/api/v1/agreements", json=sign_body(centres["hospital"]), headers=f.as_resident(alice))
    assert response.status_code == 422 and "centre_id" in response.get_json()["errors"]["json"]
    assert agreements(db) == 0


def test_a_village_clinic_of_another_centre_is_422(client, db, centres, alice):
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], window_id=centres["other"].windows[0].id),
                           headers=f.as_resident(alice))
    assert response.status_code == 422 and "window_id" in response.get_json()["errors"]["json"]


def test_a_client_cannot_set_fields_it_does_not_own(client, db, centres, alice):
    body = sign_body(centres["home"], status="terminated", counts_for_capitation=True)
    response = client.post("/api/v1/agreements", json=body, headers=f.as_resident(alice))
    assert response.status_code == 422
    assert {"status", "counts_for_capitation"} <= set(response.get_json()["errors"]["json"])
    assert agreements(db) == 0


def test_a_resident_who_has_not_bound_identity_cannot_sign(client, db, centres):
    headers = f.bearer(Actor(role=Role.RESIDENT, subject="wx:nobody"))
    assert client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=headers).status_code == 403


def villager(centres, **fields):
    """A resident whose household is registered in a village of the home centre (its service area)."""
    return f.resident(home_window_id=centres["home"].windows[0].id, **fields)


def test_doctor_signs_a_resident_on_site_with_their_own_centre(client, centres):
    doctor = f.staff(centre=centres["home"])
    person = villager(centres)
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[person.id]),
                           headers=f.as_staff(doctor))
    assert response.status_code == 201
    assert response.get_json()["items"][0]["channel"] == "on_site"


def test_doctor_cannot_sign_for_another_centre(client, db, centres):
    doctor = f.staff(centre=centres["home"])
    person = f.resident()
    response = client.post("/api/v1/agreements", json=sign_body(centres["other"], resident_ids=[person.id]),
                           headers=f.as_staff(doctor))
    assert response.status_code == 403
    assert agreements(db) == 0


def test_idempotency_key_with_the_same_body_returns_the_first_response(client, db, centres, alice):
    headers = {**f.as_resident(alice), "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=headers)
    again = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert agreements(db) == 1


def test_idempotency_key_with_a_different_body_is_422(client, db, centres, alice):
    headers = {**f.as_resident(alice), "Idempotency-Key": "k-2"}
    client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=headers)
    response = client.post("/api/v1/agreements", json=sign_body(centres["home"], term_years=2), headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]["headers"]
    assert agreements(db) == 1


def test_idempotency_key_still_in_flight_is_409(client, db, centres, alice):
    import hashlib
    import json

    body = sign_body(centres["home"])
    raw = json.dumps(body).encode()
    digest = hashlib.sha256(b"POST /api/v1/agreements\n" + raw).hexdigest()
    db.add(IdempotencyRecord(actor="wx:openid-alice", key="k-3", request_hash=digest))
    db.commit()
    response = client.post("/api/v1/agreements", data=raw, content_type="application/json",
                           headers={**f.as_resident(alice), "Idempotency-Key": "k-3"})
    assert response.status_code == 409
    assert agreements(db) == 0


def test_a_rejected_request_frees_its_idempotency_key(client, db, centres, alice):
    headers = {**f.as_resident(alice), "Idempotency-Key": "k-4"}
    assert client.post("/api/v1/agreements", json=sign_body(centres["hospital"]), headers=headers).status_code == 422
    assert db.scalar(select(func.count(IdempotencyRecord.id))) == 0


def test_idempotency_keys_expire_after_24_hours(client, db, centres, alice):
    from datetime import timedelta

    headers = {**f.as_resident(alice), "Idempotency-Key": "k-5"}
    client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=headers)
    clock.advance(timedelta(hours=23))
    assert client.post("/api/v1/agreements", json=sign_body(centres["home"], term_years=2),
                       headers={**headers, **f.as_resident(alice)}).status_code == 422
    clock.advance(timedelta(hours=2))
    reused = client.post("/api/v1/agreements", json=sign_body(centres["home"], term_years=2),
                         headers={**headers, **f.as_resident(alice)})
    assert reused.status_code == 200  # a fresh request: same centre, same agreement


def test_resident_sees_own_agreements_and_not_anothers(client, db, centres, alice):
    mine = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(alice))
    other = f.resident(openid="bob")
    theirs = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(other))
    listed = client.get("/api/v1/me/agreements", headers=f.as_resident(alice)).get_json()["items"]
    assert [a["id"] for a in listed] == [mine.get_json()["items"][0]["id"]]
    their_id = theirs.get_json()["items"][0]["id"]
    assert client.get(f"/api/v1/agreements/{their_id}", headers=f.as_resident(alice)).status_code == 404
    assert client.get("/api/v1/agreements/999999", headers=f.as_resident(alice)).status_code == 404


def test_staff_and_bureau_see_agreements_only_in_their_scope(client, db, centres, alice):
    agreement_id = client.post("/api/v1/agreements", json=sign_body(centres["home"]),
                               headers=f.as_resident(alice)).get_json()["items"][0]["id"]
    own_doctor = f.staff(centre=centres["home"])
    other_doctor = f.staff(centre=centres["other"])
    bureau = f.staff(role=Role.BUREAU, region="430523")
    city_bureau = f.staff(role=Role.BUREAU, region="430500")
    other_bureau = f.staff(role=Role.BUREAU, region="430522")
    url = f"/api/v1/agreements/{agreement_id}"
    assert client.get(url, headers=f.as_staff(own_doctor)).status_code == 200
    assert client.get(url, headers=f.as_staff(other_doctor)).status_code == 403
    assert client.get(url, headers=f.as_staff(bureau)).status_code == 200
    assert client.get(url, headers=f.as_staff(city_bureau)).status_code == 200
    assert client.get(url, headers=f.as_staff(other_bureau)).status_code == 403


def test_doctor_lists_the_centres_agreements_a_page_at_a_time(client, db, centres):
    doctor = f.staff(centre=centres["home"])
    people = [villager(centres) for _ in range(3)]
    client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[p.id for p in people]),
                headers=f.as_staff(doctor))
    first = client.get("/api/v1/agreements?limit=2", headers=f.as_staff(doctor)).get_json()
    second = client.get(f"/api/v1/agreements?limit=2&cursor={first['next_cursor']}", headers=f.as_staff(doctor)).get_json()
    assert len(first["items"]) == 2 and len(second["items"]) == 1 and second["next_cursor"] is None
    assert client.get("/api/v1/agreements?cursor=garbage", headers=f.as_staff(doctor)).status_code == 422


def signed(client, centres, person):
    return client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(person)).get_json()[
        "items"][0]["id"]


def test_change_request_outside_the_change_period_is_409_and_nothing_is_written(client, db, centres, alice):
    agreement_id = signed(client, centres, alice)
    response = client.post(f"/api/v1/agreements/{agreement_id}/change-requests", json={"centre_id": centres["other"].id},
                           headers=f.as_resident(alice))
    assert response.status_code == 409
    assert response.get_json()["details"]["period_opens"] == "2026-10-01"
    assert db.scalar(select(func.count(ChangeRequest.id))) == 0
    assert db.get(Agreement, agreement_id).status.value == "active"


def test_change_request_inside_the_change_period_takes_effect_next_cycle(client, db, centres, alice):
    agreement_id = signed(client, centres, alice)
    clock.set_today(date(2026, 10, 8))
    response = client.post(f"/api/v1/agreements/{agreement_id}/change-requests", json={"centre_id": centres["other"].id},
                           headers=f.as_resident(alice))
    assert response.status_code == 201
    assert response.get_json()["effective_cycle"] == 2027
    assert client.get(f"/api/v1/agreements/{agreement_id}", headers=f.as_resident(alice)).get_json()["status"] == \
        "change_pending"
    second = client.post(f"/api/v1/agreements/{agreement_id}/change-requests", json={"centre_id": centres["other"].id},
                         headers=f.as_resident(alice))
    assert second.status_code == 409


def test_change_request_to_the_same_centre_is_422(client, db, centres, alice):
    agreement_id = signed(client, centres, alice)
    clock.set_today(date(2026, 11, 1))
    response = client.post(f"/api/v1/agreements/{agreement_id}/change-requests", json={"centre_id": centres["home"].id},
                           headers=f.as_resident(alice))
    assert response.status_code == 422


def test_staff_terminate_with_a_reason(client, db, centres, alice):
    agreement_id = signed(client, centres, alice)
    admin = f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"])
    response = client.post(f"/api/v1/agreements/{agreement_id}/termination", json={"reason": "moved_away"},
                           headers=f.as_staff(admin))
    assert response.status_code == 200
    assert response.get_json()["status"] == "terminated" and response.get_json()["terminated_on"] == "2026-03-16"


def test_after_a_termination_the_resident_signs_again_in_the_cycle_only_with_the_same_centre(client, db, centres, alice):
    """[000 §二(三)] 参保人在一个签约周期内不得变更签约医疗卫生机构: terminate-and-re-sign cannot change it."""
    agreement_id = signed(client, centres, alice)
    clock.set_today(date(2026, 5, 20))
    client.post(f"/api/v1/agreements/{agreement_id}/termination", json={"reason": "own_request"},
                headers=f.as_staff(f.staff(centre=centres["home"])))
    before = agreements(db)
    elsewhere = client.post("/api/v1/agreements", json=sign_body(centres["other"]), headers=f.as_resident(alice))
    assert elsewhere.status_code == 409
    body = elsewhere.get_json()
    assert "000 §二(三)" in body["message"] and body["details"]["reason"] == "centre_fixed_for_cycle"
    assert (body["details"]["agreement_id"], body["details"]["centre_id"]) == (agreement_id, centres["home"].id)
    assert agreements(db) == before and db.scalar(select(func.count(Consent.id))) == 1
    present = client.post("/api/v1/me/presence-codes", headers=f.as_resident(alice)).get_json()["code"]
    by_staff = client.post("/api/v1/agreements", json=sign_body(centres["other"], resident_ids=[alice.id],
                                                                presence_codes=[present]),
                           headers=f.as_staff(f.staff(centre=centres["other"])))
    assert by_staff.status_code == 409 and agreements(db) == before
    again = client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(alice))
    assert again.status_code == 201
    assert again.get_json()["items"][0]["id"] != agreement_id
    assert again.get_json()["items"][0]["start_date"] == "2026-05-20"


def test_terminating_twice_is_409(client, db, centres, alice):
    agreement_id = signed(client, centres, alice)
    doctor = f.staff(centre=centres["home"])
    url = f"/api/v1/agreements/{agreement_id}/termination"
    assert client.post(url, json={"reason": "death"}, headers=f.as_staff(doctor)).status_code == 200
    assert client.post(url, json={"reason": "death"}, headers=f.as_staff(doctor)).status_code == 409


def test_termination_by_a_resident_or_another_centre_is_403(client, db, centres, alice):
    agreement_id = signed(client, centres, alice)
    url = f"/api/v1/agreements/{agreement_id}/termination"
    assert client.post(url, json={"reason": "own_request"}, headers=f.as_resident(alice)).status_code == 403
    other = f.staff(centre=centres["other"])
    assert client.post(url, json={"reason": "own_request"}, headers=f.as_staff(other)).status_code == 403
    assert client.post(url, json={"reason": "bored"}, headers=f.as_staff(f.staff(centre=centres["home"]))).status_code == 422
    assert db.get(Agreement, agreement_id).status.value == "active"


def test_recording_insurance_later_rederives_capitation(client, db, centres):
    doctor = f.staff(centre=centres["home"])
    person = villager(centres, insured_in=None)
    client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[person.id]), headers=f.as_staff(doctor))
    response = client.patch(f"/api/v1/residents/{person.id}",
                            json={"insurance_scheme": "resident", "insurance_region_code": "430523"},
                            headers=f.as_staff(doctor))
    assert response.status_code == 200
    assert db.scalar(select(Agreement.counts_for_capitation).where(Agreement.resident_id == person.id)) is True


def test_centres_are_listed_publicly_with_windows_and_teams(client, centres):
    listed = client.get("/api/v1/centres?region=430523").get_json()["items"]
    ids = [c["id"] for c in listed]
    assert centres["home"].id in ids and centres["hospital"].id not in ids and centres["xinshao"].id not in ids
    assert listed[0]["windows"] and listed[0]["teams"]
    city = [c["id"] for c in client.get("/api/v1/centres?region=430500").get_json()["items"]]
    assert centres["xinshao"].id in city and centres["home"].id in city
    by_name = client.get("/api/v1/centres", query_string={"q": centres["home"].name}).get_json()["items"]
    assert [c["id"] for c in by_name] == [centres["home"].id]
    assert client.get("/api/v1/centres?region=43").status_code == 422


def test_termination_closes_the_open_follow_ups_and_keeps_logged_ones(client, db, centres):
    from care.models import Visit, VisitState

    elder = f.resident(openid="elder", born=date(1945, 6, 1))
    agreement_id = signed(client, centres, elder)
    planned = db.scalars(select(Visit).where(Visit.resident_id == elder.id)).all()
    assert planned and all(v.state is VisitState.PLANNED for v in planned)
    doctor = f.staff(centre=centres["home"])
    client.post(f"/api/v1/agreements/{agreement_id}/termination", json={"reason": "moved_away"}, headers=f.as_staff(doctor))
    states = {v.state for v in db.scalars(select(Visit).where(Visit.resident_id == elder.id))}
    assert VisitState.PLANNED not in states


def test_an_unknown_insurance_region_or_village_is_422_naming_it_and_nothing_is_written(client, db, centres):
    doctor = f.staff(centre=centres["home"])
    person = villager(centres, insured_in=None)
    client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[person.id]), headers=f.as_staff(doctor))
    for body, field in (({"insurance_region_code": "999999"}, "insurance_region_code"), ({"home_window_id": 99999}, "home_window_id")):
        response = client.patch(f"/api/v1/residents/{person.id}", json={"insurance_scheme": "resident", **body},
                                headers=f.as_staff(doctor))
        assert response.status_code == 422 and field in response.get_json()["errors"]["json"]
    db.expire_all()
    assert db.get(type(person), person.id).insurance_scheme is InsuranceScheme.UNINSURED


def test_zhanjiang_signs_one_centre_and_one_village_clinic_else_422_and_nothing_is_written(client, db, centres, alice):
    """[003 §三] 1 centre + 1 village clinic integrated with it; the profile says which regions ask for the clinic."""
    suicheng, other = f.centre(region="440823"), f.centre(region="440823")
    person = f.resident(openid="openid-zhanjiang", insured_in="440823")
    refused = client.post("/api/v1/agreements", json=sign_body(suicheng), headers=f.as_resident(person))
    assert refused.status_code == 422
    assert "window_id" in refused.get_json()["errors"]["json"]
    assert refused.get_json()["details"]["rule"] == "requires_village_clinic"
    assert agreements(db) == 0 and db.scalar(select(func.count(Consent.id))) == 0
    signed_there = client.post("/api/v1/agreements", json=sign_body(suicheng, window_id=suicheng.windows[0].id),
                               headers=f.as_resident(person))
    assert signed_there.status_code == 201 and signed_there.get_json()["items"][0]["window_id"] == suicheng.windows[0].id
    clock.set_today(date(2026, 10, 8))
    agreement_id = signed_there.get_json()["items"][0]["id"]
    change = client.post(f"/api/v1/agreements/{agreement_id}/change-requests", json={"centre_id": other.id},
                         headers=f.as_resident(person))
    assert change.status_code == 422 and "window_id" in change.get_json()["errors"]["json"]
    assert db.scalar(select(func.count(ChangeRequest.id))) == 0
    assert db.get(Agreement, agreement_id).status.value == "active"
    # Hunan's profile does not ask for a village clinic.
    assert client.post("/api/v1/agreements", json=sign_body(centres["home"]), headers=f.as_resident(alice)).status_code == 201


def test_an_agreement_ended_on_its_first_day_was_never_in_force_and_fixes_no_centre(client, db, centres, alice):
    agreement_id = signed(client, centres, alice)
    client.post(f"/api/v1/agreements/{agreement_id}/termination", json={"reason": "own_request"},
                headers=f.as_staff(f.staff(centre=centres["home"])))
    assert db.get(Agreement, agreement_id).is_in_force_on(date(2026, 3, 16)) is False
    assert client.post("/api/v1/agreements", json=sign_body(centres["other"]), headers=f.as_resident(alice)).status_code == 201
