"""What care delivers besides planned visits: appointment slots and bookings (basic package:
预约诊疗服务), vaccination doses given (children 0–6), referrals (双向转诊)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.models import visit_reference
from core import clock
from core.db import Base, enum_column
from registry.models import Resident


class Slot(Base):
    """Clinic hours a centre publishes for a team or a doctor, with places for `capacity` residents.

    `booked` counts the places taken; a booking takes one with a conditional UPDATE
    (`booked < capacity`), so the last place goes to exactly one person, and the CHECK keeps the
    counter within bounds whatever a writer does.
    """

    __tablename__ = "slots"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_slots_centre_starts", "centre_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    title: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class BookingState(str, enum.Enum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    MOVED = "moved"  # replaced by the booking whose moved_from_id names it
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class Booking(Base):
    """A resident's place in a slot. Only a `booked` booking holds a place that can be given back.

    The partial unique indexes are two rules: a resident holds at most one live booking per slot,
    and a follow-up visit is booked once (moved, not booked again).
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index("uq_bookings_one_live_per_slot", "slot_id", "resident_id", unique=True,
              sqlite_where=text("state = 'booked'"), postgresql_where=text("state = 'booked'")),
        Index("uq_bookings_one_live_per_visit", "visit_id", unique=True,
              sqlite_where=text("state = 'booked'"), postgresql_where=text("state = 'booked'")),
        visit_reference(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    visit_id: Mapped[int | None]
    state: Mapped[BookingState] = mapped_column(enum_column(BookingState), default=BookingState.BOOKED)
    booked_by: Mapped[str] = mapped_column(String(120))
    moved_from_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    ended_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    slot: Mapped[Slot] = relationship()
    resident: Mapped[Resident] = relationship()


class VaccinationDose(Base):
    """A dose of the national schedule given to a child, as staff recorded it (vaccine, dose number,
    date, place, batch). A dose is recorded once per child (the unique constraint)."""

    __tablename__ = "vaccination_doses"
    __table_args__ = (UniqueConstraint("resident_id", "vaccine", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    vaccine: Mapped[str] = mapped_column(String(20))
    number: Mapped[int]
    given_on: Mapped[date]
    place: Mapped[str] = mapped_column(String(120))
    batch: Mapped[str] = mapped_column(String(40))
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id"))
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(default=clock.now)

    @property
    def code(self) -> str:
        return f"{self.vaccine}-{self.number}"


class Urgency(str, enum.Enum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ReferralState(str, enum.Enum):
    SENT = "sent"
    ACCEPTED = "accepted"  # the hospital took the referral
    SEEN = "seen"  # the resident was seen there
    RETURNED = "returned"  # sent back to the centre (下转): a return visit follows
    CANCELLED = "cancelled"


class Referral(Base):
    """A referral out (上转) to a secondary or tertiary hospital and its way back (双向转诊).

    The hospital is free text until hospitals are entities. Each step keeps its date; `visit_id` is
    the return visit the return brought.
    """

    __tablename__ = "referrals"
    __table_args__ = (Index("ix_referrals_centre_state_expected", "centre_id", "state", "expected_by"), visit_reference())

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    referred_by: Mapped[str] = mapped_column(String(120))
    hospital: Mapped[str] = mapped_column(String(120))
    department: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(500))
    urgency: Mapped[Urgency] = mapped_column(enum_column(Urgency))
    state: Mapped[ReferralState] = mapped_column(enum_column(ReferralState), default=ReferralState.SENT)
    sent_on: Mapped[date]
    expected_by: Mapped[date]
    accepted_on: Mapped[date | None]
    seen_on: Mapped[date | None]
    returned_on: Mapped[date | None]
    cancelled_on: Mapped[date | None]
    note: Mapped[str | None] = mapped_column(String(1000))
    visit_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    resident: Mapped[Resident] = relationship()
