"""core's scheduled job: the audit log's monthly partitions, made ahead and dropped past retention (idempotent)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from core import audit, clock, db
from core.scheduler import Job


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


JOBS = [Job("audit_partitions", maintain_audit_partitions)]
