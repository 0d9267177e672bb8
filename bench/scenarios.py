"""The benchmark scenarios: each measures ours and its yardstick in the same run and adds a Row."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import String, cast, exists, func, insert, literal, select, update

from bench import load
from bench.county import COUNTY
from bench.harness import Bench, Gunicorn, Row, free_port, scenario, timed
from core import clock, db
from core.auth import Actor, Role, issue_token
from core.config import ROOT
from notifications import jobs
from notifications.models import MessageState, OutboxMessage, Subscription
from packages import service as packages_service
from packages.models import Visit, VisitState
from signing import rosters, settlement
from signing.models import Agreement, Centre, Resident
from signing.settlement import signed_on

SECONDS = 10
WARMUP_SECONDS = 3
CLIENTS = 4


def _unsigned_adults(limit: int) -> list[int]:
    """Residents who may sign for themselves (children need a guardian) and have not signed yet."""
    signed = exists().where(Agreement.resident_id == Resident.id)
    adult_born_by = clock.today() - timedelta(days=18 * 366)
    return list(db.session.scalars(
        select(Resident.id).where(~signed, Resident.openid.is_(None),
                                  Resident.birth_date <= adult_born_by).order_by(Resident.id).limit(limit)))


def _resident_tokens(resident_ids: list[int]) -> list[str]:
    with db.transaction():
        for start in range(0, len(resident_ids), 10_000):
            db.session.execute(update(Resident)
                               .where(Resident.id.in_(resident_ids[start:start + 10_000]), Resident.openid.is_(None))
                               .values(openid=literal("bench-") + cast(Resident.id, String)))
    return [issue_token(Actor(role=Role.RESIDENT, subject=f"wx:bench-{rid}"))["access_token"] for rid in resident_ids]


def _split(calls: list[tuple]) -> list[list[tuple]]:
    return [calls[i::CLIENTS] for i in range(CLIENTS)]


def _load(server: Gunicorn, calls: list[tuple], warmup: list[tuple], repeat: bool) -> load.LoadResult:
    """Warm every worker up, then time the load."""
    load.run(server.port, _split(warmup), WARMUP_SECONDS, repeat=repeat)
    return load.run(server.port, _split(calls), SECONDS, repeat=repeat)


def _bare_throughput(bench: Bench, method: str) -> load.LoadResult:
    calls = [load.json_call(method, "/bare", body={"x": 1} if method == "POST" else None)]
    with Gunicorn("bench.bare:app", bench.server_env()) as server:
        return _load(server, calls, calls, repeat=True)


@scenario
def schedule_rebuild(bench: Bench) -> None:
    """Build, then rebuild, the follow-up plans of every signed resident of the county."""
    resident_ids = db.session.scalars(select(Agreement.resident_id).order_by(Agreement.resident_id)).all()
    for label in ("build", "rebuild"):
        with timed() as took:
            with db.transaction():
                packages_service.rebuild_plans(resident_ids)
        visits = db.session.scalar(select(func.count(Visit.id)))
        bench.rows.append(Row(f"schedule {label} (s)", took[0], 300, "s", "< 300 s", took[0] < 300,
                              note=f"{len(resident_ids):,} agreements, {visits:,} visits; the limit is the time budget"))


@scenario
def my_visits_throughput(bench: Bench) -> None:
    """GET /api/v1/me/visits under gunicorn (4 workers) vs a bare Flask GET on the same server."""
    signed = db.session.scalars(select(Agreement.resident_id).order_by(Agreement.id).limit(20_000)).all()
    tokens = _resident_tokens(signed)
    calls = [load.json_call("GET", "/api/v1/me/visits", token) for token in tokens]
    _throughput_row(bench, "GET /api/v1/me/visits (req/s)", calls, calls, "GET")


@scenario
def sign_throughput(bench: Bench) -> None:
    """POST /api/v1/agreements under gunicorn (4 workers) vs a bare Flask endpoint on the same server."""
    centre_id = db.session.scalar(select(Centre.id).order_by(Centre.id))
    tokens = _resident_tokens(_unsigned_adults(20_400))
    body = {"centre_id": centre_id, "term_years": 1, "consent_version": bench.settings.CONSENT_TEXT_VERSION}
    calls = [load.json_call("POST", "/api/v1/agreements", token, body) for token in tokens]
    _throughput_row(bench, "POST /api/v1/agreements (req/s)", calls[400:], calls[:400], "POST")


def _throughput_row(bench: Bench, name: str, calls: list[tuple], warmup: list[tuple], method: str) -> None:
    bench.note("load", f"HTTP rows: the load generator's {CLIENTS} client processes run on the same {os.cpu_count()} "
                       "cores as the gunicorn workers and PostgreSQL, so ours and the limits alike are below what a "
                       "dedicated server gives.")
    with Gunicorn("wsgi:app", bench.server_env()) as server:
        ours = _load(server, calls, warmup, repeat=method == "GET")
    bare = _bare_throughput(bench, method)
    bench.rows.append(Row(name, ours.rps, bare.rps, "req/s", "≥ 0.40 of bare", ours.rps / bare.rps >= 0.40,
                          note=f"errors {ours.errors or 'none'}", ours_detail=ours.latency, limit_detail=bare.latency))



REMINDERS = 100_000
DISPATCHERS = 4


def _visits_due_in_three_days(bench: Bench, count: int) -> None:
    """Give `count` signed residents (with a long-term WeChat grant) one visit due in three days."""
    due = clock.today() + timedelta(days=3)
    agreements = db.session.execute(select(Agreement.id, Agreement.resident_id, Agreement.centre_id)
                                    .order_by(Agreement.id).limit(count)).all()
    _resident_tokens([a.resident_id for a in agreements])  # binds an openid to each
    template, now = bench.settings.WECHAT_TEMPLATES["visit_due"], clock.now()
    with db.transaction():
        db.session.execute(insert(Subscription), [dict(resident_id=a.resident_id, template_id=template, credits=0,
                                                       long_term=True, updated_at=now) for a in agreements])
        db.session.execute(insert(Visit), [dict(
            resident_id=a.resident_id, agreement_id=a.id, centre_id=a.centre_id, programme="bench", code="reminder",
            title="基准随访", protocol_version="bench", due_date=due, window_start=due, window_end=due,
            state=VisitState.PLANNED, created_at=now, updated_at=now) for a in agreements])


@scenario
def reminders_dispatch(bench: Bench) -> None:
    """The daily reminder scan for 100k due visits, then 4 dispatchers sending them to the local WeChat stand-in,
    beside 4 processes posting the same number of bare sends to the stand-in."""
    count = min(REMINDERS, bench.shape.residents // 2)
    _visits_due_in_three_days(bench, count)
    started = time.perf_counter()
    created = jobs.remind_visits()
    scan = time.perf_counter() - started
    bench.rows.append(Row("reminder scan (s)", scan, 300, "s", "< 300 s", scan < 300,
                          note=f"{created:,} messages, {created / scan:,.0f} messages/s; the limit is the time budget"))
    port = free_port()
    standin = subprocess.Popen([sys.executable, "-m", "standins.wechat", str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        load.wait_for_port(port)
        env = {**bench.server_env(), "WECHAT_API_BASE": f"http://127.0.0.1:{port}", "OUTBOX_BATCH": "200"}
        started = time.perf_counter()
        dispatchers = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "notifications", "dispatch"],
                                        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                       for _ in range(DISPATCHERS)]
        for dispatcher in dispatchers:
            dispatcher.wait(timeout=3600)
        ours = time.perf_counter() - started
        sent = db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.state == MessageState.SENT))
        body = {"touser": "bench", "template_id": "t", "data": {"thing1": {"value": "x"}}}
        calls = [load.json_call("POST", "/cgi-bin/message/subscribe/send?access_token=token-1", body=body)] * created
        bare = load.run(port, [calls[i::DISPATCHERS] for i in range(DISPATCHERS)], 3600)
    finally:
        standin.terminate()
    bench.rows.append(Row(
        "reminder dispatch vs bare sends to the stand-in (msg/s)", sent / ours, bare.rps, "msg/s", "≥ 0.40",
        sent / ours / bare.rps >= 0.40, note=f"{sent:,} of {created:,} sent in {ours:,.0f} s by {DISPATCHERS} dispatchers"))


def _bureau_token() -> str:
    return issue_token(Actor(role=Role.BUREAU, subject="client:bench-bureau", region_code=COUNTY))["access_token"]


def _median_seconds(run, times: int = 5) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


@scenario
def signed_counts(bench: Bench) -> None:
    """GET /api/v1/settlement/signed-counts for the county by centre vs its GROUP BY run bare in the database."""
    client, headers = bench.app.test_client(), {"Authorization": f"Bearer {_bureau_token()}"}
    url = f"/api/v1/settlement/signed-counts?region={COUNTY}&group_by=centre"
    assert client.get(url, headers=headers).status_code == 200
    ours = _median_seconds(lambda: client.get(url, headers=headers))
    today = clock.today()
    by, joins = settlement.GROUPS["centre"]
    statement = settlement.tally_query(today, [COUNTY], settlement.measures_of(today, []), by=by, joins=joins)
    bare = _median_seconds(lambda: db.session.execute(statement).all())
    count_only = _median_seconds(lambda: db.session.execute(
        select(Agreement.centre_id, func.count()).where(Agreement.region_code == COUNTY, signed_on(today))
        .group_by(Agreement.centre_id)).all())
    bench.rows.append(Row("signed-counts, county by centre vs bare GROUP BY (s)", ours, bare, "s", "≤ 1.5", ours / bare <= 1.5,
                          note=f"median of 5; the same {len(settlement.measures_of(today, []))} figures per centre; "
                               f"a count(*)-only GROUP BY takes {count_only:.2f} s"))


def _peak_rss_mb(pids: list[int]) -> float:
    """The highest resident-set peak (VmHWM) among the processes."""
    peaks = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def _worker_pids(master: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


@scenario
def roster_csv(bench: Bench) -> None:
    """The county's roster as streamed CSV through gunicorn vs PostgreSQL's COPY of the same query to STDOUT."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    token = _bureau_token()
    with Gunicorn("wsgi:app", bench.server_env(), workers=1) as server:
        workers = _worker_pids(server.process.pid)
        before = _peak_rss_mb(workers)
        started = time.perf_counter()
        size, lines = load.stream_get(server.port, f"/api/v1/rosters?region={COUNTY}",
                                      {"Authorization": f"Bearer {token}", "Accept": "text/csv"})
        ours = time.perf_counter() - started
        peak = _peak_rss_mb(workers)
    query, _ = rosters.roster_query(Actor(role=Role.BUREAU, subject="client:bench", region_code=COUNTY),
                                    region=COUNTY, cycle=None, updated_since=None)
    sql = str(query.compile(dialect=db.session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    started = time.perf_counter()
    copied = 0
    with db.session.connection().connection.cursor() as cursor:
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for block in copy:
                copied += len(block)
    bare = time.perf_counter() - started
    bench.rows.append(Row(
        "roster CSV vs COPY (s)", ours, bare, "s", "≤ 2", ours / bare <= 2,
        note=f"{lines - 1:,} rows; "
             f"{size / 1e6:,.0f} MB vs COPY {copied / 1e6:,.0f} MB; web worker peak RSS {before:,.0f} MB before, "
             f"{peak:,.0f} MB after (target < 200 MB, flat)"))
