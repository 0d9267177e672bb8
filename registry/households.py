"""Households (POLICY.md signing rules 5 and 10): who is in one is proven, and anyone can leave.

- An adult joins another adult's household with their own account: the one gives an invitation
  code, the other enters it; both confirmed.
- A child nobody has registered may be added online by an adult of the household: a new record,
  unverified, marked as claimed by that household until an on-site check of the child.
- Anyone else (a registered child, an elderly parent without WeChat) is taken in with a join code
  the centre's staff hand out after checking the person, and the guardian link, on site.
- Any member leaves for a household of their own.
A person someone claimed online can never be kept from their real family: the on-site check of
that person ends the claim (registry.proofs.record_check).
"""

from __future__ import annotations

from core import audit, clock, db
from core.auth import Actor
from core.errors import Forbidden, Invalid
from registry import events, proofs
from registry.access import household_of, resident_of
from registry.accounts import find_by_id_number, flush_or_conflict, new_resident, parse_or_reject
from registry.idcard import ADULT_AGE, age_on
from registry.models import CodePurpose, Household, Resident

PROOF_NEEDED = (
    "This person can be added to your household only with proof: a join code the health centre "
    "gives after checking the person, and your link to them, on site (join_code)."
)


def _adult(resident: Resident) -> bool:
    return age_on(resident.birth_date, clock.today()) >= ADULT_AGE


def _household(resident: Resident) -> Household:
    if resident.household is None:
        resident.household = Household()
    return resident.household


def add_member(actor: Actor, *, name: str | None = None, id_number: str | None = None,
               join_code: str | None = None) -> Resident:
    """Take a person into the caller's household: with a join code from an on-site check, or as a
    child nobody has registered (a new, unverified record the household claims)."""
    me = resident_of(actor)
    if not _adult(me):
        raise Forbidden("Only an adult adds members to a household.", reason="adult_required")
    if join_code:
        return _join_by_code(actor, me, join_code)
    if not name or not id_number:
        raise Invalid("Give the child's name and ID number, or a join code from the centre.", field="join_code")
    parsed = parse_or_reject(id_number)
    if age_on(parsed.birth_date, clock.today()) >= ADULT_AGE:
        raise Forbidden("An adult joins your household with their own WeChat account and your invitation code "
                        "(POST /api/v1/me/household-invitations), or with a join code from the centre (join_code).",
                        field="join_code", reason="own_confirmation_required")
    with db.transaction():
        existing = find_by_id_number(parsed.value)
        if existing is not None:
            if existing.household_id == me.household_id and existing.name == name.strip():
                return existing
            raise Forbidden(PROOF_NEEDED, field="join_code", reason="proof_required")
        member = new_resident(name=name.strip(), parsed=parsed, phone=None, household=_household(me),
                               household_claimed=True)
        flush_or_conflict("This person was registered at the same moment; try again.")
        events.id_number_registered.send(None, resident_ids=[member.id])
    audit.record("household.join", "resident", member.id, via="new_child", household_id=me.household_id)
    return member


def _redeem(actor: Actor, me: Resident, purpose: CodePurpose, raw: str, *, field: str, moving: str) -> Resident:
    """Spend a join or invitation code and move one of its two people into the other's household.

    The code names the resident it was issued for; `moving` says who moves: that resident ("issued_for",
    a join code) or the caller ("caller", an invitation). A wrong, expired, used or own code is 422 naming `field`.
    """
    code = proofs.find(purpose, raw)
    issued_for = db.session.get(Resident, code.resident_id) if code else None
    if issued_for is None or issued_for.id == me.id:
        raise Invalid(f"This {field.replace('_', ' ')} is not valid: wrong, expired or used.", field=field)
    person, host = (issued_for, me) if moving == "issued_for" else (me, issued_for)
    with db.transaction():
        proofs.spend(code, used_by=actor.subject, field=field)
        person.household, person.household_claimed = _household(host), False
    return person


def _join_by_code(actor: Actor, me: Resident, raw: str) -> Resident:
    member = _redeem(actor, me, CodePurpose.JOIN, raw, field="join_code", moving="issued_for")
    audit.record("household.join", "resident", member.id, via="join_code", household_id=me.household_id)
    return member


def invite(actor: Actor) -> dict:
    """A one-time code another adult enters, with their own account, to join the caller's household."""
    me = resident_of(actor)
    with db.transaction():
        _household(me)
        code, row = proofs.issue(CodePurpose.INVITATION, me, issued_by=actor.subject)
    audit.record("household.invite", "resident", me.id, household_id=me.household_id)
    return {"code": code, "purpose": CodePurpose.INVITATION, "expires_at": row.expires_at, "resident_id": me.id}


def join(actor: Actor, *, invitation_code: str) -> Resident:
    """Join the household of the resident whose invitation code this is (the caller's own confirmation)."""
    me = _redeem(actor, resident_of(actor), CodePurpose.INVITATION, invitation_code, field="invitation_code",
                 moving="caller")
    audit.record("household.join", "resident", me.id, via="invitation", household_id=me.household_id)
    return me


def leave(actor: Actor) -> Resident:
    """Leave the household for one of the caller's own (nothing happens to someone alone)."""
    me = resident_of(actor)
    if any(member.id != me.id for member in household_of(me)):
        left = me.household_id
        with db.transaction():
            me.household, me.household_claimed = Household(), False
        audit.record("household.leave", "resident", me.id, reason="own_request", household_id=left)
    return me

