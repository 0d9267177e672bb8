"""Vaccinations of children (value-added package, children 0–6: vaccination reminders; annex 1 of 000):
the doses given, as staff record them, and what is due next by the national schedule.

When a dose is due (`next_doses`): at its scheduled age, but never before the schedule's minimum
interval after the dose before it in its series, nor within 28 days of another injected live
vaccine given on another day (packages/vaccinations.py). A child behind schedule therefore
catches up at max(scheduled age, previous dose + minimum interval). A series of which no dose is
recorded here follows the schedule by age alone: the child's doses may be recorded only in the
immunisation information system, and nobody is called behind without a record. A dose missing
before one that is recorded is not asked for again (only the remaining doses are given, never a
restart).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from care.delivery_models import VaccinationDose
from core import audit, clock, db
from core.auth import Actor
from core.errors import Conflict, DomainError, Invalid, NotFound
from packages.vaccinations import DOSES, EDITION, LIVE_INJECTED_GAP, SCHEDULE, Dose
from registry import access
from registry.idcard import age_on
from registry.models import Resident

# The national programme catches children up until they turn 18 (2021 edition, 补种通用原则).
CATCH_UP_UNTIL_AGE = 18


@dataclass(frozen=True)
class DueDose:
    dose: Dose
    scheduled_on: date
    due_on: date
    overdue: bool

    @property
    def catch_up(self) -> bool:
        """Due later than the schedule says: an interval after a late dose pushed it back."""
        return self.due_on > self.scheduled_on


def _earlier_in_series(code: str) -> list[str]:
    """The doses before `code` in its series, nearest first."""
    found, previous = [], DOSES[code].previous
    while previous is not None:
        found.append(previous)
        previous = DOSES[previous].previous
    return found


def _series(code: str) -> str:
    """A series is named by its first dose."""
    return ([code, *_earlier_in_series(code)])[-1]


def next_doses(birth_date: date, given: dict[str, date], today: date) -> list[DueDose]:
    """The doses still to give a child born on `birth_date` who was given `given` (code → date), by due date."""
    passed = {earlier for code in given for earlier in _earlier_in_series(code)}
    recorded_series = {_series(code) for code in given}
    live_given = [day for code, day in given.items() if DOSES[code].live_injected]
    due: dict[str, date] = {}
    found = []
    for dose in SCHEDULE:
        if dose.code in given or dose.code in passed:
            continue
        scheduled = on = dose.scheduled_on(birth_date)
        if _series(dose.code) in recorded_series:
            for earlier, gap in dose.after:
                if earlier in given:
                    on = max(on, gap.after(given[earlier]))
                elif earlier in due:  # still to give: at the earliest today
                    on = max(on, gap.after(max(due[earlier], today)))
        if dose.live_injected:
            for day in sorted(live_given):
                on = _apart_from_live(on, day, today)
        due[dose.code] = on
        found.append(DueDose(dose, scheduled, on, on < today))
    return sorted(found, key=lambda item: item.due_on)


def _apart_from_live(on: date, day: date, today: date) -> date:
    """The first day from `on` an injected live vaccine can be given, another having been given on `day`:
    the same day (together) or at least 28 days after."""
    if on == day or on >= LIVE_INJECTED_GAP.after(day):
        return on
    if on < day == today:  # given today: together with it, still today
        return day
    return LIVE_INJECTED_GAP.after(day)


def given_doses(resident_ids: Iterable[int]) -> dict[int, dict[str, date]]:
    """The recorded doses of each resident (code → date given)."""
    found: dict[int, dict[str, date]] = {}
    ids = list(resident_ids)
    for start in range(0, len(ids), 1000):
        rows = db.session.execute(select(VaccinationDose.resident_id, VaccinationDose.vaccine, VaccinationDose.number,
                                         VaccinationDose.given_on)
                                  .where(VaccinationDose.resident_id.in_(ids[start:start + 1000])))
        for resident_id, vaccine, number, given_on in rows:
            found.setdefault(resident_id, {})[f"{vaccine}-{number}"] = given_on
    return found


def _check_order(code: str, given_on: date, recorded: dict[str, date]) -> None:
    """Doses of a series are given in order: after those before, before those after (422 otherwise)."""
    for earlier in _earlier_in_series(code):
        if earlier in recorded and recorded[earlier] >= given_on:
            raise Invalid(f"{earlier} was given on {recorded[earlier].isoformat()}: {code} comes after it.", field="given_on")
    for later, day in recorded.items():
        if code in _earlier_in_series(later) and day <= given_on:
            raise Invalid(f"{later} was given on {day.isoformat()}: {code} comes before it.", field="given_on")


def record_dose(actor: Actor, *, resident_id: int, vaccine: str, number: int, given_on: date, place: str,
                batch: str) -> VaccinationDose:
    """Record a dose of the national schedule given to a child; each dose once."""
    resident = access.get_resident(actor, resident_id)
    code = f"{vaccine}-{number}"
    if code not in DOSES:
        if not any(dose.vaccine == vaccine for dose in SCHEDULE):
            raise Invalid(f"{vaccine} is not a vaccine of the national schedule ({EDITION}).", field="vaccine")
        raise Invalid(f"The schedule has no dose {number} of {vaccine}.", field="number")
    if not resident.birth_date <= given_on <= clock.today():
        raise Invalid("A dose is recorded once given: between birth and today.", field="given_on")
    _check_order(code, given_on, given_doses([resident.id]).get(resident.id, {}))
    dose = VaccinationDose(resident_id=resident.id, vaccine=vaccine, number=number, given_on=given_on, place=place,
                           batch=batch, centre_id=actor.centre_id, recorded_by=actor.subject)
    try:
        with db.transaction():
            db.session.add(dose)
    except IntegrityError:
        raise Conflict(f"{code} is recorded already for this child.", dose=code) from None
    audit.record("vaccination.record", "resident", resident.id, dose=code)
    return dose


def _record(resident: Resident) -> dict:
    doses = list(db.session.scalars(select(VaccinationDose).where(VaccinationDose.resident_id == resident.id)
                                    .order_by(VaccinationDose.given_on, VaccinationDose.id)))
    today = clock.today()
    return {"resident_id": resident.id, "birth_date": resident.birth_date, "edition": EDITION, "given": doses,
            "next": next_doses(resident.birth_date, {dose.code: dose.given_on for dose in doses}, today)}


def record_of(actor: Actor, *, resident_id: int) -> dict:
    """A child's doses given and due, for staff; the read is audited, refused ones too."""
    try:
        resident = access.get_resident(actor, resident_id)
    except DomainError as refused:
        audit.record("vaccination.read", "resident", resident_id, outcome=f"refused_{refused.status}")
        raise
    audit.record("vaccination.read", "resident", resident.id)
    return _record(resident)


def child_record(actor: Actor, *, resident_id: int) -> dict:
    """A child of the caller's household: the doses given and what is next; the read is audited."""
    child = next((member for member in access.household_of(access.resident_of(actor)) if member.id == resident_id), None)
    if child is None or age_on(child.birth_date, clock.today()) >= CATCH_UP_UNTIL_AGE:
        raise NotFound("No such child in your household.")
    audit.record("vaccination.read", "resident", child.id)
    return _record(child)
