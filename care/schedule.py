"""Plans from protocols (pure): which visits a resident is due, from which anchor, for one cycle.

Registration in mid-series: a resident gets the visits whose on-time range is still open on the day they
registered (signed, or the day the condition or pregnancy was recorded, whichever is later); a
visit whose on-time range closed before that day is not created at all, so it is never counted as missed.
A plan covers one signing cycle: visits whose on-time range opens after the cycle's last day wait for the
next cycle's plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from packages import protocols as p
from registry.idcard import age_on
from registry.populations import CHRONIC_KINDS, HealthFacts

CHILD_UNTIL_AGE = 6


@dataclass(frozen=True)
class PlannedVisit:
    programme: str
    code: str
    title: str
    due_date: date
    on_time_from: date
    on_time_until: date
    protocol_version: str
    modes: tuple[str, ...]


@dataclass(frozen=True)
class Enrolment:
    """One protocol run for one resident from `anchor`, keyed by `prefix` (a cycle, a pregnancy)."""

    protocol: p.Protocol
    anchor: date
    registered_on: date
    until: date
    prefix: str = ""


def plan(enrolment: Enrolment) -> list[PlannedVisit]:
    """The enrolment's visits whose on-time range is open on or after registration and opens by `until`."""
    visits = []
    for visit in enrolment.protocol.visits:
        start, end = (offset.after(enrolment.anchor) for offset in visit.on_time)
        if end < enrolment.registered_on or start > enrolment.until:
            continue
        visits.append(PlannedVisit(enrolment.protocol.programme, enrolment.prefix + visit.code, visit.title,
                                   visit.at.after(enrolment.anchor), start, end, enrolment.protocol.version, visit.modes))
    return visits


def enrolments(facts: HealthFacts, *, signed_on: date, cycle: int, cycle_start: date, cycle_end: date) -> list[Enrolment]:
    """The protocols that apply to a signed resident in a cycle (POLICY.md "Packages", value-added)."""
    found = []
    yearly = dict(anchor=cycle_start, until=cycle_end, prefix=f"{cycle}-")
    if age_on(facts.birth_date, cycle_start) <= CHILD_UNTIL_AGE:
        found.append(Enrolment(p.CHILD, facts.birth_date, signed_on, cycle_end))
    if age_on(facts.birth_date, cycle_end) >= 65:
        found.append(Enrolment(p.ELDERLY, registered_on=signed_on, **yearly))
    if age_on(facts.birth_date, cycle_end) >= 80:
        found.append(Enrolment(p.ELDERLY_80, registered_on=signed_on, **yearly))
    for condition in facts.conditions:
        if condition.kind in CHRONIC_KINDS:
            found.append(Enrolment(p.CHRONIC[condition.kind.value], registered_on=max(signed_on, condition.recorded_on), **yearly))
    for pregnancy in facts.pregnancies:
        registered = max(signed_on, pregnancy.registered_on)
        prefix = f"p{pregnancy.id}-"
        if pregnancy.delivered_on is None:
            found.append(Enrolment(p.PRENATAL, pregnancy.last_menstrual_period, registered, cycle_end, prefix))
        else:  # the delivery ends the prenatal series: what was not done by then is missed or moot
            found.append(Enrolment(p.POSTPARTUM, pregnancy.delivered_on, registered, cycle_end, prefix))
    return found


def resident_plan(facts: HealthFacts, *, signed_on: date, cycle: int, cycle_start: date, cycle_end: date) -> list[PlannedVisit]:
    """Every visit a signed resident should have planned in the cycle."""
    return [visit for enrolment in enrolments(facts, signed_on=signed_on, cycle=cycle, cycle_start=cycle_start,
                                              cycle_end=cycle_end)
            for visit in plan(enrolment)]
