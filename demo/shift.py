"""`python -m demo.shift [YYYY-MM-DD]`: the JIAYI_CLOCK_SHIFT (seconds) that makes a process's business time
15:30 Asia/Shanghai on that date now (default: the demo's date), running at real speed from there.

15:30, so that the scheduler, started with the same shift, catches up on none of the morning's runs (overdue
07:30, reminders 08:00, lectures 09:00: each within its 6-hour misfire grace only until 15:00): the demo's overdue
visits stay on the worklist, and no job competes with the first dispatch for SQLite's one writer.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timezone

from core.clock import SHANGHAI
from registry.demo import DEMO_DATE

START = time(15, 30)


def shift_to(day: date) -> int:
    return round((datetime.combine(day, START, tzinfo=SHANGHAI) - datetime.now(timezone.utc)).total_seconds())


if __name__ == "__main__":
    print(shift_to(date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else DEMO_DATE))
