"""Signing rules (POLICY.md "Signing rules"): sign, change centre, terminate, roll over cycles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import ColumnElement, and_, false, or_, select, update
from sqlalchemy.exc import IntegrityError

from core import audit, clock, db
from core.auth import Actor, Role
from core.errors import Conflict, Forbidden, Invalid
from core.pagination import paginate
from registry import access, proofs
from registry import events as registry_events
from registry.idcard import ADULT_AGE, age_on
from registry.insurance import InsuranceOn
from registry.models import Centre, InsuranceScheme, PolicyProfile, Resident
from registry.service import pooling_region, profile_for, signable_place
from signing import agreement_packages, cycles, doctors, events, hospitals
from signing.access import get_agreement
from signing.models import (
    HOLDING,
    Agreement,
    AgreementStatus,
    ChangeRequest,
    ChangeRequestStatus,
    Channel,
    Consent,
    SigningBasis,
    TerminationReason,
)

GUARDIAN_NEEDED_UNDER = 14  # PIPL art. 31: a child under 14 consents through a guardian
NOT_PRESENT = (
    "Not of your centre's service area and not shown to be present: {ids}. Sign a person present with "
    "the presence code of their own (or their household's) mini-program (presence_codes), or after "
    "checking their identity document on site today (POST /api/v1/residents with identity_document)."
)


def counts_for_capitation(resident: Resident, centre: Centre) -> bool:
    """Verified, insured, and insured in the pooling region the centre belongs to (POLICY.md signing
    rules 6 and 10: a self-registration nobody checked counts for nothing)."""
    if not resident.verified or resident.insurance_scheme is InsuranceScheme.UNINSURED:
        return False
    insured_in = pooling_region(resident.insurance_region_code)
    return insured_in is not None and insured_in.code == pooling_region(centre.region_code).code


def counted_on(held: InsuranceOn, pools: dict[str, list[str]]) -> ColumnElement[bool]:
    """counts_for_capitation on `held.day`, as SQL over agreements joined to residents and `held.joins` (POLICY.md
    signing rules 6 and 10: an insurance change counts from its effective date, not backwards).

    A person whose insurance the bureau reported counts by the fact in force that day: verified, insured, and insured
    in the pooling region of the agreement. Anyone else by their agreement's flag, derived from their recorded
    insurance. Never NULL, so it can be negated.
    """
    same_pool = [and_(Agreement.region_code.in_(codes), held.insured_in(codes)) for codes in pools.values()]
    return or_(and_(~held.by_facts, Agreement.counts_for_capitation.is_(True)),
               and_(held.by_facts, Resident.verified_at.is_not(None), or_(*same_pool) if same_pool else false()))


def check_terms(centre: Centre, *, term_years: int, consent_version: str, window_id: int | None) -> PolicyProfile:
    """What a signing with `centre` asks of every resident alike: the region's term, the current consent text and,
    where the profile says so, a village clinic (422 naming the field). Returns the region's profile."""
    profile = profile_for(centre.region_code)
    if not 1 <= term_years <= profile.max_term_years:
        raise Invalid(f"The term is 1 to {profile.max_term_years} years in this region.", field="term_years")
    if consent_version != current_app.config["SETTINGS"].CONSENT_TEXT_VERSION:
        raise Invalid("Consent to the current consent text is required.", field="consent_version")
    check_village_clinic(profile, window_id)
    return profile


def check_village_clinic(profile: PolicyProfile, window_id: int | None) -> None:
    """Where the profile says so, a signing names one village clinic of the centre too (POLICY.md signing rule 2)."""
    if profile.requires_village_clinic and window_id is None:
        raise Invalid("In this region a resident signs with a centre and one village clinic integrated with it "
                      "[003 §三]: name the village clinic.", field="window_id", rule="requires_village_clinic")


@dataclass
class CycleStanding:
    """What a resident holds in a cycle, for signing: the agreement in force or prepared, and the latest that was in
    force and was terminated (its centre is the resident's centre for the rest of the cycle: POLICY.md signing rule
    10; one terminated on or before its first day, e.g. a renewal prepared in December, fixed nothing)."""

    holding: Agreement | None = None
    ended: Agreement | None = None


def standing_in_cycle(resident_ids: list[int], cycle: int) -> dict[int, CycleStanding]:
    """The cycle standing of every resident of a signing, in one query."""
    standing = {resident_id: CycleStanding() for resident_id in resident_ids}
    for agreement in db.session.scalars(select(Agreement).where(
            Agreement.resident_id.in_(resident_ids), Agreement.cycle == cycle).order_by(Agreement.id)):
        held = standing[agreement.resident_id]
        if agreement.status in HOLDING:
            held.holding = agreement
        elif agreement.status is AgreementStatus.TERMINATED and agreement.terminated_on is not None \
                and agreement.terminated_on > agreement.start_date:
            held.ended = agreement  # ascending ids: the latest one stays
    return standing


def _residents_to_sign(actor: Actor, centre: Centre, resident_ids: list[int] | None,
                       presence_codes: list[str]) -> tuple[list[tuple[Resident, SigningBasis, int | None]], Resident | None]:
    """The residents to sign, each with how the centre knows them (POLICY.md signing rule 10), and the calling
    resident (None for staff).

    A resident signs themself and their household. Staff sign people of the centre's service area,
    or people present: shown by a presence code of their own or their household's mini-program, or
    by the centre's on-site check of their identity document today. Ids that do not exist get the
    same answer as people out of reach, so ids cannot be probed.

    The residents' rows are read once, first, and locked for the signing transaction (in id order; SQLite has one
    writer anyway): a concurrent signing of the same person waits, so the checks that follow read what is committed
    when it writes, and sign-terminate-sign elsewhere cannot slip in between a check and the insert. They are read
    afresh (a death recorded meanwhile is seen).
    """
    if actor.role is Role.RESIDENT:
        me, members = access.caller_and_household_locked(actor)
        household = {member.id: member for member in members}
        wanted = resident_ids or [me.id]
        strangers = [rid for rid in wanted if rid not in household]
        if strangers:
            raise Invalid(f"Not members of your household: {strangers}.", field="resident_ids")
        return [(household[rid], SigningBasis.SELF, None) for rid in dict.fromkeys(wanted)], me
    if not resident_ids:
        raise Invalid("Name the residents to sign.", field="resident_ids")
    found = {r.id: r for r in db.session.scalars(
        select(Resident).where(Resident.id.in_(resident_ids)).order_by(Resident.id).with_for_update()
        .execution_options(populate_existing=True))}
    present: set[int] = set()
    for code in dict.fromkeys(presence_codes):
        holder = proofs.presence_holder(code)
        if holder is None:
            raise Invalid("A presence code is wrong or has expired; ask for the one the mini-program shows now.",
                          field="presence_codes")
        present |= {member.id for member in access.household_of(holder)}
    chosen, refused = [], []
    for rid in dict.fromkeys(resident_ids):
        resident = found.get(rid)
        if resident is None:
            refused.append(rid)
        elif access.in_service_area(resident, centre.id):
            chosen.append((resident, SigningBasis.SERVICE_AREA, None))
        elif rid in present:
            chosen.append((resident, SigningBasis.PRESENCE_CODE, None))
        elif (check := proofs.checked_today(rid, centre.id)) is not None:
            chosen.append((resident, SigningBasis.IDENTITY_CHECK, check.id))
        else:
            refused.append(rid)
    if refused:
        raise Forbidden(NOT_PRESENT.format(ids=refused), field="resident_ids", reason="presence_required",
                        resident_ids=refused)
    return chosen, None


def _guardian_for(child: Resident, guardian: Resident | None, today: date) -> Resident | None:
    """The adult household member who consents for a child under 14 (`guardian`: the one named, else the calling
    resident), or None when none is needed."""
    if age_on(child.birth_date, today) >= GUARDIAN_NEEDED_UNDER:
        return None
    if (
        guardian is None
        or guardian.id == child.id
        or guardian.household_id is None
        or guardian.household_id != child.household_id
        or age_on(guardian.birth_date, today) < ADULT_AGE
    ):
        raise Invalid(
            "A child under 14 signs with the consent of an adult household member as guardian.",
            field="guardian_id",
            resident_id=child.id,
        )
    return guardian


def sign(
    actor: Actor,
    *,
    centre_id: int,
    term_years: int,
    consent_version: str,
    window_id: int | None = None,
    team_id: int | None = None,
    doctor_id: int | None = None,
    resident_ids: list[int] | None = None,
    guardian_id: int | None = None,
    package_codes: list[str] | None = None,
    presence_codes: list[str] | None = None,
    secondary_hospital_id: int | None = None,
    tertiary_hospital_id: int | None = None,
) -> tuple[list[Agreement], bool]:
    """Sign residents with one centre for the current cycle (POLICY.md signing rules 2, 5 and 6), each with a team
    and a named family doctor (signing.doctors: annex 1 of 000, basic package item 2).

    Returns the agreements and whether any was created. Signing again with the same centre gives
    the same agreement back; another centre in the same cycle is a 409 naming the existing one.
    The one-centre rule is the database's unique index: a racing request ends the same way.
    New agreements get their packages and follow-up plans in the same transaction. Staff sign only
    people they may (rule 10, `_residents_to_sign`); nobody with a recorded death is signed. A "1+1+1" hospital
    choice is checked by signing.hospitals.
    """
    args = (actor, centre_id, term_years, consent_version, window_id, team_id, doctor_id, resident_ids, guardian_id,
            package_codes or [], presence_codes or [],
            {"secondary_hospital_id": secondary_hospital_id, "tertiary_hospital_id": tertiary_hospital_id})
    try:
        return _sign(*args)
    except IntegrityError:
        db.session.rollback()
        return _sign(*args)


def _sign(actor, centre_id, term_years, consent_version, window_id, team_id, doctor_id, resident_ids, guardian_id,
          package_codes, presence_codes, choice):
    centre = signable_place(centre_id, window_id, team_id)
    access.check_centre(actor, centre.id)
    doctor = doctors.chosen_doctor(centre, team_id, doctor_id) if doctor_id is not None else None
    profile = check_terms(centre, term_years=term_years, consent_version=consent_version, window_id=window_id)
    choice = hospitals.checked_choice(centre.region_code, **choice)
    today = clock.today()
    cycle = cycles.cycle_of(profile, today)
    _, cycle_end = cycles.cycle_bounds(profile, cycle)
    _, term_end = cycles.cycle_bounds(profile, cycle + term_years - 1)

    agreements, fresh = [], []
    with db.transaction():
        chosen, me = _residents_to_sign(actor, centre, resident_ids, presence_codes)
        guardian = db.session.get(Resident, guardian_id) if guardian_id else me
        guardians = {r.id: _guardian_for(r, guardian, today) for r, _, _ in chosen}
        standing = standing_in_cycle([resident.id for resident, _, _ in chosen], cycle)
        for resident, basis, check_id in chosen:
            if resident.died_on is not None:
                raise Conflict(f"The resident's death was recorded ({resident.died_on.isoformat()}): nobody dead is signed.",
                               reason="dead", resident_id=resident.id)
            existing = standing[resident.id].holding
            if existing is not None:
                if existing.centre_id != centre.id:
                    # The existing agreement's id is the resident's own business, not another centre's staff's.
                    mine = {"agreement_id": existing.id} if actor.role is Role.RESIDENT else {}
                    raise Conflict(
                        "Already signed with another centre in this cycle; the centre can change from the next cycle.",
                        **mine,
                        reason="one_centre_per_cycle",
                        centre_id=existing.centre_id,
                        resident_id=resident.id,
                        cycle=cycle,
                    )
                agreements.append(existing)
                continue
            ended = standing[resident.id].ended
            if ended is not None and ended.centre_id != centre.id:
                raise Conflict(
                    "The centre cannot change within a cycle [000 §二(三)]: after a termination this cycle's signing "
                    "is with the same centre again; another centre from the next cycle.",
                    reason="centre_fixed_for_cycle",
                    agreement_id=ended.id,
                    centre_id=ended.centre_id,
                    resident_id=resident.id,
                    cycle=cycle,
                )
            team, named = doctors.place_with_doctor(centre, resident, team_id=team_id, window_id=window_id, chosen=doctor)
            agreement = Agreement(
                resident=resident,
                centre=centre,
                window_id=window_id,
                team=team,  # the answer names them: no reading them again
                doctor=named,
                region_code=centre.region_code,
                cycle=cycle,
                start_date=today,
                end_date=cycle_end,
                term_years=term_years,
                term_end_date=term_end,
                status=AgreementStatus.ACTIVE,
                channel=Channel.ONLINE if actor.role is Role.RESIDENT else Channel.ON_SITE,
                counts_for_capitation=counts_for_capitation(resident, centre),
                signed_by=actor.subject,
                basis=basis,
                identity_check_id=check_id,
                **choice,
            )
            guardian = guardians[resident.id]
            db.session.add(agreement)
            db.session.add(
                Consent(
                    resident=resident,
                    agreement=agreement,
                    text_version=consent_version,
                    guardian_id=guardian.id if guardian else None,
                    recorded_by=actor.subject,
                )
            )
            db.session.flush()
            agreements.append(agreement)
            fresh.append(agreement)
        agreement_packages.give_packages(fresh, package_codes=package_codes, signed_by=actor.subject)
        events.signed.send(None, agreements=fresh)
        audit.with_the_write()
    return agreements, bool(fresh)


def agreements_of(actor: Actor) -> list[Agreement]:
    """The agreements of the calling resident and their household, newest cycle first."""
    ids = [member.id for member in access.household_of(access.resident_of(actor))]
    return list(
        db.session.scalars(select(Agreement).where(Agreement.resident_id.in_(ids)).order_by(Agreement.cycle.desc(), Agreement.id))
    )


def centre_agreements(actor: Actor, *, cycle: int | None, status: AgreementStatus | None, cursor: str | None,
                      limit: int) -> dict:
    """The agreements of the staff member's centre, oldest first, a page at a time."""
    query = select(Agreement).where(Agreement.centre_id == actor.centre_id)
    if cycle is not None:
        query = query.where(Agreement.cycle == cycle)
    if status is not None:
        query = query.where(Agreement.status == status)
    return paginate(query, key_columns=[Agreement.id], cursor=cursor, limit=limit)


def request_change(actor: Actor, agreement_id: int, *, centre_id: int, window_id: int | None = None,
                   team_id: int | None = None, doctor_id: int | None = None) -> ChangeRequest:
    """Ask to sign with another centre from the next cycle (POLICY.md signing rule 3), with the team and family
    doctor wanted there (signing.doctors: a chosen doctor must be a doctor of the chosen team of that centre).

    Accepted only inside the region's change period; one pending request per agreement.
    """
    agreement = get_agreement(actor, agreement_id)
    if agreement.status is not AgreementStatus.ACTIVE:
        raise Conflict(f"An agreement that is {agreement.status.value} cannot be changed.", status=agreement.status.value)
    profile = profile_for(agreement.region_code)
    opens, closes = cycles.change_period(profile, agreement.cycle)
    if not opens <= clock.today() <= closes:
        raise Conflict(
            "Change requests are accepted only inside the change period.",
            reason="outside_change_period",
            period_opens=opens.isoformat(),
            period_closes=closes.isoformat(),
        )
    target = signable_place(centre_id, window_id, team_id)
    check_village_clinic(profile_for(target.region_code), window_id)
    if target.id == agreement.centre_id:
        raise Invalid("This is already the agreement's centre.", field="centre_id")
    if doctor_id is not None:
        team, _ = doctors.chosen_doctor(target, team_id, doctor_id)
        team_id = team.id
    with db.transaction():
        change = ChangeRequest(
            agreement_id=agreement.id,
            centre_id=target.id,
            window_id=window_id,
            team_id=team_id,
            doctor_id=doctor_id,
            effective_cycle=agreement.cycle + 1,
            requested_by=actor.subject,
        )
        agreement.status = AgreementStatus.CHANGE_PENDING
        db.session.add(change)
    return change


def terminate(actor: Actor, agreement_id: int, *, reason: TerminationReason, note: str | None = None,
              on: date | None = None) -> Agreement:
    """End an agreement early, by staff of its centre, with a reason as recorded in practice.

    A death (`on` is the date of death) ends every agreement of the person: see `_record_death`.
    """
    agreement = get_agreement(actor, agreement_id)
    terminated_on = on or clock.today()
    if reason is TerminationReason.DEATH:
        if terminated_on > clock.today():
            raise Invalid("The date of death cannot lie in the future.", field="on")
    elif terminated_on > clock.today() or terminated_on < agreement.start_date:
        raise Invalid("The termination date lies between the agreement's start and today.", field="on")
    with db.transaction():
        if reason is TerminationReason.DEATH:
            ended = agreement.id in end_for_death(agreement.resident_id, terminated_on, note=note)
        else:
            ended = db.session.execute(
                update(Agreement).where(Agreement.id == agreement.id, Agreement.status.in_(HOLDING))
                .values(status=AgreementStatus.TERMINATED, terminated_on=terminated_on, termination_reason=reason,
                        termination_note=note)
            ).rowcount
            _withdraw_changes([agreement.id])
            events.ended.send(None, resident_ids=[agreement.resident_id])
        if not ended:
            raise Conflict(f"The agreement is already {agreement.status.value}.")
    db.session.refresh(agreement)
    return agreement


def end_for_death(resident_id: int, died_on: date, note: str | None = None) -> list[int]:
    """Record a death and end every agreement it ends, in the caller's transaction; returns their ids.

    However the death is recorded (a termination with reason death, or the registry's date of death),
    this is what follows: POLICY.md signing rule 10.
    """
    ending = _record_death(resident_id, died_on)
    if ending:
        db.session.execute(update(Agreement).where(Agreement.id.in_(ending)).values(
            status=AgreementStatus.TERMINATED, terminated_on=died_on, termination_reason=TerminationReason.DEATH,
            termination_note=note))
        _withdraw_changes(ending)
        events.ended.send(None, resident_ids=[resident_id])
    return ending


def _withdraw_changes(agreement_ids: list[int]) -> None:
    db.session.execute(
        update(ChangeRequest)
        .where(ChangeRequest.agreement_id.in_(agreement_ids), ChangeRequest.status == ChangeRequestStatus.PENDING)
        .values(status=ChangeRequestStatus.WITHDRAWN)
    )


def _record_death(resident_id: int, died_on: date) -> list[int]:
    """Mark the resident dead and return every agreement the death ends (POLICY.md signing rule 10).

    That is each one holding a place (active, changing, or prepared for a cycle not yet begun, which then never
    comes into force), and an expired one that was still running on the date of death: it ended that day.
    """
    resident = db.session.scalar(select(Resident).where(Resident.id == resident_id).with_for_update()
                                 .execution_options(populate_existing=True))
    if resident.died_on is None or died_on < resident.died_on:
        resident.died_on = died_on
    return list(db.session.scalars(select(Agreement.id).where(
        Agreement.resident_id == resident_id,
        or_(Agreement.status.in_(HOLDING), and_(Agreement.status == AgreementStatus.EXPIRED, Agreement.end_date >= died_on)),
    )))


def subscribe() -> None:
    """Capitation follows insurance facts and verification: re-derived when the registry records a change."""
    registry_events.insurance_changed.connect(_recount)
    registry_events.identity_verified.connect(_recount)
    registry_events.death_recorded.connect(_on_death)


def _on_death(_sender, *, resident_id: int, died_on: date) -> None:
    end_for_death(resident_id, died_on)


def _recount(_sender, *, resident: Resident) -> None:
    """Re-derive counts_for_capitation of the resident's current agreements (POLICY.md signing rules 6 and 10)."""
    for agreement in db.session.scalars(
        select(Agreement).where(Agreement.resident_id == resident.id, Agreement.status.in_(HOLDING))
    ):
        agreement.counts_for_capitation = counts_for_capitation(resident, agreement.centre)
