"""Scopes: whose records an actor may see and act on.

A resident reaches themself and their household; doctors and centre admins their centre; bureau
users and systems their region and its sub-regions. A resident asking for a record that is not
theirs gets 404 (its existence is not theirs to learn); staff outside their scope get 403.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import select

from core import db
from core.auth import STAFF, Actor, Role
from core.errors import Forbidden, NotFound
from registry.models import Resident
from registry.service import region_and_descendants

# Further ways staff reach a resident, added by later domains at start-up (signing: an agreement with the centre).
STAFF_REACH: list[Callable[[Actor, Resident], bool]] = []


def resident_of(actor: Actor) -> Resident:
    """The resident bound to the calling WeChat user."""
    resident = db.session.scalar(select(Resident).where(Resident.openid == actor.openid)) if actor.openid else None
    if resident is None:
        raise Forbidden("Bind your identity first (POST /api/v1/me/identity).", reason="identity_not_bound")
    return resident


def household_of(resident: Resident) -> list[Resident]:
    return list(resident.household.members) if resident.household else [resident]


def check_centre(actor: Actor, centre_id: int) -> None:
    """Staff act only within their own centre; bureau users within their region."""
    if actor.role in STAFF and actor.centre_id != centre_id:
        raise Forbidden("You act only within your own centre.")


def check_region(actor: Actor, region_code: str) -> None:
    """Bureau users and systems, and county administrators, act within their region and the regions below it."""
    if actor.role in (Role.BUREAU, Role.ADMIN) and region_code not in region_and_descendants(actor.region_code or ""):
        raise Forbidden("You see only your own pooling region.")


def check_resident(actor: Actor, resident: Resident) -> None:
    """Residents reach their household; staff the residents their centre registered or signed."""
    if actor.role is Role.RESIDENT:
        if resident.id not in {member.id for member in household_of(resident_of(actor))}:
            raise NotFound("No such resident.")
    elif actor.role in STAFF:
        if resident.registered_by_centre_id != actor.centre_id and not any(rule(actor, resident) for rule in STAFF_REACH):
            raise Forbidden("This resident is not registered or signed with your centre.")
    elif actor.role is Role.BUREAU:
        if resident.insurance_region_code not in region_and_descendants(actor.region_code or ""):
            raise Forbidden("This resident is not insured in your region.")


def get_resident(actor: Actor, resident_id: int) -> Resident:
    resident = db.session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("No such resident.")
    check_resident(actor, resident)
    return resident
