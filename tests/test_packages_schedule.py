"""Plans from protocols (pure): the seeded population's schedules, mid-series registration, due and
overdue, and how readings classify."""

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest

from care import followups
from care.models import Reading, VisitState
from care.schedule import resident_plan
from registry.models import ConditionKind
from registry.populations import HealthFacts, tags_from

SIGNED = date(2026, 3, 16)
CYCLE = dict(cycle=2026, cycle_start=date(2026, 1, 1), cycle_end=date(2026, 12, 31))


def condition(kind, recorded_on=SIGNED):
    return SimpleNamespace(kind=kind, diagnosed_on=date(2020, 1, 1), recorded_on=recorded_on)


def pregnancy(lmp, *, delivered_on=None, registered_on=SIGNED, id=1):
    return SimpleNamespace(id=id, last_menstrual_period=lmp, delivered_on=delivered_on, registered_on=registered_on,
                           expected_delivery=date.fromordinal(lmp.toordinal() + 280))


def schedule_of(facts, signed_on=SIGNED):
    return {(v.programme, v.code): (v.due_date, v.on_time_from, v.on_time_until)
            for v in resident_plan(facts, signed_on=signed_on, **CYCLE)}


def test_child_registered_at_ten_months_gets_only_the_remaining_visits_of_the_cycle():
    plan = schedule_of(HealthFacts(birth_date=date(2025, 5, 16)))
    assert plan == {
        ("child", "12m"): (date(2026, 5, 16), date(2026, 5, 2), date(2026, 5, 30)),
        ("child", "hearing-12m"): (date(2026, 5, 16), date(2026, 5, 2), date(2026, 5, 30)),
        ("child", "tcm-12m"): (date(2026, 5, 16), date(2026, 5, 2), date(2026, 5, 30)),
        ("child", "18m"): (date(2026, 11, 16), date(2026, 11, 2), date(2026, 11, 30)),
        ("child", "blood-18m"): (date(2026, 11, 16), date(2026, 11, 2), date(2026, 11, 30)),
        ("child", "tcm-18m"): (date(2026, 11, 16), date(2026, 11, 2), date(2026, 11, 30)),
    }


def test_newborn_gets_home_visit_full_month_and_infant_series_with_tests():
    plan = schedule_of(HealthFacts(birth_date=date(2026, 3, 10)))
    assert plan[("child", "newborn-home")] == (date(2026, 3, 10), date(2026, 3, 10), date(2026, 3, 17))
    assert plan[("child", "full-month")] == (date(2026, 4, 7), date(2026, 4, 7), date(2026, 4, 9))
    assert plan[("child", "3m")][0] == date(2026, 6, 10)
    assert plan[("child", "6m")][0] == date(2026, 9, 10)
    assert plan[("child", "8m")][0] == date(2026, 11, 10)
    assert plan[("child", "blood-6-8m")] == (date(2026, 9, 10), date(2026, 9, 10), date(2026, 11, 10))
    assert plan[("child", "hearing-6m")][0] == date(2026, 9, 10)
    assert ("child", "12m") not in plan  # its on-time range opens in the next cycle


def test_pregnancy_registered_at_week_22_gets_the_remaining_prenatal_visits_only():
    plan = schedule_of(HealthFacts(birth_date=date(1995, 1, 1), pregnancies=[pregnancy(date(2025, 10, 13))]))
    assert plan == {
        ("prenatal", "p1-21-24w"): (date(2026, 3, 9), date(2026, 3, 9), date(2026, 4, 5)),
        ("prenatal", "p1-28-36w"): (date(2026, 4, 27), date(2026, 4, 27), date(2026, 6, 28)),
        ("prenatal", "p1-37-40w"): (date(2026, 6, 29), date(2026, 6, 29), date(2026, 7, 26)),
    }


def test_delivery_ends_the_prenatal_series_and_plans_the_postpartum_visit_and_42_day_check():
    facts = HealthFacts(birth_date=date(1995, 1, 1),
                        pregnancies=[pregnancy(date(2025, 10, 13), delivered_on=date(2026, 4, 20))])
    plan = schedule_of(facts)
    assert set(plan) == {("postpartum", "p1-home-visit"), ("postpartum", "p1-42-day")}
    assert plan[("postpartum", "p1-home-visit")] == (date(2026, 4, 23), date(2026, 4, 23), date(2026, 4, 27))
    assert plan[("postpartum", "p1-42-day")] == (date(2026, 6, 1), date(2026, 6, 1), date(2026, 6, 15))


def test_eighty_year_old_with_hypertension_gets_quarterly_visits_annual_check_tcm_and_home_visit():
    facts = HealthFacts(birth_date=date(1946, 1, 10), conditions=[condition(ConditionKind.HYPERTENSION)])
    whole_year = (date(2026, 12, 31), date(2026, 1, 1), date(2026, 12, 31))
    assert schedule_of(facts) == {
        ("hypertension", "2026-q1"): (date(2026, 3, 31), date(2026, 1, 1), date(2026, 3, 31)),
        ("hypertension", "2026-q2"): (date(2026, 6, 30), date(2026, 4, 1), date(2026, 6, 30)),
        ("hypertension", "2026-q3"): (date(2026, 9, 30), date(2026, 7, 1), date(2026, 9, 30)),
        ("hypertension", "2026-q4"): (date(2026, 12, 31), date(2026, 10, 1), date(2026, 12, 31)),
        ("elderly", "2026-health-check"): whole_year,
        ("elderly", "2026-tcm"): whole_year,
        ("elderly-80", "2026-home-visit"): whole_year,
    }


def test_diabetes_recorded_in_august_starts_with_the_third_quarter():
    facts = HealthFacts(birth_date=date(1976, 6, 1), conditions=[condition(ConditionKind.DIABETES, date(2026, 8, 5))])
    assert set(schedule_of(facts)) == {("diabetes", "2026-q3"), ("diabetes", "2026-q4")}


def test_conditions_without_a_protocol_schedule_nothing():
    facts = HealthFacts(birth_date=date(1976, 6, 1), conditions=[condition(ConditionKind.STROKE)])
    assert schedule_of(facts) == {}


def visit(on_time_from, on_time_until, state=VisitState.PLANNED):
    return SimpleNamespace(on_time_from=on_time_from, on_time_until=on_time_until, state=state)


def test_a_visit_due_on_the_31st_is_due_all_that_day_and_overdue_by_one_day_on_the_1st():
    quarter = visit(date(2026, 1, 1), date(2026, 3, 31))
    assert followups.status_of(quarter, date(2026, 3, 31)) == "due"
    assert followups.days_overdue(quarter, date(2026, 3, 31)) == 0
    assert followups.status_of(quarter, date(2026, 4, 1)) == "overdue"
    assert followups.days_overdue(quarter, date(2026, 4, 1)) == 1


def test_a_visit_before_its_window_is_upcoming_and_a_done_one_keeps_its_state():
    assert followups.status_of(visit(date(2026, 4, 1), date(2026, 6, 30)), date(2026, 3, 31)) == "upcoming"
    assert followups.status_of(visit(date(2026, 1, 1), date(2026, 1, 2), VisitState.DONE), date(2026, 3, 1)) == "done"


@pytest.mark.parametrize(("reading", "expected"), [
    (dict(systolic=180, diastolic=90), Reading.DANGER),
    (dict(systolic=150, diastolic=110), Reading.DANGER),
    (dict(glucose=Decimal("16.7")), Reading.DANGER),
    (dict(glucose=Decimal("3.9")), Reading.DANGER),
    (dict(systolic=140, diastolic=80), Reading.UNCONTROLLED),
    (dict(systolic=130, diastolic=90), Reading.UNCONTROLLED),
    (dict(glucose=Decimal("7.0"), glucose_fasting=True), Reading.UNCONTROLLED),
    (dict(glucose=Decimal("7.0"), glucose_fasting=False), Reading.CONTROLLED),
    (dict(systolic=139, diastolic=89), Reading.CONTROLLED),
    (dict(), None),
])
def test_readings_classify_as_danger_uncontrolled_or_controlled(reading, expected):
    values = dict(systolic=None, diastolic=None, glucose=None, glucose_fasting=None) | reading
    assert followups.classify(**values) is expected


def test_key_populations_are_derived_from_age_conditions_pregnancy_and_recorded_tags():
    today = date(2026, 3, 16)
    elder = HealthFacts(birth_date=date(1946, 3, 16), conditions=[condition(ConditionKind.HYPERTENSION)],
                        tags=["disabled"])
    assert tags_from(elder, today) == {"elderly_65", "elderly_80", "chronic", "hypertension", "disabled"}
    assert tags_from(HealthFacts(birth_date=date(2019, 3, 17)), today) == {"child_0_6"}
    assert tags_from(HealthFacts(birth_date=date(2019, 3, 16)), today) == set()
    mother = HealthFacts(birth_date=date(1995, 1, 1), pregnancies=[pregnancy(date(2025, 10, 13))])
    assert tags_from(mother, today) == {"pregnant"}
    delivered = HealthFacts(birth_date=date(1995, 1, 1),
                            pregnancies=[pregnancy(date(2025, 6, 1), delivered_on=date(2026, 2, 2))])
    assert tags_from(delivered, today) == {"postpartum"}
    assert tags_from(delivered, date(2026, 3, 17)) == set()


def test_the_modes_that_complete_a_visit_are_protocol_data():
    """Annex 1 of 000: chronic follow-ups face to face, the 80+ visit at home; a phone call completes none."""
    from packages import protocols as p

    assert {v.modes for v in p.CHRONIC["hypertension"].visits} == {("clinic", "home")}
    assert [v.modes for v in p.ELDERLY_80.visits] == [("home",)]
    assert all(p.PHONE not in v.modes for protocol in p.PROTOCOLS.values() for v in protocol.visits)
