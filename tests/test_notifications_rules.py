"""Pure rules of reminders and scheduling: calendar months, the immunisation schedule, stages, truncation."""

from datetime import date, datetime, timedelta

from core.calendar import add_months
from core.clock import SHANGHAI
from core.scheduler import Job, latest_fire_time, trigger_for
from notifications.jobs import reminder_stage
from notifications.models import Kind
from notifications.wechat_channel import fit, template_data
from packages import vaccinations
from signing.jobs import cycles_to_roll


def test_nine_months_after_march_31_is_december_31():
    assert add_months(date(2025, 3, 31), 9) == date(2025, 12, 31)


def test_a_month_after_january_31_clamps_to_the_end_of_february():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)


def test_months_can_go_back_across_a_year():
    assert add_months(date(2026, 3, 16), -84) == date(2019, 3, 16)


def test_the_2021_schedule_holds_every_national_dose():
    codes = {dose.code: dose.months for dose in vaccinations.SCHEDULE}
    assert codes == {
        "HepB-1": 0, "HepB-2": 1, "HepB-3": 6, "BCG-1": 0, "IPV-1": 2, "IPV-2": 3, "bOPV-1": 4, "bOPV-2": 48,
        "DTaP-1": 3, "DTaP-2": 4, "DTaP-3": 5, "DTaP-4": 18, "DT-1": 72, "MMR-1": 8, "MMR-2": 18, "JE-L-1": 8,
        "JE-L-2": 24, "MPSV-A-1": 6, "MPSV-A-2": 9, "MPSV-AC-1": 36, "MPSV-AC-2": 72, "HepA-L-1": 18,
    }


def test_doses_fall_due_whole_calendar_months_after_birth():
    due = [(dose.code, dose.scheduled_on(date(2025, 3, 31))) for dose in vaccinations.SCHEDULE]
    assert [(code, day) for code, day in due if day.month == 12 and day.year == 2025] == [("MPSV-A-2", date(2025, 12, 31))]


def test_reminder_three_days_ahead_and_on_the_day():
    leads = (3, 0)
    assert reminder_stage(date(2026, 3, 19), date(2026, 3, 16), leads) == 3
    assert reminder_stage(date(2026, 3, 16), date(2026, 3, 16), leads) == 0
    assert reminder_stage(date(2026, 3, 20), date(2026, 3, 16), leads) is None
    assert reminder_stage(date(2026, 3, 15), date(2026, 3, 16), leads) is None


def test_a_missed_scan_still_sends_the_early_reminder_a_day_late():
    assert reminder_stage(date(2026, 3, 18), date(2026, 3, 16), (3, 0)) == 3


def test_template_values_are_truncated_to_wechat_limits_not_refused():
    assert fit("thing1", "一" * 25) == "一" * 19 + "…"
    assert len(fit("phrase3", "五个字以上的短语")) == 5
    assert fit("date2", "2026-03-16") == "2026-03-16"
    data = template_data(Kind.VISIT_DUE, {"title": "高血压患者面对面随访（第二季度）第二次提醒", "date": "2026-03-16", "place": "卫生院"})
    assert data["thing1"]["value"].endswith("…") and len(data["thing1"]["value"]) == 20
    assert data["thing4"] == {"value": "-"}


def test_latest_fire_time_is_the_last_run_within_the_grace():
    trigger = trigger_for(Job("reminders", lambda: None), {"reminders": "hour=8 minute=0"})
    at = datetime(2026, 3, 16, 8, 20, tzinfo=SHANGHAI)
    assert latest_fire_time(trigger, at, timedelta(hours=1)) == datetime(2026, 3, 16, 8, 0, tzinfo=SHANGHAI)
    assert latest_fire_time(trigger, at, timedelta(minutes=10)) is None
    assert latest_fire_time(trigger, at.replace(hour=7), timedelta(hours=6)) is None


def test_roll_over_runs_into_next_cycle_only_in_december():
    assert cycles_to_roll(date(2026, 3, 1)) == [2026]
    assert cycles_to_roll(date(2026, 12, 1)) == [2026, 2027]
