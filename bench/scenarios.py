"""The benchmark scenarios: each measures ours and its limit in the same run and adds a Row.

HTTP limits are bench.handwritten (the same work by hand: psycopg, no ORM, no schemas) served by the
same gunicorn; the constant endpoint there is the ceiling. Every server is probed until each worker
has answered, and warmed up before the timed load.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable

from flask import current_app
from sqlalchemy import String, cast, exists, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by

from bench import handwritten, load
from bench.county import COUNTY
from bench.harness import Bench, Gunicorn, Row, Statements, ratio_of, scenario, serving, timed
from care import plans
from care.models import Visit, VisitState
from core import auth, clock, db, sessions
from core.auth import Actor, Role, issue_token
from core.config import ROOT
from notifications import jobs
from notifications.models import MessageState, OutboxMessage, Subscription
from registry.models import Centre, Resident
from settlement import rosters
from settlement import service as settlement
from signing.models import Agreement, AgreementPackage, AgreementStatus, in_force_on

SECONDS = 10  # timed per contender, in ROUNDS interleaved rounds
ROUNDS = 4
WARMUP_SECONDS = 3
CLIENTS = 4
WORKERS = 4
SIGNERS = 20_000
OURS = "wsgi:app"
HANDWRITTEN = "bench.handwritten:create_app()"
VISITS, AGREEMENTS = "/api/v1/me/visits", "/api/v1/agreements"

LOAD_NOTE = (f"HTTP rows: gunicorn as gunicorn.conf.py runs it (gthread, {WORKERS} workers of 8 threads per app, no "
             "keep-alive; the hand-written app holds a connection per thread), ours and the hand-written one up side by side; the "
             f"load starts when every worker has answered a probe (the app imported) and each contender has had "
             f"{WARMUP_SECONDS} s of warm-up; each is timed {SECONDS} s in {ROUNDS} interleaved rounds, the order turning "
             "each round, so a change in the machine's other load falls on all alike. The load generator's "
             f"{CLIENTS} client processes run on the same {os.cpu_count()} cores as the workers and PostgreSQL, so "
             "ours and the limits alike are below what a dedicated server gives; every request is a new TCP "
             "connection.")


@dataclass
class Contender:
    name: str
    server: Gunicorn
    calls: list[tuple]
    repeat: bool  # send the calls round and round (reads), or each once (signings)


def _unsigned_adults(limit: int) -> list[int]:
    """Residents who may sign for themselves (children need a guardian) and have not signed yet."""
    signed = exists().where(Agreement.resident_id == Resident.id)
    adult_born_by = clock.today() - timedelta(days=18 * 366)
    return list(db.session.scalars(
        select(Resident.id).where(~signed, Resident.openid.is_(None),
                                  Resident.birth_date <= adult_born_by).order_by(Resident.id).limit(limit)))


def _bind_openids(resident_ids: list[int]) -> None:
    """Give each resident (who has none) the openid `bench-<id>`, as binding their WeChat identity would."""
    with db.transaction():
        for start in range(0, len(resident_ids), 10_000):
            db.session.execute(update(Resident)
                               .where(Resident.id.in_(resident_ids[start:start + 10_000]), Resident.openid.is_(None))
                               .values(openid=literal("bench-") + cast(Resident.id, String)))


def _resident_tokens(resident_ids: list[int]) -> list[str]:
    """An access token for each resident, bound first: what core.auth.issue_token answers, with the sessions opened in
    one transaction (issue_token commits one a token, minutes for 20,000 on a busy machine). The tokens last as long as
    Bench.settings' ACCESS_TOKEN_SECONDS (raised for the run)."""
    _bind_openids(resident_ids)
    now, days = clock.now(), current_app.config["SETTINGS"].RESIDENT_SESSION_DAYS
    opened = [sessions.Session(id=secrets.token_urlsafe(16), subject=f"wx:bench-{rid}", role=Role.RESIDENT.value,
                               created_at=now, last_seen_at=now, expires_at=now + timedelta(days=days),
                               ends_when_idle=False, refresh_generation=0, password_change_required=False)
              for rid in resident_ids]
    with db.transaction():
        for start in range(0, len(opened), 10_000):
            db.session.execute(insert(sessions.Session), [
                {column.key: getattr(row, column.key) for column in sessions.Session.__table__.columns}
                for row in opened[start:start + 10_000]])
    return [auth._tokens(row)["access_token"] for row in opened]


def _split(calls: list[tuple]) -> list[list[tuple]]:
    return [calls[i::CLIENTS] for i in range(CLIENTS)]


def _contest(contenders: list[Contender], after_each: Callable[[], None] = lambda: None) -> dict[str, load.LoadResult]:
    """Warm each contender up, then time them in interleaved rounds; `after_each` runs after every run (e.g. to
    undo what it wrote, so that each run starts from the same database)."""
    for contender in contenders:
        load.run(contender.server.port, _split(contender.calls), WARMUP_SECONDS, repeat=contender.repeat)
        after_each()
    parts: dict[str, list[load.LoadResult]] = {contender.name: [] for contender in contenders}
    for turn in range(ROUNDS):
        for contender in contenders[turn % len(contenders):] + contenders[:turn % len(contenders)]:
            parts[contender.name].append(
                load.run(contender.server.port, _split(contender.calls), SECONDS / ROUNDS, repeat=contender.repeat))
            after_each()
    return {name: load.merged(runs) for name, runs in parts.items()}


def _outcome(result: load.LoadResult) -> str:
    ran_out = "; ran out of calls before the time was up" if result.ran_out else ""
    return f"{result.requests:,} requests, errors {result.errors or 'none'}{ran_out}"


def _throughput_row(name: str, ours: load.LoadResult, limit: load.LoadResult, target: float | None, note: str) -> Row:
    ratio = ratio_of(ours.rps, limit.rps)
    return Row(name, ours.rps, limit.rps, "req/s", f"≥ {target:.2f}" if target else "— (ceiling)",
               None if target is None or ratio is None else ratio >= target,
               note=note, ours_detail=ours.latency, limit_detail=limit.latency)


def _round_trips(statements: Statements) -> str:
    return f"{statements.count} statements ({statements.round_trips} round trips with ping, BEGIN, COMMIT/ROLLBACK)"


class _ByHand:
    """Counts what the hand-written app sends in this process while the `with` block runs."""

    def __enter__(self) -> "_ByHand":
        self.before = handwritten.statements, handwritten.round_trips
        return self

    def __exit__(self, *exc) -> None:
        self.statements = handwritten.statements - self.before[0]
        self.round_trips = handwritten.round_trips - self.before[1]

    def __str__(self) -> str:
        return f"{self.statements} statements ({self.round_trips} round trips)"


def _in_process_visits(bench: Bench, calls: list[tuple], compared: int = 50) -> tuple[Statements, _ByHand, str]:
    """GET /me/visits through ours and through the hand-written app in this process: the same JSON for the first
    `compared` callers, and the statements each sends for one of them."""
    ours, limit = bench.app.test_client(), handwritten.create_app(bench.settings).test_client()
    _, path, headers, _ = calls[0]
    ours.get(path, headers=headers)  # the first request of a process also sets up the dialect
    db.session.remove()  # under gunicorn each request starts without a session and ends removing it
    _, path, headers, _ = calls[1]
    with Statements(bench.engine) as statements:
        ours.get(path, headers=headers)
        db.session.remove()
    with _ByHand() as sent:
        limit.get(path, headers=headers)
    visits = 0
    for _, path, headers, _ in calls[:compared]:
        answer, by_hand = ours.get(path, headers=headers), limit.get(path, headers=headers)
        db.session.remove()
        if answer.status_code != 200 or answer.get_json() != by_hand.get_json():
            raise AssertionError(f"the hand-written /me/visits answers differently: {answer.status_code} "
                                 f"{answer.get_data()[:300]!r} vs {by_hand.status_code} {by_hand.get_data()[:300]!r}")
        visits += len(answer.get_json()["items"])
    handwritten.disconnect()
    return statements, sent, f"the same JSON for the first {compared} callers ({visits} visits)"


@scenario
def schedule_rebuild(bench: Bench) -> None:
    """Build, then rebuild, the follow-up plans of every signed resident of the county."""
    resident_ids = db.session.scalars(select(Agreement.resident_id).order_by(Agreement.resident_id)).all()
    for label in ("build", "rebuild"):
        with timed() as took:
            with db.transaction():
                plans.rebuild_plans(resident_ids)
        visits = db.session.scalar(select(func.count(Visit.id)))
        bench.rows.append(Row(f"schedule {label} (s)", took[0], 300, "s", "< 300 s", took[0] < 300,
                              note=f"{len(resident_ids):,} agreements, {visits:,} visits; the limit is the time budget"))


def _plans_built() -> None:
    """Build the follow-up plans unless schedule_rebuild did (with --only): /me/visits lists them. Then ANALYZE: after
    sign_throughput the statistics say visits is empty, and both sides would scan the whole table every request."""
    if db.session.scalar(select(func.count()).select_from(select(Visit.id).limit(1).subquery())) == 0:
        resident_ids = db.session.scalars(select(Agreement.resident_id)).all()
        with db.transaction():
            plans.rebuild_plans(resident_ids)
    with db.transaction():
        db.session.execute(text("ANALYZE visits"))


@scenario
def my_visits_throughput(bench: Bench) -> None:
    """GET /api/v1/me/visits under gunicorn vs the same by hand, and vs a constant endpoint (the ceiling)."""
    bench.note("load", LOAD_NOTE)
    _plans_built()
    signed = db.session.scalars(select(Agreement.resident_id).order_by(Agreement.id).limit(20_000)).all()
    calls = [load.json_call("GET", VISITS, token) for token in _resident_tokens(signed)]
    statements, by_hand, same = _in_process_visits(bench, calls)
    env = bench.server_env()
    ours_server, limit_server = Gunicorn(OURS, env, WORKERS), Gunicorn(HANDWRITTEN, env, WORKERS)
    with serving(ours_server, limit_server):
        results = _contest([Contender("ours", ours_server, calls, True), Contender("limit", limit_server, calls, True),
                            Contender("bare", limit_server, [load.json_call("GET", "/bare")], True)])
    ours, limit, bare = results["ours"], results["limit"], results["bare"]
    bench.rows.append(_throughput_row(
        "GET /api/v1/me/visits vs hand-written (req/s)", ours, limit, 0.5,
        f"ours {_round_trips(statements)} a request ({statements.summary()}), by hand {by_hand}; {same}; "
        f"ours {_outcome(ours)}; by hand {_outcome(limit)}; our workers all answered {ours_server.boot_seconds:.1f} s "
        f"after start"))
    bench.rows.append(_throughput_row("ceiling: GET /api/v1/me/visits vs a constant Flask endpoint (req/s)", ours, bare,
                                      None, f"constant endpoint {_outcome(bare)}"))


SIGNED_ROWS = "SELECT id FROM agreements WHERE resident_id = ANY(:ids)"


def _undo_signings(resident_ids: list[int]) -> None:
    """Remove what signing these (before unsigned) residents wrote, so the next run signs them again."""
    with db.transaction():
        for table in ("visits", "consents"):
            db.session.execute(text(f"DELETE FROM {table} WHERE resident_id = ANY(:ids)"), {"ids": resident_ids})
        db.session.execute(text(f"DELETE FROM agreement_packages WHERE agreement_id IN ({SIGNED_ROWS})"), {"ids": resident_ids})
        db.session.execute(text("DELETE FROM agreements WHERE resident_id = ANY(:ids)"), {"ids": resident_ids})
        db.session.execute(text("DELETE FROM idempotency_records WHERE actor LIKE 'wx:bench-%'"))


def _written_by_signing(resident_id: int) -> dict:
    """The rows a signing wrote for a resident, without ids and instants."""
    ids = {"ids": [resident_id]}
    return {
        "agreements": db.session.execute(text(
            "SELECT resident_id, centre_id, window_id, team_id, doctor_id, region_code, cycle, start_date, end_date, "
            "term_years, term_end_date, status, channel, counts_for_capitation, signed_by, basis, identity_check_id, "
            "secondary_hospital_id, tertiary_hospital_id FROM agreements WHERE resident_id = ANY(:ids)"),
            ids).all(),
        "consents": db.session.execute(text(
            f"SELECT resident_id, text_version, guardian_id, recorded_by FROM consents WHERE agreement_id IN ({SIGNED_ROWS})"),
            ids).all(),
        "packages": db.session.execute(text(
            f"SELECT edition, package_code, price_fen, added_on, added_by, dropped_on FROM agreement_packages "
            f"WHERE agreement_id IN ({SIGNED_ROWS}) ORDER BY id"), ids).all(),
        "visits": db.session.execute(text(
            "SELECT programme, code, title, protocol_version, due_date, on_time_from, on_time_until, state, centre_id, "
            "team_id, rescheduled, referral, modes::text FROM visits WHERE resident_id = ANY(:ids) ORDER BY programme, code"), ids).all(),
    }


def _in_process_signing(bench: Bench, resident_ids: list[int], calls: list[tuple],
                        compared: int = 20) -> tuple[Statements, _ByHand, str]:
    """Sign the same residents through ours and by hand in this process: the same rows written and the same JSON
    (but the agreement id) for `compared` of them, and the statements each sends for one."""
    ours, limit = bench.app.test_client(), handwritten.create_app(bench.settings).test_client()
    _, path, headers, body = calls[0]
    ours.post(path, headers=headers, data=body)  # the first request of a process also sets up the dialect
    db.session.remove()  # under gunicorn each request starts without a session and ends removing it
    signers = range(1, compared + 1)

    def sign(client, counted) -> tuple[list, list]:
        answers = []
        for n in signers:
            _, path, headers, body = calls[n]
            with counted if n == 1 else nullcontext():
                answers.append(client.post(path, headers=headers, data=body))
                db.session.remove()
        written = [_written_by_signing(resident_ids[n]) for n in signers]
        _undo_signings(resident_ids[:compared + 1])
        return answers, written

    statements, sent = Statements(bench.engine), _ByHand()
    answers, written = sign(ours, statements)
    by_hand_answers, by_hand_written = sign(limit, sent)
    handwritten.disconnect()

    def without_id(answer) -> list:
        return [{**agreement, "id": None} for agreement in answer.get_json()["items"]]

    for answer, by_hand, rows, by_hand_rows in zip(answers, by_hand_answers, written, by_hand_written, strict=True):
        if answer.status_code != 201 or by_hand.status_code != 201 or without_id(answer) != without_id(by_hand):
            raise AssertionError(f"the hand-written signing answers differently: {answer.status_code} "
                                 f"{answer.get_data()[:300]!r} vs {by_hand.status_code} {by_hand.get_data()[:300]!r}")
        if rows != by_hand_rows:
            raise AssertionError(f"the hand-written signing writes other rows: {rows} vs {by_hand_rows}")
    visits = sum(len(rows["visits"]) for rows in written)
    return statements, sent, f"the same rows and JSON for {compared} signings ({visits} visits planned)"


@scenario
def sign_throughput(bench: Bench) -> None:
    """POST /api/v1/agreements under gunicorn vs the same by hand; with an Idempotency-Key vs without; and vs a
    constant endpoint (the ceiling). Each run signs the same residents: what a run wrote is removed after it."""
    bench.note("load", LOAD_NOTE)
    centre_id = db.session.scalar(select(Centre.id).order_by(Centre.id))
    resident_ids = _unsigned_adults(SIGNERS)
    tokens = _resident_tokens(resident_ids)
    body = {"centre_id": centre_id, "term_years": 1, "consent_version": bench.settings.CONSENT_TEXT_VERSION}

    def calls(keyed: bool) -> list[tuple]:
        return [load.json_call("POST", AGREEMENTS, token, body, {"Idempotency-Key": f"bench-{n}"} if keyed else None)
                for n, token in enumerate(tokens)]

    plain, keyed = calls(False), calls(True)
    statements, by_hand, same = _in_process_signing(bench, resident_ids, plain)
    db.session.remove()
    with Statements(bench.engine) as keyed_statements:
        bench.app.test_client().post(AGREEMENTS, headers=keyed[1][2], data=keyed[1][3])
        db.session.remove()
    _undo_signings(resident_ids[:2])
    env = bench.server_env()
    ours_server, limit_server = Gunicorn(OURS, env, WORKERS), Gunicorn(HANDWRITTEN, env, WORKERS)
    with serving(ours_server, limit_server):
        results = _contest([Contender("ours", ours_server, plain, False), Contender("keyed", ours_server, keyed, False),
                            Contender("limit", limit_server, plain, False),
                            Contender("bare", limit_server, [load.json_call("POST", "/bare", body={"x": 1})], True)],
                           after_each=lambda: _undo_signings(resident_ids))
    with db.transaction():
        db.session.execute(text("ANALYZE agreements, agreement_packages, consents, visits"))
    ours, with_key, limit, bare = results["ours"], results["keyed"], results["limit"], results["bare"]
    bench.rows.append(_throughput_row(
        "POST /api/v1/agreements vs hand-written (req/s)", ours, limit, 0.4,
        f"ours {_round_trips(statements)} a signing ({statements.summary(6)}, …), by hand {by_hand} in one "
        f"transaction; {same}; every run signs from the same {len(resident_ids):,} unsigned residents (what a run "
        f"wrote is removed after it); ours {_outcome(ours)}; by hand {_outcome(limit)}"))
    bench.rows.append(_throughput_row(
        "POST /api/v1/agreements with Idempotency-Key vs without (req/s)", with_key, ours, 0.85,
        f"with a key {_round_trips(keyed_statements)} (the key is claimed, and the answer stored, each committed "
        f"by itself: in autocommit on a connection of its own, one round trip, which the count's BEGIN and COMMIT "
        f"events overstate), {_outcome(with_key)}"))
    bench.rows.append(_throughput_row("ceiling: POST /api/v1/agreements vs a constant Flask endpoint (req/s)", ours, bare,
                                      None, f"constant endpoint {_outcome(bare)}"))


REMINDERS = 100_000
DISPATCHERS = 4
# The dispatchers send for at most this long after their first send (the rate is taken from the first send to the
# last): it bounds a quick run on a busy machine.
DISPATCH_SECONDS = 180
DISPATCH_BATCH = 200
STANDIN = "standins.wechat:create_standin()"
KEEP_ALIVE = ("-k", "gthread", "--threads", "4", "--keep-alive", "30")
REMINDER_NOTE = "请按时到医生处随访"


def _visits_due_in_three_days(bench: Bench, count: int) -> None:
    """Give `count` signed residents (with a long-term WeChat grant) one visit due in three days."""
    due = clock.today() + timedelta(days=3)
    agreements = db.session.execute(select(Agreement.id, Agreement.resident_id, Agreement.centre_id)
                                    .order_by(Agreement.id).limit(count)).all()
    _bind_openids([a.resident_id for a in agreements])
    template, now = bench.settings.WECHAT_TEMPLATES["visit_due"], clock.now()
    with db.transaction():
        db.session.execute(insert(Subscription), [dict(resident_id=a.resident_id, template_id=template, credits=0,
                                                       long_term=True, updated_at=now) for a in agreements])
        db.session.execute(insert(Visit), [dict(
            resident_id=a.resident_id, agreement_id=a.id, centre_id=a.centre_id, programme="bench", code="reminder",
            title="基准随访", protocol_version="bench", due_date=due, on_time_from=due, on_time_until=due,
            state=VisitState.PLANNED, created_at=now, updated_at=now) for a in agreements])


def _scan_by_hand(bench: Bench) -> int:
    """The visit reminder scan as one INSERT … SELECT: the same messages, dedupe keys and opt-outs as jobs.remind_visits."""
    leads, today = bench.settings.VISIT_REMINDER_DAYS, clock.today()
    with db.transaction():
        return db.session.execute(text(
            "INSERT INTO outbox_messages (dedupe_key, kind, content, resident_id, centre_id, state, attempts, holds_grant, "
            "next_attempt_at, created_at, updated_at) "
            "SELECT 'visit:' || v.id || ':' || s.stage || ':' || to_char(v.due_date, 'YYYY-MM-DD'), 'visit_due', "
            "json_build_object('title', v.title, 'date', to_char(v.due_date, 'YYYY-MM-DD'), 'place', c.name, "
            "'note', CAST(:note AS text), 'page', 'pages/visits/detail?id=' || v.id), v.resident_id, v.centre_id, "
            "'pending', 0, false, :now, :now, :now "
            "FROM visits v JOIN centres c ON c.id = v.centre_id CROSS JOIN LATERAL ("
            "  SELECT min(lead) AS stage FROM unnest(CAST(:leads AS int[])) AS lead WHERE lead >= v.due_date - CAST(:today AS date)) s "
            "WHERE v.state = 'planned' AND v.due_date BETWEEN :today AND :until AND NOT EXISTS ("
            "  SELECT 1 FROM notification_opt_outs o WHERE o.resident_id = v.resident_id AND o.kind = 'visit_due') "
            "ON CONFLICT (dedupe_key) DO NOTHING"),
            {"note": REMINDER_NOTE, "now": clock.now(), "leads": list(leads), "today": today,
             "until": today + timedelta(days=max(leads))}).rowcount


def _first_sent() -> bool:
    with db.transaction():  # a fresh snapshot each time
        return db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.state == MessageState.SENT).limit(1)) is not None


def _outbox_keys() -> set[str]:
    return set(db.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("visit:%"))))


@scenario
def reminders_dispatch(bench: Bench) -> None:
    """The daily reminder scan for 100k due visits vs one INSERT … SELECT, counting its statements; then 4
    dispatchers sending them to the local WeChat stand-in vs 4 clients posting bare sends to it on kept-alive
    connections."""
    count = min(REMINDERS, bench.shape.residents // 10)
    _visits_due_in_three_days(bench, count)
    with timed() as by_hand:
        by_hand_created = _scan_by_hand(bench)
    expected = _outbox_keys()
    with db.transaction():
        db.session.execute(text("DELETE FROM outbox_messages WHERE dedupe_key LIKE 'visit:%'"))
    with Statements(bench.engine) as statements, timed() as scan:
        created = jobs.remind_visits()
    if created != by_hand_created or _outbox_keys() != expected:
        raise AssertionError(f"the hand-written scan made other messages: {by_hand_created:,} vs ours {created:,}")
    per_message = statements.count / created if created else float("nan")
    bench.rows.append(Row(
        "reminder scan vs one INSERT … SELECT (s)", scan[0], by_hand[0], "s",
        "no per-message query (< 0.01 statements a message)", per_message < 0.01,
        note=f"{created:,} messages, {statements.count:,} statements: {per_message:.2f} a message "
             f"({statements.summary()}); {created / scan[0]:,.0f} messages/s; "
             "the same messages and dedupe keys"))

    # The stand-in under gunicorn's gthread worker, which keeps connections alive (its own werkzeug server closes them).
    with Gunicorn(STANDIN, bench.server_env(), workers=1, options=KEEP_ALIVE) as standin:
        env = {**bench.server_env(), "WECHAT_API_BASE": f"http://127.0.0.1:{standin.port}", "OUTBOX_BATCH": str(DISPATCH_BATCH)}
        with timed() as wall:
            dispatchers = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "notifications", "dispatch"],
                                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                           for _ in range(DISPATCHERS)]
            stopped = _wait_or_stop(dispatchers, DISPATCH_SECONDS, begun=_first_sent)
        sent, first, last = db.session.execute(
            select(func.count(OutboxMessage.id), func.min(OutboxMessage.sent_at), func.max(OutboxMessage.sent_at))
            .where(OutboxMessage.state == MessageState.SENT)).one()
        sending = (last - first).total_seconds() if sent > 1 else wall[0]
        body = {"touser": "bench", "template_id": "t", "data": {"thing1": {"value": "x"}}}
        calls = [load.json_call("POST", "/cgi-bin/message/subscribe/send?access_token=token-1", body=body)]
        bare = load.run(standin.port, [calls] * DISPATCHERS, SECONDS, repeat=True)
    ours = sent / sending
    bench.rows.append(Row(
        "reminder dispatch vs bare kept-alive sends to the stand-in (msg/s)", ours, bare.rps, "msg/s", "≥ 0.40",
        ratio_of(ours, bare.rps) >= 0.40 if bare.rps else None,
        note=f"{sent:,} of {created:,} sent by {DISPATCHERS} dispatchers in {sending:,.1f} s from the first send to the "
             f"last ({wall[0]:,.1f} s with their start-up"
             f"{f'; stopped after {DISPATCH_SECONDS} s' if stopped else ''}); ours a message: the send (requests on a "
             "kept-alive session, deadline-watched) and one UPDATE of its outcome committed by itself before the next "
             "send (autocommit, synchronous_commit off: one round trip), a batch of "
             f"{DISPATCH_BATCH}: one claim (UPDATE … RETURNING) and two reads; bare sends (http.client, the same body for "
             f"every call, nothing else done) {bare.latency} on {bare.connections} connections, {_outcome(bare)}"))


def _wait_or_stop(processes: list[subprocess.Popen], seconds: float, begun: Callable[[], bool]) -> bool:
    """Wait for the processes to end, at most `seconds` after `begun()` first holds (their start-up is not
    counted), then stop those still running. True when some were stopped."""
    since = None
    while any(process.poll() is None for process in processes):
        if since is None and begun():
            since = time.monotonic()
        if since is not None and time.monotonic() - since > seconds:
            break
        time.sleep(0.5)
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        process.wait(timeout=30)
    return bool(running)


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
    with_jit = _median_seconds(lambda: db.session.execute(statement).all())
    db.without_jit(db.session)  # as ours runs it (settlement.tally): the limit runs under the same settings
    bare = _median_seconds(lambda: db.session.execute(statement).all())
    count_only = _median_seconds(lambda: db.session.execute(
        select(Agreement.centre_id, func.count()).where(Agreement.region_code == COUNTY, in_force_on(today))
        .group_by(Agreement.centre_id)).all())
    bench.rows.append(Row("signed-counts, county by centre vs bare GROUP BY (s)", ours, bare, "s", "≤ 1.5",
                          ratio_of(ours, bare) <= 1.5,
                          note=f"median of 5; the same {len(settlement.measures_of(today, []))} figures per centre; "
                               f"both with PostgreSQL's JIT off (with it on, as by default, the bare GROUP BY takes "
                               f"{with_jit:.2f} s); a count(*)-only GROUP BY takes {count_only:.2f} s"))


def _memory_mb(pid: int, field: str) -> float:
    """A /proc status figure of a process in MB: VmRSS (now) or VmHWM (its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


class _RssSampler(threading.Thread):
    """Samples a process's resident set every 0.1 s while a `with` block runs."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.samples.append(_memory_mb(self.pid, "VmRSS"))

    def __enter__(self) -> "_RssSampler":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join()


def _roster_copy_sql(bench: Bench) -> str:
    """The roster's query with its packages column (as the CSV joins them) and tombstone, for COPY."""
    query, _ = rosters.roster_query(Actor(role=Role.BUREAU, subject="client:bench", region_code=COUNTY),
                                    region=COUNTY, cycle=None, updated_since=None)
    packages = (select(func.string_agg(AgreementPackage.package_code, aggregate_order_by(literal("+"), AgreementPackage.id)))
                .where(AgreementPackage.agreement_id == Agreement.id, AgreementPackage.dropped_on.is_(None))
                .scalar_subquery())
    query = query.add_columns(packages.label("packages"), (Agreement.status == AgreementStatus.TERMINATED).label("tombstone"))
    return str(query.compile(dialect=bench.engine.dialect, compile_kwargs={"literal_binds": True}))


@scenario
def roster_csv(bench: Bench) -> None:
    """The county's roster as streamed CSV through gunicorn vs PostgreSQL's COPY of the same columns (packages
    included) to STDOUT; and the web worker's memory while it streams.

    The roster is streamed twice: the first stream warms the worker up; the second is timed and shows whether
    memory stays flat (memory a stream keeps per row would grow again in the second).
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    headers = {"Authorization": f"Bearer {_bureau_token()}", "Accept": "text/csv"}
    path = f"/api/v1/rosters?region={COUNTY}"
    with Gunicorn(OURS, bench.server_env(), workers=1) as server:
        worker = server.worker_pids[0]
        booted = _memory_mb(worker, "VmRSS")
        with _RssSampler(worker) as first, timed() as first_took:
            load.stream_get(server.port, path, headers)
        before = _memory_mb(worker, "VmRSS")
        with _RssSampler(worker) as second, timed() as took:
            size, lines = load.stream_get(server.port, path, headers)
        after = _memory_mb(worker, "VmRSS")
        peak = max([_memory_mb(worker, "VmHWM"), *first.samples, *second.samples])
        ours = took[0]
    copied = 0
    with timed() as bare:
        with db.session.connection().connection.cursor() as cursor:
            with cursor.copy(f"COPY ({_roster_copy_sql(bench)}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                for block in copy:
                    copied += len(block)
    rows = lines - 1
    bench.rows.append(Row(
        "roster CSV vs COPY of the same columns with packages (s)", ours, bare[0], "s", "≤ 2", ratio_of(ours, bare[0]) <= 2,
        note=f"{rows:,} rows; {size / 1e6:,.1f} MB vs COPY {copied / 1e6:,.1f} MB (COPY ships the ID number's ciphertext, "
             f"ours decrypts it); ours {first_took[0]:,.2f} s on the first stream"))
    growth = max([before, *second.samples]) - before
    bench.rows.append(Row(
        "web worker memory while streaming the roster (MB)", peak, 200, "MB", "flat (< 20 MB growth), < 200 MB",
        peak < 200 and growth < 20,
        note=f"{rows:,} rows; resident set {booted:,.0f} MB booted, {max([booted, *first.samples]):,.0f} MB at most in "
             f"the first stream, {before:,.0f} MB after it; the second stream grows it by {growth:,.1f} MB "
             f"(to {after:,.0f} MB after); peak {peak:,.0f} MB"
             + ("" if rows >= 1_000_000 else "; fewer rows than the 1M-row roster the target is about")))


# Registered last: the residents it imports come after every other scenario has run.
from bench import county_import  # noqa: E402, F401
