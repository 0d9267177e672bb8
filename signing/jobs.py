"""Signing's scheduled job: the cycle roll-over (opens its own transactions; idempotent)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from core import clock
from core.scheduler import Job
from signing import rollover


def cycles_to_roll(today: date) -> list[int]:
    """This year's cycle (activated once begun); in December also next year's, after the change window."""
    return [today.year, today.year + 1] if today.month == 12 else [today.year]


def roll_over() -> list[dict]:
    """Cycle roll-over with automatic renewal (POLICY.md signing rule 3)."""
    return [asdict(rollover.roll_over(cycle=cycle)) for cycle in cycles_to_roll(clock.today())]

JOBS = [Job("roll_over", roll_over)]
