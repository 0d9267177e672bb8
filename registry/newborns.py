"""Newborns: registered under a guardian before they have an ID number, the number added when issued.

A newborn is registered with a name (or 「<guardian>之子/之女」 as registries write it until the child is
named), sex and birth date, in the guardian's household. When signed, the child programme plans from
the birth date (care.schedule anchors it there). When the ID number is issued it is added to the same
person: its birth date and sex must match, and a number another resident holds is a 409, never a
second person.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.exc import IntegrityError

from core import audit, clock, crypto, db
from core.auth import STAFF, Actor, Role
from core.errors import Conflict, Invalid
from registry import access, events
from registry.idcard import ADULT_AGE, InvalidIdNumber, age_on, parse_id_number
from registry.models import Household, Resident, Sex

NEWBORN_FOR = timedelta(days=366)  # registered without a number in their first year


def default_name(guardian: Resident, sex: Sex) -> str:
    return f"{guardian.name}之{'子' if sex is Sex.MALE else '女'}"


def register_newborn(actor: Actor, *, guardian_id: int, sex: Sex, birth_date: date, name: str | None = None) -> Resident:
    """Register a child without an ID number in the guardian's household (POLICY.md signing rule 8: children 0–6)."""
    guardian = access.get_resident(actor, guardian_id)
    today = clock.today()
    if age_on(guardian.birth_date, today) < ADULT_AGE:
        raise Invalid("A newborn is registered under an adult of the household as guardian.", field="resident_id")
    if not today - NEWBORN_FOR <= birth_date <= today:
        raise Invalid("A newborn registered without an ID number was born within the last year.", field="birth_date")
    with db.transaction():
        if guardian.household is None:
            guardian.household = Household()
        child = Resident(name=name or default_name(guardian, sex), id_number=None, id_number_hash=None, sex=sex,
                         birth_date=birth_date, household=guardian.household,
                         # registered in the guardian's household, living with them: their village clinic's
                         home_window_id=guardian.home_window_id, residence_window_id=guardian.residence_window_id,
                         # online, the household only claims the child until an on-site check (registry.proofs)
                         household_claimed=actor.role is Role.RESIDENT,
                         registered_by_centre_id=actor.centre_id if actor.role in STAFF else guardian.registered_by_centre_id)
        db.session.add(child)
        db.session.flush()
        events.health_facts_changed.send(None, resident_ids=[child.id])
    audit.record("resident.register_newborn", "resident", child.id, guardian_id=guardian.id)
    return child


def add_id_number(actor: Actor, *, resident_id: int, id_number: str) -> Resident:
    """Add the ID number issued to a person registered without one; the same person, never a duplicate.

    Staff only, from the household register or birth certificate seen on site: a number typed in by anyone
    would let them claim a real child's identity (POLICY.md rule 10: knowing a number proves nothing).
    """
    resident = access.get_resident(actor, resident_id)
    try:
        parsed = parse_id_number(id_number, today=clock.today())
    except InvalidIdNumber as error:
        raise Invalid(str(error), field="id_number") from None
    if resident.id_number is not None:
        if resident.id_number == parsed.value:
            return resident
        raise Conflict("This person has an ID number already.", resident_id=resident.id)
    if (parsed.birth_date, parsed.sex) != (resident.birth_date, resident.sex):
        raise Invalid("The ID number's birth date or sex does not match the person's.", field="id_number")
    try:
        with db.transaction():
            resident.id_number, resident.id_number_hash = parsed.value, crypto.lookup_hash(parsed.value)
            db.session.flush()
            events.id_number_registered.send(None, resident_ids=[resident.id])
    except IntegrityError:
        raise Conflict("Another resident holds this ID number (records are not merged).", field="id_number") from None
    audit.record("resident.add_id_number", "resident", resident.id)
    return resident
