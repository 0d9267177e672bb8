"""Calendar arithmetic of schedules: months by the calendar, clamped to the month's end."""

from datetime import date

import pytest

from care.schedule import Enrolment, plan
from core.calendar import add_months, days, months
from packages import protocols as p


def test_nine_months_after_march_31_is_december_31():
    assert add_months(date(2026, 3, 31), 9) == date(2026, 12, 31)


@pytest.mark.parametrize(("start", "n", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 8, 31), 1, date(2026, 9, 30)),
    (date(2026, 12, 15), 1, date(2027, 1, 15)),
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
    (date(2026, 1, 1), -1, date(2025, 12, 1)),
])
def test_adding_months_clamps_to_the_end_of_the_target_month(start, n, expected):
    assert add_months(start, n) == expected


def test_a_year_after_a_leap_day_is_february_28_and_four_years_after_is_february_29():
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)


def test_an_offset_moves_months_first_then_days():
    assert (months(3) - days(14)).after(date(2025, 11, 30)) == date(2026, 2, 14)


def test_child_born_on_february_29_has_visits_on_month_anniversaries_clamped_in_common_years():
    born = date(2024, 2, 29)
    visits = {v.code: v for v in plan(Enrolment(p.CHILD, born, born, date(2031, 12, 31)))}
    assert visits["3m"].due_date == date(2024, 5, 29)
    assert visits["12m"].due_date == date(2025, 2, 28)
    assert (visits["12m"].on_time_from, visits["12m"].on_time_until) == (date(2025, 2, 14), date(2025, 3, 14))
    assert visits["24m"].due_date == date(2026, 2, 28)
    assert visits["preschool-4y"].due_date == date(2028, 2, 29)
    assert visits["preschool-5y"].on_time_until == date(2030, 2, 27)
