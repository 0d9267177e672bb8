"""Rosters: the signed people a medical-insurance bureau pulls (POLICY.md glossary: roster).

Keyset order is (change_seq, id). The database numbers every write of an agreement in commit order (migration
0017: on PostgreSQL the number is taken at COMMIT under a lock held until the commit is visible; SQLite has one
writer at a time), so a row yet to commit will get a number larger than any a client has already read: a client
that pages to the end, keeps the last `change_seq` and later pulls `changed_after` it misses nothing, however
transactions interleave. Every agreement change (and every change of a roster field of its resident) is a write,
so a changed row moves behind the cursor and is served again. Terminated agreements come as tombstones so the
bureau can delete them. CSV and XLSX are written row by row from a server-side cursor, in constant memory.

`updated_since` (the older way to pull incrementally) filters on updated_at, which is stamped when a row is
written, not when it commits: a slow transaction can commit a row stamped earlier than one a faster transaction
committed meanwhile. Such pulls serve only rows stamped before a settled horizon (`settled_before`), which holds
in practice but rests on timing; `changed_after` does not.
"""

from __future__ import annotations

import io
import tempfile
from datetime import datetime, timedelta
from typing import IO, Callable, Iterable, Iterator

from openpyxl import Workbook
from sqlalchemy import Select, event, inspect, select, text, update
from sqlalchemy.orm import Session, aliased

from core import audit, clock, db
from core.auth import STAFF, Actor, Role
from core.crypto import mask_id_number
from core.exports import CsvWriter, xlsx_row
from core.pagination import paginate
from registry.access import check_region
from registry.models import Centre, Hospital, Resident
from registry.service import pooling_region, region_and_descendants
from signing import cycles
from signing.models import HOLDING, Agreement, AgreementPackage, AgreementStatus

STREAM_BATCH = 1000
# Longer than a write can take between stamping updated_at and reaching the database (SQLite's busy
# timeout is 30 s); on PostgreSQL the horizon also waits for every transaction that is still writing.
SETTLE = timedelta(seconds=30)
_OLDEST_WRITER = text(
    "SELECT max(clock_timestamp() - xact_start) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()")
SECONDARY, TERTIARY = aliased(Hospital, name="secondary_hospital"), aliased(Hospital, name="tertiary_hospital")
COLUMNS = (
    Agreement.id, Agreement.resident_id, Resident.name, Resident.id_number, Resident.sex, Resident.birth_date,
    Resident.insurance_scheme, Resident.insurance_region_code, Agreement.centre_id, Centre.code.label("centre_code"),
    Centre.name.label("centre_name"), Agreement.window_id, Agreement.team_id, Agreement.region_code, Agreement.cycle,
    Agreement.start_date, Agreement.end_date, Agreement.term_years, Agreement.term_end_date, Agreement.status,
    Agreement.channel, Agreement.counts_for_capitation, Agreement.terminated_on, Agreement.termination_reason,
    Agreement.secondary_hospital_id, SECONDARY.name.label("secondary_hospital_name"), Agreement.tertiary_hospital_id,
    TERTIARY.name.label("tertiary_hospital_name"), Agreement.updated_at, Agreement.change_seq,
)
HEADER = [column.key for column in COLUMNS] + ["birth_year", "packages", "tombstone"]
KEYSET = (Agreement.change_seq, Agreement.id)  # the roster's order, the commit order: every change moves a row to the end
ROSTER_RESIDENT_FIELDS = {column.key for column in COLUMNS if column.table is Resident.__table__}


def _touch_agreements_of_changed_residents(session: Session, _context, _instances) -> None:
    """A resident's roster fields changed: bump their holding agreements so incremental pulls carry it."""
    changed = [resident.id for resident in session.dirty if isinstance(resident, Resident) and resident.id is not None
               and any(inspect(resident).attrs[name].history.has_changes() for name in ROSTER_RESIDENT_FIELDS)]
    if changed:
        session.connection().execute(
            update(Agreement.__table__).where(Agreement.resident_id.in_(changed), Agreement.status.in_(HOLDING))
            .values(updated_at=clock.now())
        )


def subscribe() -> None:
    """Keep incremental pulls whole: every flush that changes a roster field of a resident bumps their agreements."""
    if not event.contains(Session, "before_flush", _touch_agreements_of_changed_residents):
        event.listen(Session, "before_flush", _touch_agreements_of_changed_residents)


def pull(actor: Actor, *, form: str, region: str | None, cycle: int | None, updated_since: datetime | None,
         changed_after: int | None, cursor: str | None, limit: int):
    """A roster pull the actor may make: a JSON page, or the whole roster as CSV lines or XLSX chunks.

    Rows are read from the read replica when there is one (`db.replica_session`); audit events go to the primary.
    Audited when it starts (who, region, format), before any row leaves: a download aborted half-way
    still left its event. Files get a second event with the rows sent once the last row is out.
    """
    region = region_of(actor, region)  # a 403 before anything is read or streamed
    scope = dict(region=region, cycle=cycle, updated_since=updated_since, changed_after=changed_after)
    query_on = lambda reading: replica_query(actor, reading, **scope)  # noqa: E731
    pulled = dict(region=region, cycle=cycle, centre_id=actor.centre_id, format=form,
                  updated_since=updated_since and updated_since.isoformat(), changed_after=changed_after)
    if form == "json":
        with db.replica_session() as reading:
            page = roster_page(actor, query_on(reading), cursor=cursor, limit=limit, reading=reading)
        audit.record("roster.pull", "roster", region, rows=len(page["items"]), **pulled)
        return page
    audit.record("roster.pull", "roster", region, rows=None, **pulled)
    finished = lambda rows: audit.record("roster.pull.done", "roster", region, rows=rows, **pulled)  # noqa: E731
    if form == "csv":
        return stream_csv(actor, query_on, finished)
    with db.replica_session() as reading:
        spool, rows = write_xlsx(actor, query_on(reading), reading)
    finished(rows)
    return chunks(spool)


def replica_query(actor: Actor, reading: Session, **scope) -> Select:
    """The roster query for rows read on `reading`: an `updated_since` pull's horizon is the primary's settled
    instant held back by how far `reading` lags, so a row the replica has not replayed yet is served by a later pull
    (`changed_after` needs nothing: a replica replays commits in order, so it holds a prefix of the change_seq)."""
    horizon = settled_before() - db.replica_lag(reading) if scope.get("updated_since") is not None else None
    return roster_query(actor, **scope, horizon=horizon)[0]


def _current_cycle(region: str | None) -> int:
    pooling = pooling_region(region)
    return cycles.cycle_of(pooling.profile, clock.today()) if pooling else clock.today().year


def settled_before() -> datetime:
    """The instant before which every agreement change is committed, or rolled back, for good.

    A change stamped before it can no longer appear: its transaction would be SETTLE old or, on PostgreSQL,
    older than the oldest transaction still writing, whose changes are stamped after it began. Time is
    measured as ages (the database's clock against itself), so the app's clock and the database's need not agree.
    """
    held_back = SETTLE
    if not db.is_sqlite():
        oldest = db.session.scalar(_OLDEST_WRITER)
        if oldest is not None:
            held_back += oldest
    return clock.now() - held_back


def region_of(actor: Actor, region: str | None) -> str | None:
    """The region a pull is about (the actor's own by default), once the actor may pull it (else 403)."""
    region = region or actor.region_code
    if region:
        check_region(actor, region)
    return region


def roster_query(actor: Actor, *, region: str | None, cycle: int | None, updated_since: datetime | None = None,
                 changed_after: int | None = None, horizon: datetime | None = None) -> tuple[Select, str | None]:
    """The agreements of a cycle the actor may pull: bureaus their region, staff their own centre; those written
    after `changed_after` (exact), or stamped since `updated_since` and before `horizon` (by default
    `settled_before()`, on the primary)."""
    region = region_of(actor, region)
    query = (select(*COLUMNS).join(Resident, Agreement.resident_id == Resident.id)
             .join(Centre, Agreement.centre_id == Centre.id)
             .outerjoin(SECONDARY, Agreement.secondary_hospital_id == SECONDARY.id)
             .outerjoin(TERTIARY, Agreement.tertiary_hospital_id == TERTIARY.id))
    query = query.where(Agreement.cycle == (cycle or _current_cycle(region)))
    if region:
        query = query.where(Agreement.region_code.in_(region_and_descendants(region)))
    if actor.role in STAFF:
        query = query.where(Agreement.centre_id == actor.centre_id)
    if updated_since is not None:
        horizon = settled_before() if horizon is None else horizon
        query = query.where(Agreement.updated_at >= updated_since, Agreement.updated_at < horizon)
    if changed_after is not None:
        query = query.where(Agreement.change_seq > changed_after)
    return query, region


def packages_of(agreement_ids: list[int], reading: Session | None = None) -> dict[int, list[str]]:
    """The packages each agreement includes now (basic, value-added, personalised ones), in one query on `reading`
    (the request's session by default)."""
    held: dict[int, list[str]] = {agreement_id: [] for agreement_id in agreement_ids}
    rows = (reading or db.session).execute(
        select(AgreementPackage.agreement_id, AgreementPackage.package_code)
        .where(AgreementPackage.agreement_id.in_(agreement_ids), AgreementPackage.dropped_on.is_(None))
        .order_by(AgreementPackage.agreement_id, AgreementPackage.id)
    )
    for agreement_id, code in rows:
        held[agreement_id].append(code)
    return held


def entries(actor: Actor, rows, reading: Session | None = None) -> list[dict]:
    """Roster rows as the caller may see them, with each agreement's packages (one query for all, on `reading`)."""
    held = packages_of([row.id for row in rows], reading)
    return [entry(actor, row, held[row.id]) for row in rows]


def entry(actor: Actor, row, packages: list[str]) -> dict:
    """A roster row as the caller may see it: the full ID number and birth date for the bureau only;
    others see the number masked and the birth year (the masked digits are the birth date)."""
    values = row._asdict()
    values["birth_year"] = values["birth_date"].year
    if actor.role is not Role.BUREAU:
        values["id_number"] = mask_id_number(values["id_number"])
        values["birth_date"] = None
    values["packages"] = packages
    values["tombstone"] = values["status"] is AgreementStatus.TERMINATED
    return values


def roster_page(actor: Actor, query: Select, *, cursor: str | None, limit: int, reading: Session | None = None) -> dict:
    """One page of the roster after `cursor`, and the cursor of the next page (null on the last), read on `reading`."""
    reading = reading or db.session
    page = paginate(query, key_columns=KEYSET, cursor=cursor, limit=limit, rows=True, session=reading)
    return {"items": entries(actor, page["items"], reading), "next_cursor": page["next_cursor"]}


def _enum_value(value):
    return None if value is None else value.value


# How each column becomes a spreadsheet cell; the others (numbers, dates, digits, text) pass as they are,
# and core/exports.py keeps text from being read as a formula.
_CELL = {"sex": _enum_value,
         "insurance_scheme": _enum_value, "status": _enum_value, "channel": _enum_value,
         "termination_reason": _enum_value, "updated_at": datetime.isoformat, "packages": "+".join}
_CONVERTERS = [(name, _CELL.get(name)) for name in HEADER]


def _cells(actor: Actor, query: Select, reading: Session) -> Iterator[list]:
    """Spreadsheet rows, a chunk of STREAM_BATCH at a time from the server-side cursor: memory stays constant."""
    for chunk in reading.execute(query.order_by(*KEYSET).execution_options(yield_per=STREAM_BATCH)).partitions():
        for values in entries(actor, chunk, reading):
            yield [values[name] if convert is None else convert(values[name]) for name, convert in _CONVERTERS]


def stream_csv(actor: Actor, query_on: Callable[[Session], Select], done: Callable[[int], None]) -> Iterator[str]:
    """The roster as CSV text, a chunk of rows at a time, read on the replica session (`query_on(reading)` gives the
    query), which stays open while the rows stream; `done(rows)` is called when the last row is out."""
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    rows = 0
    writer.writerow(HEADER)
    with db.replica_session() as reading:
        for cells in _cells(actor, query_on(reading), reading):
            writer.writerow(cells)
            rows += 1
            if rows % STREAM_BATCH == 0:
                yield _drain(buffer)
    yield _drain(buffer)
    done(rows)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def write_xlsx(actor: Actor, query: Select, reading: Session) -> tuple[IO[bytes], int]:
    """The roster as an XLSX file (openpyxl write-only: rows go to disk as they come), and its row count."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("roster")
    sheet.append(HEADER)
    rows = 0
    for cells in _cells(actor, query, reading):
        sheet.append(xlsx_row(sheet, cells))
        rows += 1
    spool = tempfile.TemporaryFile()
    workbook.save(spool)
    spool.seek(0)
    return spool, rows


def chunks(spool: IO[bytes], size: int = 64 * 1024) -> Iterable[bytes]:
    """Read a file out in chunks and close it at the end."""
    with spool:
        while block := spool.read(size):
            yield block

