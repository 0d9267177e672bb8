"""The bones: migrations match the models, the spec is current, errors have one shape."""

import json

from core.config import ROOT


def test_committed_openapi_spec_matches_the_code(app):
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    assert committed == app.test_client().get("/openapi.json").get_json()


def test_unknown_route_answers_in_the_error_shape(client):
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_bad_body_is_422_naming_the_field(client):
    response = client.post("/api/v1/auth/wechat-login", json={"code": ""})
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]["json"]


def test_unknown_fields_in_a_body_are_rejected(client):
    response = client.post("/api/v1/auth/wechat-login", json={"code": "x", "status": "active"})
    assert response.status_code == 422
    assert "status" in response.get_json()["errors"]["json"]


def test_swagger_ui_is_served_without_a_cdn(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
