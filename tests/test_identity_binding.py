"""Binding a WeChat account to a person (POLICY.md signing rule 10: a name and an ID number prove nothing).

The attack of the issue: an account that knows a registered person's name and ID number binds to
them, then reads their agreements and visits, files change requests and overwrites their phone.
"""

from datetime import date

import pytest
from sqlalchemy import select

from core import db as core_db
from registry.models import BindingProof, Resident
from signing.models import Agreement
from tests import factories as f
from tests.identity_support import (
    audited,
    bind,
    fingerprint,
    grandmother,
    handout,
    login,
    presence_code,
    register_on_site,
    residents_count,
    sign_body,
)


@pytest.fixture
def victim(client, home, doctor):
    """A grandmother of the centre's village the doctor registered on site and signed, with a visit plan."""
    person = grandmother(home, home_window_id=home.windows[0].id)
    signed = client.post("/api/v1/agreements", json=sign_body(home, resident_ids=[person.id]), headers=f.as_staff(doctor))
    assert signed.status_code == 201, signed.get_json()
    return person


def test_name_and_id_number_alone_do_not_bind_an_existing_person_and_nothing_of_theirs_changes(
        client, wechat, home, victim):
    before, count = fingerprint(victim.id), residents_count()
    attacker = login(client, "attacker")
    response = bind(client, attacker, victim)
    assert response.status_code == 403
    body = response.get_json()
    assert body["details"] == {"reason": "proof_required", "proofs": ["phone_code", "binding_code"]}
    assert "phone_code" in body["message"] and "binding_code" in body["message"]
    assert fingerprint(victim.id) == before and residents_count() == count
    for url in ("/api/v1/me", "/api/v1/me/agreements", "/api/v1/me/visits"):
        assert client.get(url, headers=attacker).status_code == 403
    agreement_id = core_db.session.scalar(select(Agreement.id).where(Agreement.resident_id == victim.id))
    assert client.get(f"/api/v1/agreements/{agreement_id}", headers=attacker).status_code == 403
    change = client.post(f"/api/v1/agreements/{agreement_id}/change-requests", json={"centre_id": home.id},
                         headers=attacker)
    assert change.status_code == 403 and fingerprint(victim.id) == before


def test_the_attackers_own_phone_proves_nothing_and_the_answer_is_the_same(client, wechat, victim):
    before = fingerprint(victim.id)
    plain = bind(client, login(client, "attacker"), victim)
    with_phone = bind(client, login(client, "attacker"), victim, phone_code="phone-13999990000")
    wrong_name = bind(client, login(client, "attacker"), victim, name="别人")
    assert plain.status_code == with_phone.status_code == wrong_name.status_code == 403
    assert plain.get_json() == with_phone.get_json() == wrong_name.get_json()
    assert fingerprint(victim.id) == before


def test_the_phone_on_file_verified_by_wechat_binds_a_verified_person(client, wechat, victim):
    headers = login(client, "grandma-phone")
    response = bind(client, headers, victim, phone_code="phone-13700001111")
    assert response.status_code == 200 and response.get_json()["id"] == victim.id
    core_db.session.expire_all()
    assert (victim.openid, victim.binding_proof) == ("grandma-phone", BindingProof.WECHAT_PHONE)
    assert [name for name, _ in wechat.calls if name in ("stable_token", "getuserphonenumber")] == [
        "stable_token", "getuserphonenumber"]
    assert wechat.calls_to("getuserphonenumber")[-1]["access_token"].startswith("token-")
    assert client.get("/api/v1/me/agreements", headers=headers).get_json()["items"]
    [event] = audited("identity.bind")
    assert (event.target_id, event.detail) == (str(victim.id), {"proof": "wechat_phone"})


def test_a_phone_code_is_spent_once_and_a_bad_one_is_422_naming_phone_code(client, wechat, victim):
    headers = login(client, "grandma-phone")
    assert bind(client, headers, victim, phone_code="phone-13700001111").status_code == 200
    again = bind(client, login(client, "someone-else"), victim, phone_code="phone-13700001111")
    assert again.status_code == 422 and "phone_code" in again.get_json()["errors"]["json"]
    bad = bind(client, login(client, "someone-else"), victim, phone_code="not-a-code")
    assert bad.status_code == 422 and bad.get_json()["details"]["wechat_errcode"] == 40029


def test_the_phone_proof_does_not_take_over_an_account_bound_with_proof(client, wechat, victim):
    assert bind(client, login(client, "grandma-phone"), victim, phone_code="phone-13700001111").status_code == 200
    before = fingerprint(victim.id)
    recycled = bind(client, login(client, "new-holder-of-the-number"), victim, phone_code="phone-13700001111-again")
    assert recycled.status_code == 403 and fingerprint(victim.id) == before


def test_a_binding_code_from_an_on_site_check_binds_and_a_new_account_replaces_the_old_one(
        client, wechat, home, doctor, victim):
    first = login(client, "grandma-old-phone")
    assert bind(client, first, victim, phone_code="phone-13700001111").status_code == 200
    checked = register_on_site(client, doctor, name=victim.name, id_number=victim.id_number, identity_document="id_card")
    assert checked.status_code == 200
    code = handout(client, doctor, victim.id, "binding")
    second = login(client, "grandma-new-phone")
    response = bind(client, second, victim, binding_code=code.lower())
    assert response.status_code == 200 and response.get_json()["id"] == victim.id
    core_db.session.expire_all()
    assert (victim.openid, victim.binding_proof) == ("grandma-new-phone", BindingProof.BINDING_CODE)
    assert client.get("/api/v1/me", headers=first).status_code == 403
    assert client.get("/api/v1/me", headers=second).status_code == 200
    assert [e.detail for e in audited("identity.unbind")] == [{"reason": "rebound_with_proof"}]
    reused = bind(client, login(client, "attacker"), victim, binding_code=code)
    assert reused.status_code == 422 and "binding_code" in reused.get_json()["errors"]["json"]


def test_a_binding_code_is_for_its_person_only_and_a_wrong_one_gets_one_answer(client, wechat, home, doctor, victim):
    other = f.resident(name="张三丰", home_window_id=home.windows[0].id)
    assert register_on_site(client, doctor, name=other.name, id_number=other.id_number,
                            identity_document="id_card").status_code == 200
    code = handout(client, doctor, other.id, "binding")
    before = fingerprint(victim.id)
    answers = [bind(client, login(client, "attacker"), victim, binding_code=c) for c in (code, "ABCDEFGH")]
    assert {a.status_code for a in answers} == {422}
    assert answers[0].get_json() == answers[1].get_json()
    assert fingerprint(victim.id) == before


def test_a_code_is_handed_out_only_after_an_on_site_check_today(client, wechat, home, doctor, victim):
    response = client.post(f"/api/v1/residents/{victim.id}/binding-codes", json={"purpose": "binding"},
                           headers=f.as_staff(doctor))
    assert response.status_code == 409 and response.get_json()["details"]["reason"] == "identity_check_required"
    assert fingerprint(victim.id)["codes"] == 0


def test_a_self_registration_is_a_new_unverified_record_that_does_not_count_for_capitation(
        client, wechat, home):
    headers = login(client, "newcomer")
    number = f.id_number(date(1990, 4, 4))
    response = bind(client, headers, number, name="新来的", phone_code="phone-13600001111")
    assert response.status_code == 200 and response.get_json()["verified"] is False
    signed = client.post("/api/v1/agreements", json=sign_body(home), headers=headers)
    assert signed.status_code == 201
    assert signed.get_json()["items"][0]["counts_for_capitation"] is False
    [event] = audited("identity.bind")
    assert event.detail == {"proof": "self_registration"}


def test_an_on_site_check_verifies_a_self_registration_and_capitation_follows(client, wechat, home, doctor):
    headers = login(client, "newcomer")
    number = f.id_number(date(1990, 4, 4))
    assert bind(client, headers, number, name="新来的").status_code == 200
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert client.post("/api/v1/agreements", json=sign_body(home), headers=headers).status_code == 201
    insured = client.patch(f"/api/v1/residents/{me['id']}", headers=f.as_staff(doctor),
                           json={"insurance_scheme": "resident", "insurance_region_code": "430523"})
    assert insured.status_code == 200  # the centre reaches her: she signed with it herself
    counted = select(Agreement.counts_for_capitation).where(Agreement.resident_id == me["id"])
    assert core_db.session.scalar(counted) is False
    checked = register_on_site(client, doctor, name="新来的", id_number=number, identity_document="id_card",
                               presence_code=presence_code(client, headers))
    assert checked.status_code == 200 and checked.get_json()["verified"] is True
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # the binding stands proven
    core_db.session.expire_all()
    assert core_db.session.get(Resident, me["id"]).binding_proof is BindingProof.PRESENCE_CODE
    assert core_db.session.scalar(counted) is True
    assert [e.detail["document"] for e in audited("identity.verify")] == ["id_card"]


def test_a_verified_person_is_never_captured_by_an_earlier_unverified_claim(client, wechat, home, doctor):
    """The attacker self-registers a stranger nobody registered yet, with the attacker's phone; the real
    person is checked on site: the claim ends, the attacker's phone goes with it, and the real person binds."""
    number = f.id_number(date(1975, 9, 9))
    attacker = login(client, "attacker")
    assert bind(client, attacker, number, name="受害人", phone_code="phone-13999990000").status_code == 200
    checked = register_on_site(client, doctor, name="受害人", id_number=number, identity_document="id_card",
                               phone="13800002222")
    assert checked.status_code == 200
    resident_id = checked.get_json()["id"]
    assert client.get("/api/v1/me", headers=attacker).status_code == 403
    retaken = bind(client, login(client, "attacker"), number, name="受害人", phone_code="phone-13999990000-2")
    assert retaken.status_code == 403
    code = handout(client, doctor, resident_id, "binding")
    real = login(client, "the-real-one")
    assert bind(client, real, number, name="受害人", binding_code=code).status_code == 200
    core_db.session.expire_all()
    person = core_db.session.get(Resident, resident_id)
    assert (person.openid, person.phone) == ("the-real-one", "13800002222")
    assert [e.detail["reason"] for e in audited("identity.unbind")] == ["unproven_binding_ended_by_identity_check"]


def test_a_presence_code_of_someone_else_does_not_keep_a_binding_and_nothing_is_written(client, wechat, home, doctor):
    number = f.id_number(date(1975, 9, 9))
    attacker = login(client, "attacker")
    bind(client, attacker, number, name="受害人")
    resident_id = client.get("/api/v1/me", headers=attacker).get_json()["id"]
    someone = f.resident(openid="wx-someone")
    before = fingerprint(resident_id)
    response = register_on_site(client, doctor, name="受害人", id_number=number, identity_document="id_card",
                                presence_code=presence_code(client, f.as_resident(someone)))
    assert response.status_code == 422 and "presence_code" in response.get_json()["errors"]["json"]
    assert fingerprint(resident_id) == before


def test_binding_and_its_refusals_are_audited(client, wechat, victim):
    bind(client, login(client, "attacker"), victim)
    bind(client, login(client, "grandma"), victim, phone_code="phone-13700001111")
    assert [(e.actor, e.outcome) for e in audited("identity.bind")] == [
        ("wx:attacker", "refused_403"), ("wx:grandma", "ok")]
