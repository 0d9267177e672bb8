"""Follow-up plans of signed residents: built from the protocols when an agreement starts, rebuilt when
health facts or cycles change, closed when it ends (POLICY.md "Packages")."""

from __future__ import annotations

from datetime import date
from typing import Iterable

from sqlalchemy import insert, select

from care import schedule
from care.models import Visit, VisitState
from core import clock, db
from registry import events as registry_events
from registry import populations
from registry.models import Resident
from registry.service import profile_for
from signing import cycles
from signing import events as signing_events
from signing.models import Agreement, in_force_on

BATCH = 1000


def subscribe() -> None:
    """Plans follow signing and health facts, in the transaction of the change."""
    for signal in (signing_events.signed, signing_events.ended, signing_events.cycle_started,
                   registry_events.health_facts_changed):
        signal.connect(_replan)


def _replan(_sender, *, resident_ids=(), agreements=()) -> None:
    today = clock.today()
    if agreements and not resident_ids and all(agreement.is_in_force_on(today) for agreement in agreements):
        # Fresh signings in force today are their residents' agreements in force: no need to look them up.
        _rebuild_batch([agreement.resident_id for agreement in agreements], today, in_force=list(agreements))
    else:
        rebuild_plans([*resident_ids, *(agreement.resident_id for agreement in agreements)])


def rebuild_plans(resident_ids: Iterable[int]) -> None:
    """(Re)build the current-cycle follow-up plans of residents with an agreement in force.

    A resident whose agreement ended (terminated, expired) keeps their logged visits; open ones are closed.

    Idempotent: a visit already there (same programme and code) is updated in place, never
    duplicated; done and missed visits and those clinical feedback moved are never touched. A
    planned visit the plan no longer holds is missed when its on-time range has closed, else cancelled.
    Bulk-friendly: a few queries per batch of residents, visits inserted in one statement.
    """
    ids = list(dict.fromkeys(resident_ids))
    for start in range(0, len(ids), BATCH):
        _rebuild_batch(ids[start:start + BATCH], clock.today())


def _rebuild_batch(ids: list[int], today: date, in_force: list[Agreement] | None = None) -> None:
    """Rebuild the plans of `ids`; `in_force` are their agreements in force today when the caller holds them."""
    if in_force is None:
        agreements = db.session.scalars(select(Agreement).where(Agreement.resident_id.in_(ids), in_force_on(today))).all()
        residents = db.session.scalars(select(Resident).where(Resident.id.in_([a.resident_id for a in agreements]))).all()
    else:
        agreements, residents = in_force, [agreement.resident for agreement in in_force]
    facts = populations.facts_of(residents)
    existing: dict[int, dict[tuple[str, str], Visit]] = {}
    for visit in db.session.scalars(select(Visit).where(Visit.resident_id.in_(ids))):
        existing.setdefault(visit.resident_id, {})[visit.programme, visit.code] = visit
    bounds: dict[str, tuple[date, date]] = {}
    inserts = []
    for agreement in agreements:
        key = f"{agreement.region_code}:{agreement.cycle}"
        if key not in bounds:
            bounds[key] = cycles.cycle_bounds(profile_for(agreement.region_code), agreement.cycle)
        cycle_start, cycle_end = bounds[key]
        desired = schedule.resident_plan(facts[agreement.resident_id], signed_on=agreement.start_date,
                                         cycle=agreement.cycle, cycle_start=cycle_start, cycle_end=cycle_end)
        inserts += _reconcile(agreement, desired, existing.get(agreement.resident_id, {}), today)
    for resident_id in set(ids) - {agreement.resident_id for agreement in agreements}:
        _reconcile(None, [], existing.get(resident_id, {}), today)  # no running agreement: no open visits
    if inserts:
        db.session.execute(insert(Visit.__table__), inserts)  # the table: no ORM bulk machinery
    db.session.flush()


def _reconcile(agreement: Agreement | None, desired: list[schedule.PlannedVisit], existing: dict[tuple[str, str], Visit],
               today: date) -> list[dict]:
    """Update the resident's visits towards `desired`; return the rows still to insert."""
    inserts, wanted = [], set()
    for planned in desired:
        wanted.add((planned.programme, planned.code))
        values = dict(programme=planned.programme, code=planned.code, title=planned.title,
                      protocol_version=planned.protocol_version, due_date=planned.due_date,
                      on_time_from=planned.on_time_from, on_time_until=planned.on_time_until, modes=list(planned.modes),
                      agreement_id=agreement.id, centre_id=agreement.centre_id, team_id=agreement.team_id)
        visit = existing.get((planned.programme, planned.code))
        if visit is None:
            inserts.append(dict(values, resident_id=agreement.resident_id, state=VisitState.PLANNED))
        elif visit.state in (VisitState.PLANNED, VisitState.CANCELLED) and not visit.rescheduled:
            for name, value in dict(values, state=VisitState.PLANNED).items():
                if getattr(visit, name) != value:
                    setattr(visit, name, value)
    for key, visit in existing.items():
        if key not in wanted and visit.state is VisitState.PLANNED and not visit.rescheduled:
            visit.state = VisitState.MISSED if visit.on_time_until < today else VisitState.CANCELLED
    return inserts
