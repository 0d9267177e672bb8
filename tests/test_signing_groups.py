"""Group signing with a functional community [002 §(三)1] (issue 12, "Signing forms the policy names"): communities are
registry entities administered per region; a centre's staff sign the members in one request and every member's own
rules still hold, reported member by member; a member refused writes nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import requests
from sqlalchemy import func, select

from core import db as core_db
from core.auth import Role
from core.models import AuditEvent
from registry.models import Community, CommunityMember
from signing import groups
from signing.models import HOLDING, Agreement, Consent
from tests import factories as f
from tests.county_helpers import as_admin, count
from tests.live import live_server
from tests.settlement_helpers import agreement

CONSENT = "2025-01"
TIMEOUT = 60


@pytest.fixture
def place(centres):
    """The home centre of 邵阳县 with a doctor and a centre administrator."""
    centre = centres["home"]
    return dict(centre=centre, doctor=f.as_staff(f.staff(centre=centre)),
                admin=f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centre)))


def villager(centre, **fields):
    """A verified resident of one of the centre's villages (its service area)."""
    return f.resident(home_window_id=centre.windows[0].id, **fields)


def _community(client, centre, headers=None, **fields) -> dict:
    response = client.post("/api/v1/admin/communities", headers=headers or as_admin(), json={
        "name": "塘渡口工业园", "kind": "industrial_park", "centre_id": centre.id, "region_code": "430523", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _link(client, community: dict, people, headers=None) -> None:
    response = client.post(f"/api/v1/admin/communities/{community['id']}/members", headers=headers or as_admin(),
                           json={"resident_ids": [person.id for person in people]})
    assert response.status_code == 200, response.get_json()


def _sign(client, community: dict, headers, **body):
    return client.post(f"/api/v1/communities/{community['id']}/agreements", headers=headers,
                       json={"term_years": 1, "consent_version": CONSENT, **body})


def _outcomes(response) -> dict[int, tuple[str, str | None]]:
    return {item["resident_id"]: (item["outcome"], item["rule"]) for item in response.get_json()["items"]}


def _holding(person) -> list[Agreement]:
    return list(core_db.session.scalars(select(Agreement).where(Agreement.resident_id == person.id,
                                                                Agreement.status.in_(HOLDING))))


# The community, a registry entity ------------------------------------------------------------------

def test_county_administrator_creates_lists_and_updates_a_community_and_every_change_is_audited(client, place):
    created = _community(client, place["centre"], address="工业园区1号")
    assert (created["kind"], created["centre_id"], created["active"]) == ("industrial_park", place["centre"].id, True)
    renamed = client.patch(f"/api/v1/admin/communities/{created['id']}", headers=as_admin(), json={"name": "白仓商务楼"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "白仓商务楼"
    listed = client.get("/api/v1/admin/communities", headers=as_admin()).get_json()["items"]
    assert [c["id"] for c in listed] == [created["id"]]
    actions = core_db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "community")
                                      .order_by(AuditEvent.id)).all()
    assert actions == ["admin.community.create", "admin.community.update", "admin.community.list"]


def test_centre_administrator_administers_only_their_own_centres_communities(client, centres, place):
    mine = _community(client, place["centre"], headers=place["admin"], name="县委大院", kind="government")
    _community(client, centres["other"], name="别的园区")
    listed = client.get("/api/v1/admin/communities", headers=place["admin"]).get_json()["items"]
    assert [c["id"] for c in listed] == [mine["id"]]
    refused = client.post("/api/v1/admin/communities", headers=place["admin"], json={
        "name": "别人的", "kind": "employer", "centre_id": centres["other"].id, "region_code": "430523"})
    assert refused.status_code == 403
    assert count(Community, Community.name == "别人的") == 0


def test_centre_administrator_cannot_move_a_community_to_another_centre_and_nothing_is_written(client, centres, place):
    mine = _community(client, place["centre"], headers=place["admin"])
    moved = client.patch(f"/api/v1/admin/communities/{mine['id']}", headers=place["admin"],
                         json={"centre_id": centres["other"].id})
    assert moved.status_code == 403 and moved.get_json()["errors"]["json"] == {"centre_id": [moved.get_json()["message"]]}
    assert core_db.session.get(Community, mine["id"]).centre_id == place["centre"].id


def test_county_administrator_of_another_region_gets_403_and_nothing_is_written(client, place):
    response = client.post("/api/v1/admin/communities", headers=as_admin("440823"), json={
        "name": "遂溪园区", "kind": "employer", "centre_id": place["centre"].id, "region_code": "430523"})
    assert response.status_code == 403
    assert count(Community) == 0


def test_a_community_outside_its_centres_pooling_region_is_422_naming_the_field_and_nothing_is_written(client, place):
    response = client.post("/api/v1/admin/communities", headers=as_admin("430500"), json={
        "name": "新邵园区", "kind": "employer", "centre_id": place["centre"].id, "region_code": "430522"})
    assert response.status_code == 422
    assert "region_code" in response.get_json()["errors"]["json"]
    assert count(Community) == 0


def test_members_are_linked_by_an_administrator_who_reaches_them_and_the_read_is_audited(client, place):
    community = _community(client, place["centre"], headers=place["admin"])
    people = [villager(place["centre"]) for _ in range(2)]
    _link(client, community, people, headers=place["admin"])
    _link(client, community, people[:1], headers=place["admin"])  # linked already: nothing changes
    members = client.get(f"/api/v1/admin/communities/{community['id']}/members", headers=place["admin"])
    assert [m["resident_id"] for m in members.get_json()["items"]] == sorted(p.id for p in people)
    read = core_db.session.scalar(select(AuditEvent).where(AuditEvent.action == "admin.community.members.read"))
    assert sorted(read.detail["residents"]) == sorted(p.id for p in people)


def test_linking_a_resident_out_of_reach_is_403_and_nobody_is_linked(client, centres, place):
    community = _community(client, place["centre"], headers=place["admin"])
    mine, stranger = villager(place["centre"]), villager(centres["other"])
    response = client.post(f"/api/v1/admin/communities/{community['id']}/members", headers=place["admin"],
                           json={"resident_ids": [mine.id, stranger.id, 999_999]})
    assert response.status_code == 403
    assert response.get_json()["details"]["resident_ids"] == [stranger.id, 999_999]
    assert count(CommunityMember) == 0


def test_unlinking_a_member_leaves_their_agreement_and_an_unknown_member_is_404(client, place):
    community = _community(client, place["centre"])
    person = villager(place["centre"])
    _link(client, community, [person])
    assert _sign(client, community, place["doctor"], all_members=True).status_code == 201
    assert client.delete(f"/api/v1/admin/communities/{community['id']}/members/{person.id}",
                         headers=as_admin()).status_code == 204
    assert count(CommunityMember) == 0 and len(_holding(person)) == 1
    assert client.delete(f"/api/v1/admin/communities/{community['id']}/members/{person.id}",
                         headers=as_admin()).status_code == 404


# Group signing -------------------------------------------------------------------------------------

def test_staff_sign_all_members_of_a_community_with_its_centre_in_one_request_each_with_their_own_consent(client, place):
    community = _community(client, place["centre"])
    people = [villager(place["centre"]) for _ in range(3)]
    _link(client, community, people)
    response = _sign(client, community, place["doctor"], all_members=True)
    assert response.status_code == 201, response.get_json()
    assert _outcomes(response) == {person.id: ("signed", None) for person in people}
    for person in people:
        [signed] = _holding(person)
        assert (signed.centre_id, signed.channel.value) == (place["centre"].id, "on_site")
        assert count(Consent, Consent.resident_id == person.id, Consent.agreement_id == signed.id) == 1
    event = core_db.session.scalar(select(AuditEvent).where(AuditEvent.action == "community.sign"))
    assert sorted(event.detail["signed"]) == sorted(p.id for p in people)


def test_a_member_signed_with_another_centre_is_refused_by_the_one_centre_rule_and_writes_nothing(
        client, centres, place):
    community = _community(client, place["centre"])
    elsewhere, free = villager(place["centre"]), villager(place["centre"])
    earlier = agreement(elsewhere, centres["other"])
    _link(client, community, [elsewhere, free])
    consents = count(Consent)
    response = _sign(client, community, place["doctor"], resident_ids=[elsewhere.id, free.id])
    assert response.status_code == 201
    assert _outcomes(response) == {elsewhere.id: ("refused", "one_centre_per_cycle"), free.id: ("signed", None)}
    assert [a.id for a in _holding(elsewhere)] == [earlier.id]
    assert count(Consent) == consents + 1  # the signed member's only


def test_members_refused_by_their_own_rules_are_reported_each_with_the_rule_and_nothing_is_written(
        client, centres, place):
    community = _community(client, place["centre"])
    dead = villager(place["centre"], died_on=date(2026, 2, 1))
    unverified = villager(place["centre"], verified=False)
    child = villager(place["centre"], born=date(2018, 1, 1))
    absent = villager(centres["other"])  # neither of the centre's villages nor checked on site today
    fixed = villager(place["centre"])
    agreement(fixed, centres["other"], status="terminated", terminated_on=date(2026, 3, 1))
    outsider = villager(place["centre"])
    _link(client, community, [dead, unverified, child, fixed])
    core_db.session.add(CommunityMember(community_id=community["id"], resident_id=absent.id, added_by="test"))
    core_db.session.commit()
    agreements, consents = count(Agreement), count(Consent)
    response = _sign(client, community, place["doctor"],
                     resident_ids=[dead.id, unverified.id, child.id, absent.id, fixed.id, outsider.id])
    assert response.status_code == 200  # nobody newly signed
    assert _outcomes(response) == {
        dead.id: ("refused", "dead"), unverified.id: ("refused", "identity_unverified"),
        child.id: ("refused", "guardian_consent"), absent.id: ("refused", "presence_required"),
        fixed.id: ("refused", "centre_fixed_for_cycle"), outsider.id: ("refused", "not_a_member")}
    assert (count(Agreement), count(Consent)) == (agreements, consents)


def test_a_member_signed_with_this_centre_already_is_reported_and_keeps_their_agreement(client, place):
    community = _community(client, place["centre"])
    person = villager(place["centre"])
    _link(client, community, [person])
    first = _sign(client, community, place["doctor"], all_members=True).get_json()["items"][0]["agreement_id"]
    again = _sign(client, community, place["doctor"], all_members=True)
    assert again.status_code == 200
    assert again.get_json()["items"][0] | {"message": None} == {
        "resident_id": person.id, "outcome": "already_signed", "agreement_id": first, "rule": None, "message": None}


def test_staff_of_another_centre_cannot_sign_a_community_and_nothing_is_written(client, centres, place):
    community = _community(client, place["centre"])
    _link(client, community, [villager(place["centre"])])
    response = _sign(client, community, f.as_staff(f.staff(centre=centres["other"])), all_members=True)
    assert response.status_code == 403
    assert count(Agreement) == 0


def test_a_wrong_consent_text_is_one_422_and_nobody_is_signed(client, place):
    community = _community(client, place["centre"])
    _link(client, community, [villager(place["centre"]) for _ in range(2)])
    response = _sign(client, community, place["doctor"], all_members=True, consent_version="2019-01")
    assert response.status_code == 422 and "consent_version" in response.get_json()["errors"]["json"]
    assert count(Agreement) == 0


def test_naming_members_and_all_members_together_is_422_and_nobody_is_signed(client, place):
    community = _community(client, place["centre"])
    person = villager(place["centre"])
    _link(client, community, [person])
    response = _sign(client, community, place["doctor"], all_members=True, resident_ids=[person.id])
    assert response.status_code == 422 and "resident_ids" in response.get_json()["errors"]["json"]
    assert count(Agreement) == 0


def test_a_retired_community_signs_nobody(client, place):
    community = _community(client, place["centre"])
    _link(client, community, [villager(place["centre"])])
    client.patch(f"/api/v1/admin/communities/{community['id']}", headers=as_admin(), json={"active": False})
    response = _sign(client, community, place["doctor"], all_members=True)
    assert response.status_code == 409 and response.get_json()["details"]["reason"] == "community_retired"
    assert count(Agreement) == 0


# Concurrency: decided by the database --------------------------------------------------------------

MEMBERS = 8


@pytest.fixture(scope="module")
def live(app, settings, tmp_path_factory):
    with live_server(settings, tmp_path_factory.mktemp("live-groups"), restore=app) as served:
        yield served


def test_a_group_signing_racing_individual_signings_elsewhere_leaves_each_member_one_centre(live):
    """Every member lives in both centres' villages; centre A signs the community while centre B signs each member
    alone, all at once. Each member ends with exactly one agreement, and the group's answer says which: signed
    at A exactly where B was refused with 409."""
    live_app, base_url = live
    with live_app.app_context():
        f.regions()
        a, b = f.centre(region="430523"), f.centre(region="430523")
        people = [f.resident(home_window_id=a.windows[0].id, residence_window_id=b.windows[0].id) for _ in range(MEMBERS)]
        community = Community(name="园区", kind="employer", region_code="430523", centre_id=a.id)
        core_db.session.add(community)
        core_db.session.flush()
        core_db.session.add_all([CommunityMember(community_id=community.id, resident_id=p.id, added_by="test")
                                 for p in people])
        core_db.session.commit()
        group_headers, alone_headers = f.as_staff(f.staff(centre=a)), f.as_staff(f.staff(centre=b))
        community_id, ids, b_id = community.id, [p.id for p in people], b.id

    def group():
        return requests.post(f"{base_url}/api/v1/communities/{community_id}/agreements", headers=group_headers,
                             json={"term_years": 1, "consent_version": CONSENT, "all_members": True}, timeout=TIMEOUT)

    def alone(resident_id):
        return lambda: requests.post(f"{base_url}/api/v1/agreements", headers=alone_headers, timeout=TIMEOUT, json={
            "centre_id": b_id, "term_years": 1, "consent_version": CONSENT, "resident_ids": [resident_id]})

    with ThreadPoolExecutor(max_workers=MEMBERS + 1) as pool:
        group_future = pool.submit(group)
        alone_statuses = dict(zip(ids, pool.map(lambda call: call().status_code, [alone(rid) for rid in ids]), strict=True))
        group_response = group_future.result()
    assert group_response.status_code in (200, 201), group_response.text
    outcomes = {item["resident_id"]: (item["outcome"], item["rule"]) for item in group_response.json()["items"]}
    for resident_id in ids:
        assert outcomes[resident_id] in {("signed", None), ("refused", "one_centre_per_cycle")}
        assert (outcomes[resident_id][0] == "signed") == (alone_statuses[resident_id] == 409)
    with live_app.app_context():
        core_db.session.remove()
        holding = core_db.session.execute(select(Agreement.resident_id, func.count()).where(
            Agreement.resident_id.in_(ids), Agreement.status.in_(HOLDING)).group_by(Agreement.resident_id)).all()
    assert dict(holding) == dict.fromkeys(ids, 1)


def test_all_members_of_a_community_larger_than_one_request_signs_is_422_and_nobody_is_signed(
        client, place, monkeypatch):
    monkeypatch.setattr(groups, "GROUP_LIMIT", 2)
    community = _community(client, place["centre"])
    _link(client, community, [villager(place["centre"]) for _ in range(3)])
    response = _sign(client, community, place["doctor"], all_members=True)
    assert response.status_code == 422 and "all_members" in response.get_json()["errors"]["json"]
    assert count(Agreement) == 0
