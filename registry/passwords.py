"""Staff passwords: the policy a new one meets, and replacing a one-time password set by an administrator.

A new password has at least STAFF_PASSWORD_MIN_LENGTH characters (12), does not contain the username,
and is neither the current (one-time) password nor a published default (the demo logins). Changing
the password ends every session of the account. A change made with a one-time password is also the
owner's way out of a lockout (core/lockout.py): the administrator who issued it checked who asked.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from core import audit, crypto, db, lockout, sessions
from core.auth import DUMMY_HASH, hash_secret, verify_secret
from core.errors import Invalid, Unauthorized
from registry.demo import LOGINS
from registry.models import Staff

# Passwords published with the code (the demo logins): never acceptable as a real one.
DEFAULT_PASSWORDS = frozenset(password.casefold() for _, password in LOGINS.values())


def check_policy(*, username: str, current: str, new_password: str) -> None:
    """Refuse a new password that breaks the policy (422 naming new_password)."""
    minimum = current_app.config["SETTINGS"].STAFF_PASSWORD_MIN_LENGTH
    if len(new_password) < minimum:
        raise Invalid(f"A password has at least {minimum} characters.", field="new_password", reason="too_short")
    if username.casefold() in new_password.casefold():
        raise Invalid("A password may not contain the username.", field="new_password", reason="contains_username")
    if new_password == current:
        raise Invalid("Choose a password other than the current (one-time) one.", field="new_password",
                      reason="unchanged")
    if new_password.casefold() in DEFAULT_PASSWORDS:
        raise Invalid("This password is published as a default; choose your own.", field="new_password",
                      reason="default_password")


def change_password(*, username: str, password: str, new_password: str) -> Staff:
    """Set a new password with the current one (counted by the login lockout like a login).

    With a one-time password an administrator issued, the account's lock from everywhere does not stand
    in the way, and a successful change lifts every lock of the account.
    """
    lock_name = f"staff:{username}"
    staff = db.session.scalar(select(Staff).where(Staff.username == username))
    one_time = staff is not None and staff.must_change_password
    lockout.refuse_if_locked(lock_name, everywhere=not one_time)
    if staff is None:
        verify_secret(DUMMY_HASH, password)
    if staff is None or not staff.active or not verify_secret(staff.password_hash, password):
        lockout.record_failure(lock_name)
        target = username if staff is not None else crypto.pseudonym(lock_name)
        audit.record("staff.password_change", "staff_account", target, outcome="refused_401", known=staff is not None)
        raise Unauthorized("Wrong username or password.")
    lockout.record_success(lock_name)
    check_policy(username=username, current=password, new_password=new_password)
    with db.transaction():
        staff.password_hash, staff.must_change_password = hash_secret(new_password), False
        sessions.revoke_subject(f"staff:{staff.id}", reason="password_changed")
    unlocked = lockout.unlock(lock_name) if one_time else 0
    audit.record("staff.password_change", "staff", staff.id, one_time=one_time, unlocked=unlocked > 0)
    return staff
