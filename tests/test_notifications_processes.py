"""Concurrency with real threads and processes, on a committed database: one token refresh for many
senders, two scheduler processes running each job once, a dispatcher killed mid-batch.

The scheduler and dispatcher processes get the tests' business date through JIAYI_CLOCK_SHIFT
(core.clock: the process clock runs that many seconds from the OS clock), and their jobs fire every
second (SCHEDULES), so a few seconds of real time cover several trigger times.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import date, timedelta

from sqlalchemy import select

from core import clock
from core import db as core_db
from core.models import JobRun, Lease
from core.wechat import WechatClient
from notifications import jobs, outbox, wechat_channel
from notifications.models import MessageState, OutboxMessage
from tests import factories as f
from tests.factories_notifications import subscribed, visit
from tests.processes import environment, start, stop, wait_for


def test_twenty_concurrent_sends_needing_a_token_make_one_upstream_call(app, committed_db, wechat):
    wechat.token_delay = 0.3
    tokens = []

    def fetch():
        with app.app_context():
            tokens.append(wechat_channel.access_token(WechatClient.from_app()))

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert tokens == ["token-1"] * 20
    assert len(wechat.calls_to("stable_token")) == 1


def test_four_dispatchers_at_once_send_every_message_exactly_once(app, committed_db, wechat, monkeypatch):
    monkeypatch.setitem(app.config, "SETTINGS", app.config["SETTINGS"].replace(OUTBOX_BATCH=3))
    f.regions()
    centre = f.centre()
    for n in range(24):
        person = f.resident(openid=f"o-m{n}")
        subscribed(person, credits=1)
        visit(person, centre, date(2026, 3, 16))
    jobs.reminders()

    reports = []

    def dispatcher():
        with app.app_context():
            reports.append(outbox.dispatch())

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(m["touser"] for m in wechat.delivered) == sorted(f"o-m{n}" for n in range(24))
    assert sum(report.get("sent", 0) for report in reports) == 24 and len([r for r in reports if r]) > 1
    states = core_db.session.scalars(select(OutboxMessage.state).execution_options(populate_existing=True)).all()
    assert states == [MessageState.SENT] * 24


def _pid_of(runner: str) -> int:
    return int(runner.split(":")[1])


def test_two_scheduler_processes_run_each_job_once_and_the_other_takes_over(app, committed_db, wechat):
    f.regions()
    centre = f.centre()
    person = f.resident(openid="o-two")
    subscribed(person, credits=5)
    visit(person, centre, date(2026, 3, 16))
    env = environment(app, committed_db, SCHEDULER_LEASE_SECONDS="1.5", SCHEDULER_MISFIRE_GRACE_SECONDS="3",
                       SCHEDULES="reminders=second=*;dispatch=second=*;overdue=second=*/2")
    first = start(env, "scheduler", "run")
    try:
        wait_for(lambda: core_db.session.get(Lease, "scheduler", populate_existing=True))
        second = start(env, "scheduler", "run")
        try:
            wait_for(lambda: len(wechat.delivered) == 1)
            time.sleep(2)
            assert {_pid_of(r) for r in core_db.session.scalars(select(JobRun.runner))} == {first.pid}
            stop(first, signal.SIGKILL)
            killed_at = clock.now()
            wait_for(lambda: core_db.session.scalar(select(JobRun.id).where(JobRun.started_at > killed_at)))
        finally:
            stop(second)
    finally:
        stop(first)
    runs = core_db.session.scalars(select(JobRun).order_by(JobRun.started_at)).all()
    assert {_pid_of(run.runner) for run in runs} == {first.pid, second.pid}
    assert {run.job_id for run in runs} == {"reminders", "dispatch", "overdue"}
    assert len({(run.job_id, run.fire_time) for run in runs}) == len(runs)
    assert [m["touser"] for m in wechat.delivered] == ["o-two"]


def test_a_dispatcher_killed_mid_batch_leaves_no_message_lost_or_sent_twice(app, committed_db, wechat):
    """The send in flight when the process dies is one WeChat never accepted (it hangs, then fails):
    what was sent stays sent, what was claimed is claimed again once the dead dispatcher's lease runs out."""
    f.regions()
    centre = f.centre()
    people = [f.resident(openid=f"o-k{n}") for n in range(6)]
    for person in people:
        subscribed(person, credits=1)
        visit(person, centre, date(2026, 3, 16))
    jobs.reminders()
    wechat.hang_openids.add("o-k3")
    env = environment(app, committed_db, OUTBOX_LEASE_SECONDS="2")
    dispatcher = start(env, "notifications", "dispatch")
    try:
        wait_for(lambda: any(call["touser"] == "o-k3" for call in wechat.calls_to("subscribe_send")))
        stop(dispatcher, signal.SIGKILL)
    finally:
        stop(dispatcher)
    assert [m["touser"] for m in wechat.delivered] == ["o-k0", "o-k1", "o-k2"]
    wechat.hang_openids.clear()
    clock.advance(timedelta(seconds=3))  # the dead dispatcher's lease has run out
    outbox.dispatch()
    assert sorted(m["touser"] for m in wechat.delivered) == [f"o-k{n}" for n in range(6)]
    states = core_db.session.scalars(select(OutboxMessage.state).execution_options(populate_existing=True)).all()
    assert states == [MessageState.SENT] * 6
