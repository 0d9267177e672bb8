"""Scheduled settlement work; the scheduler's job registry calls these (each opens its own transactions)."""

from __future__ import annotations

from core import clock
from core.scheduler import Job
from settlement import service as settlement


def freeze_monthly_snapshots() -> int:
    """At 00:00 on the 1st (Asia/Shanghai): freeze each pooling region's counts for the month that begins.

    Idempotent: a region already frozen for the month is left alone. Returns how many snapshots were made.
    """
    return len(settlement.freeze_month(clock.today().strftime("%Y-%m")))


JOBS = [Job("settlement_snapshot", freeze_monthly_snapshots)]
