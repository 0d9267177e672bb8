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


def _resolved(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_list_response_is_the_one_envelope_of_items_and_next_cursor(app):
    spec = app.test_client().get("/openapi.json").get_json()
    lists = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, response in operation.get("responses", {}).items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if not status.startswith("2") or schema is None:
                    continue
                body = _resolved(spec, schema)
                assert body.get("type") != "array", f"{method.upper()} {path} answers a bare array"
                arrays = {name for name, field in body.get("properties", {}).items() if field.get("type") == "array"}
                if arrays == {"items"}:
                    assert "next_cursor" in body["properties"], f"{method.upper()} {path}: items without next_cursor"
                    lists.append(path)
                else:
                    # an object that carries arrays is a report or a record (counts, capitation, a centre), not a list
                    assert not arrays & {"agreements", "visits", "records", "snapshots", "subscriptions"}, (method, path)
    assert {"/api/v1/centres", "/api/v1/me/agreements", "/api/v1/me/visits", "/api/v1/packages"} <= set(lists)


def test_centres_are_listed_a_page_at_a_time(client, db):
    from tests import factories as f

    f.regions()
    made = [f.centre().id for _ in range(3)]
    first = client.get("/api/v1/centres", query_string={"region": "430523", "limit": 2}).get_json()
    second = client.get("/api/v1/centres", query_string={"region": "430523", "limit": 2,
                                                          "cursor": first["next_cursor"]}).get_json()
    seen = [c["id"] for c in first["items"] + second["items"]]
    assert seen == sorted(seen) and set(made) <= set(seen) and second["next_cursor"] is None


def test_every_scheduled_job_has_its_own_id_and_a_schedule(app):
    ids = [job.id for job in app.extensions["jobs"]]
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(app.config["SETTINGS"].SCHEDULES)
    assert {"roll_over", "reminders", "dispatch", "settlement_snapshot"} <= set(ids)
