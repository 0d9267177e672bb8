"""What operators watch: /healthz, /readyz, /metrics, and JSON log lines that carry a request id.

- `/healthz`: the process answers (liveness; touches nothing else).
- `/readyz`: the database answers and its schema is at the migrations' head (else 503 in the error
  shape, with each check in `details`). The scheduler's leader lease is reported, not required: the
  API serves without the scheduler.
- `/metrics`: Prometheus text — requests by method, route template and status, and a latency histogram
  per route. Under gunicorn PROMETHEUS_MULTIPROC_DIR makes every worker write its counts there and any
  worker answer for all (gunicorn.conf.py sets and clears it). Answered to loopback clients, or, when
  METRICS_TOKEN is set, to `Authorization: Bearer <METRICS_TOKEN>` from anywhere.
- Logs: one JSON object a line (time, level, logger, message, request_id, exception). Each request gets
  the caller's X-Request-Id when it looks like one (nginx's $request_id does), else a new one, answers
  it in X-Request-Id, and ends with a `request` line: method, route template, status, duration. Never
  the query string or path values: they may hold an ID number.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import time
import uuid
from datetime import datetime, timezone

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import column, inspect, select, table, text
from sqlalchemy.exc import SQLAlchemyError

from core import clock, db, migrate
from core.auth import public
from core.errors import Forbidden

log = logging.getLogger("jiayi.request")
REQUEST_ID = re.compile(r"[0-9A-Za-z-]{8,64}")
UNMATCHED = "unmatched"

_registry = CollectorRegistry()
REQUESTS = Counter("jiayi_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=_registry)
LATENCY = Histogram("jiayi_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
                    registry=_registry)


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line, with the request id of the request it was logged in."""

    FIELDS = ("method", "route", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        entry.update({name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def init_app(app: Flask) -> None:
    # The console handler logging.basicConfig (or gunicorn's logconfig) put on the root logger writes JSON;
    # handlers of other kinds (pytest's, files) keep their format.
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(JsonFormatter())
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/healthz", view_func=healthz)
    app.add_url_rule("/readyz", view_func=readyz)
    app.add_url_rule("/metrics", view_func=metrics)


def _start() -> None:
    g.started = time.perf_counter()
    offered = request.headers.get("X-Request-Id", "")
    g.request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else UNMATCHED
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    LATENCY.labels(request.method, route).observe(seconds)
    response.headers["X-Request-Id"] = g.get("request_id") or uuid.uuid4().hex
    log.info("request", extra={"method": request.method, "route": route, "status": response.status_code,
                               "duration_ms": round(seconds * 1000, 1)})
    return response


@public
def healthz():
    """The process is alive"""
    return _no_store({"status": "alive"}, 200)


@public
def readyz():
    """The database answers and its schema is current; the scheduler's leader is reported"""
    checks = {"database": _database_check()}
    if checks["database"]["ok"]:
        checks["scheduler"] = _scheduler_check()
    failing = [name for name in ("database",) if not checks[name]["ok"]]
    if failing:
        body = {"code": 503, "status": "Service Unavailable", "message": f"Not ready: {', '.join(failing)}.",
                "details": {"checks": checks}}
        return _no_store(body, 503)
    return _no_store({"status": "ready", "checks": checks}, 200)


def _schema_heads() -> set[str]:
    if "schema_heads" not in current_app.extensions:
        config = migrate.alembic_config(current_app.config["SETTINGS"].DATABASE_URL)
        current_app.extensions["schema_heads"] = set(ScriptDirectory.from_config(config).get_heads())
    return current_app.extensions["schema_heads"]


def _database_check() -> dict:
    try:
        connection = db.session.connection()
        connection.execute(text("SELECT 1"))
        current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        db.session.rollback()
        return {"ok": False, "error": type(error).__name__}  # not the message: it may name hosts and users
    heads = _schema_heads()
    if current != heads:
        return {"ok": False, "error": "schema not at head", "schema": sorted(current), "head": sorted(heads)}
    return {"ok": True, "schema": sorted(current)}


def _scheduler_check() -> dict:
    """Whether a scheduler process holds the leader lease now (the `leases` table, when this schema has one)."""
    connection = db.session.connection()
    if not inspect(connection).has_table("leases"):
        return {"ok": False, "leader": None, "note": "no leases table"}
    leases = table("leases", column("expires_at", db.Instant()))
    until = connection.execute(select(leases.c.expires_at).where(leases.c.expires_at > clock.now())
                               .order_by(leases.c.expires_at.desc()).limit(1)).scalar()
    return {"ok": until is not None, "leader": until is not None, "lease_until": until.isoformat() if until else None}


@public
def metrics():
    """Prometheus metrics (loopback clients, or the METRICS_TOKEN bearer)"""
    token = current_app.config["SETTINGS"].METRICS_TOKEN
    if token:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(offered.encode(), token.encode()):
            raise Forbidden("Metrics need the METRICS_TOKEN bearer.")
    elif not _loopback(request.remote_addr):
        raise Forbidden("Metrics are answered to loopback clients only (or set METRICS_TOKEN).")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = _registry
    response = Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def _loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def _no_store(body: dict, status: int) -> Response:
    response = current_app.json.response(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
