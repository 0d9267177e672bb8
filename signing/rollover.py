"""Cycle roll-over: renew agreements into the next cycle (POLICY.md signing rules 3 and 4).

An agreement continues when its term runs on or, past its term, when the region renews
automatically (nobody whose death is recorded is renewed or assigned); a pending change request moves it to the requested centre. Regions with default
assignment sign residents who chose nothing with the centre of their household registration.
Running it twice changes nothing: a resident who already holds (or held) an agreement of the next
cycle is left alone. Once the cycle has begun, the follow-up plans of its agreements are (re)built.

Two passes over the pooling regions: every region renews first, then the regions with default
assignment assign, so a resident renewed anywhere, whatever region their home village lies in, is
never assigned as well (POLICY.md signing rule 10). Each region runs in its own transaction and one
person's row the database refuses is skipped: a failure is rolled back, reported and logged, and
never stops the other people or regions.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.sql.expression import Exists

from core import clock, db
from registry.models import Centre, InsuranceScheme, Region, Resident, Window
from registry.service import region_and_descendants
from signing import cycles, doctors, events, hospitals
from signing.models import (
    HOLDING,
    Agreement,
    AgreementStatus,
    ChangeRequest,
    ChangeRequestStatus,
    Channel,
    SigningBasis,
)
from signing.service import counts_for_capitation

log = logging.getLogger(__name__)
BATCH = 2000
SYSTEM = "system:roll-over"
RENEWAL, DEFAULT_ASSIGNMENT = "renewal", "default_assignment"
# What a single person's row can be refused for; anything else fails the whole region.
PERSON_ERRORS = (IntegrityError, DataError)


@dataclass
class Failure:
    """A region (resident_id None) or one person that the roll-over could not carry; the rest went on."""

    region: str
    step: str
    error: str
    resident_id: int | None = None


@dataclass
class RollOverReport:
    cycle: int
    renewed: int = 0
    changed_centre: int = 0
    assigned_by_default: int = 0
    activated: int = 0
    expired: int = 0
    regions: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def roll_over(*, cycle: int) -> RollOverReport:
    """Carry every pooling region's agreements into `cycle`; activate and expire when it has begun."""
    report = RollOverReport(cycle=cycle)
    regions = db.session.scalars(select(Region).where(Region.profile_code.is_not(None)).order_by(Region.code)).all()
    assigning = [region.code for region in regions if region.profile.default_assignment]
    not_renewed: list[str] = []  # the regions whose renewal failed: their people are not free for default assignment
    for region in regions:
        report.regions.append(region.code)
        if not _isolated(report, region.code, RENEWAL, partial(_renew_region, region.code, cycle)):
            not_renewed += region_and_descendants(region.code)
    for code in assigning:
        _isolated(report, code, DEFAULT_ASSIGNMENT, partial(_assign_region, code, cycle, not_renewed))
    return report


def _isolated(report: RollOverReport, region_code: str, step: str,
              work: Callable[[], tuple[Counter, list[Failure]]]) -> bool:
    """Run one region's step in its own transaction; on failure roll it back, report it and go on."""
    try:
        with db.transaction():
            counts, failures = work()
    except Exception as error:  # one region's failure never stops the others
        log.exception("roll-over into %s: %s of region %s failed", report.cycle, step, region_code)
        report.failures.append(Failure(region=region_code, step=step, error=_why(error)))
        return False
    for name, value in counts.items():
        setattr(report, name, getattr(report, name) + value)
    for failure in failures:
        log.warning("roll-over into %s: %s of resident %s in region %s refused: %s",
                    report.cycle, step, failure.resident_id, region_code, failure.error)
    report.failures += failures
    return True


def _why(error: BaseException) -> str:
    """The error's class and first line (the database's own message; no statement, no parameters)."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def _in_cycle(cycle: int, resident_id) -> Exists:
    """The resident holds or held an agreement of `cycle`, in any region (a terminated one too: they chose)."""
    other = aliased(Agreement)
    return exists().where(other.resident_id == resident_id, other.cycle == cycle)


def _renew_region(region_code: str, cycle: int) -> tuple[Counter, list[Failure]]:
    region = db.session.get(Region, region_code)
    profile = region.profile
    codes = region_and_descendants(region_code)
    start, end = cycles.cycle_bounds(profile, cycle)
    begun = clock.today() >= start
    new_status = AgreementStatus.ACTIVE if begun else AgreementStatus.PENDING
    counts: Counter = Counter()
    changes = {c.agreement_id: c for c in db.session.scalars(
        select(ChangeRequest).where(ChangeRequest.effective_cycle == cycle, ChangeRequest.status == ChangeRequestStatus.PENDING))}
    previous = select(Agreement).where(
        Agreement.region_code.in_(codes), Agreement.cycle == cycle - 1, Agreement.status.in_(HOLDING),
        ~_in_cycle(cycle, Agreement.resident_id), Agreement.resident.has(Resident.died_on.is_(None)),
    ).options(joinedload(Agreement.resident), joinedload(Agreement.centre)).execution_options(yield_per=BATCH)
    rows, change_of = [], {}
    places = _Places()
    for old in db.session.scalars(previous):
        change = changes.get(old.id)
        if change is None and old.term_end_date <= old.end_date and not profile.auto_renew:
            continue
        centre = db.session.get(Centre, change.centre_id) if change else old.centre
        term_end = old.term_end_date if old.term_end_date > old.end_date else cycles.cycle_bounds(profile, cycle + old.term_years - 1)[1]
        window_id = change.window_id if change else old.window_id
        chosen = change or old  # the team and doctor asked for at the new centre, else the agreement's own
        team_id, doctor_id = places.carried(centre.id, chosen.team_id, chosen.doctor_id, window_id)
        rows.append(dict(
            resident_id=old.resident_id, centre_id=centre.id, window_id=window_id, team_id=team_id, doctor_id=doctor_id,
            region_code=centre.region_code, cycle=cycle, start_date=start, end_date=end, term_years=old.term_years,
            term_end_date=term_end, status=new_status, channel=Channel.RENEWAL,
            counts_for_capitation=counts_for_capitation(old.resident, centre), signed_by=SYSTEM, renewed_from_id=old.id,
            basis=_renewal_basis(old, change), **hospitals.carried(old, centre.region_code),
        ))
        change_of[old.resident_id] = change
    inserted, failures = _insert(rows, region_code, RENEWAL)
    for row in inserted:
        change = change_of[row["resident_id"]]
        if change:
            change.status = ChangeRequestStatus.APPLIED
            counts["changed_centre"] += 1
        else:
            counts["renewed"] += 1
    if begun:
        _start_cycle(codes, cycle, counts, keep=[failure.resident_id for failure in failures])
        events.cycle_started.send(None, resident_ids=db.session.scalars(
            select(Agreement.resident_id).where(Agreement.region_code.in_(codes), Agreement.cycle == cycle,
                                                Agreement.status == AgreementStatus.ACTIVE)).all())
    return counts, failures


class _Places:
    """The team and named doctor a rolled-over agreement carries (signing.doctors), read once per team and centre.

    A renewal keeps its doctor while they are still an active doctor of the team, else the team's lead doctor; so does
    a change of centre with the doctor and team it asked for. A change that named no team, or a default assignment,
    gets the village clinic's team, else the centre's first team with a doctor, and that team's lead doctor. A roll-over refuses nobody for want of a doctor: the doctor is
    left empty then, for the centre to name.
    """

    def __init__(self) -> None:
        self._lead: dict[int, int | None] = {}
        self._first: dict[int, int | None] = {}
        self._window_team: dict[int, int | None] = {}
        self._doctor_team: dict[int, int | None] = {}

    def lead(self, team_id: int | None) -> int | None:
        if team_id is None:
            return None
        if team_id not in self._lead:
            self._lead[team_id] = doctors.lead_doctors([team_id]).get(team_id)
        return self._lead[team_id]

    def _team_of_window(self, window_id: int | None) -> int | None:
        if window_id is None:
            return None
        if window_id not in self._window_team:
            window = db.session.get(Window, window_id)
            self._window_team[window_id] = window.team_id if window is not None else None
        return self._window_team[window_id]

    def of(self, centre_id: int, window_id: int | None) -> tuple[int | None, int | None]:
        """Where nobody chose a team: the village clinic's, else the centre's first with a doctor."""
        team = self._team_of_window(window_id)
        if team is None:
            if centre_id not in self._first:
                self._first[centre_id] = doctors.first_teams_with_doctor([centre_id]).get(centre_id)
            team = self._first[centre_id]
        return team, self.lead(team)

    def carried(self, centre_id: int, team_id: int | None, doctor_id: int | None,
                window_id: int | None) -> tuple[int | None, int | None]:
        if doctor_id is not None and team_id is not None:
            if doctor_id not in self._doctor_team:
                self._doctor_team[doctor_id] = team_id if doctors.is_doctor_of(doctor_id, team_id) else None
            if self._doctor_team[doctor_id] == team_id:
                return team_id, doctor_id
        if team_id is not None:
            return team_id, self.lead(team_id)
        return self.of(centre_id, window_id)


def _renewal_basis(old: Agreement, change: ChangeRequest | None) -> SigningBasis | None:
    """A renewal keeps its agreement's basis; a change of centre the resident asked for is their own choice
    (POLICY.md signing rule 10), one staff asked for gives the new centre no reach by itself."""
    if change is None:
        return old.basis
    return SigningBasis.SELF if change.requested_by.startswith("wx:") else None


def _assign_region(region_code: str, cycle: int, not_renewed: list[str]) -> tuple[Counter, list[Failure]]:
    """Residents who chose nothing go to the centre of their household registration (signing rules 4 and 10).

    Only living people insured in this pooling region [001 四(三)1: 参保居民未选择…] who hold no agreement of the cycle
    anywhere, and none waiting to be renewed in a region whose renewal failed in this run.
    """
    region = db.session.get(Region, region_code)
    codes = region_and_descendants(region_code)
    start, end = cycles.cycle_bounds(region.profile, cycle)
    begun = clock.today() >= start
    status = AgreementStatus.ACTIVE if begun else AgreementStatus.PENDING
    query = (
        select(Resident, Window)
        .join(Window, Resident.home_window_id == Window.id)
        .join(Centre, Window.centre_id == Centre.id)
        .where(Centre.region_code.in_(codes), Centre.takes_part.is_(True), ~_in_cycle(cycle, Resident.id),
               Resident.died_on.is_(None), Resident.insurance_scheme != InsuranceScheme.UNINSURED,
               Resident.insurance_region_code.in_(codes))
        .options(joinedload(Window.centre))
        .execution_options(yield_per=BATCH)
    )
    if not_renewed:
        waiting = aliased(Agreement)
        query = query.where(~exists().where(waiting.resident_id == Resident.id, waiting.cycle == cycle - 1,
                                            waiting.status.in_(HOLDING), waiting.region_code.in_(not_renewed)))
    places = _Places()
    rows = [dict(
        resident_id=resident.id, centre_id=window.centre_id, window_id=window.id,
        **dict(zip(("team_id", "doctor_id"), places.of(window.centre_id, window.id), strict=True)),
        region_code=window.centre.region_code, cycle=cycle, start_date=start, end_date=end, term_years=1,
        term_end_date=end, status=status, channel=Channel.DEFAULT,
        counts_for_capitation=counts_for_capitation(resident, window.centre), signed_by=SYSTEM,
        basis=SigningBasis.SERVICE_AREA,
    ) for resident, window in db.session.execute(query)]
    inserted, failures = _insert(rows, region_code, DEFAULT_ASSIGNMENT)
    if begun and inserted:
        events.cycle_started.send(None, resident_ids=[row["resident_id"] for row in inserted])
    return Counter(assigned_by_default=len(inserted)), failures


def _insert(rows: list[dict], region_code: str, step: str) -> tuple[list[dict], list[Failure]]:
    """Insert agreements a batch at a time; a batch the database refuses is retried row by row (one savepoint
    each), so one person's refused row is reported and skipped, and everybody else is written."""
    inserted, failures = [], []
    for chunk in (rows[at:at + BATCH] for at in range(0, len(rows), BATCH)):
        try:
            with db.session.begin_nested():
                db.session.execute(insert(Agreement), chunk)
            inserted += chunk
            continue
        except PERSON_ERRORS:
            pass
        for row in chunk:
            try:
                with db.session.begin_nested():
                    db.session.execute(insert(Agreement), [row])
                inserted.append(row)
            except PERSON_ERRORS as error:
                failures.append(Failure(region=region_code, step=step, error=_why(error), resident_id=row["resident_id"]))
    return inserted, failures


def _start_cycle(codes: list[str], cycle: int, counts: Counter, *, keep: list[int]) -> None:
    """Activate the cycle's prepared agreements and expire the earlier ones, except those of people whose renewal
    was refused in this run: their agreement keeps its place, so the next run tries them again."""
    counts["activated"] += db.session.execute(
        update(Agreement)
        .where(Agreement.region_code.in_(codes), Agreement.cycle == cycle, Agreement.status == AgreementStatus.PENDING)
        .values(status=AgreementStatus.ACTIVE)
    ).rowcount
    ended = update(Agreement).where(Agreement.region_code.in_(codes), Agreement.cycle < cycle,
                                    Agreement.status.in_(HOLDING))
    if keep:
        ended = ended.where(Agreement.resident_id.not_in(keep))
    counts["expired"] += db.session.execute(ended.values(status=AgreementStatus.EXPIRED)).rowcount
