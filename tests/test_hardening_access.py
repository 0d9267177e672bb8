"""Access control over every route of the app: each carries an explicit rule, roles outside it get 403,
and actors of another scope get 403/404 on every endpoint that takes an id.

The route list comes from app.url_map, so a new route is covered (or makes these tests fail) by itself.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from core import db as core_db
from core.auth import Actor, Role
from registry.models import (
    ApiClient,
    Community,
    CommunityKind,
    CommunityMember,
    Hospital,
    HospitalGrade,
    Import,
    MemberRole,
    TeamMember,
)
from settlement import service as settlement
from tests import factories as f
from tests.county_helpers import as_admin

IGNORED_METHODS = {"HEAD", "OPTIONS"}
PUBLIC = "public"


def operations(app):
    """(rule, method, access roles) for every route and method the app serves."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted(rule.methods - IGNORED_METHODS):
            handler = getattr(view_class, method.lower()) if view_class else view
            yield rule, method, getattr(handler, "access_roles", None)


def url_for_rule(app, rule, value=999_999) -> str:
    return app.url_map.bind("localhost").build(rule.endpoint, {name: value for name in rule.arguments},
                                               method=next(iter(rule.methods - IGNORED_METHODS)))


def token_for(role: Role) -> dict[str, str]:
    return f.bearer(Actor(role=role, subject=f"staff:{999_999}" if role is not Role.RESIDENT else "wx:nobody",
                          centre_id=999_999, region_code="999999"))


def test_every_route_has_an_explicit_access_rule(app):
    unruled = [f"{method} {rule.rule}" for rule, method, roles in operations(app) if not roles]
    assert unruled == []


def test_routes_other_than_public_ones_need_a_token(client):
    for rule, method, roles in operations(client.application):
        if PUBLIC not in roles:
            response = client.open(url_for_rule(client.application, rule), method=method, json={})
            assert response.status_code == 401, f"{method} {rule.rule}"


def test_every_role_outside_a_routes_rule_is_refused_with_403(client):
    refused = 0
    for rule, method, roles in operations(client.application):
        for role in Role:
            if PUBLIC in roles or role in roles:
                continue
            response = client.open(url_for_rule(client.application, rule), method=method, json={}, headers=token_for(role))
            assert response.status_code == 403, f"{role.value} on {method} {rule.rule}: {response.status_code}"
            refused += 1
    assert refused > 0


# Every non-public endpoint taking an id: which scene object each path argument names, and a body.
RECORD = {"served_on": "2026-03-16", "mode": "clinic", "systolic": 130, "diastolic": 80}
DOSE = {"vaccine": "HepB", "number": 1, "given_on": "2024-06-01", "place": "预防接种门诊", "batch": "B1"}
SLOT = {"title": "全科门诊", "starts_at": "2026-03-20T09:00:00+08:00", "ends_at": "2026-03-20T11:00:00+08:00", "capacity": 10}
SCOPED_ENDPOINTS = {
    ("GET", "/api/v1/residents/<int:resident_id>"): ({"resident_id": "resident"}, None),
    ("PATCH", "/api/v1/residents/<int:resident_id>"): ({"resident_id": "resident"}, {"has_health_record": True}),
    ("POST", "/api/v1/residents/<int:resident_id>/binding-codes"): ({"resident_id": "resident"}, {"purpose": "binding"}),
    ("GET", "/api/v1/agreements/<int:agreement_id>"): ({"agreement_id": "agreement"}, None),
    ("POST", "/api/v1/agreements/<int:agreement_id>/change-requests"): (
        {"agreement_id": "agreement"}, {"centre_id": "other_centre"}),
    ("POST", "/api/v1/agreements/<int:agreement_id>/termination"): ({"agreement_id": "agreement"}, {"reason": "moved_away"}),
    ("GET", "/api/v1/agreements/<int:agreement_id>/packages"): ({"agreement_id": "agreement"}, None),
    ("POST", "/api/v1/agreements/<int:agreement_id>/packages"): ({"agreement_id": "agreement"}, {"code": "elderly"}),
    ("DELETE", "/api/v1/agreements/<int:agreement_id>/packages/<code>"): (
        {"agreement_id": "agreement", "code": "package"}, None),
    ("PUT", "/api/v1/packages/<code>/prices/<int:centre_id>"): ({"code": "package", "centre_id": "centre"},
                                                               {"price_fen": 1200}),
    ("GET", "/api/v1/residents/<int:resident_id>/health"): ({"resident_id": "resident"}, None),
    ("POST", "/api/v1/residents/<int:resident_id>/conditions"): (
        {"resident_id": "resident"}, {"kind": "hypertension", "diagnosed_on": "2025-01-01"}),
    ("POST", "/api/v1/residents/<int:resident_id>/pregnancies"): (
        {"resident_id": "mother"}, {"last_menstrual_period": "2026-02-01"}),
    ("POST", "/api/v1/residents/<int:resident_id>/tags"): ({"resident_id": "resident"}, {"tag": "disabled"}),
    ("POST", "/api/v1/pregnancies/<int:pregnancy_id>/delivery"): ({"pregnancy_id": "pregnancy"},
                                                                  {"delivered_on": "2026-03-10"}),
    ("GET", "/api/v1/residents/<int:resident_id>/visits"): ({"resident_id": "resident"}, None),
    ("GET", "/api/v1/visits/<int:visit_id>"): ({"visit_id": "visit"}, None),
    ("GET", "/api/v1/visits/<int:visit_id>/records"): ({"visit_id": "visit"}, None),
    ("POST", "/api/v1/visits/<int:visit_id>/records"): ({"visit_id": "visit"}, RECORD),
    ("PUT", "/api/v1/visit-records/<int:record_id>"): ({"record_id": "record"}, {**RECORD, "notes": "corrected"}),
    ("GET", "/api/v1/settlement/snapshots/<string:month>"): ({"month": "month", "region": "region"}, None),
    ("PUT", "/api/v1/settlement/actual-costs/<string:month>"): (
        {"month": "month"}, {"region": "region", "costs": [{"centre_id": 1, "cost_fen": 1000}]}),
    ("PUT", "/api/v1/settlement/figures/<string:period>"): (
        {"period": "year"}, {"region": "region", "figures": [{"name": "total_financing_fen", "value": 1000}]}),
    ("GET", "/api/v1/settlement/figures/<string:period>"): ({"period": "year", "region": "region"}, None),
    ("POST", "/api/v1/centres/<int:centre_id>/lectures"): (
        {"centre_id": "centre"}, {"title": "高血压健康讲座", "place": "卫生院会议室", "starts_at": "2026-04-01T09:00:00+08:00"}),
    # Administration (registry/admin_routes.py): county administrators of the region, the centre's administrator.
    ("PATCH", "/api/v1/admin/regions/<code>"): ({"code": "region"}, {"name": "邵阳县"}),
    ("PATCH", "/api/v1/admin/centres/<int:centre_id>"): ({"centre_id": "centre"}, {"phone": "0739-1234567"}),
    ("POST", "/api/v1/admin/centres/<int:centre_id>/windows"): ({"centre_id": "centre"}, {"code": "NEW-1", "name": "新村卫生室"}),
    ("POST", "/api/v1/admin/centres/<int:centre_id>/teams"): ({"centre_id": "centre"}, {"name": "新团队"}),
    ("PATCH", "/api/v1/admin/windows/<int:window_id>"): ({"window_id": "window"}, {"name": "新村卫生室"}),
    ("PATCH", "/api/v1/admin/teams/<int:team_id>"): ({"team_id": "team"}, {"name": "新团队"}),
    ("GET", "/api/v1/admin/teams/<int:team_id>/members"): ({"team_id": "team"}, None),
    ("POST", "/api/v1/admin/teams/<int:team_id>/members"): ({"team_id": "team"}, {"role": "nurse", "name": "护士"}),
    ("PATCH", "/api/v1/admin/team-members/<int:member_id>"): ({"member_id": "member"}, {"title": "主管护师"}),
    ("PATCH", "/api/v1/admin/staff/<int:staff_id>"): ({"staff_id": "staff"}, {"name": "李医生"}),
    ("PATCH", "/api/v1/admin/api-clients/<int:client_id>"): ({"client_id": "client"}, {"name": "医保系统"}),
    ("POST", "/api/v1/admin/api-clients/<int:client_id>/secret"): ({"client_id": "client"}, None),
    ("GET", "/api/v1/imports/<int:import_id>"): ({"import_id": "import"}, None),
    ("GET", "/api/v1/agreements/<int:agreement_id>/document.pdf"): ({"agreement_id": "agreement"}, None),
    ("GET", "/api/v1/agreements/<int:agreement_id>/document.html"): ({"agreement_id": "agreement"}, None),
    ("POST", "/api/v1/residents/<int:resident_id>/newborns"): ({"resident_id": "mother"}, {"sex": "F", "birth_date": "2026-03-10"}),
    ("PUT", "/api/v1/residents/<int:resident_id>/id-number"): ({"resident_id": "resident"}, {"id_number": "430523195005010000"}),
    ("GET", "/api/v1/imports/<int:import_id>/report.csv"): ({"import_id": "import"}, None),
    ("POST", "/api/v1/centres/<int:centre_id>/slots"): ({"centre_id": "centre"}, SLOT),
    ("GET", "/api/v1/centres/<int:centre_id>/slots"): ({"centre_id": "centre"}, None),
    ("PATCH", "/api/v1/slots/<int:slot_id>"): ({"slot_id": "slot"}, {"capacity": 8}),
    ("GET", "/api/v1/slots/<int:slot_id>/bookings"): ({"slot_id": "slot"}, None),
    ("POST", "/api/v1/bookings/<int:booking_id>/move"): ({"booking_id": "booking"}, {"slot_id": "other_slot"}),
    ("POST", "/api/v1/bookings/<int:booking_id>/cancellation"): ({"booking_id": "booking"}, None),
    ("POST", "/api/v1/bookings/<int:booking_id>/outcome"): ({"booking_id": "booking"}, {"outcome": "no_show"}),
    ("GET", "/api/v1/me/visits/<int:visit_id>/slots"): ({"visit_id": "visit"}, None),
    ("POST", "/api/v1/residents/<int:resident_id>/vaccinations"): ({"resident_id": "child"}, DOSE),
    ("GET", "/api/v1/residents/<int:resident_id>/vaccinations"): ({"resident_id": "child"}, None),
    ("GET", "/api/v1/me/children/<int:resident_id>/vaccinations"): ({"resident_id": "child"}, None),
    ("GET", "/api/v1/referrals/<int:referral_id>"): ({"referral_id": "referral"}, None),
    ("POST", "/api/v1/referrals/<int:referral_id>/transitions"): ({"referral_id": "referral"}, {"to": "accepted"}),
    ("GET", "/api/v1/centres/<int:centre_id>/lectures/<int:lecture_id>/attendance"): (
        {"centre_id": "centre", "lecture_id": "lecture"}, None),
    ("POST", "/api/v1/centres/<int:centre_id>/lectures/<int:lecture_id>/attendance"): (
        {"centre_id": "centre", "lecture_id": "lecture"}, {"resident_ids": ["resident"]}),
    ("GET", "/api/v1/agreements/<int:agreement_id>/fulfilment"): ({"agreement_id": "agreement"}, None),
    ("GET", "/api/v1/agreements/<int:agreement_id>/deliveries"): ({"agreement_id": "agreement"}, None),
    ("POST", "/api/v1/agreements/<int:agreement_id>/deliveries"): (
        {"agreement_id": "agreement"}, {"package_code": "elderly", "item_code": "ecg", "delivered_on": "2026-03-16"}),
    ("GET", "/api/v1/residents/<int:resident_id>/calls"): ({"resident_id": "resident"}, None),
    ("POST", "/api/v1/residents/<int:resident_id>/calls"): ({"resident_id": "resident"}, {"outcome": "no_answer"}),
    ("GET", "/api/v1/residents/<int:resident_id>/messages"): ({"resident_id": "resident"}, None),
    ("POST", "/api/v1/residents/<int:resident_id>/messages"): ({"resident_id": "resident"}, {"content": "请按时服药"}),
    # Signing forms [002 §(三)1, 3]: hospitals (county), communities (county, the centre's administrator), group signing.
    ("PATCH", "/api/v1/admin/hospitals/<int:hospital_id>"): ({"hospital_id": "hospital"}, {"name": "邵阳县人民医院"}),
    ("PATCH", "/api/v1/admin/communities/<int:community_id>"): ({"community_id": "community"}, {"name": "工业园"}),
    ("GET", "/api/v1/admin/communities/<int:community_id>/members"): ({"community_id": "community"}, None),
    ("POST", "/api/v1/admin/communities/<int:community_id>/members"): (
        {"community_id": "community"}, {"resident_ids": ["resident"]}),
    ("DELETE", "/api/v1/admin/communities/<int:community_id>/members/<int:resident_id>"): (
        {"community_id": "community", "resident_id": "resident"}, None),
    ("POST", "/api/v1/communities/<int:community_id>/agreements"): (
        {"community_id": "community"}, {"term_years": 1, "consent_version": "2025-01", "all_members": True}),
    ("PUT", "/api/v1/agreements/<int:agreement_id>/hospitals"): (
        {"agreement_id": "agreement"}, {"secondary_hospital_id": None, "tertiary_hospital_id": None}),
}


def _scoped_operations(app):
    return {(method, rule.rule): (rule, roles) for rule, method, roles in operations(app)
            if rule.arguments and PUBLIC not in roles}


def test_every_endpoint_taking_an_id_is_in_the_scope_table(app):
    assert set(_scoped_operations(app)) == set(SCOPED_ENDPOINTS)


def _signed(client, settings, person, centre, package_codes=()) -> int:
    signed = client.post("/api/v1/agreements", headers=f.as_resident(person),
                         json={"centre_id": centre.id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION,
                               "package_codes": list(package_codes)})
    assert signed.status_code == 201, signed.get_json()
    return signed.get_json()["items"][0]["id"]


@pytest.fixture
def scene(client, settings):
    """An elderly resident and a mother signed with centre A, with a visit, a record, a pregnancy and
    the region's frozen March, two slots, the resident's booking, grandchild (for vaccinations) and referral;
    outsiders: another resident, staff of centre B, a bureau elsewhere."""
    f.regions()
    home, other = f.centre(), f.centre()
    resident = f.resident(openid="wx-scoped-resident", born=date(1950, 5, 1))
    mother = f.resident(openid="wx-scoped-mother", born=date(1996, 5, 1))
    doctor, admin = f.as_staff(f.staff(centre=home)), f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=home))
    assert client.put(f"/api/v1/packages/elderly/prices/{home.id}", json={"price_fen": 1000}, headers=admin).status_code == 200
    agreement_id = _signed(client, settings, resident, home, package_codes=["elderly"])
    _signed(client, settings, mother, home)
    pregnancy = client.post(f"/api/v1/residents/{mother.id}/pregnancies", headers=doctor,
                            json={"last_menstrual_period": "2025-12-20"})
    visit_id = client.get("/api/v1/me/visits", headers=f.as_resident(resident)).get_json()["items"][0]["id"]
    record = client.post(f"/api/v1/visits/{visit_id}/records", headers=doctor, json=RECORD)
    lecture = client.post(f"/api/v1/centres/{home.id}/lectures", headers=doctor,
                          json={"title": "健康讲座", "place": "卫生院", "starts_at": "2026-04-01T09:00:00+08:00"})
    assert pregnancy.status_code == 201 and record.status_code == 201, (pregnancy.get_json(), record.get_json())
    bureau_elsewhere = Actor(role=Role.BUREAU, subject="client:elsewhere", region_code="440823")
    bureau_here = Actor(role=Role.BUREAU, subject="client:here", region_code="430523")
    settlement.freeze_month("2026-03")
    member = TeamMember(team_id=home.teams[0].id, role=MemberRole.DOCTOR, name="李医生")
    client_row = ApiClient(client_id="scoped-bureau", secret_hash="x", name="医保", region_code="430523")
    job = Import(centre_id=home.id, filename="export.csv", started_by="staff:1")
    hospital = Hospital(code="SYX-2", name="邵阳县人民医院", grade=HospitalGrade.SECONDARY, region_code="430523")
    community = Community(name="塘渡口工业园", kind=CommunityKind.INDUSTRIAL_PARK, region_code="430523", centre_id=home.id)
    core_db.session.add_all([member, client_row, job, hospital, community])
    core_db.session.flush()
    core_db.session.add(CommunityMember(community_id=community.id, resident_id=resident.id, added_by="staff:1"))
    core_db.session.commit()
    slot_ids = [client.post(f"/api/v1/centres/{home.id}/slots", json=SLOT, headers=admin).get_json()["id"] for _ in (1, 2)]
    booking = client.post("/api/v1/bookings", json={"slot_id": slot_ids[0]}, headers=f.as_resident(resident))
    assert booking.status_code == 201, booking.get_json()
    child = f.resident(born=date(2024, 6, 1), household=resident.household, registered_by_centre_id=home.id)
    referral = client.post("/api/v1/referrals", headers=doctor, json={
        "resident_id": resident.id, "hospital": "邵阳市中心医院", "reason": "胸闷待查", "urgency": "routine"})
    assert referral.status_code == 201, referral.get_json()
    return SimpleNamespace(
        ids={"resident": resident.id, "mother": mother.id, "agreement": agreement_id, "other_centre": other.id,
             "centre": home.id, "package": "elderly", "pregnancy": pregnancy.get_json()["id"], "visit": visit_id,
             "record": record.get_json()["id"], "month": "2026-03", "year": "2026", "region": "430523", "window": home.windows[0].id,
             "team": home.teams[0].id, "member": member.id, "staff": f.staff(centre=home).id, "client": client_row.id, "import": job.id,
             "slot": slot_ids[0], "other_slot": slot_ids[1], "booking": booking.get_json()["id"], "child": child.id,
             "referral": referral.get_json()["id"], "lecture": lecture.get_json()["id"], "hospital": hospital.id,
             "community": community.id},
        # Staff first: an endpoint open to staff and residents is tried with staff.
        insiders={Role.DOCTOR: doctor, Role.CENTRE_ADMIN: admin, Role.BUREAU: f.bearer(bureau_here),
                  Role.ADMIN: as_admin("430523"), Role.RESIDENT: f.as_resident(resident)},
        outsiders={
            Role.RESIDENT: f.as_resident(f.resident(openid="wx-stranger")),
            Role.DOCTOR: f.as_staff(f.staff(centre=other)),
            Role.CENTRE_ADMIN: f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=other)),
            Role.BUREAU: f.bearer(bureau_elsewhere),
            Role.ADMIN: as_admin("440823"),
        },
    )


@pytest.mark.parametrize("endpoint", sorted(SCOPED_ENDPOINTS), ids=" ".join)
def test_actors_of_another_scope_get_403_or_404_and_the_centres_own_staff_get_through(client, scene, endpoint):
    method, path = endpoint
    rule, roles = _scoped_operations(client.application)[endpoint]
    arguments, body = SCOPED_ENDPOINTS[endpoint]
    body = body and {key: scene.ids.get(value, value) if isinstance(value, str)
                     else [scene.ids.get(v, v) if isinstance(v, str) else v for v in value] if isinstance(value, list)
                     else value
                     for key, value in body.items()}
    url = client.application.url_map.bind("localhost").build(
        rule.endpoint, {name: scene.ids[what] for name, what in arguments.items()}, method=method)
    tried = [role for role in scene.outsiders if role in roles]
    for role in tried:
        response = client.open(url, method=method, json=body, headers=scene.outsiders[role])
        assert response.status_code in (403, 404), f"{role.value}: {response.status_code} {response.get_json()}"
    assert tried
    insider = scene.insiders[next(role for role in scene.insiders if role in roles)]
    response = client.open(url, method=method, json=body, headers=insider)
    assert response.status_code not in (401, 403, 404), response.get_json()
