"""A named family doctor on every agreement (annex 1 of 000, basic package item 2: 明确家庭医生和联系人).

Online or on site, a signing puts the resident with a team of the centre and a doctor of that team:
their choice, else the team of their village clinic and its lead doctor, else the centre's first team
with a doctor. The resident's agreement and its document show the doctor's name, title and contact.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from core import clock
from core import db as core_db
from core.auth import Role
from registry.models import MemberRole, TeamMember
from signing import rollover
from signing.models import Agreement, ChangeRequest, Consent
from tests import factories as f
from tests.county_helpers import as_admin

CONSENT = "2025-01"


def _body(centre, **extra) -> dict:
    return {"centre_id": centre.id, "term_years": 1, "consent_version": CONSENT, **extra}


def _sign(client, person, centre, **extra):
    return client.post("/api/v1/agreements", json=_body(centre, **extra), headers=f.as_resident(person))


def _doctor(team, **fields) -> TeamMember:
    member = f.team_doctor(team, **fields)
    core_db.session.add(member)
    core_db.session.commit()
    return member


def _written() -> tuple[int, int]:
    return (core_db.session.scalar(select(func.count(Agreement.id))), core_db.session.scalar(select(func.count(Consent.id))))


def _lead(team) -> TeamMember:
    return core_db.session.scalar(select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.role == MemberRole.DOCTOR)
                                  .order_by(TeamMember.id).limit(1))


def test_a_resident_signs_with_the_team_and_doctor_they_choose_and_their_agreement_shows_name_title_and_contact(
        client, alice):
    f.regions()
    centre = f.centre(teams=2)
    chosen = _doctor(centre.teams[1], name="张雅琴")
    response = _sign(client, alice, centre, team_id=centre.teams[1].id, doctor_id=chosen.id)
    assert response.status_code == 201, response.get_json()
    [mine] = client.get("/api/v1/me/agreements", headers=f.as_resident(alice)).get_json()["items"]
    assert (mine["team_id"], mine["doctor_id"]) == (centre.teams[1].id, chosen.id)
    assert mine["doctor"] == {"id": chosen.id, "team_id": centre.teams[1].id, "name": "张雅琴", "title": "主治医师",
                              "speciality": "全科", "photo_url": None, "contact": chosen.contact}


def test_a_doctor_chosen_without_a_team_signs_the_resident_with_the_doctors_team(client, alice):
    f.regions()
    centre = f.centre(teams=2)
    chosen = _doctor(centre.teams[1])
    [agreement] = _sign(client, alice, centre, doctor_id=chosen.id).get_json()["items"]
    assert (agreement["team_id"], agreement["doctor_id"]) == (centre.teams[1].id, chosen.id)


def test_without_a_chosen_team_the_village_clinics_team_and_its_lead_doctor_are_used(client, alice):
    f.regions()
    centre = f.centre(teams=2)
    second = centre.teams[1]
    _doctor(second, name="后来的医生")  # the factory's doctor came first: it leads the team
    window = centre.windows[1]
    window.team_id = second.id
    core_db.session.commit()
    [agreement] = _sign(client, alice, centre, window_id=window.id).get_json()["items"]
    assert (agreement["team_id"], agreement["doctor_id"]) == (second.id, _lead(second).id)


def test_the_residents_own_village_clinic_gives_the_team_when_no_clinic_is_named(client):
    f.regions()
    centre = f.centre(teams=2)
    window = centre.windows[0]
    window.team_id = centre.teams[1].id
    villager = f.resident(openid="wx-villager", home_window_id=window.id)
    [agreement] = _sign(client, villager, centre).get_json()["items"]
    assert agreement["team_id"] == centre.teams[1].id and agreement["doctor_id"] == _lead(centre.teams[1]).id


def test_without_team_or_clinic_team_the_centres_first_team_with_a_doctor_is_used(client, alice):
    f.regions()
    centre = f.centre(teams=3, doctors=False)
    _doctor(centre.teams[2])
    _doctor(centre.teams[1])
    [agreement] = _sign(client, alice, centre).get_json()["items"]
    assert agreement["team_id"] == centre.teams[1].id and agreement["doctor_id"] == _lead(centre.teams[1]).id


def test_a_chosen_doctor_of_another_team_is_refused_naming_doctor_id_and_nothing_is_written(client, alice):
    f.regions()
    centre = f.centre(teams=2)
    before = _written()
    response = _sign(client, alice, centre, team_id=centre.teams[0].id, doctor_id=_lead(centre.teams[1]).id)
    assert response.status_code == 422
    assert "doctor_id" in response.get_json()["errors"]["json"]
    assert _written() == before


def test_a_nurse_an_inactive_doctor_or_another_centres_doctor_is_not_a_named_doctor(client, alice):
    f.regions()
    centre, elsewhere = f.centre(), f.centre()
    team = centre.teams[0]
    nurse = TeamMember(team_id=team.id, role=MemberRole.NURSE, name="护士")
    core_db.session.add(nurse)
    core_db.session.commit()
    retired = _doctor(team, active=False)
    before = _written()
    for member_id in (nurse.id, retired.id, _lead(elsewhere.teams[0]).id, 999_999):
        response = _sign(client, alice, centre, doctor_id=member_id)
        assert response.status_code == 422, member_id
        assert "doctor_id" in response.get_json()["errors"]["json"]
    assert _written() == before


def test_a_team_without_a_doctor_refuses_the_signing_with_409_naming_the_rule_and_nothing_is_written(client, alice):
    f.regions()
    centre = f.centre(teams=2, doctors=False)
    _doctor(centre.teams[1])
    before = _written()
    response = _sign(client, alice, centre, team_id=centre.teams[0].id)
    assert response.status_code == 409
    details = response.get_json()["details"]
    assert details["reason"] == "named_doctor_required" and details["team_id"] == centre.teams[0].id
    assert "basic package item 2" in details["rule"]
    assert _written() == before


def test_a_centre_with_no_doctor_in_any_team_refuses_the_signing_and_nothing_is_written(client, alice):
    f.regions()
    centre = f.centre(teams=2, doctors=False)
    before = _written()
    response = _sign(client, alice, centre)
    assert response.status_code == 409 and response.get_json()["details"]["reason"] == "named_doctor_required"
    assert _written() == before


def test_a_household_signing_stops_whole_when_one_members_village_team_has_no_doctor(client):
    f.regions()
    centre = f.centre(teams=2, doctors=False)
    _doctor(centre.teams[0])
    window = centre.windows[1]
    window.team_id = centre.teams[1].id  # the village's team has no doctor
    adult = f.resident(openid="wx-adult-doc")
    f.resident(household=adult.household, home_window_id=window.id)
    core_db.session.commit()
    before = _written()
    members = [member.id for member in adult.household.members]
    response = _sign(client, adult, centre, resident_ids=members)
    assert response.status_code == 409 and response.get_json()["details"]["team_id"] == centre.teams[1].id
    assert _written() == before


def test_staff_signing_on_site_may_name_the_doctor(client):
    f.regions()
    centre = f.centre(teams=2)
    doctor = f.as_staff(f.staff(centre=centre))
    villager = f.resident(home_window_id=centre.windows[0].id)
    chosen = _lead(centre.teams[1])
    response = client.post("/api/v1/agreements", headers=doctor,
                           json=_body(centre, resident_ids=[villager.id], doctor_id=chosen.id))
    assert response.status_code == 201, response.get_json()
    [agreement] = response.get_json()["items"]
    assert (agreement["channel"], agreement["team_id"], agreement["doctor"]["name"]) == (
        "on_site", centre.teams[1].id, chosen.name)


def test_the_agreement_document_shows_the_doctors_name_title_and_contact(client, alice):
    f.regions()
    centre = f.centre()
    [agreement] = _sign(client, alice, centre).get_json()["items"]
    page = client.get(f"/api/v1/agreements/{agreement['id']}/document.html", headers=f.as_resident(alice))
    text = page.get_data(as_text=True)
    lead = _lead(centre.teams[0])
    assert f"签约家庭医生：{lead.name}　职称：主治医师" in text and f"家庭医生联系方式：{lead.contact}" in text


def test_roll_over_carries_the_doctor_while_still_a_doctor_of_the_team(client, db, alice):
    f.regions()
    centre = f.centre()
    second = _doctor(centre.teams[0], name="第二位医生")
    _sign(client, alice, centre, doctor_id=second.id)
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    renewed = db.scalar(select(Agreement).where(Agreement.resident_id == alice.id, Agreement.cycle == 2027))
    assert (renewed.team_id, renewed.doctor_id) == (centre.teams[0].id, second.id)


def test_roll_over_gives_the_teams_lead_doctor_when_the_named_doctor_left(client, db, alice):
    f.regions()
    centre = f.centre()
    second = _doctor(centre.teams[0], name="调走的医生")
    _sign(client, alice, centre, doctor_id=second.id)
    second.active = False
    db.commit()
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    renewed = db.scalar(select(Agreement).where(Agreement.resident_id == alice.id, Agreement.cycle == 2027))
    assert renewed.doctor_id == _lead(centre.teams[0]).id != second.id


def test_default_assignment_puts_the_resident_with_the_village_clinics_team_and_its_doctor(db):
    f.regions()
    centre = f.centre(region="430522", teams=2)  # 新邵县 (shaoyang-2019) assigns the unsigned by default
    village = centre.windows[0]
    village.team_id = centre.teams[1].id
    unsigned = f.resident(home_window_id=village.id, insured_in="430522")
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    assigned = db.scalar(select(Agreement).where(Agreement.resident_id == unsigned.id, Agreement.cycle == 2027))
    assert (assigned.team_id, assigned.doctor_id) == (centre.teams[1].id, _lead(centre.teams[1]).id)


def test_an_administrator_names_the_team_that_serves_a_village_clinic_but_not_another_centres(client):
    f.regions()
    centre, elsewhere = f.centre(teams=2), f.centre()
    window = centre.windows[0]
    response = client.patch(f"/api/v1/admin/windows/{window.id}", json={"team_id": centre.teams[1].id}, headers=as_admin())
    assert response.status_code == 200 and response.get_json()["team_id"] == centre.teams[1].id
    refused = client.patch(f"/api/v1/admin/windows/{window.id}", json={"team_id": elsewhere.teams[0].id}, headers=as_admin())
    assert refused.status_code == 422 and "team_id" in refused.get_json()["errors"]["json"]
    core_db.session.refresh(window)
    assert window.team_id == centre.teams[1].id


def test_a_staff_role_check_still_applies_to_the_doctor_of_the_centre(client):
    """Staff of another centre cannot sign people here by naming a doctor of this centre."""
    f.regions()
    centre, elsewhere = f.centre(), f.centre()
    outsider = f.as_staff(f.staff(role=Role.DOCTOR, centre=elsewhere))
    villager = f.resident(home_window_id=centre.windows[0].id)
    before = _written()
    response = client.post("/api/v1/agreements", headers=outsider,
                           json=_body(centre, resident_ids=[villager.id], doctor_id=_lead(centre.teams[0]).id))
    assert response.status_code == 403
    assert _written() == before


def test_the_centre_list_shows_each_teams_doctors_to_choose_from_lead_first_and_each_clinics_team(client):
    f.regions()
    centre = f.centre(teams=2)
    second = _doctor(centre.teams[0], name="第二位医生")
    _doctor(centre.teams[0], name="离职医生", active=False)
    centre.windows[0].team_id = centre.teams[1].id
    core_db.session.commit()
    listed = client.get(f"/api/v1/centres/{centre.id}").get_json()
    first_team = listed["teams"][0]
    assert [doctor["id"] for doctor in first_team["doctors"]] == [_lead(centre.teams[0]).id, second.id]
    assert first_team["doctors"][0]["title"] == "主治医师" and "contact" not in first_team["doctors"][0]
    assert listed["windows"][0]["team_id"] == centre.teams[1].id


def _change(client, person, agreement_id, centre, **extra):
    clock.set_today(date(2026, 10, 15))  # inside the change period
    return client.post(f"/api/v1/agreements/{agreement_id}/change-requests", json={"centre_id": centre.id, **extra},
                       headers=f.as_resident(person))


def test_a_change_request_names_the_doctor_wanted_at_the_new_centre_and_the_next_cycle_signs_with_them(
        client, db, alice):
    f.regions()
    home, other = f.centre(), f.centre(teams=2)
    chosen = _doctor(other.teams[1], name="新中心的医生")
    [agreement] = _sign(client, alice, home).get_json()["items"]
    response = _change(client, alice, agreement["id"], other, doctor_id=chosen.id)
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["team_id"], response.get_json()["doctor_id"]) == (other.teams[1].id, chosen.id)
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    moved = db.scalar(select(Agreement).where(Agreement.resident_id == alice.id, Agreement.cycle == 2027))
    assert (moved.centre_id, moved.team_id, moved.doctor_id) == (other.id, other.teams[1].id, chosen.id)


def test_a_change_request_naming_a_doctor_not_of_the_chosen_team_of_the_new_centre_is_refused_and_nothing_is_written(
        client, db, alice):
    f.regions()
    home, other = f.centre(), f.centre(teams=2)
    [agreement] = _sign(client, alice, home).get_json()["items"]
    for doctor_id, team_id in ((_lead(home.teams[0]).id, None), (_lead(other.teams[1]).id, other.teams[0].id)):
        response = _change(client, alice, agreement["id"], other, doctor_id=doctor_id, team_id=team_id)
        assert response.status_code == 422, doctor_id
        assert "doctor of the chosen team" in str(response.get_json()["errors"]["json"]["doctor_id"])
    assert db.scalar(select(func.count(ChangeRequest.id))) == 0
    assert db.get(Agreement, agreement["id"]).status.value == "active"


def test_the_doctor_a_change_asked_for_who_left_before_the_cycle_gives_way_to_the_teams_lead_doctor(client, db, alice):
    f.regions()
    home, other = f.centre(), f.centre()
    wanted = _doctor(other.teams[0], name="调走的医生")
    [agreement] = _sign(client, alice, home).get_json()["items"]
    assert _change(client, alice, agreement["id"], other, doctor_id=wanted.id).status_code == 201
    wanted.active = False
    db.commit()
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    moved = db.scalar(select(Agreement).where(Agreement.resident_id == alice.id, Agreement.cycle == 2027))
    assert (moved.centre_id, moved.doctor_id) == (other.id, _lead(other.teams[0]).id)


def test_a_doctor_without_a_contact_of_their_own_is_reached_through_the_centres_phone_as_the_document_says(client, alice):
    f.regions()
    centre = f.centre(doctors=False)
    centre.phone = "0739-6800120"
    _doctor(centre.teams[0]).contact = None
    core_db.session.commit()
    [agreement] = _sign(client, alice, centre).get_json()["items"]
    assert agreement["doctor"]["contact"] == "0739-6800120"
    mine = client.get("/api/v1/me/agreements", headers=f.as_resident(alice)).get_json()["items"]
    assert [a["doctor"]["contact"] for a in mine] == ["0739-6800120"]
    page = client.get(f"/api/v1/agreements/{agreement['id']}/document.html", headers=f.as_resident(alice))
    assert "家庭医生联系方式：0739-6800120" in page.get_data(as_text=True)
