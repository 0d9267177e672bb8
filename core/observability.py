"""What operators watch: /healthz, /readyz, /metrics, and JSON log lines that carry a request id.

- `/healthz`: the process answers (liveness; touches nothing else).
- `/readyz`: the database answers and its schema is at the migrations' head (else 503 in the error
  shape, with each check in `details`). The scheduler's leader lease is reported, not required: the
  API serves without the scheduler.
- `/metrics`: Prometheus text — requests by method, route template and status, and a latency histogram
  per route. Under gunicorn PROMETHEUS_MULTIPROC_DIR makes every worker write its counts there and any
  worker answer for all (gunicorn.conf.py sets and clears it). Answered to loopback clients, or, when
  METRICS_TOKEN is set, to `Authorization: Bearer <METRICS_TOKEN>` from anywhere.
  Beside them, figures read from the database at each scrape (`add_gauges`): job runs and their last
  duration (here), outbox depth and age (notifications), import progress (registry) — so every worker
  and the scheduler process are seen alike.
- Logs: one JSON object a line (time, level, logger, message, request_id, exception). Each request gets
  the caller's X-Request-Id when it looks like one (nginx's $request_id does), else a new one, answers
  it in X-Request-Id, and ends with a `request` line: method, route template, status, duration. Never
  the query string or path values: they may hold an ID number. Work that goes on after the request (a
  background import) carries the request's id (`carry_request_id`); a scheduled job run gets its own.
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
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator

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
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import column, func, inspect, select, table, text
from sqlalchemy.exc import SQLAlchemyError

from core import clock, db, migrate
from core.auth import public
from core.errors import Forbidden
from core.models import JobRun

log = logging.getLogger("jiayi.request")
REQUEST_ID = re.compile(r"[0-9A-Za-z-]{8,64}")
UNMATCHED = "unmatched"

_registry = CollectorRegistry()
REQUESTS = Counter("jiayi_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=_registry)
LATENCY = Histogram("jiayi_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
                    registry=_registry)
# The request id of work outside a request: a background thread a request started, a scheduled job run.
_carried_request_id: ContextVar[str | None] = ContextVar("carried_request_id", default=None)
# Figures read from the database at each scrape; each domain adds its own (app.py).
_gauge_sources: list[Callable[[], Iterable[Metric]]] = []


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
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        entry.update({name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def current_request_id() -> str | None:
    if has_request_context() and "request_id" in g:
        return g.request_id
    return _carried_request_id.get()


@contextmanager
def carry_request_id(request_id: str | None = None) -> Iterator[str]:
    """Log lines in the block carry `request_id` (a request's, handed to its background work) or a new one."""
    token = _carried_request_id.set(request_id or uuid.uuid4().hex)
    try:
        yield _carried_request_id.get()
    finally:
        _carried_request_id.reset(token)


def add_gauges(source: Callable[[], Iterable[Metric]]) -> None:
    """Have `source` (which reads the database) yield gauges at every /metrics scrape."""
    if source not in _gauge_sources:
        _gauge_sources.append(source)


class _DatabaseGauges:
    """A Prometheus collector over the registered sources; a source whose query fails is left out, logged."""

    def collect(self) -> Iterator[Metric]:
        for source in _gauge_sources:
            try:
                yield from list(source())
            except SQLAlchemyError:
                db.session.rollback()
                log.warning("metrics source %s failed", source.__name__)


def job_gauges() -> Iterator[Metric]:
    """Runs of each scheduled job by outcome, and how long each job's latest finished run took."""
    runs = GaugeMetricFamily("jiayi_job_runs", "Scheduled job runs recorded, by outcome", labels=["job", "outcome"])
    for job_id, outcome, count in db.session.execute(
            select(JobRun.job_id, JobRun.outcome, func.count()).group_by(JobRun.job_id, JobRun.outcome)):
        runs.add_metric([job_id, outcome], count)
    yield runs
    last = GaugeMetricFamily("jiayi_job_last_duration_seconds", "Duration of each job's latest finished run",
                             labels=["job"])
    latest = (select(JobRun.job_id, func.max(JobRun.fire_time).label("fire_time"))
              .where(JobRun.finished_at.is_not(None)).group_by(JobRun.job_id).subquery())
    for run in db.session.scalars(select(JobRun).join(
            latest, (JobRun.job_id == latest.c.job_id) & (JobRun.fire_time == latest.c.fire_time))):
        last.add_metric([run.job_id], (run.finished_at - run.started_at).total_seconds())
    yield last


_registry.register(_DatabaseGauges())
add_gauges(job_gauges)


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
        registry.register(_DatabaseGauges())  # read once, by the worker that answers
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
