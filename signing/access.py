"""Scopes over agreements: who may see and act on one (people's scopes are registry.access)."""

from __future__ import annotations

from sqlalchemy import select

from core import db
from core.auth import STAFF, Actor, Role
from core.errors import NotFound
from registry.access import STAFF_REACH, check_centre, check_region, household_of, resident_of
from registry.models import Resident
from signing.models import Agreement


def check_agreement(actor: Actor, agreement: Agreement) -> None:
    """Raise unless the actor may see this agreement."""
    if actor.role is Role.RESIDENT:
        if agreement.resident_id not in {member.id for member in household_of(resident_of(actor))}:
            raise NotFound("No such agreement.")
    elif actor.role is Role.BUREAU:
        check_region(actor, agreement.region_code)
    elif actor.role in STAFF:
        check_centre(actor, agreement.centre_id)


def get_agreement(actor: Actor, agreement_id: int) -> Agreement:
    agreement = db.get_or_404(Agreement, agreement_id, "agreement")
    check_agreement(actor, agreement)
    return agreement


def subscribe() -> None:
    """Staff of a centre reach the residents who hold or held an agreement with it signed on proof
    (POLICY.md signing rule 10: an agreement without a basis, older than the rule, reaches nobody)."""
    if _signed_with_centre not in STAFF_REACH:
        STAFF_REACH.append(_signed_with_centre)


def _signed_with_centre(actor: Actor, resident: Resident) -> bool:
    return db.session.scalar(
        select(Agreement.id).where(Agreement.resident_id == resident.id, Agreement.centre_id == actor.centre_id,
                                   Agreement.basis.is_not(None)).limit(1)
    ) is not None
