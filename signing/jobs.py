"""Signing's scheduled job: the cycle roll-over (opens its own transactions; idempotent)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from core import clock
from core.scheduler import Job
from signing import rollover


class RollOverIncomplete(Exception):
    """Some region or person could not be rolled over; everybody else was (the run is recorded as failed)."""


def cycles_to_roll(today: date) -> list[int]:
    """This year's cycle (activated once begun); in December also next year's, after the change period."""
    return [today.year, today.year + 1] if today.month == 12 else [today.year]


def roll_over() -> list[dict]:
    """Cycle roll-over with automatic renewal (POLICY.md signing rule 3); failures are raised after every cycle ran."""
    reports = [asdict(rollover.roll_over(cycle=cycle)) for cycle in cycles_to_roll(clock.today())]
    failures = [dict(failure, cycle=report["cycle"]) for report in reports for failure in report["failures"]]
    if failures:
        raise RollOverIncomplete(f"{len(failures)} failure(s), the rest rolled over: {failures}")
    return reports

JOBS = [Job("roll_over", roll_over)]
