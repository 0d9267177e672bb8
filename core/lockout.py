"""Staff login lockout (OWASP ASVS 2.2.1): repeated wrong passwords lock the account for a while.

LOGIN_LOCK_FAILURES failures within an hour lock the username for LOGIN_LOCK_MINUTES (defaults: 10
and 15, so at most 40 tries an hour). Unknown usernames are counted the same way, so a lock says
nothing about whether an account exists. While locked even the right password is refused (429).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from core import audit, clock, db
from core.db import Base
from core.errors import TooManyRequests

COUNTING_WINDOW = timedelta(hours=1)


class LoginLock(Base):
    """Failed logins of one username in the current counting window, and the lock they caused."""

    __tablename__ = "login_locks"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    counting_since: Mapped[datetime]
    locked_until: Mapped[datetime | None]


def _lock_of(username: str, *, for_update: bool = False) -> LoginLock | None:
    query = select(LoginLock).where(LoginLock.username == username)
    return db.session.scalar(query.with_for_update() if for_update else query)


def refuse_if_locked(username: str) -> None:
    lock = _lock_of(username)
    if lock is not None and lock.locked_until is not None and lock.locked_until > clock.now():
        raise TooManyRequests(
            "Too many failed logins: this account is locked for a while.",
            retry_after_seconds=int((lock.locked_until - clock.now()).total_seconds()) + 1,
        )


def _claim(username: str) -> LoginLock:
    lock = _lock_of(username, for_update=True)
    if lock is not None:
        return lock
    try:
        with db.session.begin_nested():
            lock = LoginLock(username=username, failures=0, counting_since=clock.now())
            db.session.add(lock)
        return lock
    except IntegrityError:  # a concurrent failure inserted it first
        return _lock_of(username, for_update=True)


def record_failure(username: str) -> None:
    """Count a failed login; the failure that reaches the threshold locks the username."""
    settings, now = current_app.config["SETTINGS"], clock.now()
    with db.transaction():
        lock = _claim(username)
        if lock.counting_since < now - COUNTING_WINDOW:
            lock.failures, lock.counting_since = 0, now
        lock.failures += 1
        locks_now = lock.failures >= settings.LOGIN_LOCK_FAILURES
        if locks_now:
            lock.failures, lock.counting_since = 0, now
            lock.locked_until = now + timedelta(minutes=settings.LOGIN_LOCK_MINUTES)
    if locks_now:
        audit.record("staff.login_locked", "staff_account", username, outcome="locked")


def record_success(username: str) -> None:
    with db.transaction():
        db.session.execute(delete(LoginLock).where(LoginLock.username == username))
