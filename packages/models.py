"""Scheduled follow-up visits: the rows a doctor's worklist and a resident's reminders read."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, enum_column


class VisitState(str, enum.Enum):
    PLANNED = "planned"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Visit(Base):
    """One scheduled follow-up of one resident: due date, window, responsible team, state.

    "Due" and "overdue" are not stored: they follow from the window and today's date.
    (programme, code) names the visit in its protocol, unique per resident, so rebuilding a plan
    never duplicates a visit.
    """

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("resident_id", "programme", "code"),
        Index("ix_visits_team_state_due", "team_id", "state", "due_date"),
        Index("ix_visits_state_due", "state", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    programme: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(120))
    protocol_version: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date]
    window_start: Mapped[date]
    window_end: Mapped[date]
    state: Mapped[VisitState] = mapped_column(enum_column(VisitState), default=VisitState.PLANNED)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
