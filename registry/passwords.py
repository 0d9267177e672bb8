"""Staff passwords: a one-time password set by an administrator must be replaced at the first login."""

from __future__ import annotations

from sqlalchemy import select

from core import audit, db, lockout
from core.auth import DUMMY_HASH, hash_secret, verify_secret
from core.errors import Invalid, Unauthorized
from registry.models import Staff

MIN_LENGTH = 12


def change_password(*, username: str, password: str, new_password: str) -> Staff:
    """Set a new password with the current one (counted by the login lockout like a login)."""
    lockout.refuse_if_locked(username)
    staff = db.session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        verify_secret(DUMMY_HASH, password)
    if staff is None or not staff.active or not verify_secret(staff.password_hash, password):
        lockout.record_failure(username)
        raise Unauthorized("Wrong username or password.")
    lockout.record_success(username)
    if len(new_password) < MIN_LENGTH:
        raise Invalid(f"A password has at least {MIN_LENGTH} characters.", field="new_password")
    if new_password == password or new_password.casefold() == username.casefold():
        raise Invalid("Choose a password other than the current one and the username.", field="new_password")
    with db.transaction():
        staff.password_hash, staff.must_change_password = hash_secret(new_password), False
    audit.record("staff.password_change", "staff", staff.id)
    return staff
