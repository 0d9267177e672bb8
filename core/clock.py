"""The one clock: business dates are Asia/Shanghai dates. Tests set it; rules never read the OS."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_source: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # noqa: E731


def _start_from_environment() -> None:
    """JIAYI_CLOCK_SHIFT (seconds) makes this process's clock run that far from the OS clock, at real speed.

    Tests that start real processes (the scheduler, a dispatcher) use it to give them the tests'
    business date; every process started with the same shift agrees on the time.
    """
    shift = os.environ.get("JIAYI_CLOCK_SHIFT")
    if shift:
        offset = timedelta(seconds=float(shift))
        set_now(lambda: datetime.now(timezone.utc) + offset)


def now() -> datetime:
    """The current instant, timezone-aware, in Asia/Shanghai."""
    return _source().astimezone(SHANGHAI)


def today() -> date:
    """Today's business date in Asia/Shanghai."""
    return now().date()


def set_now(instant: datetime | Callable[[], datetime] | None) -> None:
    """Freeze the clock at `instant` (aware datetime), follow a callable, or None to use the OS clock."""
    global _source
    if instant is None:
        _source = lambda: datetime.now(timezone.utc)  # noqa: E731
    elif callable(instant):
        _source = instant
    else:
        if instant.tzinfo is None:
            raise ValueError("the clock takes aware datetimes only")
        _source = lambda: instant  # noqa: E731


def set_today(day: date, hour: int = 10) -> None:
    """Freeze the clock at `hour`:00 Shanghai time on `day`."""
    set_now(datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI))


def advance(delta: timedelta) -> None:
    """Move a frozen clock forward."""
    set_now(now() + delta)


_start_from_environment()
