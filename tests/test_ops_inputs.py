"""Inputs that were 500s are 4xx naming the field: a NUL character in any string, JSON nested 5,000 deep."""

from __future__ import annotations

import json

import pytest

from core.inputs import MAX_JSON_DEPTH

STAFF_LOGIN = "/api/v1/auth/staff-login"


def errors_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status
    return body["errors"]


def test_a_nul_character_in_a_json_string_is_422_naming_the_field(client):
    response = client.post(STAFF_LOGIN, json={"username": "doctor\x00.li", "password": "secret"})
    assert errors_of(response, 422) == {"json": {"username": ["Text may not contain a NUL character (\\u0000)."]}}


def test_a_nul_character_deep_in_a_body_names_its_path(client):
    response = client.post("/api/v1/auth/wechat-login", json={"code": {"tries": ["ok", "a\x00"]}})
    assert list(errors_of(response, 422)["json"]) == ["code.tries.1"]


def test_a_nul_character_in_a_field_name_is_422(client):
    response = client.post("/api/v1/auth/wechat-login", json={"co\x00de": "ok-alice"})
    assert list(errors_of(response, 422)["json"]) == ["co\x00de"]


def test_a_nul_character_in_a_query_parameter_is_422_naming_it(client):
    assert list(errors_of(client.get("/api/v1/centres?region=4305%0023"), 422)["query"]) == ["region"]


def test_a_nul_character_in_a_path_segment_is_422_naming_it(client):
    assert list(errors_of(client.get("/api/v1/packages/elder%00ly"), 422)["path"]) == ["code"]


def test_a_nul_character_in_a_form_field_is_422_naming_it(client):
    response = client.post("/api/v1/auth/token", data={"grant_type": "client_credentials",
                                                       "client_id": "bureau\x00", "client_secret": "x"})
    assert list(errors_of(response, 422)["form"]) == ["client_id"]


def test_a_nul_character_in_a_header_is_422_naming_it(client):
    response = client.post("/api/v1/auth/wechat-login", json={"code": "ok-alice"}, headers={"Idempotency-Key": "a\x00"})
    assert list(errors_of(response, 422)["headers"]) == ["Idempotency-Key"]


@pytest.mark.parametrize("body", ["[" * 5000 + "]" * 5000, '{"code": ' + "[" * 5000 + "]" * 5000 + "}",
                                  '{"a": ' * 5000 + "1" + "}" * 5000])
def test_json_nested_5000_deep_is_400_not_500(client, body):
    response = client.post("/api/v1/auth/wechat-login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["message"] == f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels."


def test_json_nested_just_beyond_the_limit_is_400_and_at_the_limit_reaches_the_view(client):
    too_deep = {"code": json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)}
    assert client.post("/api/v1/auth/wechat-login", json=too_deep).status_code == 400
    at_limit = {"code": json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))}
    response = client.post("/api/v1/auth/wechat-login", json=at_limit)
    assert list(errors_of(response, 422)["json"]) == ["code"]  # the schema's own answer: not a string
