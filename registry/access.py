"""Scopes: whose records an actor may see and act on.

A resident reaches themself and their household; bureau users and systems their region and its
sub-regions. Doctors and centre admins reach people of their centre's service area (household
registration or residence in one of its villages), people their centre registered, people it
checked on site today, and, through rules later domains add, people who signed with it on proof of
who they are (POLICY.md signing rule 10: signing a person is not access to them). A resident
asking for a record that is not theirs gets 404 (its existence is not theirs to learn); staff
outside their scope get 403.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy import or_, select

from core import db
from core.auth import STAFF, Actor, Role
from core.errors import Forbidden, NotFound
from registry.models import Resident, Window
from registry.proofs import checked_today
from registry.service import region_and_descendants

# Further ways staff reach a resident, added by later domains at start-up (signing: an agreement with the centre).
STAFF_REACH: list[Callable[[Actor, Resident], bool]] = []
T = TypeVar("T")


def resident_of(actor: Actor) -> Resident:
    """The resident bound to the calling WeChat user."""
    resident = db.session.scalar(select(Resident).where(Resident.openid == actor.openid)) if actor.openid else None
    return _bound(resident)


def caller_ids(actor: Actor) -> tuple[int, int | None]:
    """The calling resident's id and household id, for a read that needs nothing else of them (no entity built)."""
    residents = Resident.__table__.c  # the table's columns: plain rows, no ORM loading
    found = db.session.execute(select(residents.id, residents.household_id).where(residents.openid == actor.openid)
                               ).first() if actor.openid else None
    return tuple(_bound(found))


def _bound(found: T | None) -> T:
    """What was found of the caller's resident; 403 when their WeChat account is bound to none."""
    if found is None:
        raise Forbidden("Bind your identity first (POST /api/v1/me/identity).", reason="identity_not_bound")
    return found


def caller_and_household_locked(actor: Actor) -> tuple[Resident, list[Resident]]:
    """The calling resident and their household members (the caller among them, by id), in one statement that
    locks their rows for the transaction (FOR UPDATE, in id order; SQLite has one writer anyway) and reads them
    afresh: what resident_of and household_of read, for a write about the household."""
    openid = actor.openid
    household = select(Resident.household_id).where(Resident.openid == openid).scalar_subquery()
    members = list(db.session.scalars(
        select(Resident).where(or_(Resident.openid == openid, Resident.household_id == household))
        .order_by(Resident.id).with_for_update().execution_options(populate_existing=True))) if openid else []
    return _bound(next((member for member in members if member.openid == openid), None)), members


def household_of(resident: Resident) -> list[Resident]:
    """The resident's household members, the resident among them, by id (one statement; none without a household)."""
    if resident.household_id is None:
        return [resident]
    return list(db.session.scalars(select(Resident).where(Resident.household_id == resident.household_id)
                                   .order_by(Resident.id)))


def check_centre(actor: Actor, centre_id: int) -> None:
    """Staff act only within their own centre; bureau users within their region."""
    if actor.role in STAFF and actor.centre_id != centre_id:
        raise Forbidden("You act only within your own centre.")


def check_region(actor: Actor, region_code: str) -> None:
    """Bureau users and systems, and county administrators, act within their region and the regions below it."""
    if actor.role in (Role.BUREAU, Role.ADMIN) and region_code not in region_and_descendants(actor.region_code or ""):
        raise Forbidden("You see only your own pooling region.")


def in_service_area(resident: Resident, centre_id: int | None) -> bool:
    """Household registration or residence in a village clinic's village of the centre."""
    for window_id in (resident.home_window_id, resident.residence_window_id):
        window = db.session.get(Window, window_id) if window_id is not None else None
        if window is not None and window.centre_id == centre_id:
            return True
    return False


def staff_reach(actor: Actor, resident: Resident) -> bool:
    """The centre's service area, its registrations, its on-site checks today, or a later domain's rule."""
    return (resident.registered_by_centre_id == actor.centre_id
            or in_service_area(resident, actor.centre_id)
            or checked_today(resident.id, actor.centre_id) is not None
            or any(rule(actor, resident) for rule in STAFF_REACH))


def check_resident(actor: Actor, resident: Resident) -> None:
    """Residents reach their household; staff the people their centre serves (see the module docstring)."""
    if actor.role is Role.RESIDENT:
        if resident.id not in {member.id for member in household_of(resident_of(actor))}:
            raise NotFound("No such resident.")
    elif actor.role in STAFF:
        if not staff_reach(actor, resident):
            raise Forbidden("This resident is not of your centre's service area, not signed with it on proof, "
                            "and not checked on site by it today.")
    elif actor.role is Role.BUREAU:
        if resident.insurance_region_code not in region_and_descendants(actor.region_code or ""):
            raise Forbidden("This resident is not insured in your region.")


def get_resident(actor: Actor, resident_id: int) -> Resident:
    resident = db.get_or_404(Resident, resident_id, "resident")
    check_resident(actor, resident)
    return resident
