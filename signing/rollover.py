"""Cycle roll-over: renew agreements into the next cycle (POLICY.md signing rules 3 and 4).

An agreement continues when its term runs on or, past its term, when the region renews
automatically; a pending change request moves it to the requested centre. Regions with default
assignment sign residents who chose nothing with the centre of their household registration.
Running it twice changes nothing: an agreement that already holds the next cycle is left alone.
Once the cycle has begun, the follow-up plans of its agreements are (re)built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.orm import joinedload

from core import clock, db
from registry.models import Centre, PolicyProfile, Region, Resident, Window
from registry.service import region_and_descendants
from signing import cycles, events
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

BATCH = 2000
SYSTEM = "system:roll-over"


@dataclass
class RollOverReport:
    cycle: int
    renewed: int = 0
    changed_centre: int = 0
    assigned_by_default: int = 0
    activated: int = 0
    expired: int = 0
    regions: list[str] = field(default_factory=list)


def roll_over(*, cycle: int) -> RollOverReport:
    """Carry every pooling region's agreements into `cycle`; activate and expire when it has begun."""
    report = RollOverReport(cycle=cycle)
    for region in db.session.scalars(select(Region).where(Region.profile_code.is_not(None)).order_by(Region.code)):
        report.regions.append(region.code)
        with db.transaction():
            _roll_region(region, region.profile, cycle, report)
    return report


def _roll_region(region: Region, profile: PolicyProfile, cycle: int, report: RollOverReport) -> None:
    codes = region_and_descendants(region.code)
    start, end = cycles.cycle_bounds(profile, cycle)
    begun = clock.today() >= start
    new_status = AgreementStatus.ACTIVE if begun else AgreementStatus.PENDING
    already = set(db.session.scalars(
        select(Agreement.resident_id).where(Agreement.region_code.in_(codes), Agreement.cycle == cycle,
                                            Agreement.status.in_(HOLDING))))
    changes = {c.agreement_id: c for c in db.session.scalars(
        select(ChangeRequest).where(ChangeRequest.effective_cycle == cycle, ChangeRequest.status == ChangeRequestStatus.PENDING))}
    previous = select(Agreement).where(
        Agreement.region_code.in_(codes), Agreement.cycle == cycle - 1, Agreement.status.in_(HOLDING)
    ).options(joinedload(Agreement.resident), joinedload(Agreement.centre)).execution_options(yield_per=BATCH)
    rows = []
    for old in db.session.scalars(previous):
        if old.resident_id in already:
            continue
        change = changes.get(old.id)
        if change is None and old.term_end_date <= old.end_date and not profile.auto_renew:
            continue
        centre = db.session.get(Centre, change.centre_id) if change else old.centre
        term_end = old.term_end_date if old.term_end_date > old.end_date else cycles.cycle_bounds(profile, cycle + old.term_years - 1)[1]
        rows.append(dict(
            resident_id=old.resident_id, centre_id=centre.id,
            window_id=change.window_id if change else old.window_id, team_id=change.team_id if change else old.team_id,
            region_code=centre.region_code, cycle=cycle, start_date=start, end_date=end, term_years=old.term_years,
            term_end_date=term_end, status=new_status, channel=Channel.RENEWAL,
            counts_for_capitation=counts_for_capitation(old.resident, centre), signed_by=SYSTEM, renewed_from_id=old.id,
            basis=_renewal_basis(old, change),
        ))
        if change:
            change.status = ChangeRequestStatus.APPLIED
            report.changed_centre += 1
        else:
            report.renewed += 1
    if profile.default_assignment:
        rows += _default_assignments(codes, cycle, start, end, new_status, already | {r["resident_id"] for r in rows}, report)
    for chunk in range(0, len(rows), BATCH):
        db.session.execute(insert(Agreement), rows[chunk:chunk + BATCH])
    if begun:
        _start_cycle(codes, cycle, report)
        events.cycle_started.send(None, resident_ids=db.session.scalars(
            select(Agreement.resident_id).where(Agreement.region_code.in_(codes), Agreement.cycle == cycle,
                                                Agreement.status == AgreementStatus.ACTIVE)).all())


def _renewal_basis(old: Agreement, change: ChangeRequest | None) -> SigningBasis | None:
    """A renewal keeps its agreement's basis; a change of centre the resident asked for is their own choice
    (POLICY.md signing rule 10), one staff asked for gives the new centre no reach by itself."""
    if change is None:
        return old.basis
    return SigningBasis.SELF if change.requested_by.startswith("wx:") else None


def _default_assignments(codes, cycle, start, end, status, signed, report) -> list[dict]:
    """Residents who chose nothing go to the centre of their household registration (signing rule 4)."""
    rows = []
    query = (
        select(Resident, Window)
        .join(Window, Resident.home_window_id == Window.id)
        .join(Centre, Window.centre_id == Centre.id)
        .where(Centre.region_code.in_(codes), Centre.takes_part.is_(True))
        .execution_options(yield_per=BATCH)
    )
    for resident, window in db.session.execute(query):
        if resident.id in signed:
            continue
        rows.append(dict(
            resident_id=resident.id, centre_id=window.centre_id, window_id=window.id, team_id=None,
            region_code=window.centre.region_code, cycle=cycle, start_date=start, end_date=end, term_years=1,
            term_end_date=end, status=status, channel=Channel.DEFAULT,
            counts_for_capitation=counts_for_capitation(resident, window.centre), signed_by=SYSTEM,
            basis=SigningBasis.SERVICE_AREA,
        ))
        report.assigned_by_default += 1
    return rows


def _start_cycle(codes: list[str], cycle: int, report: RollOverReport) -> None:
    report.activated += db.session.execute(
        update(Agreement)
        .where(Agreement.region_code.in_(codes), Agreement.cycle == cycle, Agreement.status == AgreementStatus.PENDING)
        .values(status=AgreementStatus.ACTIVE)
    ).rowcount
    report.expired += db.session.execute(
        update(Agreement)
        .where(Agreement.region_code.in_(codes), Agreement.cycle < cycle, Agreement.status.in_(HOLDING))
        .values(status=AgreementStatus.EXPIRED)
    ).rowcount
