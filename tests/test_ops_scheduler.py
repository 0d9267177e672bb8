"""The scheduler stops on any burst of signals, `make run` leaves no process behind, and a leader killed
mid-job does not lose that fire time: its run expires with its lease and the next leader runs it once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import scheduled_jobs
from core import clock, migrate
from core.clock import SHANGHAI
from core.config import ROOT
from core.jobs import JOB_RUNS_KEPT, forget_old_job_runs
from core.models import JobRun
from core.scheduler import Job, Runner, run_once

FLASK = str(ROOT / ".venv" / "bin" / "flask")
STOPS_WITHIN = 20  # seconds: a bound on waiting, far above the second or so a stop takes


class Killed(BaseException):
    """What a leader's death looks like to its job: the run never gets to record an outcome."""


# Loaded into the scheduler process (as sitecustomize) to hold the race open: every Condition.notify_all,
# as Event.set() calls it with the Condition's lock held, first sleeps a while. A signal that comes
# then lands while an earlier signal's handler may still be inside Event.set().
WIDE_RACE = """
import threading, time
_notify_all = threading.Condition.notify_all
def notify_all_slowly(self):
    time.sleep(0.3)
    _notify_all(self)
threading.Condition.notify_all = notify_all_slowly
"""


def environment(tmp_path: Path, database: str) -> dict:
    """Development mode over a database of its own, with the race held open in every Python started."""
    (tmp_path / "sitecustomize.py").write_text(WIDE_RACE)
    return {**os.environ, "JIAYI_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / database}",
            "PYTHONPATH": str(tmp_path)}


def started_scheduler(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    env = environment(tmp_path, "scheduler.sqlite")
    migrate.upgrade(env["DATABASE_URL"])
    log = tmp_path / "scheduler.log"
    process = subprocess.Popen([FLASK, "--app", "wsgi", "scheduler", "run"], cwd=ROOT, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while "started with jobs" not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)
    return process, log


@pytest.mark.slow
@pytest.mark.parametrize("signums", [[signal.SIGTERM, signal.SIGTERM], [signal.SIGINT, signal.SIGTERM]],
                         ids=["term-term", "int-term"])
def test_flask_scheduler_run_stops_on_a_second_signal_during_the_first_ones_handler(tmp_path, signums):
    process, log = started_scheduler(tmp_path)
    try:
        for signum in signums:
            os.kill(process.pid, signum)
            time.sleep(0.1)  # the second comes while the first one's handler would be inside Event.set()
        process.wait(timeout=STOPS_WITHIN)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()[-2000:]
    assert "stopped" in log.read_text().splitlines()[-1]  # it shut down and handed the lease over


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain reaches `pid`, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "term"])
def test_make_run_ends_everything_it_started(tmp_path, how):
    """`make run`'s recipe, with a database of its own and free ports; Ctrl-C is SIGINT to the whole process group
    (make's own TERM is what a supervisor sends). The recipe's trap used to `kill 0`: the scheduler got INT
    and TERM, or TERM twice, and stayed alive."""
    from tests.test_ops_gunicorn import free_port

    env = environment(tmp_path, "demo.sqlite")
    log = tmp_path / "make.log"
    make = subprocess.Popen(["make", "--no-print-directory", "--old-file=.venv/.installed", "run", f"DEMO_WECHAT_PORT={free_port()}", f"API_PORT={free_port()}"],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "started with jobs" not in log.read_text() or "Running on" not in log.read_text():
            assert make.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        started = descendants(make.pid)
        assert len(alive(started)) >= 4  # the recipe's shell, the WeChat stand-in, the scheduler, the API
        if how == "ctrl-c":
            os.killpg(make.pid, signal.SIGINT)
        else:
            os.kill(make.pid, signal.SIGTERM)
        make.wait(timeout=STOPS_WITHIN)
        deadline = time.monotonic() + STOPS_WITHIN
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(started) == set(), log.read_text()[-3000:]
    finally:
        for pid in alive(descendants(make.pid)) | ({make.pid} if make.poll() is None else set()):
            os.kill(pid, signal.SIGKILL)


def runner(app, calls: list, *, dies: bool = False) -> Runner:
    def settle():
        calls.append(clock.now())
        if dies:
            raise Killed
        return "snapshot taken"

    return Runner(app, [Job("settlement_snapshot", settle)])


DECEMBER_FIRST = datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI)


def test_a_run_whose_leader_was_killed_mid_job_is_taken_over_by_the_next_leader_once(app, db):
    calls = []
    clock.set_now(DECEMBER_FIRST)
    leader = runner(app, calls, dies=True)
    with pytest.raises(Killed):
        leader.heartbeat()  # leads, runs December's snapshot, dies in it
    run = db.scalars(select(JobRun)).one()
    assert (run.outcome, run.runner) == ("running", leader.name)
    follower = runner(app, calls)
    clock.advance(timedelta(seconds=app.config["SETTINGS"].SCHEDULER_LEASE_SECONDS + 1))  # the dead leader's lease runs out
    follower.heartbeat()  # takes the lease, catches up: the run expired with the lease
    follower.tick(follower.jobs[0])  # the same fire time again: not a second run
    assert len(calls) == 2
    db.expire_all()
    run = db.scalars(select(JobRun)).one()
    assert (run.fire_time, run.outcome, run.runner, run.detail) == (DECEMBER_FIRST, "done", follower.name, "snapshot taken")


def test_a_running_run_is_not_taken_over_while_its_leader_renews_its_lease(app, db):
    calls = []
    clock.set_now(DECEMBER_FIRST)
    lease = timedelta(seconds=app.config["SETTINGS"].SCHEDULER_LEASE_SECONDS)
    leader = runner(app, calls, dies=True)
    with pytest.raises(Killed):
        leader.heartbeat()
    for _ in range(4):  # the job is still running in the leader, whose heartbeat keeps renewing
        clock.advance(lease / 2)
        leader.heartbeat()
        assert run_once(runner(app, calls).jobs[0], DECEMBER_FIRST, "another-process", lease) is False
    assert len(calls) == 1
    db.expire_all()
    assert db.scalars(select(JobRun.runner)).all() == [leader.name]


def test_a_finished_or_failed_run_is_never_taken_over(app, db):
    calls = []
    clock.set_now(DECEMBER_FIRST)
    lease = timedelta(seconds=app.config["SETTINGS"].SCHEDULER_LEASE_SECONDS)
    assert run_once(runner(app, calls).jobs[0], DECEMBER_FIRST, "first", lease)
    clock.advance(lease * 10)
    assert run_once(runner(app, calls).jobs[0], DECEMBER_FIRST, "second", lease) is False
    assert len(calls) == 1


def test_ended_job_runs_are_forgotten_after_thirty_days_and_running_ones_never(app, db):
    now = DECEMBER_FIRST
    clock.set_now(now)
    old, recent = now - JOB_RUNS_KEPT - timedelta(minutes=1), now - JOB_RUNS_KEPT + timedelta(minutes=1)
    db.add_all([JobRun(job_id="dispatch", fire_time=old, runner="r", finished_at=old, outcome="done"),
                JobRun(job_id="dispatch", fire_time=recent, runner="r", finished_at=recent, outcome="done"),
                JobRun(job_id="imports", fire_time=old, runner="r", outcome="running")])
    db.flush()
    assert forget_old_job_runs() == 1
    assert sorted((run.job_id, run.fire_time) for run in db.scalars(select(JobRun))) == [
        ("dispatch", recent), ("imports", old)]
    assert "old_job_runs" in {job.id for job in scheduled_jobs()}
