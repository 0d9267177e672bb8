"""Referrals (双向转诊): a doctor refers a resident out to a secondary or tertiary hospital with a reason
and an urgency; the centre records the way there and back — sent, accepted, seen, returned — one
step at a time, in that order (a step out of order is a 409). The return brings a follow-up visit
within two weeks (POLICY.md: a referral calls for a re-visit within 2 weeks). An open referral whose
expected time has passed is overdue and shows on the doctors' list.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select, update
from sqlalchemy.orm import joinedload

from care.delivery_models import Referral, ReferralState, Urgency
from care.models import Visit, VisitState
from core import audit, clock, db
from core.auth import Actor, Role
from core.calendar import Offset, days
from core.errors import Conflict, Invalid
from core.pagination import paginate
from registry import access
from signing.models import Agreement, in_force_on

RETURN_PROGRAMME = "referral-return"
RETURN_VISIT_WITHIN = days(14)
# When the resident is expected back, unless the doctor says: a local default, not a policy figure.
EXPECTED_WITHIN: dict[Urgency, Offset] = {Urgency.EMERGENCY: days(7), Urgency.URGENT: days(14), Urgency.ROUTINE: days(30)}
OPEN = (ReferralState.SENT, ReferralState.ACCEPTED, ReferralState.SEEN)
# The steps that may follow each state; the others are out of order.
NEXT: dict[ReferralState, tuple[ReferralState, ...]] = {
    ReferralState.SENT: (ReferralState.ACCEPTED, ReferralState.CANCELLED),
    ReferralState.ACCEPTED: (ReferralState.SEEN, ReferralState.CANCELLED),
    ReferralState.SEEN: (ReferralState.RETURNED,),
}
DAY_OF = {ReferralState.SENT: "sent_on", ReferralState.ACCEPTED: "accepted_on", ReferralState.SEEN: "seen_on",
          ReferralState.RETURNED: "returned_on", ReferralState.CANCELLED: "cancelled_on"}


def is_overdue(referral: Referral, today: date) -> bool:
    return referral.state in OPEN and referral.expected_by < today


def refer(actor: Actor, *, resident_id: int, hospital: str, reason: str, urgency: Urgency, department: str | None = None,
          expected_by: date | None = None) -> Referral:
    """Refer a resident of the doctor's centre out to a hospital; sent today."""
    resident = access.get_resident(actor, resident_id)
    today = clock.today()
    if expected_by is not None and expected_by < today:
        raise Invalid("The resident is expected back on a day to come.", field="expected_by")
    referral = Referral(resident_id=resident.id, centre_id=actor.centre_id, team_id=actor.team_id,
                        referred_by=actor.subject, hospital=hospital, department=department, reason=reason,
                        urgency=urgency, state=ReferralState.SENT, sent_on=today,
                        expected_by=expected_by or EXPECTED_WITHIN[urgency].after(today))
    with db.transaction():
        db.session.add(referral)
    audit.record("referral.create", "referral", referral.id, resident_id=resident.id)
    return referral


def _get(actor: Actor, referral_id: int) -> Referral:
    referral = db.get_or_404(Referral, referral_id, "referral")
    access.check_centre(actor, referral.centre_id)
    return referral


def get_referral(actor: Actor, referral_id: int) -> Referral:
    """One referral of the caller's centre; the read is audited."""
    referral = _get(actor, referral_id)
    audit.record("referral.read", "referral", referral.id)
    return referral


def advance(actor: Actor, *, referral_id: int, to: ReferralState, on: date | None = None,
            note: str | None = None) -> Referral:
    """Record the referral's next step on day `on` (default today): only the step that may follow (409 otherwise).

    A return plans the resident's return visit, due two weeks after the return.
    """
    referral = _get(actor, referral_id)
    if to not in NEXT.get(referral.state, ()):
        raise Conflict(f"A {referral.state.value} referral cannot be {to.value} next.", state=referral.state.value,
                       allowed=[step.value for step in NEXT.get(referral.state, ())])
    on = on or clock.today()
    last_step = getattr(referral, DAY_OF[referral.state])
    if not last_step <= on <= clock.today():
        raise Invalid(f"The step lies between the last one ({last_step.isoformat()}) and today.", field="on")
    with db.transaction():
        moved = db.session.execute(
            update(Referral).where(Referral.id == referral.id, Referral.state == referral.state)
            .values({"state": to, DAY_OF[to]: on, "note": note if note is not None else Referral.note,
                     "updated_at": clock.now()})
            .execution_options(synchronize_session=False)).rowcount
        if not moved:
            raise Conflict("The referral changed meanwhile; reload it.")
        if to is ReferralState.RETURNED:
            visit = _return_visit(referral, on)
            db.session.execute(update(Referral).where(Referral.id == referral.id).values(visit_id=visit.id)
                               .execution_options(synchronize_session=False))
    db.session.refresh(referral)
    audit.record(f"referral.{to.value}", "referral", referral.id)
    return referral


def _return_visit(referral: Referral, returned_on: date) -> Visit:
    """The follow-up after a return, due within two weeks (caller's transaction). Plan rebuilds keep it."""
    agreement_id = db.session.scalar(select(Agreement.id).where(
        Agreement.resident_id == referral.resident_id, Agreement.centre_id == referral.centre_id,
        in_force_on(clock.today())).limit(1))
    due = RETURN_VISIT_WITHIN.after(returned_on)
    visit = Visit(resident_id=referral.resident_id, agreement_id=agreement_id, centre_id=referral.centre_id,
                  team_id=referral.team_id, programme=RETURN_PROGRAMME, code=f"referral-{referral.id}",
                  title=f"转诊回访（{referral.hospital}）"[:120], protocol_version="referral", due_date=due,
                  on_time_from=returned_on, on_time_until=due, state=VisitState.PLANNED, rescheduled=True)
    db.session.add(visit)
    db.session.flush()
    return visit


def centre_referrals(actor: Actor, *, overdue: bool, state: ReferralState | None, resident_id: int | None,
                     cursor: str | None, limit: int) -> dict:
    """The referrals of the doctor's team (a centre admin's centre), by the day the resident is expected back.

    `overdue`: open ones (sent, accepted, seen) whose expected day has passed. The read is audited.
    """
    query = select(Referral).options(joinedload(Referral.resident)).where(Referral.centre_id == actor.centre_id)
    if actor.role is Role.DOCTOR and actor.team_id is not None:
        query = query.where(or_(Referral.team_id == actor.team_id, Referral.team_id.is_(None)))
    if overdue:
        query = query.where(Referral.state.in_(OPEN), Referral.expected_by < clock.today())
    if state is not None:
        query = query.where(Referral.state == state)
    if resident_id is not None:
        query = query.where(Referral.resident_id == resident_id)
    page = paginate(query, key_columns=[Referral.expected_by, Referral.id], cursor=cursor, limit=limit)
    audit.record("referral.list", "centre", actor.centre_id, rows=len(page["items"]), overdue=overdue)
    return page


def referrals_of_household(actor: Actor) -> list[Referral]:
    """The referrals of the calling resident and their household, the latest first; the read is audited."""
    me = access.resident_of(actor)
    ids = [member.id for member in access.household_of(me)]
    found = list(db.session.scalars(select(Referral).options(joinedload(Referral.resident))
                                    .where(Referral.resident_id.in_(ids)).order_by(Referral.id.desc())))
    audit.record("referral.list", "household", me.household_id, rows=len(found))
    return found
