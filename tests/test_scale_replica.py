"""Reads that may lag go to a read replica (DATABASE_REPLICA_URL), and lag never makes a pull skip a row.

The replica is stood in for by a second PostgreSQL database made from the primary with CREATE DATABASE …
TEMPLATE: a copy of the primary as it was at that moment, i.e. a replica lagging by what was written since.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from core import clock
from core import db as core_db
from core.models import AuditEvent, Lease
from settlement import rosters
from signing.models import Agreement
from tests import factories as f
from tests.conftest import PG_URL
from tests.settlement_helpers import agreement, as_bureau

COUNTS = "/api/v1/settlement/signed-counts?region=430523&as_of=2026-03-01&group_by=centre"
ROSTER = "/api/v1/rosters"
CSV = {"Accept": "text/csv"}


def _roster_ids(client, **params) -> tuple[list[int], int | None]:
    """A JSON roster pull (one page): the agreement ids in order, and the last change_seq served."""
    answer = client.get(ROSTER, query_string={"region": "430523", "limit": 500, **params}, headers=as_bureau())
    assert answer.status_code == 200, answer.get_json()
    items = answer.get_json()["items"]
    return [item["id"] for item in items], (items[-1]["change_seq"] if items else None)


def _csv_ids(client, **params) -> list[int]:
    answer = client.get(ROSTER, query_string={"region": "430523", **params}, headers={**as_bureau(), **CSV})
    assert answer.status_code == 200
    return [int(row["id"]) for row in csv.DictReader(io.StringIO(answer.get_data(as_text=True)))]


def test_without_a_replica_url_reads_that_may_lag_use_the_primary_session(app, db):
    assert not app.config["SETTINGS"].DATABASE_REPLICA_URL
    with core_db.replica_session() as reading:
        assert reading is core_db.session
        assert core_db.replica_lag(reading) == timedelta(0)
    f.regions()
    agreement(f.resident(), f.centre(region="430523"))  # written in this test's transaction: only the primary sees it
    answer = app.test_client().get(COUNTS, headers=as_bureau())
    assert answer.get_json()["total"]["signed"] == 1


def test_without_a_replica_url_roster_pulls_read_the_primary_session(app, db):
    f.regions()
    signed = agreement(f.resident(), f.centre(region="430523"))  # in this test's transaction: only the primary has it
    client = app.test_client()
    assert _roster_ids(client, changed_after=0)[0] == [signed.id]
    assert _csv_ids(client) == [signed.id]
    clock.advance(rosters.SETTLE + timedelta(seconds=1))
    assert _roster_ids(client, updated_since="2026-01-01T00:00:00+00:00")[0] == [signed.id]


@pytest.fixture
def replica(app, committed_db, monkeypatch):
    """A function that (re)makes the replica stand-in as a copy of the primary now; DATABASE_REPLICA_URL names it."""
    if committed_db.startswith("sqlite"):
        pytest.skip("a read replica is PostgreSQL's")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    primary, name = make_url(committed_db).database, f"{make_url(committed_db).database}_replica"
    monkeypatch.setitem(app.config, "SETTINGS", app.config["SETTINGS"].replace(
        DATABASE_REPLICA_URL=make_url(committed_db).set(database=name).render_as_string(hide_password=False)))

    def copy() -> None:
        core_db.session.remove()
        core_db.session.get_bind().dispose()  # TEMPLATE needs the primary without connections
        if engine := app.extensions.get("replica_engine"):
            engine.dispose()  # its connections end with the old copy (a pooled one is pinged only after a second idle)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{primary}"'))

    yield copy
    if engine := app.extensions.pop("replica_engine", None):
        engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_signed_counts_come_from_the_replica_when_one_is_set(app, replica):
    f.regions()
    centre = f.centre(region="430523")
    agreement(f.resident(), centre)
    replica()
    agreement(f.resident(), centre)  # not on the replica yet
    client = app.test_client()
    assert client.get(COUNTS, headers=as_bureau()).get_json()["total"]["signed"] == 1
    with core_db.replica_session() as reading:
        assert reading is not core_db.session
        assert reading.scalar(select(Agreement.id).where(Agreement.id == -1)) is None
        with pytest.raises(DBAPIError, match="read-only"):  # the replica engine never writes
            reading.execute(update(Agreement).values(cycle=2026))
    replica()  # caught up
    assert client.get(COUNTS, headers=as_bureau()).get_json()["total"]["signed"] == 2


def _stamped(person, centre, seconds_ago: int) -> int:
    signed = agreement(person, centre)
    core_db.session.execute(update(Agreement).where(Agreement.id == signed.id)
                            .values(updated_at=clock.now() - timedelta(seconds=seconds_ago)))
    core_db.session.commit()
    return signed.id


def _leader_renewed(app, seconds_ago: int) -> None:
    """The scheduler leader's lease as renewed `seconds_ago` (expires_at is the renewal plus the lease time)."""
    ttl = timedelta(seconds=app.config["SETTINGS"].SCHEDULER_LEASE_SECONDS)
    core_db.session.merge(Lease(name="scheduler", holder="leader", expires_at=clock.now() - timedelta(seconds=seconds_ago) + ttl))
    core_db.session.commit()


def _pull(after: tuple | None, horizon) -> list[tuple]:
    """An `updated_since` pull from the replica: (updated_at, id) keys after `after`, below `horizon`, in that order."""
    query = (select(Agreement.updated_at, Agreement.id).where(Agreement.updated_at < horizon)
             .order_by(Agreement.updated_at, Agreement.id))
    if after is not None:
        query = query.where((Agreement.updated_at > after[0]) | ((Agreement.updated_at == after[0]) & (Agreement.id > after[1])))
    with core_db.replica_session() as reading:
        return [tuple(row) for row in reading.execute(query)]


def _slow_commit_behind_the_replica(app, replica):
    """A stamped 600 s ago and C 60 s ago, both replayed by the replica (up to the lease renewal 50 s ago); then B,
    stamped 70 s ago — before C — but committed after the replay. Returns (a, b, c)."""
    clock.set_today(date(2026, 3, 16))
    f.regions()
    centre = f.centre(region="430523")
    a = _stamped(f.resident(), centre, 600)
    c = _stamped(f.resident(), centre, 60)
    _leader_renewed(app, 50)
    replica()
    return a, _stamped(f.resident(), centre, 70), c


def test_a_pull_horizon_held_back_by_the_replica_lag_never_skips_a_row_the_replica_has_not_replayed(app, replica):
    """B was stamped before C but committed after it (a slow transaction) and after the replica's last replay:
    the primary's horizon alone would let a replica pull pass C, and B behind the cursor would never be served."""
    a, b, c = _slow_commit_behind_the_replica(app, replica)
    _leader_renewed(app, 0)

    naive = _pull(None, rosters.settled_before())
    assert [key[1] for key in naive] == [a, c]  # what a pull with the primary's horizon alone would serve: B lost

    with core_db.replica_session() as reading:
        lag = core_db.replica_lag(reading)
    assert lag >= timedelta(seconds=50)
    first = _pull(None, rosters.settled_before() - lag)
    assert [key[1] for key in first] == [a]
    replica()  # caught up
    clock.advance(timedelta(minutes=2))  # the leader renews again meanwhile
    _leader_renewed(app, 0)
    replica()
    with core_db.replica_session() as reading:
        lag = core_db.replica_lag(reading)
    rest = _pull(first[-1], rosters.settled_before() - lag)
    assert [key[1] for key in rest] == [b, c]


def test_changed_after_roster_pulls_from_the_replica_serve_a_row_it_lacks_in_a_later_pull(app, replica):
    """Pages, files and packages come from the replica; a row committed after its last replay is not in this pull but
    has a larger change_seq than any served, so the next pull from the kept cursor brings it."""
    f.regions()
    centre = f.centre(region="430523")
    a, b = agreement(f.resident(), centre).id, agreement(f.resident(), centre).id
    replica()
    c = agreement(f.resident(), centre).id  # not on the replica yet
    client = app.test_client()
    served, last = _roster_ids(client, changed_after=0)
    assert served == [a, b]
    assert _csv_ids(client) == [a, b]
    replica()  # caught up
    assert _roster_ids(client, changed_after=last)[0] == [c]
    assert _csv_ids(client) == [a, b, c]
    # The pulls' audit events went to the primary (the replica cannot be written).
    pulls = core_db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "roster.pull")).all()
    assert [(pull["format"], pull["rows"]) for pull in pulls] == [("json", 2), ("csv", None), ("json", 1), ("csv", None)]


def test_an_updated_since_roster_pull_from_the_replica_holds_its_horizon_back_by_the_lag(app, replica):
    """As above, through the roster endpoint: B, stamped before C but committed after the replica's last replay, is
    not passed by the pull: the horizon stops before both, and the next pull serves them."""
    a, b, c = _slow_commit_behind_the_replica(app, replica)
    _leader_renewed(app, 0)
    client = app.test_client()
    since = (clock.now() - timedelta(hours=1)).isoformat()
    assert _roster_ids(client, updated_since=since)[0] == [a]
    assert _csv_ids(client, updated_since=since) == [a]
    clock.advance(timedelta(minutes=2))
    _leader_renewed(app, 0)
    replica()  # caught up
    assert set(_roster_ids(client, updated_since=since)[0]) == {a, b, c}
    assert set(_csv_ids(client, updated_since=since)) == {a, b, c}
