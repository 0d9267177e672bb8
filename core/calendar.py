"""Calendar arithmetic for schedules: whole months with the month-end clamp."""

from __future__ import annotations

import calendar
from datetime import date


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months; a day past the target month's end clamps to it (31 Mar + 9 = 31 Dec)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
