"""core's scheduled jobs: the audit log's monthly partitions, made ahead and dropped past retention, and the
sessions, login counters and scheduled job runs that can no longer matter (all idempotent)."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from core import audit, clock, db
from core.lockout import COUNTING_WINDOW, LoginLock
from core.models import JobRun
from core.scheduler import Job
from core.sessions import Session as LoginSession

# Ended sessions are kept a day for whoever looks into one; the audit log keeps their logins and logouts.
SPENT_SESSIONS_KEPT = timedelta(days=1)
# Ended runs of scheduled jobs are kept 30 days for whoever looks into one (jiayi_job_runs counts them); the scheduler
# itself looks back only its misfire grace (hours).
JOB_RUNS_KEPT = timedelta(days=30)


def maintain_audit_partitions(settings=None, *, retention_days: int | None = None) -> dict[str, list[str]]:
    """Daily: create this month's and the next three months' partitions, drop months past AUDIT_RETENTION_DAYS.

    Runs over AUDIT_MAINTENANCE_DATABASE_URL (the owner role; README "Deploying") when it is set.
    """
    settings = settings or current_app.config["SETTINGS"]
    days = settings.AUDIT_RETENTION_DAYS if retention_days is None else retention_days
    if not settings.AUDIT_MAINTENANCE_DATABASE_URL:
        return audit.maintain_partitions(db.session, today=clock.today(), retention_days=days)
    engine = db.make_engine(settings.AUDIT_MAINTENANCE_DATABASE_URL)
    try:
        with Session(engine) as session:
            return audit.maintain_partitions(session, today=clock.today(), retention_days=days)
    finally:
        engine.dispose()


def forget_spent_logins() -> dict[str, int]:
    """Daily: delete sessions ended (expired or revoked) over a day ago, and login counters whose counting window
    and lock have both passed — otherwise both tables grow by a row a login."""
    now = clock.now()
    with db.transaction():
        sessions = db.session.execute(delete(LoginSession).where(or_(
            LoginSession.expires_at < now - SPENT_SESSIONS_KEPT, LoginSession.revoked_at < now - SPENT_SESSIONS_KEPT)))
        locks = db.session.execute(delete(LoginLock).where(
            LoginLock.counting_since < now - COUNTING_WINDOW,
            or_(LoginLock.locked_until.is_(None), LoginLock.locked_until < now)))
    return {"sessions": sessions.rowcount, "login_counters": locks.rowcount}


def forget_old_job_runs() -> int:
    """Daily: delete the ended runs of scheduled jobs fired over 30 days ago — otherwise a run every 20 s (dispatch)
    and every minute (imports) grows the table by about 6,000 rows a day, and each metrics scrape counts them all."""
    with db.transaction():
        return db.session.execute(delete(JobRun).where(
            JobRun.finished_at.is_not(None), JobRun.fire_time < clock.now() - JOB_RUNS_KEPT)).rowcount


JOBS = [Job("audit_partitions", maintain_audit_partitions), Job("spent_logins", forget_spent_logins),
        Job("old_job_runs", forget_old_job_runs)]
