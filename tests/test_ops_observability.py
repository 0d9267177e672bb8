"""Health checks, Prometheus metrics, JSON logs with a request id, UTF-8 JSON."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest

from core import clock, scheduler
from core.db import Base
from core.models import JobRun
from core.observability import LATENCY, REQUESTS, JsonFormatter, carry_request_id
from notifications.models import Kind, MessageState, OutboxMessage
from registry.models import Import, ImportStatus
from tests import factories as f
from tests.live import another_app


def test_healthz_answers_alive_to_anyone(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}


def test_readyz_is_ready_when_the_database_answers_at_the_schema_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["database"]["ok"] is True


def test_readyz_is_503_in_the_error_shape_when_the_schema_is_not_at_head(client, monkeypatch):
    monkeypatch.setitem(client.application.extensions, "schema_heads", {"f00dfacef00d"})
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["code"], body["message"]) == (503, "Not ready: database.")
    assert body["details"]["checks"]["database"]["error"] == "schema not at head"


def test_readyz_is_503_when_the_database_cannot_be_reached(app, settings, tmp_path):
    unreachable = settings.replace(DATABASE_URL=f"sqlite:///{tmp_path / 'missing' / 'nowhere.sqlite'}")
    with another_app(unreachable, restore=app) as down:
        response = down.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["details"]["checks"]["database"] == {"ok": False, "error": "OperationalError"}


def test_readyz_reports_the_scheduler_leader_but_is_ready_without_one(client, db):
    assert client.get("/readyz").get_json()["checks"]["scheduler"]["leader"] is False
    leases = Base.metadata.tables["leases"]  # the scheduler's table, read by name as /readyz does
    db.execute(leases.insert().values(name="scheduler-leader", holder="host-1",
                                      expires_at=clock.now() + timedelta(seconds=30)))
    db.commit()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["scheduler"]["leader"] is True


def test_metrics_count_requests_by_route_template_and_status(client, centres):
    def answered(status: str) -> float:
        return REQUESTS.labels("GET", "/api/v1/packages/<code>", status)._value.get()

    before_ok, before_missing = answered("200"), answered("404")
    client.get("/api/v1/packages/elderly")
    client.get("/api/v1/packages/no-such-package")
    assert (answered("200") - before_ok, answered("404") - before_missing) == (1, 1)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'jiayi_http_requests_total{method="GET",route="/api/v1/packages/<code>",status="200"}' in text
    assert 'jiayi_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/packages/<code>"}' in text
    assert LATENCY.labels("GET", "/api/v1/packages/<code>")._sum.get() > 0


def test_metrics_are_refused_to_a_remote_client_without_a_token(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 403
    assert response.get_json()["code"] == 403


def test_metrics_with_a_token_configured_need_that_token(client, monkeypatch):
    monkeypatch.setitem(client.application.config, "SETTINGS",
                        client.application.config["SETTINGS"].replace(METRICS_TOKEN="scrape-" + "x" * 32))
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=remote).status_code == 403
    assert client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", environ_base=remote,
                      headers={"Authorization": "Bearer scrape-" + "x" * 32}).status_code == 200


@pytest.fixture
def json_log():
    """The lines the app logs while the test runs, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)


def test_a_request_id_is_taken_from_the_caller_answered_and_logged(client, json_log):
    response = client.get("/healthz", headers={"X-Request-Id": "nginx-0123456789abcdef"})
    assert response.headers["X-Request-Id"] == "nginx-0123456789abcdef"
    (line,) = [entry for entry in json_log() if entry["logger"] == "jiayi.request"]
    assert line["request_id"] == "nginx-0123456789abcdef"
    assert (line["message"], line["method"], line["route"], line["status"]) == ("request", "GET", "/healthz", 200)


def test_without_a_usable_request_id_one_is_made(client):
    first = client.get("/healthz", headers={"X-Request-Id": "{\"json\": \"injection\"}"}).headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert len(first) == len(second) == 32 and first != second


def test_the_request_line_names_the_route_not_the_path_or_query(client, json_log):
    number = f.id_number(clock.today().replace(year=1980))
    client.get(f"/api/v1/packages/{number}?region={number}")
    logged = json.dumps(json_log(), ensure_ascii=False)
    assert number not in logged
    assert "/api/v1/packages/<code>" in logged


def test_json_answers_are_utf8_without_escapes(client, centres):
    raw = client.get("/api/v1/centres?region=430523").get_data()
    assert "卫生院".encode() in raw
    assert b"\\u" not in raw


def scraped(client) -> str:
    return client.get("/metrics").get_data(as_text=True)


def test_metrics_show_outbox_depth_and_the_age_of_the_oldest_pending_message(client, db):
    f.regions()
    person = f.resident()
    for minutes, state in ((30, MessageState.PENDING), (5, MessageState.PENDING), (90, MessageState.SENT)):
        db.add(OutboxMessage(dedupe_key=f"metrics-{minutes}", kind=Kind.VISIT_DUE, resident_id=person.id,
                                     content={}, state=state, created_at=clock.now() - timedelta(minutes=minutes)))
    db.flush()
    text = scraped(client)
    assert 'jiayi_outbox_messages{state="pending"} 2.0' in text
    assert 'jiayi_outbox_messages{state="sent"} 1.0' in text
    assert "jiayi_outbox_oldest_pending_seconds 1800.0" in text


def test_metrics_show_the_progress_of_a_running_import_and_not_of_a_finished_one(client, db):
    f.regions()
    centre = f.centre()
    running = Import(centre_id=centre.id, filename="a.csv", status=ImportStatus.RUNNING, total_rows=100, rows_done=40,
                     started_by="test")
    finished = Import(centre_id=centre.id, filename="b.csv", status=ImportStatus.DONE, total_rows=9, rows_done=9,
                      started_by="test")
    db.add_all([running, finished])
    db.flush()
    text = scraped(client)
    assert f'jiayi_import_rows_done{{import_id="{running.id}"}} 40.0' in text
    assert f'jiayi_import_rows_total{{import_id="{running.id}"}} 100.0' in text
    assert f'import_id="{finished.id}"' not in text


def test_metrics_show_job_runs_by_outcome_and_the_latest_runs_duration(client, db):
    start = clock.now() - timedelta(days=1)
    db.add_all([
        JobRun(job_id="metrics-job", fire_time=start, runner="t", started_at=start,
               finished_at=start + timedelta(seconds=90), outcome="done"),
        JobRun(job_id="metrics-job", fire_time=start + timedelta(hours=1), runner="t", started_at=start,
               finished_at=start + timedelta(seconds=12), outcome="failed"),
    ])
    db.flush()
    text = scraped(client)
    assert 'jiayi_job_runs{job="metrics-job",outcome="done"} 1.0' in text
    assert 'jiayi_job_runs{job="metrics-job",outcome="failed"} 1.0' in text
    assert 'jiayi_job_last_duration_seconds{job="metrics-job"} 12.0' in text


def test_a_scheduled_job_runs_log_lines_share_one_request_id_of_their_own(db):
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("jiayi.test.job")
    logger.addHandler(handler)

    def job_that_logs():
        logger.warning("first")
        logger.warning("second")

    try:
        assert scheduler.run_once(scheduler.Job("logging-job", job_that_logs), clock.now(), runner="test")
    finally:
        logger.removeHandler(handler)
    ids = {json.loads(line).get("request_id") for line in lines.getvalue().splitlines()}
    assert len(ids) == 1 and None not in ids


def test_background_work_carries_the_request_id_it_was_handed():
    record = logging.LogRecord("jiayi.test", logging.INFO, __file__, 1, "in the background", None, None)
    with carry_request_id("req-0123456789"):
        assert json.loads(JsonFormatter().format(record))["request_id"] == "req-0123456789"
    assert "request_id" not in json.loads(JsonFormatter().format(record))
