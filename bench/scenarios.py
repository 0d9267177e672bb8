"""The benchmark scenarios: each measures ours and its yardstick in the same run and adds a Row."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bench import load
from bench.harness import Bench, Gunicorn, ratio_row, scenario
from core import clock, db
from core.auth import Actor, Role, issue_token
from signing.models import Agreement, Centre, Resident

SECONDS = 10
CLIENTS = 4


def _unsigned_adults(limit: int) -> list[int]:
    """Residents who may sign for themselves (children need a guardian) and have not signed yet."""
    signed = select(Agreement.resident_id)
    adult_born_by = clock.today() - timedelta(days=18 * 366)
    return list(db.session.scalars(
        select(Resident.id).where(Resident.id.not_in(signed), Resident.openid.is_(None),
                                  Resident.birth_date <= adult_born_by).order_by(Resident.id).limit(limit)))


def _resident_tokens(resident_ids: list[int]) -> list[str]:
    with db.transaction():
        for rid in resident_ids:
            db.session.execute(update(Resident).where(Resident.id == rid).values(openid=f"bench-{rid}"))
    return [issue_token(Actor(role=Role.RESIDENT, subject=f"wx:bench-{rid}"))["access_token"] for rid in resident_ids]


def _split(calls: list[tuple]) -> list[list[tuple]]:
    return [calls[i::CLIENTS] for i in range(CLIENTS)]


def _bare_throughput(bench: Bench, method: str) -> load.LoadResult:
    calls = [load.json_call(method, "/bare", body={"x": 1} if method == "POST" else None)] * 50_000
    with Gunicorn("bench.bare:app", bench.server_env()) as server:
        return load.run(server.port, _split(calls), SECONDS)


@scenario
def sign_throughput(bench: Bench) -> None:
    """POST /api/v1/agreements under gunicorn (4 workers) vs a bare Flask endpoint on the same server."""
    centre_id = db.session.scalar(select(Centre.id).order_by(Centre.id))
    tokens = _resident_tokens(_unsigned_adults(20_000))
    body = {"centre_id": centre_id, "term_years": 1, "consent_version": bench.settings.CONSENT_TEXT_VERSION}
    calls = [load.json_call("POST", "/api/v1/agreements", token, body) for token in tokens]
    with Gunicorn("wsgi:app", bench.server_env()) as server:
        ours = load.run(server.port, _split(calls), SECONDS)
    bare = _bare_throughput(bench, "POST")
    bench.rows.append(ratio_row(
        "POST /api/v1/agreements (req/s)", ours.rps, bare.rps, "req/s", "≥ 0.40 of bare", lambda r: r >= 0.40,
        note=f"p50 {ours.p50_ms:.1f} ms, p99 {ours.p99_ms:.1f} ms, {ours.errors} errors; "
             f"bare p50 {bare.p50_ms:.1f} ms, p99 {bare.p99_ms:.1f} ms"))
