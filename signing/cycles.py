"""Signing cycles and change periods, computed from a region's policy profile (pure functions)."""

from __future__ import annotations

from datetime import date, timedelta

from core.calendar import clamped_date
from registry.models import PolicyProfile


def cycle_of(profile: PolicyProfile, day: date) -> int:
    """The cycle `day` falls in, named by the year it starts in."""
    start = clamped_date(day.year, profile.cycle_start_month, profile.cycle_start_day)
    return day.year if day >= start else day.year - 1


def cycle_bounds(profile: PolicyProfile, cycle: int) -> tuple[date, date]:
    """First and last day of a cycle (one year long)."""
    start = clamped_date(cycle, profile.cycle_start_month, profile.cycle_start_day)
    following = clamped_date(cycle + 1, profile.cycle_start_month, profile.cycle_start_day)
    return start, following - timedelta(days=1)


def change_period(profile: PolicyProfile, cycle: int) -> tuple[date, date]:
    """The dates within `cycle` when change requests for the next cycle are accepted."""
    start, end = cycle_bounds(profile, cycle)

    def within_cycle(month_day: str) -> date:
        month, day = (int(part) for part in month_day.split("-"))
        candidate = clamped_date(start.year, month, day)
        return candidate if candidate >= start else clamped_date(start.year + 1, month, day)

    return within_cycle(profile.change_period_start), within_cycle(profile.change_period_end)


def in_change_period(profile: PolicyProfile, day: date) -> bool:
    opens, closes = change_period(profile, cycle_of(profile, day))
    return opens <= day <= closes
