"""Login lockout that cannot be turned against the account's owner (OWASP ASVS 2.2.1, 等保 level 3).

Failures are counted per account and client address (the address core/limits.py counts by, through
the trusted-proxy handling): LOGIN_LOCK_FAILURES failures within an hour lock that address out of
the account for LOGIN_LOCK_MINUTES (defaults 10 and 15), even with the right password. A storm from
one address therefore locks that address only; the owner at another address still logs in.

All addresses together are held to a far higher ceiling, LOGIN_ACCOUNT_CEILING failures an hour
(default 100): reaching it locks the account everywhere for LOGIN_CEILING_MINUTES, which caps a
distributed guess at about that many tries an hour. Out of that lock there is a verified path: an
administrator unlocks the account (`unlock`, audited by the caller), or the owner changes the password
with a one-time password an administrator issued (registry/passwords.py).

An account is named `staff:<username>` or `client:<client_id>`; unknown names are counted the same
way, so a lock says nothing about whether an account exists. The global row's address is `*`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, has_request_context
from flask_limiter.util import get_remote_address
from sqlalchemy import String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from core import clock, db
from core.db import Base
from core.errors import TooManyRequests

COUNTING_WINDOW = timedelta(hours=1)
EVERYWHERE = "*"


class LoginLock(Base):
    """Failed logins of one account from one address (or `*`: from all) in the counting window, and the lock."""

    __tablename__ = "login_locks"
    __table_args__ = (UniqueConstraint("account", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(default=0)
    counting_since: Mapped[datetime]
    locked_until: Mapped[datetime | None]


def source() -> str:
    """The client address, as the rate limits count it (behind TRUSTED_PROXY_HOPS proxies, the forwarded one)."""
    return (get_remote_address() if has_request_context() else None) or "unknown"


def _lock_of(account: str, where: str, *, for_update: bool = False) -> LoginLock | None:
    query = select(LoginLock).where(LoginLock.account == account, LoginLock.source == where)
    return db.session.scalar((query.with_for_update() if for_update else query).execution_options(populate_existing=True))


def refuse_if_locked(account: str, *, everywhere: bool = True) -> None:
    """429 while this address is locked out of the account, or (unless `everywhere` is False) the account is locked."""
    now = clock.now()
    for where in (source(), EVERYWHERE) if everywhere else (source(),):
        lock = _lock_of(account, where)
        if lock is not None and lock.locked_until is not None and lock.locked_until > now:
            scope = "from this address" if where != EVERYWHERE else "from everywhere, until an administrator unlocks it"
            raise TooManyRequests(
                f"Too many failed logins: this account is locked {scope} for a while.",
                retry_after_seconds=int((lock.locked_until - now).total_seconds()) + 1,
                reason="locked_here" if where != EVERYWHERE else "locked_everywhere",
            )


def _claim(account: str, where: str) -> LoginLock:
    lock = _lock_of(account, where, for_update=True)
    if lock is not None:
        return lock
    try:
        with db.session.begin_nested():
            lock = LoginLock(account=account, source=where, failures=0, counting_since=clock.now())
            db.session.add(lock)
        return lock
    except IntegrityError:  # a concurrent failure inserted it first
        return _lock_of(account, where, for_update=True)


def _count(account: str, where: str, threshold: int, minutes: int) -> bool:
    """Count one failure in the row; True when it is the one that locks."""
    now = clock.now()
    lock = _claim(account, where)
    if lock.counting_since < now - COUNTING_WINDOW:
        lock.failures, lock.counting_since = 0, now
    lock.failures += 1
    if lock.failures < threshold:
        return False
    lock.failures, lock.counting_since = 0, now
    lock.locked_until = now + timedelta(minutes=minutes)
    return True


def record_failure(account: str) -> list[str]:
    """Count a failed login from this address and against the account's ceiling; the scopes it locked (`here`, `everywhere`)."""
    settings = current_app.config["SETTINGS"]
    with db.transaction():
        here = _count(account, source(), settings.LOGIN_LOCK_FAILURES, settings.LOGIN_LOCK_MINUTES)
        everywhere = _count(account, EVERYWHERE, settings.LOGIN_ACCOUNT_CEILING, settings.LOGIN_CEILING_MINUTES)
    return [scope for scope, locked in (("here", here), ("everywhere", everywhere)) if locked]


def record_success(account: str) -> None:
    """A right password from this address clears this address's failures (not the account's ceiling)."""
    with db.transaction():
        db.session.execute(delete(LoginLock).where(LoginLock.account == account, LoginLock.source == source()))


def unlock(account: str) -> int:
    """Lift every lock of the account, from every address, and forget its failures; how many rows held some."""
    with db.transaction():
        return db.session.execute(delete(LoginLock).where(LoginLock.account == account)).rowcount
