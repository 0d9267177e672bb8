"""The records fulfilment is derived from, beside visits and their records (care/models.py): package items
the team delivered and logged one by one, the calls made to people overdue for care, and the messages
between signed people and their team (basic package item 2: a named doctor and a way to reach them).

Kept in their own module while visits, appointments and referrals change in care/models.py in parallel;
nothing stops folding them in later.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ColumnElement, ForeignKey, Index, String, UniqueConstraint, exists
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, enum_column
from signing.models import Agreement


class ItemDelivery(Base):
    """One delivery of a package item that no visit record or attendance records (a test, a screening, a
    personalised-package service), logged by the team on the day it was given. Counts are derived from
    these rows, never typed in."""

    __tablename__ = "item_deliveries"
    __table_args__ = (
        Index("ix_item_deliveries_agreement_item", "agreement_id", "package_code", "item_code"),
        Index("ix_item_deliveries_resident_day", "resident_id", "delivered_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    edition: Mapped[str] = mapped_column(String(10))
    package_code: Mapped[str] = mapped_column(String(40))
    item_code: Mapped[str] = mapped_column(String(40))
    delivered_on: Mapped[date]
    note: Mapped[str | None] = mapped_column(String(500))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=clock.now)


class CallOutcome(str, enum.Enum):
    """What came of a call to someone overdue for care: a fixed list, so calls can be counted."""

    REACHED_WILL_COME = "reached_will_come"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    MOVED_AWAY = "moved_away"
    DIED = "died"
    REFUSED = "refused"


# Outcomes after which the person leaves the call lists and what the team owes.
LEAVES_CARE = (CallOutcome.MOVED_AWAY, CallOutcome.DIED)


class RefusalReason(str, enum.Enum):
    """Why a person reached by phone refused to come back: a fixed list, for the centre's figures."""

    FEELS_WELL = "feels_well"
    NO_TIME = "no_time"
    CARED_FOR_ELSEWHERE = "cared_for_elsewhere"
    COST = "cost"
    CANNOT_TRAVEL = "cannot_travel"
    DISTRUSTS_SERVICE = "distrusts_service"
    OTHER = "other"


class Call(Base):
    """One call a team member made to a signed person overdue for care, and its outcome."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_resident_day", "resident_id", "called_on"),
        Index("ix_calls_centre_day", "centre_id", "called_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    called_at: Mapped[datetime] = mapped_column(default=clock.now)
    called_on: Mapped[date]  # Shanghai date of called_at
    outcome: Mapped[CallOutcome] = mapped_column(enum_column(CallOutcome))
    reason: Mapped[RefusalReason | None] = mapped_column(enum_column(RefusalReason))
    note: Mapped[str | None] = mapped_column(String(500))


def left_care(agreement=Agreement) -> ColumnElement[bool]:
    """A call during the agreement found that the person moved away or died: they leave the lists.

    A death is recorded only as the call's outcome: the registry has no date of death yet, and a
    phone call is not the record that ends agreements (signing's termination, reason death, is).
    """
    return exists().where(Call.resident_id == agreement.resident_id, Call.outcome.in_(LEAVES_CARE),
                          Call.called_on >= agreement.start_date)


class Conversation(Base):
    """A signed person's thread with their centre's team. `waiting_since` is when the oldest message the team has
    not answered arrived (null: nothing waits); the inbox is ordered by it."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("resident_id", "centre_id"),
        Index("ix_conversations_inbox", "centre_id", "waiting_since", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    waiting_since: Mapped[datetime | None]
    last_message_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Author(str, enum.Enum):
    RESIDENT = "resident"
    STAFF = "staff"


class ConversationMessage(Base):
    """One message of a thread: a resident's (passed WeChat's text check first), or a team member's answer."""

    __tablename__ = "conversation_messages"
    __table_args__ = (Index("ix_conversation_messages_thread", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    author: Mapped[Author] = mapped_column(enum_column(Author))
    # The household member who wrote (for a child, a parent), or the staff member.
    resident_author_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    staff_author_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    content: Mapped[str] = mapped_column(String(500))
    # WeChat's suggestion for a resident's text: pass, or review (shown, flagged for the team); risky is never stored.
    text_check: Mapped[str | None] = mapped_column(String(10))
    sent_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_on: Mapped[date]  # Shanghai date of sent_at
