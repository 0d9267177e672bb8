"""Administration (issue part B): county administrators administer their county only, centre administrators
their centre; every change is audited; new staff set their own password at the first login."""

from __future__ import annotations

import json

from sqlalchemy import select

from core import db as core_db
from core.auth import Role
from core.models import AuditEvent
from registry.models import ApiClient, Centre, Region, Staff, TeamMember, Window
from tests import factories as f
from tests.county_helpers import as_admin, count

CENTRE = {"code": "430523-XH", "name": "邵阳县下花桥镇卫生院", "region_code": "430523", "address": "下花桥镇人民路1号",
          "phone": "0739-6512345", "opening_hours": "周一至周日 8:00-17:30", "latitude": 27.0, "longitude": 111.27}


def test_county_administrator_adds_a_centre_of_their_county_and_it_is_audited(client, centres):
    response = client.post("/api/v1/admin/centres", headers=as_admin(), json=CENTRE)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["opening_hours"] == "周一至周日 8:00-17:30"
    assert count(AuditEvent, AuditEvent.action == "admin.centre.create") == 1


def test_administrator_of_another_county_is_refused_and_nothing_is_written(client, centres):
    before = count(Centre)
    response = client.post("/api/v1/admin/centres", headers=as_admin("440823"), json=CENTRE)
    assert response.status_code == 403
    assert count(Centre) == before


def test_second_level_hospital_is_added_not_taking_part_and_is_not_offered_to_residents(client, centres):
    response = client.post("/api/v1/admin/centres", headers=as_admin(), json={**CENTRE, "takes_part": False})
    assert response.status_code == 201
    offered = client.get("/api/v1/centres?region=430523").get_json()["items"]
    assert CENTRE["code"] not in {c["code"] for c in offered}


def test_centre_administrator_cannot_change_whether_their_centre_takes_part(client, centres):
    admin = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"]))
    response = client.patch(f"/api/v1/admin/centres/{centres['home'].id}", headers=admin, json={"takes_part": False})
    assert response.status_code == 403
    assert count(Centre, Centre.id == centres["home"].id, Centre.takes_part.is_(True)) == 1
    assert count(AuditEvent, AuditEvent.action == "admin.centre.update", AuditEvent.outcome == "ok") == 0
    assert count(AuditEvent, AuditEvent.action == "admin.centre.update", AuditEvent.outcome == "refused_403") == 1


def test_centre_administrator_keeps_their_centres_details_village_clinics_and_team(client, centres):
    home = centres["home"]
    admin = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=home))
    assert client.patch(f"/api/v1/admin/centres/{home.id}", headers=admin,
                        json={"opening_hours": "8:00-17:00", "phone": "0739-7654321"}).status_code == 200
    window = client.post(f"/api/v1/admin/centres/{home.id}/windows", headers=admin, json={"code": "V9", "name": "九村卫生室"})
    assert window.status_code == 201
    member = client.post(f"/api/v1/admin/teams/{home.teams[0].id}/members", headers=admin, json={
        "role": "village_doctor", "name": "赵乡医", "title": "乡村医生", "speciality": "全科",
        "photo_url": "https://example.org/zhao.jpg", "contact": "13800001111"})
    assert member.status_code == 201, member.get_json()
    listed = client.get(f"/api/v1/admin/teams/{home.teams[0].id}/members", headers=admin).get_json()
    assert [m["name"] for m in listed["items"] if m["role"] == "village_doctor"] == ["赵乡医"]
    assert listed["next_cursor"] is None


def test_centre_administrator_cannot_touch_another_centres_village_clinics(client, centres):
    admin = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"]))
    before = count(Window)
    response = client.post(f"/api/v1/admin/centres/{centres['other'].id}/windows", headers=admin,
                           json={"code": "V9", "name": "九村卫生室"})
    assert response.status_code == 403
    assert count(Window) == before


def test_same_village_clinic_code_twice_in_a_centre_is_409_and_nothing_is_written(client, centres):
    home = centres["home"]
    before = count(Window)
    response = client.post(f"/api/v1/admin/centres/{home.id}/windows", headers=as_admin(),
                           json={"code": home.windows[0].code, "name": "重复"})
    assert response.status_code == 409
    assert count(Window) == before


def test_region_code_outside_its_parents_prefix_is_refused_naming_the_field(client, centres):
    before = count(Region)
    response = client.post("/api/v1/admin/regions", headers=as_admin("430500"),
                           json={"code": "440599", "name": "错", "parent_code": "430500"})
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]["json"]
    assert count(Region) == before


def test_city_administrator_adds_a_county_with_its_profile(client, centres):
    response = client.post("/api/v1/admin/regions", headers=as_admin("430500"),
                           json={"code": "430599", "name": "新县", "parent_code": "430500", "profile_code": "hunan-2025"})
    assert response.status_code == 201, response.get_json()


def test_team_member_login_from_another_centre_is_refused(client, centres):
    stranger = f.staff(centre=centres["other"])
    before = count(TeamMember)
    response = client.post(f"/api/v1/admin/teams/{centres['home'].teams[0].id}/members", headers=as_admin(),
                           json={"role": "doctor", "name": "外人", "staff_id": stranger.id})
    assert response.status_code == 422
    assert count(TeamMember) == before


def test_new_staff_account_must_set_a_new_password_at_its_first_login(client, centres):
    created = client.post("/api/v1/admin/staff", headers=as_admin(), json={
        "username": "doctor.wang", "name": "王医生", "role": "doctor", "centre_id": centres["home"].id,
        "team_id": centres["home"].teams[0].id})
    assert created.status_code == 201, created.get_json()
    one_time = created.get_json()["one_time_password"]
    first = client.post("/api/v1/auth/staff-login", json={"username": "doctor.wang", "password": one_time})
    assert first.status_code == 200 and first.get_json()["password_change_required"] is True
    elsewhere = client.get("/api/v1/agreements", headers={"Authorization": f"Bearer {first.get_json()['access_token']}"})
    assert elsewhere.status_code == 403 and elsewhere.get_json()["details"]["reason"] == "password_change_required"
    weak = client.post("/api/v1/auth/password", json={"username": "doctor.wang", "password": one_time, "new_password": "short"})
    assert weak.status_code == 422
    changed = client.post("/api/v1/auth/password", json={"username": "doctor.wang", "password": one_time,
                                                         "new_password": "a much longer secret 2026"})
    assert changed.status_code == 204
    login = client.post("/api/v1/auth/staff-login", json={"username": "doctor.wang", "password": "a much longer secret 2026"})
    assert login.status_code == 200


def test_centre_administrator_cannot_appoint_centre_administrators(client, centres):
    admin = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"]))
    before = count(Staff)
    response = client.post("/api/v1/admin/staff", headers=admin, json={
        "username": "admin.two", "name": "二号", "role": "centre_admin", "centre_id": centres["home"].id})
    assert response.status_code == 403
    assert count(Staff) == before


def test_taken_username_is_409_and_nothing_is_written(client, centres):
    taken = f.staff(centre=centres["home"])
    before = count(Staff)
    response = client.post("/api/v1/admin/staff", headers=as_admin(), json={
        "username": taken.username, "name": "重名", "role": "doctor", "centre_id": centres["home"].id})
    assert response.status_code == 409
    assert count(Staff) == before


def test_rotating_a_bureau_clients_secret_stops_the_old_one(client, centres):
    created = client.post("/api/v1/admin/api-clients", headers=as_admin(),
                          json={"client_id": "shaoyang-his", "name": "邵阳县医保信息系统", "region_code": "430523"})
    assert created.status_code == 201
    body = created.get_json()
    rotated = client.post(f"/api/v1/admin/api-clients/{body['id']}/secret", headers=as_admin())
    assert rotated.status_code == 201
    token = {"grant_type": "client_credentials", "client_id": "shaoyang-his"}
    assert client.post("/api/v1/auth/token", data={**token, "client_secret": body["client_secret"]}).status_code == 401
    assert client.post("/api/v1/auth/token", data={**token, "client_secret": rotated.get_json()["client_secret"]}).status_code == 200


def test_disabled_bureau_client_gets_no_token(client, centres):
    created = client.post("/api/v1/admin/api-clients", headers=as_admin(),
                          json={"client_id": "shaoyang-his", "name": "邵阳县医保信息系统", "region_code": "430523"}).get_json()
    assert client.patch(f"/api/v1/admin/api-clients/{created['id']}", headers=as_admin(), json={"active": False}).status_code == 200
    response = client.post("/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "shaoyang-his",
                                                       "client_secret": created["client_secret"]})
    assert response.status_code == 401


def test_bureau_client_of_another_county_is_refused_and_nothing_is_written(client, centres):
    before = count(ApiClient)
    response = client.post("/api/v1/admin/api-clients", headers=as_admin("440823"),
                           json={"client_id": "sneaky", "name": "x", "region_code": "430523"})
    assert response.status_code == 403
    assert count(ApiClient) == before


def test_cli_opens_the_first_county_administrator_with_a_one_time_password(app, client, centres):
    result = app.test_cli_runner().invoke(args=["registry", "create-admin", "admin.sy", "邵阳县管理员", "--region", "430523"])
    assert result.exit_code == 0, result.output
    one_time = result.output.rsplit(": ", 1)[1].strip()
    first = client.post("/api/v1/auth/staff-login", json={"username": "admin.sy", "password": one_time})
    assert first.status_code == 200 and first.get_json()["password_change_required"] is True
    refused = app.test_cli_runner().invoke(args=["registry", "create-admin", "admin.x", "x", "--region", "999999"])
    assert refused.exit_code == 1 and "region_code" in refused.output


def test_a_county_has_no_regions_below_it_so_its_administrator_cannot_claim_a_neighbours_code(client, centres):
    before = count(Region)
    response = client.post("/api/v1/admin/regions", headers=as_admin("430523"),
                           json={"code": "430524", "name": "隆回县", "parent_code": "430523"})
    assert response.status_code == 422
    assert "parent_code" in response.get_json()["errors"]["json"]
    assert count(Region) == before


def test_a_county_under_a_city_has_a_county_code_not_a_citys(client, centres):
    before = count(Region)
    response = client.post("/api/v1/admin/regions", headers=as_admin("430500"),
                           json={"code": "430600", "name": "岳阳市", "parent_code": "430500"})
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]["json"]
    assert count(Region) == before


def test_full_width_digits_of_a_region_code_and_a_centres_phone_are_read_as_ascii(client, centres):
    region = client.post("/api/v1/admin/regions", headers=as_admin("430500"),
                         json={"code": "４３０５９９", "name": "新县", "parent_code": "４３０５００"})
    assert region.status_code == 201, region.get_json()
    assert region.get_json()["code"] == "430599"
    centre = client.post("/api/v1/admin/centres", headers=as_admin(), json={**CENTRE, "region_code": "４３０５２３",
                                                                            "phone": "０７３９-６５１２３４５"})
    assert centre.status_code == 201, centre.get_json()
    assert (centre.get_json()["region_code"], centre.get_json()["phone"]) == ("430523", "0739-6512345")


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["registry", "admin", *args])


def test_cli_administers_the_registry_with_the_apis_rules_and_audits_each_change(app, centres):
    added = _cli(app, "centre-add", "code=430523-XH", "name=邵阳县下花桥镇卫生院", "region_code=430523",
                 "phone=0739-6512345", "takes_part=false", "--as-region", "430523")
    assert added.exit_code == 0, added.output
    centre_id = json.loads(added.output)["id"]
    team = _cli(app, "team-add", str(centre_id), "name=下花桥团队", "--as-region", "430523")
    assert team.exit_code == 0, team.output
    staff = _cli(app, "staff-add", "username=doctor.xh", "name=下医生", "role=doctor", f"centre_id={centre_id}",
                 "--as-region", "430523")
    assert staff.exit_code == 0, staff.output
    one_time = staff.output.rsplit(": ", 1)[1].strip()
    assert count(Staff, Staff.username == "doctor.xh", Staff.must_change_password.is_(True)) == 1
    assert count(Centre, Centre.code == "430523-XH", Centre.takes_part.is_(False)) == 1
    events = core_db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
        ["admin.centre.create", "admin.team.create", "admin.staff.create"]))).all()
    assert len(events) == 3 and all(e.actor.startswith("cli:") for e in events)
    assert all(one_time not in json.dumps(e.detail) for e in events)


def test_cli_keeps_the_administrator_to_their_county_and_writes_nothing_when_refused(app, centres):
    before = (count(Centre), count(ApiClient))
    other_county = _cli(app, "centre-add", "code=430523-XH", "name=下花桥", "region_code=430523", "--as-region", "440823")
    assert other_county.exit_code == 1 and "your own county" in other_county.output
    typo = _cli(app, "client-add", "client_id=shaoyang-his", "nmae=x", "region_code=430523", "--as-region", "430523")
    assert typo.exit_code == 1 and "nmae: Unknown field." in typo.output
    assert (count(Centre), count(ApiClient)) == before


def test_cli_rotates_a_clients_secret_and_the_old_one_stops(app, client, centres):
    created = _cli(app, "client-add", "client_id=shaoyang-his", "name=邵阳县医保", "region_code=430523",
                   "--as-region", "430523")
    assert created.exit_code == 0, created.output
    old = created.output.rsplit(": ", 1)[1].strip()
    rotated = _cli(app, "client-rotate", str(json.loads(created.output.splitlines()[0])["id"]), "--as-region", "430523")
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.rsplit(": ", 1)[1].strip()
    token = {"grant_type": "client_credentials", "client_id": "shaoyang-his"}
    assert client.post("/api/v1/auth/token", data={**token, "client_secret": old}).status_code == 401
    assert client.post("/api/v1/auth/token", data={**token, "client_secret": new}).status_code == 200


def test_a_refusal_does_not_name_the_region_of_another_countys_staff_account_or_client(client, centres):
    stranger = f.staff(centre=centres["home"])
    bureau = client.post("/api/v1/admin/api-clients", headers=as_admin(),
                         json={"client_id": "shaoyang-his", "name": "邵阳县医保", "region_code": "430523"}).get_json()
    for path in (f"/api/v1/admin/staff/{stranger.id}", f"/api/v1/admin/api-clients/{bureau['id']}"):
        response = client.patch(path, headers=as_admin("440823"), json={"active": False})
        assert response.status_code == 403
        assert "430523" not in json.dumps(response.get_json())
    assert count(Staff, Staff.id == stranger.id, Staff.active.is_(True)) == 1


def test_each_region_shows_the_pooling_region_it_settles_in(client, centres):
    regions = client.get("/api/v1/admin/regions", headers=as_admin("430500")).get_json()["items"]
    pooling = {r["code"]: r["pooling_region_code"] for r in regions}
    assert (pooling["430500"], pooling["430523"]) == (None, "430523")


def test_a_staff_member_is_on_a_team_once_and_a_second_membership_is_409_writing_nothing(client, centres):
    team = centres["home"].teams[0]
    doctor = f.staff(centre=centres["home"])
    first = client.post(f"/api/v1/admin/teams/{team.id}/members", headers=as_admin(),
                        json={"role": "doctor", "name": "周医生", "staff_id": doctor.id})
    assert first.status_code == 201, first.get_json()
    before = count(TeamMember)
    again = client.post(f"/api/v1/admin/teams/{team.id}/members", headers=as_admin(),
                        json={"role": "nurse", "name": "周医生", "staff_id": doctor.id})
    assert again.status_code == 409 and again.get_json()["message"] == "This staff member is on the team already."
    assert count(TeamMember) == before
    card = client.post(f"/api/v1/admin/teams/{team.id}/members", headers=as_admin(), json={"role": "nurse", "name": "吴护士"})
    moved = client.patch(f"/api/v1/admin/team-members/{card.get_json()['id']}", headers=as_admin(),
                         json={"staff_id": doctor.id})
    assert moved.status_code == 409
