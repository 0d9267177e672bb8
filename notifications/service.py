"""Residents' subscriptions, messages and preferences; lectures; the message state staff query."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import delete, select, update

from core import clock, db
from core.auth import Actor
from core.errors import Invalid
from core.pagination import paginate
from notifications import jobs, outbox
from notifications.models import (
    REMINDER_KINDS,
    Kind,
    Lecture,
    MessageState,
    OptOut,
    OutboxMessage,
    Subscription,
)
from registry import access
from registry import service as registry


def grant_subscriptions(actor: Actor, *, template_ids: list[str]) -> list[Subscription]:
    """Record that the resident accepted these templates in the mini-program (one message each)."""
    settings = current_app.config["SETTINGS"]
    known = set(settings.WECHAT_TEMPLATES.values())
    unknown = sorted(set(template_ids) - known)
    if unknown:
        raise Invalid(f"Not templates of this mini-program: {unknown}.", field="template_ids")
    resident = access.resident_of(actor)
    long_term = settings.WECHAT_LONG_TERM_SUBSCRIPTIONS
    with db.transaction():
        for template_id in template_ids:
            db.insert_unless_exists(Subscription, resident_id=resident.id, template_id=template_id, credits=0,
                                    long_term=long_term, updated_at=clock.now())
            db.session.execute(
                update(Subscription)
                .where(Subscription.resident_id == resident.id, Subscription.template_id == template_id)
                .values(credits=Subscription.credits + 1, long_term=long_term, updated_at=clock.now())
                .execution_options(synchronize_session=False))
    return list(db.session.scalars(select(Subscription).where(Subscription.resident_id == resident.id)
                                   .order_by(Subscription.template_id).execution_options(populate_existing=True)))


def my_notifications(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    """The messages sent or waiting for the calling resident, oldest first."""
    resident = access.resident_of(actor)
    query = select(OutboxMessage).where(OutboxMessage.resident_id == resident.id)
    return paginate(query, key_columns=[OutboxMessage.id], cursor=cursor, limit=limit)


def preferences(actor: Actor) -> dict:
    resident = access.resident_of(actor)
    return {"off": sorted(outbox.opted_out_kinds(resident.id), key=lambda kind: kind.value)}


def set_preferences(actor: Actor, *, off: list[Kind]) -> dict:
    """Turn the listed kinds of reminder off and every other kind on."""
    if not_reminders := sorted(kind.value for kind in off if kind not in REMINDER_KINDS):
        raise Invalid(f"Only reminders can be turned off, not {not_reminders}.", field="off")
    resident = access.resident_of(actor)
    with db.transaction():
        db.session.execute(delete(OptOut).where(OptOut.resident_id == resident.id))
        db.session.add_all(OptOut(resident_id=resident.id, kind=kind) for kind in set(off))
    return preferences(actor)


def publish_lecture(actor: Actor, *, centre_id: int, title: str, place: str, starts_at: datetime) -> Lecture:
    """Publish a health lecture; signed residents are told from LECTURE_NOTICE_DAYS before (annex 1 of 000)."""
    centre = registry.get_centre(centre_id)
    access.check_centre(actor, centre.id)
    if starts_at <= clock.now():
        raise Invalid("A lecture is announced in advance: it must start in the future.", field="starts_at")
    with db.transaction():
        lecture = Lecture(centre_id=centre.id, title=title, place=place, starts_at=starts_at, published_by=actor.subject)
        db.session.add(lecture)
        db.session.flush()
        if jobs.notice_opens(starts_at) <= clock.now():
            jobs.announce_lecture(lecture, centre.name)
    return lecture


def centre_messages(actor: Actor, *, state: MessageState | None, kind: Kind | None, resident_id: int | None,
                    cursor: str | None, limit: int) -> dict:
    """The messages of the caller's centre and their state (pending, sent, failed with reason, dead)."""
    query = select(OutboxMessage).where(OutboxMessage.centre_id == actor.centre_id)
    for column, value in ((OutboxMessage.state, state), (OutboxMessage.kind, kind), (OutboxMessage.resident_id, resident_id)):
        if value is not None:
            query = query.where(column == value)
    return paginate(query, key_columns=[OutboxMessage.id], cursor=cursor, limit=limit)
