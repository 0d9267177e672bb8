"""Every route of the app is audited or says why not, and each audited route leaves its event.

The route list comes from app.url_map: a new route that is in neither table below fails
`test_every_route_is_audited_or_says_why_not`. To add one: put `@audited("entity.verb")` (core/audit.py)
above its `@requires` and the route here in AUDITED with that action, or in UNAUDITED with the reason.
Each AUDITED route is then called once by an actor its access rule lets in, with ids that name
nothing of theirs: whether it answers 2xx or a 4xx after the scope check, the event must be there.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import db as core_db
from core.auth import Actor, Role
from core.models import AuditEvent
from tests import factories as f
from tests.county_helpers import as_admin
from tests.test_hardening_access import IGNORED_METHODS, PUBLIC, operations

# (method, rule) → the action its events carry.
AUDITED = {
    ("GET", "/api/v1/admin/api-clients"): "admin.api_client.list",
    ("POST", "/api/v1/admin/api-clients"): "admin.api_client.create",
    ("PATCH", "/api/v1/admin/api-clients/<int:client_id>"): "admin.api_client.update",
    ("POST", "/api/v1/admin/api-clients/<int:client_id>/secret"): "admin.api_client.rotate_secret",
    ("POST", "/api/v1/admin/api-clients/<int:client_id>/unlock"): "admin.api_client.unlock",
    ("POST", "/api/v1/admin/staff/<int:staff_id>/unlock"): "admin.staff.unlock",
    ("GET", "/api/v1/admin/centres"): "admin.centre.list",
    ("POST", "/api/v1/admin/centres"): "admin.centre.create",
    ("PATCH", "/api/v1/admin/centres/<int:centre_id>"): "admin.centre.update",
    ("POST", "/api/v1/admin/centres/<int:centre_id>/teams"): "admin.team.create",
    ("POST", "/api/v1/admin/centres/<int:centre_id>/windows"): "admin.window.create",
    ("GET", "/api/v1/admin/communities"): "admin.community.list",
    ("POST", "/api/v1/admin/communities"): "admin.community.create",
    ("PATCH", "/api/v1/admin/communities/<int:community_id>"): "admin.community.update",
    ("GET", "/api/v1/admin/communities/<int:community_id>/members"): "admin.community.members.read",
    ("POST", "/api/v1/admin/communities/<int:community_id>/members"): "admin.community.members.add",
    ("DELETE", "/api/v1/admin/communities/<int:community_id>/members/<int:resident_id>"): "admin.community.members.remove",
    ("GET", "/api/v1/admin/hospitals"): "admin.hospital.list",
    ("POST", "/api/v1/admin/hospitals"): "admin.hospital.create",
    ("PATCH", "/api/v1/admin/hospitals/<int:hospital_id>"): "admin.hospital.update",
    ("POST", "/api/v1/communities/<int:community_id>/agreements"): "community.sign",
    ("PUT", "/api/v1/agreements/<int:agreement_id>/hospitals"): "agreement.hospitals",
    ("GET", "/api/v1/admin/regions"): "admin.region.list",
    ("POST", "/api/v1/admin/regions"): "admin.region.create",
    ("PATCH", "/api/v1/admin/regions/<code>"): "admin.region.update",
    ("GET", "/api/v1/admin/staff"): "admin.staff.list",
    ("POST", "/api/v1/admin/staff"): "admin.staff.create",
    ("PATCH", "/api/v1/admin/staff/<int:staff_id>"): "admin.staff.update",
    ("PATCH", "/api/v1/admin/team-members/<int:member_id>"): "admin.team_member.update",
    ("PATCH", "/api/v1/admin/teams/<int:team_id>"): "admin.team.update",
    ("GET", "/api/v1/admin/teams/<int:team_id>/members"): "admin.team_member.list",
    ("POST", "/api/v1/admin/teams/<int:team_id>/members"): "admin.team_member.create",
    ("PATCH", "/api/v1/admin/windows/<int:window_id>"): "admin.window.update",
    ("POST", "/api/v1/imports"): "import.start",
    ("GET", "/api/v1/imports/<int:import_id>"): "import.read",
    ("GET", "/api/v1/imports/<int:import_id>/report.csv"): "import.report",
    ("POST", "/api/v1/insurance/enrolments"): "insurance.enrolments",
    ("POST", "/api/v1/insurance/enrolment-files"): "insurance.enrolments",
    ("POST", "/api/v1/policy-profiles"): "profile.load",
    ("POST", "/api/v1/policy-profiles/files"): "profile.load",
    ("PUT", "/api/v1/packages/<code>/prices/<int:centre_id>"): "package_price.set",
    ("GET", "/api/v1/agreements"): "agreement.list",
    ("POST", "/api/v1/agreements"): "agreement.sign",
    ("GET", "/api/v1/agreements/<int:agreement_id>"): "agreement.read",
    ("GET", "/api/v1/agreements/<int:agreement_id>/document.html"): "agreement.document",
    ("GET", "/api/v1/agreements/<int:agreement_id>/document.pdf"): "agreement.document",
    ("GET", "/api/v1/me/agreements"): "agreement.list",
    ("POST", "/api/v1/agreements/<int:agreement_id>/change-requests"): "change_request.create",
    ("POST", "/api/v1/agreements/<int:agreement_id>/termination"): "agreement.terminate",
    ("GET", "/api/v1/agreements/<int:agreement_id>/packages"): "agreement_package.list",
    ("POST", "/api/v1/agreements/<int:agreement_id>/packages"): "agreement_package.add",
    ("DELETE", "/api/v1/agreements/<int:agreement_id>/packages/<code>"): "agreement_package.remove",
    ("POST", "/api/v1/residents"): "resident.register",
    ("GET", "/api/v1/residents/<int:resident_id>"): "resident.read",
    ("PATCH", "/api/v1/residents/<int:resident_id>"): "resident.update",
    ("POST", "/api/v1/residents/<int:resident_id>/binding-codes"): "identity.code_issued",
    ("POST", "/api/v1/me/identity"): "identity.bind",
    ("POST", "/api/v1/me/presence-codes"): "identity.presence_code",
    ("POST", "/api/v1/residents/<int:resident_id>/newborns"): "resident.register_newborn",
    ("PUT", "/api/v1/residents/<int:resident_id>/id-number"): "resident.add_id_number",
    ("POST", "/api/v1/me/household"): "household.join",
    ("DELETE", "/api/v1/me/household"): "household.leave",
    ("POST", "/api/v1/me/household-invitations"): "household.invite",
    ("POST", "/api/v1/me/household-members"): "household.join",
    ("GET", "/api/v1/residents/<int:resident_id>/health"): "health.read",
    ("POST", "/api/v1/residents/<int:resident_id>/conditions"): "condition.create",
    ("POST", "/api/v1/residents/<int:resident_id>/pregnancies"): "pregnancy.create",
    ("POST", "/api/v1/pregnancies/<int:pregnancy_id>/delivery"): "pregnancy.delivery",
    ("POST", "/api/v1/residents/<int:resident_id>/tags"): "key_population.tag",
    ("GET", "/api/v1/worklist"): "worklist.read",
    ("GET", "/api/v1/followups/completion"): "followup.completion.read",
    ("GET", "/api/v1/me/visits"): "visit.list",
    ("GET", "/api/v1/residents/<int:resident_id>/visits"): "plan.read",
    ("GET", "/api/v1/me/visits/<int:visit_id>/slots"): "visit.slots.read",
    ("GET", "/api/v1/visits/<int:visit_id>"): "visit.read",
    ("GET", "/api/v1/visits/<int:visit_id>/records"): "visit_record.read",
    ("POST", "/api/v1/visits/<int:visit_id>/records"): "visit_record.create",
    ("PUT", "/api/v1/visit-records/<int:record_id>"): "visit_record.update",
    ("GET", "/api/v1/referrals"): "referral.list",
    ("POST", "/api/v1/referrals"): "referral.create",
    ("GET", "/api/v1/referrals/<int:referral_id>"): "referral.read",
    ("POST", "/api/v1/referrals/<int:referral_id>/transitions"): "referral.transition",
    ("GET", "/api/v1/me/referrals"): "referral.list",
    ("GET", "/api/v1/residents/<int:resident_id>/vaccinations"): "vaccination.read",
    ("POST", "/api/v1/residents/<int:resident_id>/vaccinations"): "vaccination.record",
    ("GET", "/api/v1/me/children/<int:resident_id>/vaccinations"): "vaccination.read",
    ("POST", "/api/v1/centres/<int:centre_id>/slots"): "slot.create",
    ("PATCH", "/api/v1/slots/<int:slot_id>"): "slot.update",
    ("GET", "/api/v1/slots/<int:slot_id>/bookings"): "booking.list",
    ("GET", "/api/v1/me/bookings"): "booking.list",
    ("POST", "/api/v1/bookings"): "booking.create",
    ("POST", "/api/v1/bookings/<int:booking_id>/cancellation"): "booking.cancel",
    ("POST", "/api/v1/bookings/<int:booking_id>/move"): "booking.move",
    ("POST", "/api/v1/bookings/<int:booking_id>/outcome"): "booking.outcome",
    ("GET", "/api/v1/call-list"): "call_list.read",
    ("GET", "/api/v1/calls/returns"): "call.returns.read",
    ("GET", "/api/v1/residents/<int:resident_id>/calls"): "call.read",
    ("POST", "/api/v1/residents/<int:resident_id>/calls"): "call.record",
    ("GET", "/api/v1/inbox"): "inbox.read",
    ("GET", "/api/v1/me/messages"): "message.read",
    ("POST", "/api/v1/me/messages"): "message.send",
    ("GET", "/api/v1/residents/<int:resident_id>/messages"): "message.read",
    ("POST", "/api/v1/residents/<int:resident_id>/messages"): "message.answer",
    ("GET", "/api/v1/agreements/<int:agreement_id>/fulfilment"): "fulfilment.read",
    ("GET", "/api/v1/me/fulfilment"): "fulfilment.read",
    ("GET", "/api/v1/fulfilment/owed"): "fulfilment.owed.read",
    ("GET", "/api/v1/agreements/<int:agreement_id>/deliveries"): "delivery.read",
    ("POST", "/api/v1/agreements/<int:agreement_id>/deliveries"): "delivery.log",
    ("POST", "/api/v1/centres/<int:centre_id>/lectures"): "lecture.create",
    ("GET", "/api/v1/centres/<int:centre_id>/lectures/<int:lecture_id>/attendance"): "lecture_attendance.read",
    ("POST", "/api/v1/centres/<int:centre_id>/lectures/<int:lecture_id>/attendance"): "lecture_attendance.record",
    ("GET", "/api/v1/notifications"): "notification.list",
    ("GET", "/api/v1/me/notifications"): "notification.list",
    ("PUT", "/api/v1/me/notification-preferences"): "notification_preferences.update",
    ("POST", "/api/v1/me/subscriptions"): "notification_subscription.create",
    ("GET", "/api/v1/rosters"): "roster.pull",
    ("PUT", "/api/v1/settlement/actual-costs/<string:month>"): "settlement.actual_costs",
    ("GET", "/api/v1/settlement/capitation"): "settlement.capitation.read",
    ("GET", "/api/v1/settlement/evaluation"): "settlement.evaluation.read",
    ("GET", "/api/v1/settlement/figures/<string:period>"): "settlement.figures.read",
    ("PUT", "/api/v1/settlement/figures/<string:period>"): "settlement.figures.file",
    ("GET", "/api/v1/settlement/outpatient-fund"): "settlement.outpatient_fund.read",
    ("GET", "/api/v1/settlement/year-end"): "settlement.year_end.read",
    ("GET", "/api/v1/settlement/fulfilment"): "fulfilment.report",
    ("GET", "/api/v1/settlement/fulfilment/never-served"): "fulfilment.never_served",
    ("GET", "/api/v1/settlement/ghost-signing"): "settlement.ghost_signing.read",
    ("GET", "/api/v1/settlement/signed-counts"): "settlement.signed_counts.read",
    ("GET", "/api/v1/settlement/snapshots/<string:month>"): "settlement.snapshot.read",
    ("GET", "/api/v1/settlement/surveys"): "survey.results.read",
    ("POST", "/api/v1/settlement/surveys"): "survey.publish",
    ("GET", "/api/v1/me/surveys"): "survey.list",
    ("POST", "/api/v1/me/survey-answers"): "survey.answer",
}

# (method, rule) → why a call leaves no event.
REFERENCE = "public reference data, the same for everyone: no one's personal or health data"
LOGIN = "login and password change: audited by the session code (registry/accounts.py, registry/passwords.py)"
UNAUDITED = {
    ("GET", "/api/v1/hospitals"): REFERENCE,
    ("GET", "/api/v1/agreement-text"): REFERENCE,
    ("GET", "/api/v1/centres"): REFERENCE,
    ("GET", "/api/v1/centres/<int:centre_id>"): REFERENCE,
    ("GET", "/api/v1/packages"): REFERENCE,
    ("GET", "/api/v1/packages/<code>"): REFERENCE,
    ("GET", "/api/v1/policy-profiles"): REFERENCE,
    ("GET", "/api/v1/policy-profiles/<code>/versions"): REFERENCE,
    ("GET", "/api/v1/vaccination-schedule"): REFERENCE,
    ("GET", "/api/v1/centres/<int:centre_id>/slots"): "a centre's appointment timetable and free places: no one's data",
    ("GET", "/openapi.json"): "the API description",
    ("GET", "/docs"): "the API description (Swagger UI)",
    ("GET", "/docs/assets/<path:filename>"): "Swagger UI's static files",
    ("GET", "/healthz"): "liveness probe: no data",
    ("GET", "/readyz"): "readiness probe: no data",
    ("GET", "/metrics"): "Prometheus metrics: counts by route, no one's data",
    ("POST", "/api/v1/auth/staff-login"): LOGIN,
    ("POST", "/api/v1/auth/token"): LOGIN,
    ("POST", "/api/v1/auth/wechat-login"): LOGIN,
    ("POST", "/api/v1/auth/password"): LOGIN,
    ("POST", "/api/v1/auth/refresh"): "renews the caller's own tokens; a reused refresh token is audited (registry/accounts.py)",
    ("POST", "/api/v1/auth/logout"): "ends the caller's own session; audited by the route itself (auth.logout)",
    ("GET", "/api/v1/me"): "the caller's own session: whom their token names",
    ("GET", "/api/v1/me/notification-preferences"): "the caller's own notification settings (changing them is audited)",
}

# Which of a route's roles calls it: the first of these its rule lets in.
CALLER_ORDER = (Role.DOCTOR, Role.CENTRE_ADMIN, Role.RESIDENT, Role.ADMIN, Role.BUREAU)
NOBODY = 999_999


def routes(app) -> dict[tuple[str, str], frozenset]:
    return {(method, rule.rule): roles for rule, method, roles in operations(app)}


def test_every_route_is_audited_or_says_why_not(app):
    served = set(routes(app))
    assert sorted(served - AUDITED.keys() - UNAUDITED.keys()) == [], "add these routes to AUDITED or UNAUDITED"
    assert sorted((AUDITED.keys() | UNAUDITED.keys()) - served) == [], "these routes no longer exist"
    assert AUDITED.keys() & UNAUDITED.keys() == set()


def test_every_audited_view_carries_the_action_of_its_table_row(app):
    wrong = {}
    for rule in app.url_map.iter_rules():
        view_class = getattr(app.view_functions[rule.endpoint], "view_class", None)
        for method in rule.methods - IGNORED_METHODS:
            if (method, rule.rule) in AUDITED:
                action = getattr(getattr(view_class, method.lower()), "audit_action", None)
                if action != AUDITED[(method, rule.rule)]:
                    wrong[(method, rule.rule)] = action
    assert wrong == {}


def test_public_routes_are_not_audited(app):
    assert [key for key, roles in routes(app).items() if PUBLIC in roles and key in AUDITED] == []


@pytest.fixture
def callers(db):
    """A token for each role, for real people of a centre of 邵阳县 (430523)."""
    f.regions()
    home = f.centre()
    doctor, centre_admin = f.staff(centre=home), f.staff(role=Role.CENTRE_ADMIN, centre=home)
    person = f.resident()
    core_db.session.commit()
    return {
        Role.DOCTOR: (f.as_staff(doctor), f"staff:{doctor.id}"),
        Role.CENTRE_ADMIN: (f.as_staff(centre_admin), f"staff:{centre_admin.id}"),
        Role.RESIDENT: (f.as_resident(person), f"wx:{person.openid}"),
        Role.ADMIN: (as_admin("430523"), "staff:900001"),
        Role.BUREAU: (f.bearer(Actor(role=Role.BUREAU, subject="client:bureau-430523", region_code="430523")),
                      "client:bureau-430523"),
    }


@pytest.mark.parametrize("method, rule", sorted(AUDITED), ids=[f"{m} {r}" for m, r in sorted(AUDITED)])
def test_each_audited_route_called_by_an_allowed_actor_leaves_its_event(client, callers, method, rule):
    found = next(r for r in client.application.url_map.iter_rules() if r.rule == rule and method in r.methods)
    roles = routes(client.application)[(method, rule)]
    headers, subject = callers[next(role for role in CALLER_ORDER if role in roles)]
    url = client.application.url_map.bind("localhost").build(
        found.endpoint, {name: NOBODY for name in found.arguments}, method=method)
    response = client.open(url, method=method, json={}, headers=headers)
    assert response.status_code < 500, response.get_json()
    events = core_db.session.execute(select(AuditEvent.actor, AuditEvent.outcome)
                                     .where(AuditEvent.action == AUDITED[(method, rule)])).all()
    outcome = "ok" if response.status_code < 400 else f"refused_{response.status_code}"
    assert (subject, outcome) in events, (response.status_code, events)
