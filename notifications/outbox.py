"""The outbox: every message is a row written with the event that caused it, and dispatchers send them.

Dispatchers may run in many processes at once. A claim is one UPDATE that stamps due rows with
the dispatcher's name and a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the UPDATE
holds the database's write lock, which is the equivalent). A row whose dispatcher died is claimed
again when its lease runs out; a row marked sent is never sent again.

Each message's outcome is written before the next message is sent, so a dispatcher killed mid-batch leaves at most
the message in flight unrecorded (it is claimed again, and sent again, once the lease runs out).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, bindparam, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core import clock, db
from core.http import outbound_session
from core.wechat import WechatClient
from notifications import sms, wechat_channel
from notifications.delivery import SENT, Delivery, Result
from notifications.models import Channel, Kind, MessageState, OptOut, OutboxMessage, Subscription
from registry.models import Resident

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=6)
RATE_LIMIT_PAUSE = timedelta(seconds=60)
UNREACHABLE = "undeliverable: no WeChat subscription and no phone"


def enqueue(*, dedupe_key: str, kind: Kind, content: dict, resident_id: int | None = None, staff_id: int | None = None,
            centre_id: int | None = None, not_before: datetime | None = None) -> bool:
    """Add a message in the caller's transaction, once per dedupe key; False when it exists or is turned off."""
    if resident_id is not None and kind in opted_out_kinds(resident_id):
        return False
    return db.insert_unless_exists(
        OutboxMessage, dedupe_key=dedupe_key, kind=kind, content=content, resident_id=resident_id, staff_id=staff_id,
        centre_id=centre_id, state=MessageState.PENDING, attempts=0, holds_grant=False, next_attempt_at=not_before or clock.now(),
        created_at=clock.now(), updated_at=clock.now(),
    )


def enqueue_many(messages: list[dict]) -> int:
    """Add messages (enqueue's keyword arguments) in the caller's transaction, skipping dedupe keys already there;
    returns how many were added. One prepared INSERT sent for all rows at once (the driver's executemany: psycopg
    pipelines it). A scan filters out the kinds turned off in its own query (`wanted`): nothing here is per message."""
    now = clock.now()
    rows = [{"resident_id": None, "staff_id": None, "centre_id": None, "next_attempt_at": now, **message,
             "state": MessageState.PENDING, "attempts": 0, "holds_grant": False, "created_at": now, "updated_at": now}
            for message in messages]
    if not rows:
        return 0
    dialect_insert = sqlite_insert if db.is_sqlite() else postgresql_insert
    statement = dialect_insert(OutboxMessage.__table__).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
    return db.session.execute(statement, rows).rowcount


def wanted(kind: Kind, resident_id: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL for a scan's WHERE: the resident has not turned this kind of message off."""
    return ~exists().where(OptOut.resident_id == resident_id, OptOut.kind == kind)


def opted_out_kinds(resident_id: int) -> set[Kind]:
    return set(db.session.scalars(select(OptOut.kind).where(OptOut.resident_id == resident_id)))


def dispatcher_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Channels:
    """What one dispatcher run sends through: one WeChat client and one SMS session, each kept alive for the
    run (core.http's deadline-bound session), and the shared access token as the run last read it."""

    def __init__(self, settings):
        self.settings = settings
        self.wechat = WechatClient.from_app()
        self.tokens = wechat_channel.Tokens(self.wechat)
        self.sms = outbound_session(settings.HTTP_TIMEOUT_SECONDS, settings.HTTP_MAX_RESPONSE_BYTES)
        _environment_read_once(self.wechat.http, self.wechat.base_url)
        if settings.SMS_GATEWAY_URL:
            _environment_read_once(self.sms, settings.SMS_GATEWAY_URL)

    def __enter__(self) -> "Channels":
        return self

    def __exit__(self, *_exc) -> None:
        self.wechat.http.close()
        self.sms.close()


def _environment_read_once(http, url: str) -> None:
    """Take what requests reads from the environment on every call (proxies for this host, honouring no_proxy; a CA
    bundle) once for the run: a channel calls one host, and scanning the environment was half a millisecond a send."""
    found = http.merge_environment_settings(url, {}, None, None, None)
    http.proxies.update(found["proxies"])
    http.verify, http.cert = found["verify"], found["cert"]
    http.trust_env = False


@dataclass(frozen=True)
class Grant:
    """A resident's grants of one template as the batch read them (a counted one is still taken by a conditional UPDATE)."""

    credits: int
    long_term: bool


def dispatch(*, worker: str | None = None) -> dict[str, int]:
    """Send every due message, a batch at a time, until none is due; returns counts by outcome.

    Per batch: one claim (UPDATE … RETURNING), one read of the contacts and one of their grants. Per message: the
    send and one UPDATE writing its outcome, committed before the next send (`db.on_their_own`: one round trip on
    PostgreSQL), plus a conditional UPDATE when a counted grant is taken.
    """
    worker = worker or dispatcher_name()
    settings = current_app.config["SETTINGS"]
    report: Counter = Counter()
    # Outcomes commit without waiting for the disk: a crash of the database server itself could lose the last few
    # hundred milliseconds of them, and those messages would be sent again, as after a crash between a send and
    # its outcome. Waiting for the disk on every message was most of a dispatcher's time.
    with Channels(settings) as channels, db.on_their_own(wait_for_disk=False) as write:
        while batch := claim(worker, settings.OUTBOX_BATCH):
            contacts = contacts_for(batch)
            grants = grants_for(contacts.values())
            db.session.commit()  # end the reads before the writes below (SQLite cannot turn a read into a write)
            for index, message in enumerate(batch):
                channel, result = deliver(message, contacts.get(message.resident_id), grants, channels)
                report[result.delivery.value] += 1
                record(write, message, worker, channel, result)
                if result.delivery is Delivery.RATE_LIMITED:
                    release(batch[index + 1:], worker, clock.now() + RATE_LIMIT_PAUSE)
                    return dict(report)
    return dict(report)


def claim(worker: str, limit: int) -> list[OutboxMessage]:
    """Stamp up to `limit` due, unclaimed rows as this worker's for a lease, and return them (one UPDATE … RETURNING)."""
    settings = current_app.config["SETTINGS"]
    now = clock.now()
    free = or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now)
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.state == MessageState.PENDING, OutboxMessage.next_attempt_at <= now, free)
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with db.transaction():
        claimed = db.session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due), free)
            .values(claimed_by=worker, claimed_until=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS))
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False, populate_existing=True)
        ).all()
    return sorted(claimed, key=lambda message: message.id)


def release(messages: list[OutboxMessage], worker: str, until: datetime) -> None:
    """Give claimed rows back untried, not before `until`."""
    with db.transaction():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([m.id for m in messages]), OutboxMessage.claimed_by == worker)
            .values(claimed_by=None, claimed_until=None, next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )


def contacts_for(batch: list[OutboxMessage]) -> dict[int, Resident]:
    """Who hears about each resident of the batch: themself, or for a child without WeChat or phone, the eldest
    household member who has one (one read of the residents, one of the households that need it)."""
    ids = {message.resident_id for message in batch if message.staff_id is None and message.resident_id is not None}
    if not ids:
        return {}
    people = db.session.scalars(select(Resident).where(Resident.id.in_(ids))).all()
    households = {person.household_id for person in people if not (person.openid or person.phone) and person.household_id}
    members: dict[int, list[Resident]] = defaultdict(list)
    if households:
        for member in db.session.scalars(select(Resident).where(Resident.household_id.in_(households))):
            members[member.household_id].append(member)

    def contact(person: Resident) -> Resident:
        if person.openid or person.phone or person.household_id is None:
            return person
        reachable = [m for m in members[person.household_id] if m.openid or m.phone]
        return min(reachable, key=lambda m: m.birth_date) if reachable else person

    return {person.id: contact(person) for person in people}


def grants_for(contacts) -> dict[tuple[int, str], Grant]:
    """The subscriptions of the batch's contacts, by (resident, template)."""
    ids = {contact.id for contact in contacts if contact.openid}
    if not ids:
        return {}
    rows = db.session.execute(select(Subscription.resident_id, Subscription.template_id, Subscription.credits,
                                     Subscription.long_term).where(Subscription.resident_id.in_(ids)))
    return {(row.resident_id, row.template_id): Grant(row.credits, row.long_term) for row in rows}


def deliver(message: OutboxMessage, contact: Resident | None, grants: dict[tuple[int, str], Grant],
            channels: Channels) -> tuple[Channel | None, Result]:
    """Send by the first channel that can reach the person: WeChat (with a subscription), then SMS."""
    if message.staff_id is not None:
        return Channel.INBOX, SENT
    settings = channels.settings
    channel, result = None, Result(Delivery.PERMANENT, UNREACHABLE)
    if contact is None:
        return channel, result
    template_id = settings.WECHAT_TEMPLATES.get(message.kind.value)
    grant = grants.get((contact.id, template_id))
    if contact.openid and template_id and grant is not None and (
            grant.long_term or message.holds_grant or (grant.credits > 0 and take_grant(message, contact.id, template_id))):
        channel, result = Channel.WECHAT, wechat_channel.send(
            channels.wechat, openid=contact.openid, template_id=template_id, kind=message.kind,
            content=message.content, state=settings.WECHAT_MINIPROGRAM_STATE, tokens=channels.tokens)
        settle_grant(message, contact.id, template_id, result, counted=not grant.long_term)
        if result.delivery is not Delivery.PERMANENT:
            return channel, result
    if contact.phone:
        return Channel.SMS, sms.send(settings, phone=contact.phone, content=message.content, ref=message.dedupe_key,
                                     http=channels.sms)
    return channel, result


def take_grant(message: OutboxMessage, resident_id: int, template_id: str) -> bool:
    """Take one counted grant of the template for this message; False when there is none left."""
    with db.transaction():
        taken = db.session.execute(
            update(Subscription)
            .where(Subscription.resident_id == resident_id, Subscription.template_id == template_id, Subscription.credits > 0)
            .values(credits=Subscription.credits - 1)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        if taken:
            _hold_grant(message, True)
    return taken


def settle_grant(message: OutboxMessage, resident_id: int, template_id: str, result: Result, *, counted: bool) -> None:
    """Give a counted grant back when WeChat did not deliver; drop all grants when the user refused. A long-term
    grant was never taken: only a refusal changes it."""
    if result.delivery is Delivery.SENT:
        return
    refused = result.delivery is Delivery.PERMANENT
    if not (counted or refused):
        return
    with db.transaction():
        db.session.execute(
            update(Subscription)
            .where(Subscription.resident_id == resident_id, Subscription.template_id == template_id)
            .values(credits=0 if refused else Subscription.credits + 1, long_term=False if refused else Subscription.long_term)
            .execution_options(synchronize_session=False)
        )
        if message.holds_grant or counted:
            _hold_grant(message, False)


def _hold_grant(message: OutboxMessage, holds: bool) -> None:
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id, OutboxMessage.dedupe_key == message.dedupe_key)
                       .values(holds_grant=holds)
                       .execution_options(synchronize_session=False))
    message.holds_grant = holds


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """Exponential backoff with jitter: base × 2^(attempts-1) × [0.5, 1.5), at most six hours."""
    return min(timedelta(seconds=base_seconds * 2 ** (attempts - 1) * random.uniform(0.5, 1.5)), MAX_BACKOFF)  # noqa: S311


_outbox = OutboxMessage.__table__
# An outcome: the columns set are the parameters' other keys (one statement built once; the row is in one partition).
OUTCOME = update(_outbox).where(_outbox.c.id == bindparam("message_id"), _outbox.c.dedupe_key == bindparam("message_key"),
                                _outbox.c.claimed_by == bindparam("worker"), _outbox.c.state == MessageState.PENDING)


def record(write: db.Write, message: OutboxMessage, worker: str, channel: Channel | None, result: Result) -> None:
    """Write what happened, only while the row is still this worker's: sent and failed are final."""
    settings = current_app.config["SETTINGS"]
    now = clock.now()
    values: dict = {"claimed_by": None, "claimed_until": None, "channel": channel, "updated_at": now}
    if result.delivery is Delivery.SENT:
        values.update(state=MessageState.SENT, sent_at=now, last_error=None)
    elif result.delivery is Delivery.PERMANENT:
        values.update(state=MessageState.FAILED, last_error=result.reason[:300])
    else:
        attempts = message.attempts + 1
        delay = backoff(attempts, settings.OUTBOX_BACKOFF_SECONDS)
        if result.delivery is Delivery.RATE_LIMITED:
            delay = max(delay, RATE_LIMIT_PAUSE)
        values.update(attempts=attempts, last_error=result.reason[:300], next_attempt_at=now + delay,
                      state=MessageState.DEAD if attempts >= settings.OUTBOX_MAX_ATTEMPTS else MessageState.PENDING)
    if not write(OUTCOME, {**values, "message_id": message.id, "message_key": message.dedupe_key, "worker": worker}):
        log.warning("outbox message %s was taken from %s before its outcome was written", message.id, worker)
