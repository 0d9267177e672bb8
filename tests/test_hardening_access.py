"""Access control over every route of the app: each carries an explicit rule, roles outside it get 403,
and actors of another scope get 403/404 on every endpoint that takes an id.

The route list comes from app.url_map, so a new route is covered (or makes these tests fail) by itself.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.auth import Actor, Role
from signing.models import StaffRole
from tests import factories as f

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


# Every non-public endpoint taking an id: what the id names in the scene, and a body that passes validation.
SCOPED_ENDPOINTS = {
    ("GET", "/api/v1/residents/<int:resident_id>"): ("resident", None),
    ("PATCH", "/api/v1/residents/<int:resident_id>"): ("resident", {"has_health_record": True}),
    ("GET", "/api/v1/agreements/<int:agreement_id>"): ("agreement", None),
    ("POST", "/api/v1/agreements/<int:agreement_id>/change-requests"): ("agreement", {"centre_id": "other_centre"}),
    ("POST", "/api/v1/agreements/<int:agreement_id>/termination"): ("agreement", {"reason": "moved_away"}),
}


def _scoped_operations(app):
    return {(method, rule.rule): (rule, roles) for rule, method, roles in operations(app)
            if rule.arguments and PUBLIC not in roles}


def test_every_endpoint_taking_an_id_is_in_the_scope_table(app):
    assert set(_scoped_operations(app)) == set(SCOPED_ENDPOINTS)


@pytest.fixture
def scene(client, settings):
    """A resident signed with centre A; outsiders: another resident, staff of centre B, a bureau elsewhere."""
    f.regions()
    home, other = f.centre(), f.centre()
    resident = f.resident(openid="wx-scoped-resident")
    signed = client.post("/api/v1/agreements", headers=f.as_resident(resident),
                         json={"centre_id": home.id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION})
    assert signed.status_code == 201, signed.get_json()
    bureau_elsewhere = Actor(role=Role.BUREAU, subject="client:elsewhere", region_code="440823")
    return SimpleNamespace(
        ids={"resident": resident.id, "agreement": signed.get_json()["agreements"][0]["id"], "other_centre": other.id},
        insider=f.as_staff(f.staff(centre=home)),
        outsiders={
            Role.RESIDENT: f.as_resident(f.resident(openid="wx-stranger")),
            Role.DOCTOR: f.as_staff(f.staff(centre=other)),
            Role.CENTRE_ADMIN: f.as_staff(f.staff(role=StaffRole.CENTRE_ADMIN, centre=other)),
            Role.BUREAU: f.bearer(bureau_elsewhere),
        },
    )


@pytest.mark.parametrize("endpoint", sorted(SCOPED_ENDPOINTS), ids=" ".join)
def test_actors_of_another_scope_get_403_or_404_and_the_centres_own_staff_get_through(client, scene, endpoint):
    method, path = endpoint
    rule, roles = _scoped_operations(client.application)[endpoint]
    target, body = SCOPED_ENDPOINTS[endpoint]
    body = body and {key: scene.ids.get(value, value) for key, value in body.items()}
    url = url_for_rule(client.application, rule, scene.ids[target])
    tried = [role for role in scene.outsiders if role in roles]
    for role in tried:
        response = client.open(url, method=method, json=body, headers=scene.outsiders[role])
        assert response.status_code in (403, 404), f"{role.value}: {response.status_code} {response.get_json()}"
    assert tried
    insider = client.open(url, method=method, json=body, headers=scene.insider)
    assert insider.status_code not in (401, 403, 404), insider.get_json()
