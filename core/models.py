"""Tables every domain shares: idempotency records, the audit log, and the scheduler's lease and job runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base


class IdempotencyRecord(Base):
    """A client's Idempotency-Key and the first response given for it (kept ≥ 24 hours)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("actor", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None]
    response_body: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


class AuditEvent(Base):
    """Append-only: who did or read what, when, from where, with what outcome."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(60))
    ip: Mapped[str | None] = mapped_column(String(45))
    # The request's X-Request-Id (core/observability.py), to find its log lines; None outside a request.
    request_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    detail: Mapped[dict | None] = mapped_column(JSON)


class Lease(Base):
    """A named lease: who holds it until when (the scheduler's leader lock)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime]


class JobRun(Base):
    """One run of a scheduled job for one fire time: unique, so no fire time runs twice.

    A `running` run expires with its runner's leader lease (renewed with it); an expired one is taken
    over by the next leader, so a leader killed mid-job does not lose that fire time.
    """

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "fire_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40))
    fire_time: Mapped[datetime]
    runner: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    detail: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[datetime | None]
