"""Households (POLICY.md signing rules 5 and 10): who is in one is proven, and anyone can leave.

The attack of the issue: `POST /me/household-members` put a not-yet-registered person into the
attacker's household; when the real person later bound, they landed there and the attacker saw
their visits and could move their centre. Nobody could leave.
"""

from datetime import date

import pytest
from sqlalchemy import select

from core import db as core_db
from registry.models import Resident
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

MEMBERS = "/api/v1/me/household-members"


@pytest.fixture
def attacker(client, wechat, home):
    headers = login(client, "attacker")
    assert bind(client, headers, f.id_number(date(1985, 1, 1)), name="坏人").status_code == 200
    return headers


def member_ids(client, headers) -> list[int]:
    return [m["id"] for m in client.get("/api/v1/me", headers=headers).get_json()["household"]]


def test_an_adult_cannot_be_added_by_name_and_id_number_and_nothing_is_written(client, attacker):
    count = residents_count()
    response = client.post(MEMBERS, json={"name": "成年人", "id_number": f.id_number(date(1970, 1, 1))}, headers=attacker)
    assert response.status_code == 403
    assert response.get_json()["details"]["reason"] == "own_confirmation_required"
    assert "join_code" in response.get_json()["errors"]["json"]
    assert residents_count() == count and member_ids(client, attacker) == []


def test_a_registered_child_cannot_be_taken_and_every_reason_gets_one_answer(client, attacker, home):
    family = f.resident(openid="wx-parent")
    child = f.resident(name="小红", born=date(2019, 2, 2), household=family.household)
    before = fingerprint(child.id)
    answers = [client.post(MEMBERS, json={"name": name, "id_number": child.id_number}, headers=attacker)
               for name in ("小红", "别的名字")]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[0].get_json()["details"]["reason"] == "proof_required"
    assert fingerprint(child.id) == before and member_ids(client, attacker) == []


def test_a_child_nobody_registered_is_added_as_an_unverified_claim(client, attacker):
    response = client.post(MEMBERS, json={"name": "小明", "id_number": f.id_number(date(2021, 6, 1))}, headers=attacker)
    assert response.status_code == 201 and response.get_json()["verified"] is False
    child = core_db.session.get(Resident, response.get_json()["id"])
    assert child.household_claimed is True and child.openid is None
    assert [e.detail["via"] for e in audited("household.join")] == ["new_child"]


def test_the_real_guardian_takes_a_claimed_child_back_and_the_attacker_keeps_nothing(
        client, wechat, attacker, home, doctor):
    """The attacker added a child nobody had registered. The real mother brings the child's household
    register to the centre: the check ends the claim, and a join code takes the child into her household."""
    number = f.id_number(date(2021, 6, 1))
    claimed = client.post(MEMBERS, json={"name": "小明", "id_number": number}, headers=attacker).get_json()
    client.post("/api/v1/agreements", json=sign_body(home, resident_ids=[claimed["id"]]), headers=attacker)
    mother = login(client, "mother")
    assert bind(client, mother, f.id_number(date(1992, 2, 2)), name="妈妈").status_code == 200
    not_hers = register_on_site(client, doctor, name="小明", id_number=number, identity_document="household_register",
                                guardian_presence_code=presence_code(client, mother))
    assert not_hers.status_code == 422 and "guardian_presence_code" in not_hers.get_json()["errors"]["json"]
    checked = register_on_site(client, doctor, name="小明", id_number=number, identity_document="household_register")
    assert checked.status_code == 200
    assert member_ids(client, attacker) == []
    assert client.get("/api/v1/me/visits", headers=attacker).get_json()["items"] == []
    assert client.get("/api/v1/me/agreements", headers=attacker).get_json()["items"] == []
    code = handout(client, doctor, claimed["id"], "join")
    joined = client.post(MEMBERS, json={"join_code": code}, headers=mother)
    assert joined.status_code == 201 and member_ids(client, mother) == [claimed["id"]]
    assert core_db.session.get(Resident, claimed["id"]).household_claimed is False
    assert [e.detail["reason"] for e in audited("household.leave")] == ["unproven_claim_ended_by_identity_check"]


def test_the_guardian_who_came_along_keeps_the_child_at_the_check(client, wechat, home, doctor):
    mother = login(client, "mother")
    bind(client, mother, f.id_number(date(1992, 2, 2)), name="妈妈")
    number = f.id_number(date(2021, 6, 1))
    child = client.post(MEMBERS, json={"name": "小明", "id_number": number}, headers=mother).get_json()
    checked = register_on_site(client, doctor, name="小明", id_number=number, identity_document="household_register",
                               guardian_presence_code=presence_code(client, mother))
    assert checked.status_code == 200 and member_ids(client, mother) == [child["id"]]
    assert core_db.session.get(Resident, child["id"]).household_claimed is False


def test_an_elderly_parent_without_wechat_joins_with_a_code_after_the_on_site_check(client, wechat, home, doctor):
    grandma = grandmother(home, home_window_id=home.windows[0].id)
    son = login(client, "son")
    bind(client, son, f.id_number(date(1975, 5, 5)), name="儿子")
    refused = client.post(MEMBERS, json={"name": grandma.name, "id_number": grandma.id_number}, headers=son)
    assert refused.status_code == 403 and member_ids(client, son) == []
    register_on_site(client, doctor, name=grandma.name, id_number=grandma.id_number, identity_document="id_card")
    code = handout(client, doctor, grandma.id, "join")
    assert client.post(MEMBERS, json={"join_code": code}, headers=son).status_code == 201
    assert member_ids(client, son) == [grandma.id]
    again = client.post(MEMBERS, json={"join_code": code}, headers=login(client, "attacker"))
    assert again.status_code in (403, 422)


def test_an_adult_joins_another_adults_household_with_their_invitation_and_their_own_account(client, wechat, home):
    wife, husband = login(client, "wife"), login(client, "husband")
    bind(client, wife, f.id_number(date(1990, 1, 1)), name="妻子")
    husband_id = bind(client, husband, f.id_number(date(1988, 1, 1)), name="丈夫").get_json()["id"]
    invitation = client.post("/api/v1/me/household-invitations", headers=wife)
    assert invitation.status_code == 201 and invitation.get_json()["purpose"] == "invitation"
    joined = client.post("/api/v1/me/household", json={"invitation_code": invitation.get_json()["code"]}, headers=husband)
    assert joined.status_code == 200
    assert member_ids(client, wife) == [husband_id]
    spent = client.post("/api/v1/me/household", json={"invitation_code": invitation.get_json()["code"]},
                        headers=login(client, "attacker"))
    assert spent.status_code in (403, 422)


def test_a_wrong_invitation_code_is_422_naming_it_and_nothing_is_written(client, wechat, attacker):
    before = client.get("/api/v1/me", headers=attacker).get_json()
    response = client.post("/api/v1/me/household", json={"invitation_code": "ABCDEFGH"}, headers=attacker)
    assert response.status_code == 422 and "invitation_code" in response.get_json()["errors"]["json"]
    assert client.get("/api/v1/me", headers=attacker).get_json() == before


def test_any_member_can_leave(client, wechat, home):
    wife, husband = login(client, "wife"), login(client, "husband")
    bind(client, wife, f.id_number(date(1990, 1, 1)), name="妻子")
    bind(client, husband, f.id_number(date(1988, 1, 1)), name="丈夫")
    code = client.post("/api/v1/me/household-invitations", headers=wife).get_json()["code"]
    client.post("/api/v1/me/household", json={"invitation_code": code}, headers=husband)
    left = client.delete("/api/v1/me/household", headers=husband)
    assert left.status_code == 200 and left.get_json()["household"] == []
    assert member_ids(client, wife) == []
    assert [e.detail["reason"] for e in audited("household.leave")] == ["own_request"]
    joins = [e.detail["via"] for e in audited("household.join")]
    assert joins == ["invitation"]


def test_a_minor_does_not_add_members(client, wechat, home):
    teen = login(client, "teen")
    bind(client, teen, f.id_number(date(2010, 1, 1)), name="少年")
    count = residents_count()
    response = client.post(MEMBERS, json={"name": "弟弟", "id_number": f.id_number(date(2020, 1, 1))}, headers=teen)
    assert response.status_code == 403 and residents_count() == count


def test_a_join_code_is_handed_out_only_by_a_centre_that_checked_the_person_today(client, wechat, home, doctor):
    child = f.resident(born=date(2019, 2, 2), home_window_id=home.windows[0].id)
    response = client.post(f"/api/v1/residents/{child.id}/binding-codes", json={"purpose": "join"},
                           headers=f.as_staff(doctor))
    assert response.status_code == 409
    elsewhere = f.staff(centre=f.centre())
    refused = client.post(f"/api/v1/residents/{child.id}/binding-codes", json={"purpose": "join"},
                          headers=f.as_staff(elsewhere))
    assert refused.status_code == 403
    assert core_db.session.scalar(select(Resident.household_id).where(Resident.id == child.id)) == child.household_id
