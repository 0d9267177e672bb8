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


def claim_run(job_id: str, fire_time: datetime, runner: str, now: datetime, lease: timedelta) -> JobRun | None:
    """Claim `fire_time` of a job for `runner`: a new run, or one whose runner died (its claim expired
    with that runner's lease, see `renew_runs`). None when a live runner holds it or it has ended."""
    with db.transaction():
        claimed = db.insert_unless_exists(JobRun, job_id=job_id, fire_time=fire_time, runner=runner, started_at=now,
                                          outcome="running", expires_at=now + lease)
        if not claimed:
            claimed = db.session.execute(
                update(JobRun)
                .where(JobRun.job_id == job_id, JobRun.fire_time == fire_time, JobRun.outcome == "running",
                       JobRun.expires_at < now)
                .values(runner=runner, started_at=now, expires_at=now + lease)
            ).rowcount
            if claimed:
                log.warning("job %s at %s: taking over the run of a runner that stopped", job_id, fire_time.isoformat())
        return db.session.scalar(select(JobRun).where(JobRun.job_id == job_id, JobRun.fire_time == fire_time)) if claimed else None


def renew_runs(runner: str, expires_at: datetime) -> None:
    """Keep the runs `runner` is running claimed as long as its lease: renewed with it, by the heartbeat."""
    with db.transaction():
        db.session.execute(update(JobRun).where(JobRun.runner == runner, JobRun.outcome == "running")
                           .values(expires_at=expires_at))


def run_once(job: Job, fire_time: datetime, runner: str, lease: timedelta | None = None) -> bool:
    """Run `job` for `fire_time` unless some live process already claimed that fire time or it has ended.

    The claim lasts `lease` (by default the leader lease's length) unless the runner's heartbeat renews it.
    """
    lease = lease or timedelta(seconds=current_app.config["SETTINGS"].SCHEDULER_LEASE_SECONDS)
    run = claim_run(job.id, fire_time, runner, clock.now(), lease)
    if run is None:
        return False
    with carry_request_id():  # the run's log lines share one id, as a request's do
        try:
            outcome, detail = "done", job.run()
        except Exception as error:  # a failed run is recorded (its transaction rolled back); the next fire time catches up
            log.exception("job %s failed", job.id)
            outcome, detail = "failed", f"{type(error).__name__}: {error}"
    with db.transaction():  # unless another leader took the run over meanwhile (this one lost its lease)
        db.session.execute(update(JobRun).where(JobRun.id == run.id, JobRun.runner == runner).values(
            outcome=outcome, finished_at=clock.now(), detail=str(detail)[:500] if detail else None))
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
        self.lease = timedelta(seconds=self.settings.SCHEDULER_LEASE_SECONDS)
        # How a catch-up run is started: inline here; the process hands it to APScheduler's pool so
        # the heartbeat keeps renewing the lease while a long job runs.
        self.submit: Callable[[Job], object] = self.tick

    def heartbeat(self) -> None:
        """Renew or take the lease; a process that has just become leader catches up missed runs."""
        with self.app.app_context():
            now = clock.now()
            leading = hold_lease(LEADER, self.name, now, self.lease)
            if leading:
                renew_runs(self.name, now + self.lease)
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
                run_once(job, fire_time, self.name, self.lease)

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


class ShutdownSignals:
    """SIGTERM and SIGINT as a stop request, safely: however many arrive, and whenever.

    A Python signal handler runs in the main thread between two bytecodes of whatever it interrupted,
    so it must take no lock (`Event.set()` takes the lock `Event.wait()` holds: a second signal during
    the first one's handler deadlocked the process). Here the handler only sets a flag, and the C-level
    handler writes to a wake-up pipe (`signal.set_wakeup_fd`) that `wait` sleeps on; the main loop,
    not the handler, then shuts down.
    """

    def __init__(self, signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.requested = False
        self._wake, write = os.pipe()
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in signums:
            signal.signal(signum, self._handle)

    def _handle(self, _signum, _frame) -> None:
        self.requested = True  # nothing else: no lock, no logging, no I/O

    def wait(self) -> None:
        while not self.requested:
            os.read(self._wake, 512)  # returns once a signal wrote its byte (even one that came before the read)


def run(app: Flask, stop: threading.Event | ShutdownSignals) -> None:
    """Run the scheduler until `stop` is set, then hand the lease over."""
    runner = Runner(app, app.extensions["jobs"])
    scheduler = runner.scheduler()
    runner.submit = lambda job: scheduler.add_job(runner.tick, args=[job], id=f"catch-up-{job.id}", replace_existing=True)
    scheduler.start()
    runner.heartbeat()
    log.info("scheduler %s started with jobs %s", runner.name, [job.id for job in runner.jobs])
    stop.wait()
    log.info("scheduler %s stopping", runner.name)
    scheduler.shutdown(wait=True)
    runner.resign()
    log.info("scheduler %s stopped", runner.name)


scheduler_cli = AppGroup("scheduler", help="The periodic jobs (run exactly one leader; more are safe).")


@scheduler_cli.command("run")
def run_command() -> None:
    """Run the scheduler until SIGTERM or Ctrl-C (further signals while it stops are harmless)."""
    run(current_app._get_current_object(), ShutdownSignals())
