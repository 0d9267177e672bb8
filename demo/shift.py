"""`python -m demo.shift [YYYY-MM-DD]`: the JIAYI_CLOCK_SHIFT (seconds) that makes a process's business time
14:00 Asia/Shanghai on that date now (default: the demo's date), running at real speed from there.

14:00, so that the scheduler, started with the same shift, does not catch up on the morning's overdue run
(07:30, within its 6-hour misfire grace only until 13:30) and leaves the demo's overdue visits on the worklist.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timezone

from core.clock import SHANGHAI
from registry.demo import DEMO_DATE

START = time(14, 0)


def shift_to(day: date) -> int:
    return round((datetime.combine(day, START, tzinfo=SHANGHAI) - datetime.now(timezone.utc)).total_seconds())


if __name__ == "__main__":
    print(shift_to(date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else DEMO_DATE))
