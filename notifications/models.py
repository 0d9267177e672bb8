"""The outbox, residents' subscriptions and preferences, lectures and their attendance, and the shared WeChat token."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, enum_column


class Kind(str, enum.Enum):
    """What a message is about; residents may turn the reminder kinds off."""

    VISIT_DUE = "visit_due"
    VACCINATION_DUE = "vaccination_due"
    LECTURE = "lecture"
    OVERDUE_DIGEST = "overdue_digest"
    APPOINTMENT_DUE = "appointment_due"


REMINDER_KINDS = (Kind.VISIT_DUE, Kind.VACCINATION_DUE, Kind.LECTURE, Kind.APPOINTMENT_DUE)


class MessageState(str, enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # a permanent failure (refused, invalid openid, no way to reach the person)
    DEAD = "dead"  # transient failures until the attempts ran out


class Channel(str, enum.Enum):
    WECHAT = "wechat"
    SMS = "sms"
    INBOX = "inbox"  # staff read it in the app


class OutboxMessage(Base):
    """One message to one person, written in the transaction of the event that caused it.

    The dedupe key (e.g. visit id + reminder kind + date) is unique: a repeated scan creates nothing.
    A dispatcher holds a row while `claimed_until` is in the future; `sent` is final.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "state", "next_attempt_at"),
        Index("ix_outbox_messages_centre_state", "centre_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[Kind] = mapped_column(enum_column(Kind))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id"))
    # Template-neutral content: title, date, place, note, page; each channel renders it its way.
    content: Mapped[dict] = mapped_column(JSON)
    state: Mapped[MessageState] = mapped_column(enum_column(MessageState), default=MessageState.PENDING)
    channel: Mapped[Channel | None] = mapped_column(enum_column(Channel))
    attempts: Mapped[int] = mapped_column(default=0)
    # A subscription grant was taken for this message and not given back: a retry (even by another
    # dispatcher after a crash) uses it instead of taking another.
    holds_grant: Mapped[bool] = mapped_column(default=False)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Subscription(Base):
    """A resident's grants of one subscribe-message template: each message spends one (unless long-term)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("resident_id", "template_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    template_id: Mapped[str] = mapped_column(String(64))
    credits: Mapped[int] = mapped_column(default=0)
    long_term: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class OptOut(Base):
    """A kind of reminder a resident turned off."""

    __tablename__ = "notification_opt_outs"
    __table_args__ = (UniqueConstraint("resident_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    kind: Mapped[Kind] = mapped_column(enum_column(Kind))


class Lecture(Base):
    """A centre's health lecture (at least one a month, announced in advance: annex 1 of 000, basic package)."""

    __tablename__ = "lectures"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    place: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    published_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class LectureAttendance(Base):
    """A signed resident who attended a lecture, recorded by the centre's staff after it began; the lecture's
    Shanghai date is kept with it, for the fulfilment ledger's months (basic package: a lecture a month)."""

    __tablename__ = "lecture_attendance"
    __table_args__ = (UniqueConstraint("lecture_id", "resident_id"),
                      Index("ix_lecture_attendance_resident_day", "resident_id", "lecture_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    lecture_id: Mapped[int] = mapped_column(ForeignKey("lectures.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    lecture_on: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(default=clock.now)


class WechatToken(Base):
    """The access token all processes share; `refreshing_until` lets one process at a time fetch a new one."""

    __tablename__ = "wechat_tokens"

    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(String(600))
    expires_at: Mapped[datetime | None]
    refreshing_until: Mapped[datetime | None]
    # force_refresh is limited by WeChat (20 a day, 30 s apart): counted per Shanghai day.
    forced_on: Mapped[date | None]
    forced_count: Mapped[int] = mapped_column(default=0)
    forced_at: Mapped[datetime | None]


