"""Proof of who a person is (POLICY.md signing rule 10): one-time codes and on-site identity checks.

A name and an ID number prove nothing: they are widely leaked. What does:
- an on-site check: staff of a centre see the identity document (ID card; a child's household
  register with the guardian) and record it. The record becomes verified, and the person was
  present that day: the centre may sign and serve them.
- a binding code: after the check staff hand the person a one-time code; entered in the
  mini-program it binds that WeChat account to them (a first account, or a new one).
- a join code: after checking a child with the guardian, or an adult without WeChat, staff hand
  the guardian or relative a code that takes that person into their household.
- a presence code: the resident's mini-program shows a short-lived code; read out to staff it
  proves the person before them holds this WeChat account (at a check, when signing on site).
- an invitation code: a resident's code that another adult enters to join their household, so
  both adults confirm.
- a phone: WeChat verifies the account's phone number; equal to the number on file of a verified
  person, it proves the account is theirs (registry.accounts).

Codes are 8 characters of an alphabet without 0/O and 1/I, stored as keyed hashes; binding, join
and invitation codes are spent on first use, presence codes live a few minutes.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from core import clock, crypto, db
from core.auth import Actor
from core.errors import Invalid
from core.schemas import nfkc
from registry import events
from registry.idcard import ADULT_AGE, age_on
from registry.models import (
    BindingProof,
    CodePurpose,
    Household,
    IdentityCheck,
    IdentityCode,
    IdentityDocument,
    Resident,
)

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
SPENT_ON_USE = (CodePurpose.BINDING, CodePurpose.JOIN, CodePurpose.INVITATION)


def lifetime(purpose: CodePurpose) -> timedelta:
    settings = current_app.config["SETTINGS"]
    if purpose is CodePurpose.PRESENCE:
        return timedelta(minutes=settings.PRESENCE_CODE_MINUTES)
    return timedelta(hours=settings.HANDOUT_CODE_HOURS)


def _hash(code: str) -> str:
    return crypto.lookup_hash(f"identity-code:{code}")


def issue(purpose: CodePurpose, resident: Resident, *, issued_by: str) -> tuple[str, IdentityCode]:
    """A fresh code speaking for `resident`; only its hash is stored (inside the caller's transaction)."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    row = IdentityCode(purpose=purpose, code_hash=_hash(code), resident_id=resident.id, issued_by=issued_by,
                       expires_at=clock.now() + lifetime(purpose))
    db.session.add(row)
    db.session.flush()
    return code, row


def find(purpose: CodePurpose, raw: str | None) -> IdentityCode | None:
    """The code of this purpose, unexpired and unspent, or None (a typed code may be full-width or spaced)."""
    if not raw:
        return None
    code = nfkc(raw).upper().replace(" ", "").replace("-", "")
    return db.session.scalar(select(IdentityCode).where(
        IdentityCode.code_hash == _hash(code), IdentityCode.purpose == purpose,
        IdentityCode.used_at.is_(None), IdentityCode.expires_at > clock.now()))


def spend(row: IdentityCode, *, used_by: str, field: str) -> None:
    """Mark a one-time code used; a code a racing request spent first is refused (a conditional UPDATE)."""
    spent = db.session.execute(
        update(IdentityCode).where(IdentityCode.id == row.id, IdentityCode.used_at.is_(None))
        .values(used_at=clock.now(), used_by=used_by)
    ).rowcount
    if not spent:
        raise Invalid("This code has already been used.", field=field)


def presence_holder(raw: str | None) -> Resident | None:
    """The resident whose mini-program shows this presence code now, or None."""
    row = find(CodePurpose.PRESENCE, raw)
    return db.session.get(Resident, row.resident_id) if row else None


def checked_today(resident_id: int, centre_id: int | None) -> IdentityCheck | None:
    """The centre's latest on-site check of the person today: they were present."""
    return db.session.scalar(
        select(IdentityCheck).where(IdentityCheck.resident_id == resident_id, IdentityCheck.centre_id == centre_id,
                                    IdentityCheck.checked_on == clock.today())
        .order_by(IdentityCheck.id.desc()).limit(1))


def record_check(actor: Actor, resident: Resident, *, document: IdentityDocument, name: str, phone: str | None,
                 presence_code: str | None, guardian_presence_code: str | None) -> tuple[IdentityCheck, list[tuple]]:
    """Record that staff saw the person's identity document on site: verify the record and end every
    claim on it nobody proved (inside the caller's transaction).

    A WeChat binding without proof is ended unless the person shows their own mini-program's presence
    code; the phone that binding left on file goes with it (it would prove the same account again).
    A household membership another member claimed online is ended unless an adult of that household
    shows their presence code (the guardian came along with the household register). The document's
    name corrects an unverified record's name. Returns the check and the audit events to record.
    """
    own = presence_holder(presence_code) if presence_code else None
    if presence_code and (own is None or own.id != resident.id):
        raise Invalid("This is not a presence code the person's own mini-program shows now.", field="presence_code")
    guardian = presence_holder(guardian_presence_code) if guardian_presence_code else None
    if guardian_presence_code and not _guards(guardian, resident):
        raise Invalid("This is not a presence code of an adult of the person's household.", field="guardian_presence_code")
    if resident.verified and resident.name != name:
        raise Invalid("The name differs from the one an earlier identity check recorded.", field="name")
    happened: list[tuple] = [("identity.verify", {"document": document.value, "centre_id": actor.centre_id})]
    if resident.openid and resident.binding_proof is None:
        if own is not None:
            resident.binding_proof = BindingProof.PRESENCE_CODE
        else:
            resident.openid, resident.phone, resident.phone_hash = None, None, None
            happened.append(("identity.unbind", {"reason": "unproven_binding_ended_by_identity_check"}))
    if resident.household_claimed:
        if guardian is None:
            resident.household = Household()
            happened.append(("household.leave", {"reason": "unproven_claim_ended_by_identity_check"}))
        resident.household_claimed = False
    resident.name = name
    if phone:
        resident.phone, resident.phone_hash = phone, crypto.lookup_hash(phone)
    if not resident.verified:
        resident.verified_at, resident.verified_by = clock.now(), actor.subject
    check = IdentityCheck(resident_id=resident.id, centre_id=actor.centre_id, document=document,
                          checked_by=actor.subject, checked_on=clock.today())
    db.session.add(check)
    db.session.flush()
    events.identity_verified.send(None, resident=resident)
    return check, happened


def _guards(guardian: Resident | None, resident: Resident) -> bool:
    return (guardian is not None and guardian.id != resident.id and guardian.household_id is not None
            and guardian.household_id == resident.household_id and age_on(guardian.birth_date, clock.today()) >= ADULT_AGE)
