"""Scheduled follow-up visits and the records of visits made."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, enum_column
from packages import protocols
from packages.protocols import FACE_TO_FACE
from registry.models import Resident


class VisitState(str, enum.Enum):
    PLANNED = "planned"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Timeliness(str, enum.Enum):
    ON_TIME = "on_time"
    LATE = "late"


class Visit(Base):
    """One scheduled follow-up of one resident: due date, on-time range, responsible team, state.

    "Due" and "overdue" are not stored: they follow from the on-time range and today's date.
    (programme, code) names the visit in its protocol, unique per resident, so rebuilding a plan
    never duplicates a visit. `rescheduled` marks a visit clinical feedback moved: rebuilds keep it.

    What refers to a visit (its records, bookings, referrals) refers to (id, resident_id): on PostgreSQL visits
    are partitioned by a hash of the resident (migration 0023), and a partitioned table's unique keys must hold
    the resident; there the primary key (id, resident_id) is that key. It also makes the database refuse a
    record, booking or referral that puts one resident's visit under another resident.
    """

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("resident_id", "programme", "code"),
        UniqueConstraint("id", "resident_id"),
        Index("ix_visits_team_state_due", "team_id", "state", "due_date"),
        Index("ix_visits_state_due", "state", "due_date"),
        # The worklist: a centre's planned visits by the last day of their on-time range.
        Index("ix_visits_centre_state_on_time_until", "centre_id", "state", "on_time_until"),
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
    on_time_from: Mapped[date]
    on_time_until: Mapped[date]
    state: Mapped[VisitState] = mapped_column(enum_column(VisitState), default=VisitState.PLANNED)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    rescheduled: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    served_on: Mapped[date | None]
    timeliness: Mapped[Timeliness | None] = mapped_column(enum_column(Timeliness))
    referral: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The modes of contact that complete the visit, from its protocol (packages.protocols); others are recorded only.
    modes: Mapped[list[str]] = mapped_column(JSON, default=lambda: list(FACE_TO_FACE),
                                             server_default=text("'[\"clinic\", \"home\"]'"))

    resident: Mapped[Resident] = relationship()

    @property
    def resident_name(self) -> str:
        return self.resident.name


def visit_reference() -> ForeignKeyConstraint:
    """A table's (visit_id, resident_id) -> visits (id, resident_id): the visit, and that it is the resident's."""
    return ForeignKeyConstraint(["visit_id", "resident_id"], ["visits.id", "visits.resident_id"])


class VisitMode(str, enum.Enum):
    CLINIC = protocols.CLINIC
    HOME = protocols.HOME
    PHONE = protocols.PHONE


class Reading(str, enum.Enum):
    """How a hypertension/diabetes reading classifies (POLICY.md: danger signs; control targets)."""

    CONTROLLED = "controlled"
    UNCONTROLLED = "uncontrolled"
    DANGER = "danger"


class VisitRecord(Base):
    """What a doctor logged for a visit. A correction is a new revision; earlier ones stay as history.

    The on-time range the visit had when it was served is kept, so timeliness stays true after later edits.
    """

    __tablename__ = "visit_records"
    __table_args__ = (UniqueConstraint("visit_id", "revision"), visit_reference())

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int]
    resident_id: Mapped[int]
    revision: Mapped[int]
    current: Mapped[bool] = mapped_column(default=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    served_on: Mapped[date]
    mode: Mapped[VisitMode] = mapped_column(enum_column(VisitMode))
    systolic: Mapped[int | None]
    diastolic: Mapped[int | None]
    glucose: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    glucose_fasting: Mapped[bool | None]
    heart_rate: Mapped[int | None]
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    findings: Mapped[str | None] = mapped_column(String(2000))
    referral: Mapped[bool] = mapped_column(default=False)
    # Whether the mode is one that completes the visit (a phone contact on a face-to-face visit does not).
    completes: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    notes: Mapped[str | None] = mapped_column(String(2000))
    reading: Mapped[Reading | None] = mapped_column(enum_column(Reading))
    on_time_from: Mapped[date]
    on_time_until: Mapped[date]
    timeliness: Mapped[Timeliness] = mapped_column(enum_column(Timeliness))
    recorded_at: Mapped[datetime] = mapped_column(default=clock.now)
