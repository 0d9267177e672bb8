"""The roster CSV on PostgreSQL is formatted by COPY (issue 15: near the limit of a bare COPY): it must say exactly
what the csv module writes from the same rows, cell for cell and byte for byte."""

import csv
import io
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select, update

from core import db as core_db
from core.auth import Actor, Role
from core.models import AuditEvent
from registry.models import Hospital, HospitalGrade
from settlement import rosters
from signing.models import Agreement, AgreementPackage, AgreementStatus, TerminationReason
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau

NAMES = ["=HYPERLINK(1)", "\ttab", "王, 小明", 'say "hi"', "two\nlines", "-minus", "@at", "+plus", "普通", "cr\rhere"]


@pytest.fixture
def roster(db):
    """Agreements whose cells test every rule: quoting, formula prefixes, NULLs, dates, instants, packages."""
    if core_db.is_sqlite():
        pytest.skip("SQLite's roster CSV is the csv module's own")
    f.regions()
    centre = f.centre(region="430523", name="=中心, 卫生院")
    secondary = Hospital(code="SYX-2", name='+县"人民"医院', grade=HospitalGrade.SECONDARY, region_code="430523")
    core_db.session.add(secondary)
    core_db.session.flush()
    signed = []
    for number, name in enumerate(NAMES):
        one = agreement(f.resident(name=name, born=date(1950 + number, 1 + number, 1)), centre, window=number % 2 == 0)
        signed.append(one)
    first, second, third = signed[:3]
    core_db.session.execute(update(Agreement).where(Agreement.id == first.id).values(
        secondary_hospital_id=secondary.id, updated_at=datetime(2026, 3, 1, 8, 0, 0, tzinfo=timezone.utc)))
    core_db.session.execute(update(Agreement).where(Agreement.id == second.id).values(
        updated_at=datetime(2026, 3, 1, 8, 0, 0, 500000, tzinfo=timezone.utc), counts_for_capitation=False))
    core_db.session.execute(update(Agreement).where(Agreement.id == third.id).values(
        status=AgreementStatus.TERMINATED, terminated_on=date(2026, 2, 1), termination_reason=TerminationReason.MOVED_AWAY))
    for code, dropped in [("basic", None), ("value-added", None), ("elderly", date(2026, 2, 1))]:
        core_db.session.add(AgreementPackage(agreement_id=first.id, edition="2025", package_code=code, price_fen=0,
                                             added_on=date(2026, 1, 1), added_by="staff:1", dropped_on=dropped))
    core_db.session.commit()
    return centre


def _both(actor: Actor) -> tuple[bytes, bytes, int]:
    query, _ = rosters.roster_query(actor, region=actor.region_code, cycle=2026)
    written = b"".join(block.encode() for block, _ in rosters._written_csv(actor, query, core_db.session))
    copied = list(rosters._copied_csv(actor, query, core_db.session))
    return written, b"".join(block for block, _ in copied), sum(rows for _, rows in copied)


def test_the_roster_csv_postgresql_formats_is_byte_for_byte_the_csv_modules(roster):
    written, copied, rows = _both(Actor(role=Role.BUREAU, subject="client:bureau", region_code="430523"))
    assert copied == written
    parsed = list(csv.DictReader(io.StringIO(copied.decode())))
    assert rows == len(parsed) == len(NAMES)
    assert {row["name"] for row in parsed} >= {"'=HYPERLINK(1)", "'\ttab", "'-minus", "'@at", "'+plus", "王, 小明", "two\nlines"}
    [first] = [row for row in parsed if row["name"] == "'=HYPERLINK(1)"]
    assert first["packages"] == "basic+value-added" and first["secondary_hospital_name"] == '\'+县"人民"医院'
    assert first["centre_name"] == "'=中心, 卫生院" and len(first["id_number"]) == 18
    assert {row["tombstone"] for row in parsed} == {"True", "False"}


def test_staff_get_the_masked_id_number_and_no_birth_date_from_the_copy_path_too(roster):
    written, copied, rows = _both(Actor(role=Role.DOCTOR, subject="staff:1", centre_id=roster.id))
    assert copied == written and rows == len(NAMES)
    parsed = list(csv.DictReader(io.StringIO(copied.decode())))
    assert all("*" * 11 in row["id_number"] and row["birth_date"] == "" and row["birth_year"] for row in parsed)


def test_a_roster_with_no_rows_is_the_header_alone(roster):
    written, copied, rows = _both(Actor(role=Role.BUREAU, subject="client:bureau", region_code="430522"))
    assert copied == written == (",".join(rosters.HEADER) + "\r\n").encode() and rows == 0


def test_a_download_aborted_in_the_middle_of_the_copy_leaves_the_session_usable_and_no_done_event(app, roster,
                                                                                                 monkeypatch):
    monkeypatch.setattr(rosters, "STREAM_BATCH", 1)  # a chunk per row: the client hangs up while COPY still sends
    response = app.test_client().get("/api/v1/rosters?region=430523", headers={**as_bureau(), "Accept": "text/csv"})
    chunks = iter(response.response)
    assert next(chunks).startswith(b"id,resident_id,name,") and next(chunks).count(b"\r\n") == 1
    response.close()
    events = core_db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("roster.pull%"))).all()
    assert events == ["roster.pull"]
    assert core_db.session.scalar(select(func.count()).select_from(Agreement)) == len(NAMES)
