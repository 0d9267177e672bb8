"""The one calendar module: months move by the calendar and clamp to the month's end (schedules, cycles,
ages, snapshots all use it)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months, clamped to the last day of the target month.

    9 months after 31 March is 31 December; 1 month after 31 January is 28 (29) February; 12 months
    after 29 February is 28 February.
    """
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return clamped_date(year, month + 1, day.day)


def clamped_date(year: int, month: int, day: int) -> date:
    """The date, or the month's last day when the month is shorter (29 Feb in a common year is 28 Feb)."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Offset:
    """A distance from an anchor date: calendar months first, then days."""

    months: int = 0
    days: int = 0

    def __add__(self, other: Offset) -> Offset:
        return Offset(self.months + other.months, self.days + other.days)

    def __sub__(self, other: Offset) -> Offset:
        return Offset(self.months - other.months, self.days - other.days)

    def after(self, anchor: date) -> date:
        return add_months(anchor, self.months) + timedelta(days=self.days)


def months(n: int) -> Offset:
    return Offset(months=n)


def days(n: int) -> Offset:
    return Offset(days=n)


def weeks(n: int) -> Offset:
    return Offset(days=7 * n)
