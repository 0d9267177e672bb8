"""Rosters: the signed people a medical-insurance bureau pulls (POLICY.md glossary: roster).

Keyset order is (change_seq, id). The database numbers every write of an agreement in commit order (migration
0017: on PostgreSQL the number is taken at COMMIT under a lock held until the commit is visible; SQLite has one
writer at a time), so a row yet to commit will get a number larger than any a client has already read: a client
that pages to the end, keeps the last `change_seq` and later pulls `changed_after` it misses nothing, however
transactions interleave. Every agreement change (and every change of a roster field of its resident) is a write,
so a changed row moves behind the cursor and is served again. Terminated agreements come as tombstones so the
bureau can delete them. CSV and XLSX are written a chunk of rows at a time, in constant memory: on PostgreSQL the CSV's
cells are formatted by COPY (the ID numbers decrypted in Python), elsewhere by the csv module, to the same bytes.
Rows are read from the read replica when one is configured (DATABASE_REPLICA_URL, `db.replica_session`).

`updated_since` (the older way to pull incrementally) filters on updated_at, which is stamped when a row is
written, not when it commits: a slow transaction can commit a row stamped earlier than one a faster transaction
committed meanwhile. Such pulls serve only rows stamped before a settled horizon (`settled_before`), which holds
in practice but rests on timing; `changed_after` does not.
"""

from __future__ import annotations

import io
import re
import tempfile
from datetime import datetime, timedelta
from typing import IO, Callable, Iterable, Iterator

from openpyxl import Workbook
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    Enum,
    Integer,
    Select,
    String,
    case,
    cast,
    event,
    func,
    inspect,
    literal,
    null,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import Label

from core import audit, clock, db
from core.auth import STAFF, Actor, Role
from core.crypto import decrypt, mask_id_number
from core.exports import FORMULA_STARTS, CsvWriter, csv_cell, xlsx_row
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
# and core/exports.py keeps text from being read as a formula: `CsvWriter` on the csv-module path and
# `_csv_cell_sql`, its rule on its characters, on the COPY path.
_CELL = {"sex": _enum_value,
         "insurance_scheme": _enum_value, "status": _enum_value, "channel": _enum_value,
         "termination_reason": _enum_value, "updated_at": datetime.isoformat, "packages": "+".join}
_CONVERTERS = [(name, _CELL.get(name)) for name in HEADER]


def _cells(actor: Actor, query: Select, reading: Session) -> Iterator[list]:
    """Spreadsheet rows, a chunk of STREAM_BATCH at a time from the server-side cursor: memory stays constant."""
    for chunk in reading.execute(query.order_by(*KEYSET).execution_options(yield_per=STREAM_BATCH)).partitions():
        for values in entries(actor, chunk, reading):
            yield [values[name] if convert is None else convert(values[name]) for name, convert in _CONVERTERS]


def stream_csv(actor: Actor, query_on: Callable[[Session], Select], done: Callable[[int], None]) -> Iterator[str | bytes]:
    """The roster as CSV, a chunk of rows at a time, read on the replica session (`query_on(reading)` gives the
    query), which stays open while the rows stream; `done(rows)` is called when the last row is out.

    PostgreSQL formats the rows itself (`_copied_csv`); SQLite's go through the csv module (`_written_csv`). Both
    give the same cells: the header, Python's spelling of values (True, ISO dates and instants), neutralised text,
    CRLF line ends, no BOM.
    """
    rows = 0
    with db.replica_session() as reading:
        write = _copied_csv if reading.get_bind().dialect.name == "postgresql" else _written_csv
        for block, count in write(actor, query_on(reading), reading):
            rows += count
            yield block
    done(rows)


def _written_csv(actor: Actor, query: Select, reading: Session) -> Iterator[tuple[str, int]]:
    """CSV text chunks and the rows in each, written by the csv module from `_cells`."""
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.writerow(HEADER)
    rows = 0
    for cells in _cells(actor, query, reading):
        writer.writerow(cells)
        rows += 1
        if rows % STREAM_BATCH == 0:
            yield _drain(buffer), STREAM_BATCH
    yield _drain(buffer), rows % STREAM_BATCH


def _csv_cell_sql(cell: ColumnElement) -> ColumnElement:
    """`core.exports.csv_cell` in SQL, for a cell that is text on the csv-module path (a column, not a subquery:
    it is read three times)."""
    return case((func.left(cell, 1).in_(list(FORMULA_STARTS)), literal("'", String) + cell), else_=cell)


SHANGHAI_OFFSET = "+08:00"  # China Standard Time, without daylight saving since 1991: every instant stored is later


def _as_text(cell: ColumnElement) -> ColumnElement:
    """A cell as `CsvWriter` spells its Python value: True/False, ISO dates and instants in Shanghai time (as
    db.Instant reads them), '' never quoted, text neutralised (`_csv_cell_sql`)."""
    kind = cell.type
    if isinstance(kind, db.Instant):  # datetime.isoformat() of the Shanghai instant: microseconds only when there are any
        local = func.timezone(clock.SHANGHAI.key, cell)
        spelt = func.to_char(local, 'YYYY-MM-DD"T"HH24:MI:SS.US')
        return _csv_cell_sql(case((func.date_trunc("second", local) != local, spelt), else_=func.left(spelt, 19))
                             + SHANGHAI_OFFSET)
    if isinstance(kind, Date):  # date.isoformat(): DateStyle ISO, which `_copied_csv` sets
        return cast(cell, String)
    if isinstance(kind, Boolean):
        return case((cell, "True"), (~cell, "False"))
    if isinstance(kind, (String, Enum)):
        return _csv_cell_sql(func.nullif(cell, ""))  # COPY quotes '' to tell it from NULL; csv.writer writes both bare
    return cell


def _copy_sql(actor: Actor, query: Select, dialect) -> str:
    """COPY of the roster's cells in HEADER order (the ID number as its ciphertext, decrypted by `_copied_csv`)."""
    cells = {column.key: column.element if isinstance(column, Label) else column for column in COLUMNS}
    if actor.role is not Role.BUREAU:
        cells["birth_date"] = null()
    packages = (select(func.string_agg(AgreementPackage.package_code, aggregate_order_by(literal("+"), AgreementPackage.id))
                       .label("packages"))
                .where(AgreementPackage.agreement_id == Agreement.id, AgreementPackage.dropped_on.is_(None))
                .lateral("held_packages"))
    cells.update(birth_year=cast(func.extract("year", Resident.birth_date), Integer), packages=packages.c.packages,
                 tombstone=Agreement.status == AgreementStatus.TERMINATED)
    shown = [cell if name == "id_number" else _as_text(cell).label(name) for name, cell in cells.items()]
    copied = (query.outerjoin(packages, true()).with_only_columns(*shown, maintain_column_froms=True)
              .order_by(*KEYSET))
    statement = copied.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)"


# A COPY row up to the ID number's ciphertext: id, resident_id, the name (quoted when it holds , " or a line end).
_ID_CELL = re.compile(rb'[0-9]+,[0-9]+,(?:"(?:[^"]|"")*"|[^,"]*),([^,]*),')
_ID_CONTEXT = Resident.id_number.type.context


def _copied_csv(actor: Actor, query: Select, reading: Session) -> Iterator[tuple[bytes, int]]:
    """CSV chunks and the rows in each, formatted by PostgreSQL's COPY (one row per message, streamed: memory stays
    flat); the ID numbers are decrypted (masked for all but the bureau) a chunk of STREAM_BATCH rows at a time."""
    yield _header(), 0
    show = (lambda number: number) if actor.role is Role.BUREAU else mask_id_number
    pending: list[bytes] = []
    with reading.connection().connection.cursor() as cursor:
        cursor.execute("SET LOCAL DateStyle TO ISO")  # dates as YYYY-MM-DD, for this transaction only
        # Parameters bound already (`literal_binds`); an empty set of them makes psycopg read the compiler's %% as %.
        with cursor.copy(_copy_sql(actor, query, reading.get_bind().dialect), ()) as copy:
            for row in copy:
                pending.append(bytes(row))
                if len(pending) == STREAM_BATCH:
                    yield _with_id_numbers(pending, show), len(pending)
                    pending = []
    yield _with_id_numbers(pending, show), len(pending)


def _with_id_numbers(rows: list[bytes], show: Callable[[str], str]) -> bytes:
    """COPY rows with the ID number's ciphertext replaced by what the caller may see, and CRLF line ends."""
    found = [_ID_CELL.match(row) for row in rows]
    numbers = [csv_cell(show(decrypt(token.decode(), _ID_CONTEXT))).encode() if (token := match[1]) else b""
               for match in found]
    return b"".join(b"%b%b%b\r\n" % (row[:match.start(1)], number, row[match.end(1):-1])
                    for row, match, number in zip(rows, found, numbers, strict=True))


def _header() -> bytes:
    buffer = io.StringIO()
    CsvWriter(buffer).writerow(HEADER)
    return buffer.getvalue().encode()


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

