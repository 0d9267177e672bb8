"""The scheduler machinery (`flask scheduler run`): jobs that each domain's jobs.py lists, and the leader lock.

APScheduler 3.x cannot share a job store between processes, so jobs are defined in code and run
by one process; running two (or gunicorn with many workers) is still safe: a lease row decides
who leads (a conditional UPDATE, on SQLite and PostgreSQL alike), the other waits and takes over
when the leader's lease runs out. Every run of a job is claimed in `job_runs` by (job, fire time),
so a fire time never runs twice; on becoming leader a process catches up the latest fire time of
each job missed within the misfire grace (APScheduler's memory store forgets them on restart).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import or_, select, update

from core import clock, db
from core.models import JobRun, Lease
from core.observability import carry_request_id

log = logging.getLogger(__name__)
LEADER = "scheduler"

@dataclass(frozen=True)
class Job:
    """A scheduled job: its id names its time in Settings.SCHEDULES; `run` opens its own transactions."""

    id: str
    run: Callable[[], object]


def trigger_for(job: Job, schedules: dict[str, str]) -> CronTrigger:
    """The job's cron trigger from config, e.g. `hour=8 minute=0`, in Asia/Shanghai."""
    fields = dict(part.split("=", 1) for part in schedules[job.id].split())
    return CronTrigger(timezone=clock.SHANGHAI, **fields)


def latest_fire_time(trigger: CronTrigger, now: datetime, grace: timedelta) -> datetime | None:
    """The last time the trigger fired at or before `now`, if within `grace` of it."""
    latest, fire = None, trigger.get_next_fire_time(None, now - grace)
    while fire is not None and fire <= now:
        latest, fire = fire, trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest


def hold_lease(name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew a lease that is free, expired or already ours; False when someone else holds it."""
    with db.transaction():
        taken = db.session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
        ).rowcount
        if not taken:
            taken = db.insert_unless_exists(Lease, name=name, holder=holder, expires_at=now + ttl)
    return bool(taken)


def give_up_lease(name: str, holder: str) -> None:
    with db.transaction():
        db.session.execute(update(Lease).where(Lease.name == name, Lease.holder == holder)
                           .values(expires_at=clock.now() - timedelta(seconds=1)))


def run_once(job: Job, fire_time: datetime, runner: str) -> bool:
    """Run `job` for `fire_time` unless some process already claimed that fire time."""
    with db.transaction():
        claimed = db.insert_unless_exists(
            JobRun, job_id=job.id, fire_time=fire_time, runner=runner, started_at=clock.now(), outcome="running")
    if not claimed:
        return False
    run = db.session.scalar(select(JobRun).where(JobRun.job_id == job.id, JobRun.fire_time == fire_time))
    with carry_request_id():  # the run's log lines share one id, as a request's do
        try:
            outcome, detail = "done", job.run()
        except Exception as error:  # a failed run is recorded (its transaction rolled back); the next fire time catches up
            log.exception("job %s failed", job.id)
            outcome, detail = "failed", f"{type(error).__name__}: {error}"
    with db.transaction():
        run.outcome, run.finished_at, run.detail = outcome, clock.now(), str(detail)[:500] if detail else None
    return True


class Runner:
    """One scheduler process: keeps or seeks the leader lease, and runs due jobs while it leads."""

    def __init__(self, app: Flask, jobs: list[Job]):
        self.app = app
        self.jobs = jobs
        self.settings = app.config["SETTINGS"]
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.triggers = {job.id: trigger_for(job, self.settings.SCHEDULES) for job in jobs}
        self.leading = False
        # How a catch-up run is started: inline here; the process hands it to APScheduler's pool so
        # the heartbeat keeps renewing the lease while a long job runs.
        self.submit: Callable[[Job], object] = self.tick

    def heartbeat(self) -> None:
        """Renew or take the lease; a process that has just become leader catches up missed runs."""
        with self.app.app_context():
            ttl = timedelta(seconds=self.settings.SCHEDULER_LEASE_SECONDS)
            leading = hold_lease(LEADER, self.name, clock.now(), ttl)
        if leading and not self.leading:
            log.info("scheduler %s leads", self.name)
            self.leading = True
            for job in self.jobs:
                self.submit(job)
        self.leading = leading

    def tick(self, job: Job) -> None:
        """Run `job` for its latest fire time, if this process leads and nobody ran that time yet."""
        if not self.leading:
            return
        grace = timedelta(seconds=self.settings.SCHEDULER_MISFIRE_GRACE_SECONDS)
        with self.app.app_context():
            fire_time = latest_fire_time(self.triggers[job.id], clock.now(), grace)
            if fire_time is not None:
                run_once(job, fire_time, self.name)

    def resign(self) -> None:
        with self.app.app_context():
            give_up_lease(LEADER, self.name)
        self.leading = False

    def scheduler(self) -> BackgroundScheduler:
        """APScheduler with each job's trigger and the lease heartbeat.

        Misfire grace and coalescing are set on purpose: 3.x's default grace of 1 s silently drops
        a run after a pause; coalescing runs a backlog once.
        """
        scheduler = BackgroundScheduler(timezone=clock.SHANGHAI, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": self.settings.SCHEDULER_MISFIRE_GRACE_SECONDS})
        for job in self.jobs:
            scheduler.add_job(self.tick, self.triggers[job.id], args=[job], id=job.id)
        scheduler.add_job(self.heartbeat, "interval", seconds=self.settings.SCHEDULER_LEASE_SECONDS / 3, id="leader-lease")
        return scheduler


def run(app: Flask, stop: threading.Event) -> None:
    """Run the scheduler until `stop` is set, then hand the lease over."""
    runner = Runner(app, app.extensions["jobs"])
    scheduler = runner.scheduler()
    runner.submit = lambda job: scheduler.add_job(runner.tick, args=[job], id=f"catch-up-{job.id}", replace_existing=True)
    scheduler.start()
    runner.heartbeat()
    log.info("scheduler %s started with jobs %s", runner.name, [job.id for job in runner.jobs])
    stop.wait()
    scheduler.shutdown(wait=True)
    runner.resign()


scheduler_cli = AppGroup("scheduler", help="The periodic jobs (run exactly one leader; more are safe).")


@scheduler_cli.command("run")
def run_command() -> None:
    """Run the scheduler until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(current_app._get_current_object(), stop)
