"""Pure rules: ID numbers, ages, cycles and change windows."""

from datetime import date

import pytest

from registry.idcard import InvalidIdNumber, age_on, check_character, parse_id_number
from registry.models import PolicyProfile, Sex
from signing.cycles import change_period, cycle_bounds, cycle_of, in_change_period

TODAY = date(2026, 3, 16)


def test_check_character_follows_iso_7064_mod_11_2():
    assert check_character("11010519491231002") == "X"  # the standard's own example
    assert check_character("43052319560701001") == "6"


def test_id_number_gives_birth_date_and_sex():
    parsed = parse_id_number("11010519491231002X", today=TODAY)
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex is Sex.FEMALE
    assert parse_id_number("430523195607010016", today=TODAY).sex is Sex.MALE


def test_region_code_newer_than_the_birth_is_accepted():
    """430523 (邵阳县) dates from 1986; people born there in 1956 hold it."""
    assert parse_id_number("430523195607010016", today=TODAY).birth_date == date(1956, 7, 1)


@pytest.mark.parametrize(
    "number, why",
    [
        ("430523195607010014", "check"),
        ("43052319560701001", "17"),
        ("4305231956070100AX", "17"),
        ("430523195602300012", "real date"),
        ("430523202703160010", "possible"),
    ],
)
def test_invalid_id_numbers_are_rejected(number, why):
    if why == "real date":
        number = number[:17] + check_character(number[:17])
    if why == "possible":
        number = number[:17] + check_character(number[:17])
    with pytest.raises(InvalidIdNumber, match=why):
        parse_id_number(number, today=TODAY)


def test_lowercase_x_is_read_as_x():
    assert parse_id_number("11010519491231002x", today=TODAY).value.endswith("X")


def test_age_counts_whole_years_and_a_leap_day_birthday_on_first_march():
    assert age_on(date(1961, 3, 17), TODAY) == 64
    assert age_on(date(1961, 3, 16), TODAY) == 65
    assert age_on(date(2020, 2, 29), date(2025, 2, 28)) == 4
    assert age_on(date(2020, 2, 29), date(2025, 3, 1)) == 5


def calendar_year() -> PolicyProfile:
    return PolicyProfile(code="t", name="t", cycle_start_month=1, cycle_start_day=1,
                         change_period_start="10-01", change_period_end="12-31")


def test_calendar_year_cycle_runs_first_january_to_thirty_first_december():
    profile = calendar_year()
    assert cycle_of(profile, date(2026, 12, 31)) == 2026
    assert cycle_of(profile, date(2027, 1, 1)) == 2027
    assert cycle_bounds(profile, 2026) == (date(2026, 1, 1), date(2026, 12, 31))


def test_a_cycle_starting_in_july_is_named_by_its_start_year():
    profile = PolicyProfile(code="t", name="t", cycle_start_month=7, cycle_start_day=1,
                            change_period_start="04-01", change_period_end="06-30")
    assert cycle_of(profile, date(2027, 6, 30)) == 2026
    assert cycle_bounds(profile, 2026) == (date(2026, 7, 1), date(2027, 6, 30))
    assert change_period(profile, 2026) == (date(2027, 4, 1), date(2027, 6, 30))


def test_change_period_is_first_october_to_thirty_first_december():
    profile = calendar_year()
    assert not in_change_period(profile, date(2026, 9, 30))
    assert in_change_period(profile, date(2026, 10, 1))
    assert in_change_period(profile, date(2026, 12, 31))
    assert not in_change_period(profile, date(2027, 1, 1))
