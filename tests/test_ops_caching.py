"""Answers with personal data or tokens carry `Cache-Control: no-store`; public catalogue reads may be cached."""

from __future__ import annotations

from tests import factories as f
from tests.test_hardening_access import PUBLIC, operations, url_for_rule

NO_STORE = "no-store"


def test_every_route_that_needs_a_token_answers_no_store(client):
    for rule, method, roles in operations(client.application):
        if PUBLIC not in roles:
            response = client.open(url_for_rule(client.application, rule), method=method, json={})
            assert response.headers.get("Cache-Control") == NO_STORE, f"{method} {rule.rule}"


def test_a_residents_own_agreements_are_not_stored(client, alice):
    response = client.get("/api/v1/me/agreements", headers=f.as_resident(alice))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == NO_STORE


def test_the_token_a_public_login_gives_is_not_stored(client, wechat):
    response = client.post("/api/v1/auth/wechat-login", json={"code": "ok-cache"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == NO_STORE


def test_a_public_read_asked_with_a_token_is_not_stored(client, alice):
    response = client.get("/api/v1/packages?eligible_for=me", headers=f.as_resident(alice))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == NO_STORE


def test_the_public_centre_list_may_be_cached(client, centres):
    response = client.get("/api/v1/centres?region=430523")
    assert response.status_code == 200
    assert "Cache-Control" not in response.headers
