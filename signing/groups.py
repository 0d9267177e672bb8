"""Group signing with a functional community [002 §(三)1] (POLICY.md signing rule 5).

Staff of the community's centre sign its members in one request. Each member is signed as one signing of their
own (`service.sign`, its own transaction): every rule of a person still holds — one centre per cycle, a guardian's
consent for a child, nobody dead, presence or the service area (rule 10) — and the group adds one: a member whose
identity nobody checked is not signed on a list (rule 10: knowing a name and an ID number proves nothing). A member
refused writes nothing; the answer says, member by member, signed or refused and by which rule. What the request
itself gets wrong (term, consent text, village clinic, hospitals) is one 422 before anyone is signed.
"""

from __future__ import annotations

from sqlalchemy import select

from core import audit, db
from core.auth import Actor
from core.errors import Conflict, DomainError, Invalid
from registry import access
from registry.models import Community, CommunityMember, Resident
from registry.service import signable_place
from signing import hospitals, service

# The most members one request signs (each is a signing of its own): a larger community signs in batches.
GROUP_LIMIT = 500
# Rules of a member's own signing, named after the field a refusal names where it carries no reason.
RULE_OF_FIELD = {"guardian_id": "guardian_consent"}


def _check_request(community: Community, *, term_years: int, consent_version: str, window_id: int | None,
                   team_id: int | None, secondary_hospital_id: int | None, tertiary_hospital_id: int | None) -> None:
    """What holds for every member alike, checked once: a 422 here signs nobody."""
    centre = signable_place(community.centre_id, window_id, team_id)
    service.check_terms(centre, term_years=term_years, consent_version=consent_version, window_id=window_id)
    hospitals.checked_choice(centre.region_code, secondary_hospital_id=secondary_hospital_id,
                             tertiary_hospital_id=tertiary_hospital_id)


def _members_to_sign(community: Community, resident_ids: list[int] | None, all_members: bool) -> list[int]:
    if all_members == (resident_ids is not None):
        raise Invalid("Name the members to sign (resident_ids) or sign all members (all_members), not both.",
                      field="resident_ids")
    if not all_members:
        return list(dict.fromkeys(resident_ids))
    members = list(db.session.scalars(select(CommunityMember.resident_id).where(CommunityMember.community_id == community.id)
                                      .order_by(CommunityMember.resident_id).limit(GROUP_LIMIT + 1)))
    if len(members) > GROUP_LIMIT:
        raise Invalid(f"The community has more than {GROUP_LIMIT} members: sign them in batches (resident_ids).",
                      field="all_members", limit=GROUP_LIMIT)
    return members


def _refused(resident_id: int, rule: str, message: str) -> dict:
    return {"resident_id": resident_id, "outcome": "refused", "agreement_id": None, "rule": rule, "message": message}


def sign_members(actor: Actor, community_id: int, *, term_years: int, consent_version: str,
                 resident_ids: list[int] | None = None, all_members: bool = False, window_id: int | None = None,
                 team_id: int | None = None, package_codes: list[str] | None = None,
                 secondary_hospital_id: int | None = None, tertiary_hospital_id: int | None = None) -> tuple[list[dict], bool]:
    """Sign members of a community with its centre, each on their own rules; returns each member's outcome and
    whether any agreement was created."""
    community = db.get_or_404(Community, community_id, "community")
    access.check_centre(actor, community.centre_id)
    if not community.active:
        raise Conflict("This community is retired: it signs no one.", reason="community_retired")
    _check_request(community, term_years=term_years, consent_version=consent_version, window_id=window_id,
                   team_id=team_id, secondary_hospital_id=secondary_hospital_id, tertiary_hospital_id=tertiary_hospital_id)
    wanted = _members_to_sign(community, resident_ids, all_members)
    members = set(db.session.scalars(select(CommunityMember.resident_id).where(
        CommunityMember.community_id == community.id, CommunityMember.resident_id.in_(wanted))))
    verified = set(db.session.scalars(select(Resident.id).where(Resident.id.in_(members), Resident.verified_at.is_not(None))))
    outcomes = []
    for resident_id in wanted:
        if resident_id not in members:
            outcomes.append(_refused(resident_id, "not_a_member", "Not a member of this community."))
            continue
        if resident_id not in verified:
            outcomes.append(_refused(resident_id, "identity_unverified",
                                     "Nobody has checked this member's identity document: sign them on site, one by one."))
            continue
        try:
            # A lost race is run again for this member alone: the members before stay as they were answered.
            agreements, created = db.retrying(service.sign)(
                actor, centre_id=community.centre_id, term_years=term_years, consent_version=consent_version,
                window_id=window_id, team_id=team_id, resident_ids=[resident_id], package_codes=package_codes,
                secondary_hospital_id=secondary_hospital_id, tertiary_hospital_id=tertiary_hospital_id)
        except DomainError as refusal:
            rule = refusal.details.get("reason") or RULE_OF_FIELD.get(refusal.field) or refusal.field or "refused"
            outcomes.append(_refused(resident_id, rule, refusal.message))
            continue
        outcomes.append({"resident_id": resident_id, "outcome": "signed" if created else "already_signed",
                         "agreement_id": agreements[0].id, "rule": None, "message": None})
    signed = [o["resident_id"] for o in outcomes if o["outcome"] == "signed"]
    audit.record("community.sign", "community", community.id, signed=signed,
                 refused=[[o["resident_id"], o["rule"]] for o in outcomes if o["outcome"] == "refused"])
    return outcomes, bool(signed)
