"""Server-side sessions: what makes a bearer token revocable (等保 level 3, OWASP ASVS 3.3).

Every access token names its session (`sid`); each request reads that session by primary key and
refuses the token when the session was revoked (logout, a disabled or deleted account, a disabled
bureau client, a reused refresh token), has ended (its lifetime), or — for staff — sat idle longer
than STAFF_IDLE_MINUTES. Nothing is cached: a revocation holds from the next request on.

Access tokens are short (ACCESS_TOKEN_SECONDS). Staff and residents renew them with a refresh token
that rotates: each refresh answers a new one, and presenting a spent one again (a stolen copy)
revokes the whole session. A refresh token is `<sid>.<generation>.<mac>`, the MAC keyed with
SECRET_KEY, so the session row keeps only the current generation and any earlier one is recognised
as reuse. Bureau systems (client credentials) get no refresh token: they log in again (RFC 6749 4.4.3).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import String, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, mapped_column

from core import clock, db
from core.db import Base
from core.errors import Unauthorized

# last_seen_at is written at most this often, so a burst of requests is not a burst of writes; idle
# time is measured to within this much.
TOUCH_EVERY = timedelta(seconds=60)


class Session(Base):
    """One login: who it is for (as its tokens say), until when, and whether it was revoked."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), index=True)
    role: Mapped[str] = mapped_column(String(32))
    centre_id: Mapped[int | None]
    team_id: Mapped[int | None]
    region_code: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ends_when_idle: Mapped[bool] = mapped_column(default=False)
    # None: no refresh token (bureau clients); otherwise the generation of the one refresh token that is good.
    refresh_generation: Mapped[int | None]
    password_change_required: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


def _settings():
    return current_app.config["SETTINGS"]


def _kind(subject: str) -> str:
    return subject.partition(":")[0]


def _lifetime(subject: str) -> timedelta:
    kind = _kind(subject)
    if kind == "staff":
        return timedelta(hours=_settings().STAFF_SESSION_HOURS)
    if kind == "wx":
        return timedelta(days=_settings().RESIDENT_SESSION_DAYS)
    return timedelta(seconds=_settings().ACCESS_TOKEN_SECONDS)  # a bureau client: one token, then log in again


def open_session(*, subject: str, role: str, centre_id: int | None = None, team_id: int | None = None,
                 region_code: str | None = None, password_change_required: bool = False) -> Session:
    """Start a session for a login that just succeeded (committed)."""
    now = clock.now()
    refreshable = _kind(subject) in ("staff", "wx")
    row = Session(id=secrets.token_urlsafe(16), subject=subject, role=role, centre_id=centre_id, team_id=team_id,
                  region_code=region_code, created_at=now, last_seen_at=now, expires_at=now + _lifetime(subject),
                  ends_when_idle=_kind(subject) == "staff", refresh_generation=0 if refreshable else None,
                  password_change_required=password_change_required)
    with db.transaction():
        db.session.add(row)
    return row


def _ended(row: Session | Row, now: datetime) -> str | None:
    """Why a session no longer lets anyone in, or None while it is live."""
    if row.revoked_at is not None:
        return "The session has ended (logged out or revoked); log in again."
    if row.expires_at <= now:
        return "The session has expired; log in again."
    if row.ends_when_idle and row.last_seen_at + timedelta(minutes=_settings().STAFF_IDLE_MINUTES) <= now:
        return "The session ended after a time without activity; log in again."
    return None


def live(session_id: str, subject: str) -> Row:
    """The live session a token names (one primary-key read, as a plain row of the table: every request makes it,
    and it needs no entity), noting the activity of a staff session; else 401."""
    sessions = Session.__table__
    row = db.session.execute(select(sessions).where(sessions.c.id == session_id)).first()
    now = clock.now()
    if row is None or row.subject != subject:
        raise Unauthorized("The token is not valid.")
    ended = _ended(row, now)
    if ended:
        raise Unauthorized(ended)
    if row.ends_when_idle and row.last_seen_at + TOUCH_EVERY <= now:
        with db.transaction():
            db.session.execute(update(Session).where(Session.id == row.id).values(last_seen_at=now))
    return row


def refresh_token(row: Session) -> str:
    return _refresh_token(row.id, row.refresh_generation)


def _mac(session_id: str, generation: int) -> str:
    key = _settings().SECRET_KEY.encode()
    return hmac.new(key, f"refresh:{session_id}:{generation}".encode(), hashlib.sha256).hexdigest()[:43]


def _refresh_token(session_id: str, generation: int) -> str:
    return f"{session_id}.{generation}.{_mac(session_id, generation)}"


def rotate(token: str) -> Session:
    """Spend a refresh token for the next one; a spent token presented again revokes its session (401 either way)."""
    session_id, generation = _parse(token)
    row = db.session.get(Session, session_id, populate_existing=True) if session_id else None
    if row is None or row.refresh_generation is None:
        raise Unauthorized("The refresh token is not valid.")
    ended = _ended(row, clock.now())
    if ended:
        raise Unauthorized(ended)
    with db.transaction():
        spent = db.session.execute(
            update(Session).where(Session.id == row.id, Session.refresh_generation == generation,
                                  Session.revoked_at.is_(None))
            .values(refresh_generation=generation + 1, last_seen_at=clock.now())
            .execution_options(synchronize_session=False)).rowcount == 1
    if not spent:  # an earlier generation, or a race lost to the same token: someone else holds a copy
        revoke(row.id, reason="refresh_reused")
        raise Unauthorized("This refresh token was already used: the session is revoked; log in again.",
                           reason="refresh_reused", subject=row.subject)
    db.session.refresh(row)
    return row


def _parse(token: str) -> tuple[str | None, int]:
    """(session id, generation) of a well-formed token whose MAC is right, else (None, 0)."""
    session_id, _, rest = token.partition(".")
    generation, _, mac = rest.partition(".")
    if not generation.isascii() or not generation.isdigit() or len(generation) > 9:
        return None, 0
    if not hmac.compare_digest(mac.encode(), _mac(session_id, int(generation)).encode()):
        return None, 0
    return session_id, int(generation)


def revoke(session_id: str, *, reason: str) -> None:
    """End one session now (logout, a reused refresh token)."""
    with db.transaction():
        db.session.execute(update(Session).where(Session.id == session_id, Session.revoked_at.is_(None))
                           .values(revoked_at=clock.now(), revoked_reason=reason)
                           .execution_options(synchronize_session=False))


def revoke_subject(subject: str, *, reason: str, connection=None) -> None:
    """End every session of an account or client now, in the caller's transaction (or on `connection`, in a flush)."""
    statement = (update(Session).where(Session.subject == subject, Session.revoked_at.is_(None))
                 .values(revoked_at=clock.now(), revoked_reason=reason))
    if connection is not None:
        connection.execute(statement)
    else:
        db.session.execute(statement.execution_options(synchronize_session=False))
