"""The scheduled jobs, run in-process on the test clock: reminders, overdue marking, lectures, catch-up."""

from datetime import date, datetime, timedelta

from sqlalchemy import select

from care.models import Visit, VisitState
from core import clock
from core.auth import Role
from core.clock import SHANGHAI
from core.models import JobRun
from core.scheduler import Job, Runner
from notifications import jobs, outbox
from notifications.models import Kind, Lecture, MessageState, OutboxMessage
from signing import jobs as signing_jobs
from tests import factories as f
from tests.factories_notifications import signed, subscribed, visit


def _keys(db, kind=None):
    query = select(OutboxMessage.dedupe_key).order_by(OutboxMessage.id)
    return db.scalars(query.where(OutboxMessage.kind == kind) if kind else query).all()


def _place():
    f.regions()
    return f.centre()


def test_daily_scan_reminds_visits_three_days_ahead_and_on_the_day(db):
    centre = _place()
    person = f.resident(openid="o-alice")
    soon, today, later = (visit(person, centre, date(2026, 3, d)) for d in (19, 16, 25))
    visit(person, centre, date(2026, 3, 17), state=VisitState.DONE)
    assert jobs.reminders() == {"visits": 2, "vaccinations": 0}
    assert sorted(_keys(db)) == sorted([f"visit:{soon.id}:3:2026-03-19", f"visit:{today.id}:0:2026-03-16"])
    assert later.id not in {int(key.split(":")[1]) for key in _keys(db)}


def test_visit_reminders_are_made_soonest_first_so_dispatchers_send_the_most_urgent_first(db):
    centre = _place()
    people = [f.resident() for _ in range(6)]  # several residents: on PostgreSQL their visits lie in several partitions
    later = [visit(person, centre, date(2026, 3, 19)) for person in people]
    today = [visit(person, centre, date(2026, 3, 16)) for person in reversed(people)]
    jobs.reminders()
    assert [int(key.split(":")[1]) for key in _keys(db)] == sorted(v.id for v in today) + sorted(v.id for v in later)


def test_a_repeated_scan_creates_no_second_reminder(db):
    centre = _place()
    visit(f.resident(), centre, date(2026, 3, 19))
    jobs.reminders()
    assert jobs.reminders() == {"visits": 0, "vaccinations": 0}
    clock.set_today(date(2026, 3, 17))
    assert jobs.reminders()["visits"] == 0  # still the 3-day stage
    clock.set_today(date(2026, 3, 19))
    assert jobs.reminders()["visits"] == 1  # the day itself
    assert len(_keys(db)) == 2


def test_signed_children_are_reminded_of_vaccinations_due_by_the_national_schedule(db):
    centre = _place()
    child = f.resident(born=date(2025, 7, 16))  # 8 months on 16 Mar 2026: MMR-1 and JE-L-1
    signed(child, centre)
    unsigned = f.resident(born=date(2025, 7, 16))
    assert jobs.reminders() == {"visits": 0, "vaccinations": 2}
    assert _keys(db, Kind.VACCINATION_DUE) == [f"vaccination:{child.id}:MMR-1:0:2026-03-16",
                                               f"vaccination:{child.id}:JE-L-1:0:2026-03-16"]
    assert unsigned.id not in {m.resident_id for m in db.scalars(select(OutboxMessage))}


def test_vaccination_reminder_comes_seven_days_ahead(db):
    centre = _place()
    child = f.resident(born=date(2025, 9, 20))  # 6 months on 20 Mar 2026: HepB-3, MPSV-A-1
    signed(child, centre)
    jobs.reminders()
    assert _keys(db, Kind.VACCINATION_DUE) == [f"vaccination:{child.id}:HepB-3:7:2026-03-20",
                                               f"vaccination:{child.id}:MPSV-A-1:7:2026-03-20"]
    content = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first().content
    assert (content["title"], content["date"]) == ("乙肝疫苗 第3剂", "2026-03-20")


def test_overdue_marking_misses_planned_visits_past_their_window_and_sends_the_doctors_digest(db):
    centre = _place()
    doctor, admin = f.staff(centre=centre), f.staff(centre=centre, role=Role.CENTRE_ADMIN)
    person = f.resident()
    late = [visit(person, centre, date(2026, 2, d), on_time_days=7) for d in (1, 2)]
    open_ = visit(person, centre, date(2026, 3, 10), on_time_days=7)
    done = visit(person, centre, date(2026, 2, 3), on_time_days=7, state=VisitState.DONE)
    assert jobs.mark_overdue() == {"missed": 2, "digests": 1}
    states = {v.id: v.state for v in db.scalars(select(Visit).execution_options(populate_existing=True))}
    assert [states[v.id] for v in late] == [VisitState.MISSED, VisitState.MISSED]
    assert (states[open_.id], states[done.id]) == (VisitState.PLANNED, VisitState.DONE)
    digest = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == Kind.OVERDUE_DIGEST)).one()
    assert (digest.staff_id, digest.content["missed"]) == (doctor.id, 2) and admin.id != digest.staff_id
    assert jobs.mark_overdue() == {"missed": 0, "digests": 0}
    assert outbox.dispatch(worker="test") == {"sent": 1}
    db.refresh(digest)
    assert digest.channel.value == "inbox"


def test_a_published_lecture_is_announced_to_signed_residents_in_advance(db, client):
    centre = _place()
    admin = f.staff(centre=centre, role=Role.CENTRE_ADMIN)
    member = f.resident(openid="o-alice")
    signed(member, centre)
    stranger = f.resident()
    body = {"title": "高血压的自我管理", "place": "卫生院三楼会议室", "starts_at": "2026-03-28T09:00:00+08:00"}
    response = client.post(f"/api/v1/centres/{centre.id}/lectures", json=body, headers=f.as_staff(admin))
    assert response.status_code == 201, response.get_json()
    assert jobs.lectures() == 0 and _keys(db) == []  # more than 3 days away: not yet
    clock.set_today(date(2026, 3, 25))
    assert jobs.lectures() == 1 and jobs.lectures() == 0
    message = db.scalars(select(OutboxMessage)).one()
    assert (message.resident_id, message.content["date"]) == (member.id, "2026-03-28 09:00")
    assert stranger.id != message.resident_id


def test_a_lecture_published_inside_the_notice_period_is_announced_with_it(db, client):
    centre = _place()
    signed(f.resident(), centre)
    body = {"title": "儿童营养", "place": "会议室", "starts_at": "2026-03-17T15:00:00+08:00"}
    response = client.post(f"/api/v1/centres/{centre.id}/lectures", json=body, headers=f.as_staff(f.staff(centre=centre)))
    assert response.status_code == 201
    assert len(_keys(db, Kind.LECTURE)) == 1


def test_a_lecture_in_the_past_is_422_and_nothing_is_written(db, client):
    centre = _place()
    body = {"title": "x", "place": "y", "starts_at": "2026-03-01T09:00:00+08:00"}
    response = client.post(f"/api/v1/centres/{centre.id}/lectures", json=body, headers=f.as_staff(f.staff(centre=centre)))
    assert response.status_code == 422 and "starts_at" in response.get_json()["errors"]["json"]
    assert db.scalars(select(Lecture)).all() == []


def test_another_centres_doctor_cannot_publish_a_lecture(db, client):
    centre, other = _place(), f.centre()
    body = {"title": "x", "place": "y", "starts_at": "2026-04-01T09:00:00+08:00"}
    response = client.post(f"/api/v1/centres/{centre.id}/lectures", json=body, headers=f.as_staff(f.staff(centre=other)))
    assert response.status_code == 403
    assert db.scalars(select(Lecture)).all() == []


def test_roll_over_job_renews_agreements_into_the_next_cycle_in_december(db):
    centre = _place()
    signed(f.resident(), centre)
    clock.set_today(date(2026, 12, 1))
    reports = signing_jobs.roll_over()
    assert [(r["cycle"], r["renewed"]) for r in reports] == [(2026, 0), (2027, 1)]
    assert signing_jobs.roll_over()[1]["renewed"] == 0


def _runner(app, calls):
    job = Job("reminders", lambda: calls.append(clock.now()) or "ran")
    return Runner(app, [job])


def test_a_scheduler_stopped_across_the_trigger_time_runs_the_missed_run_once_on_restart(app, db):
    calls = []
    clock.set_now(datetime(2026, 3, 16, 7, 59, tzinfo=SHANGHAI))
    first = _runner(app, calls)
    first.heartbeat()
    assert calls == []  # 08:00 has not come
    first.resign()  # stopped before 08:00
    clock.set_now(datetime(2026, 3, 16, 8, 20, tzinfo=SHANGHAI))
    _runner(app, calls).heartbeat()  # restarted after it: catches up
    clock.set_now(datetime(2026, 3, 16, 8, 40, tzinfo=SHANGHAI))
    again = _runner(app, calls)
    again.heartbeat()
    again.tick(again.jobs[0])  # a repeated trigger of the same fire time
    assert len(calls) == 1
    run = db.scalars(select(JobRun)).one()
    assert (run.fire_time, run.outcome, run.detail) == (datetime(2026, 3, 16, 8, 0, tzinfo=SHANGHAI), "done", "ran")


def test_only_the_lease_holder_runs_jobs_and_another_takes_over_when_it_dies(app, db):
    calls = []
    clock.set_now(datetime(2026, 3, 16, 8, 5, tzinfo=SHANGHAI))
    leader, follower = _runner(app, calls), _runner(app, calls)
    leader.heartbeat()
    follower.heartbeat()
    follower.tick(follower.jobs[0])
    assert (leader.leading, follower.leading, len(calls)) == (True, False, 1)
    clock.advance(timedelta(seconds=10))
    leader.heartbeat()
    follower.heartbeat()
    assert (leader.leading, follower.leading) == (True, False)
    clock.advance(timedelta(seconds=31))  # the leader died: its lease runs out
    follower.heartbeat()
    assert follower.leading and len(calls) == 1  # 08:00 already ran: the catch-up does not repeat it
    clock.set_now(datetime(2026, 3, 17, 8, 0, 1, tzinfo=SHANGHAI))
    follower.tick(follower.jobs[0])
    assert len(calls) == 2
    runners = db.scalars(select(JobRun.runner).order_by(JobRun.fire_time)).all()
    assert runners == [leader.name, follower.name]


def test_a_failing_job_is_recorded_and_does_not_stop_the_scheduler(app, db):
    def boom():
        raise RuntimeError("no database today")

    clock.set_now(datetime(2026, 3, 16, 8, 5, tzinfo=SHANGHAI))
    Runner(app, [Job("reminders", boom)]).heartbeat()
    run = db.scalars(select(JobRun)).one()
    assert run.outcome == "failed" and "no database today" in run.detail


def test_the_day_reminders_reach_the_resident_once(db, wechat):
    centre = _place()
    person = f.resident(openid="o-alice")
    subscribed(person, credits=5)
    visit(person, centre, date(2026, 3, 16))
    for _ in range(2):
        jobs.reminders()
        outbox.dispatch(worker="test")
    assert [m["touser"] for m in wechat.delivered] == ["o-alice"]
    assert db.scalars(select(OutboxMessage.state)).all() == [MessageState.SENT]


def test_apscheduler_keeps_a_missed_run_within_the_grace_and_coalesces_a_backlog(app):
    runner = Runner(app, [Job("reminders", lambda: None)])
    scheduler = runner.scheduler()
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("reminders")
        assert job.misfire_grace_time == app.config["SETTINGS"].SCHEDULER_MISFIRE_GRACE_SECONDS > 1
        assert job.coalesce and job.max_instances == 1
        assert str(job.trigger.timezone) == "Asia/Shanghai"
    finally:
        scheduler.shutdown(wait=False)
