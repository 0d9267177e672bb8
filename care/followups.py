"""Follow-ups: the doctors' worklist, logging and correcting visits, clinical feedback, completion.

"Due" and "overdue" are computed, never stored: a planned visit is due from the first to the last
day of its on-time range (whole days, Asia/Shanghai) and overdue from the day after, by the days since
its on-time range closed.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import joinedload

from care import plans
from care.models import Reading, Timeliness, Visit, VisitMode, VisitRecord, VisitState
from core import clock, db
from core.auth import Actor, Role
from core.calendar import Offset, days, months
from core.errors import Conflict, Forbidden, Invalid
from core.pagination import paginate
from registry import access
from registry.models import Resident

DUE, OVERDUE, UPCOMING = "due", "overdue", "upcoming"
# POLICY.md: danger signs call for referral and an early re-visit; targets of control.
DANGER_SYSTOLIC, DANGER_DIASTOLIC = 180, 110
DANGER_GLUCOSE_HIGH, DANGER_GLUCOSE_LOW = Decimal("16.7"), Decimal("3.9")
TARGET_SYSTOLIC, TARGET_DIASTOLIC, TARGET_FASTING_GLUCOSE = 140, 90, Decimal("7.0")
FEEDBACK_PROGRAMMES = ("hypertension", "diabetes")
# A danger sign calls for an early re-visit within two weeks of the referral: an extra visit, the quarter's
# routine one stays as planned (POLICY.md, national standard). An uncontrolled reading brings the next routine
# visit within a month (a re-visit when none is left); a controlled one keeps the quarterly rhythm.
RECHECK_WITHIN: dict[Reading, Offset] = {Reading.DANGER: days(14)}
NEXT_VISIT_WITHIN: dict[Reading, Offset] = {Reading.UNCONTROLLED: months(1)}
RECHECK = "-recheck"  # the code of a visit's re-visit: its own code and this


def status_of(visit: Visit | Row, today: date) -> str:
    """planned → upcoming / due / overdue by the on-time range and today; otherwise the stored state."""
    if visit.state is not VisitState.PLANNED:
        return visit.state.value
    if today < visit.on_time_from:
        return UPCOMING
    return DUE if today <= visit.on_time_until else OVERDUE


def days_overdue(visit: Visit | Row, today: date) -> int:
    """Whole days since the on-time range closed (1 on the day after its last day); 0 unless overdue."""
    return max((today - visit.on_time_until).days, 0) if visit.state is VisitState.PLANNED else 0


def classify(*, systolic: int | None, diastolic: int | None, glucose: Decimal | None,
             glucose_fasting: bool | None) -> Reading | None:
    """Danger sign, uncontrolled or controlled (POLICY.md); None without a blood-pressure or glucose reading."""
    if systolic is None and diastolic is None and glucose is None:
        return None
    if ((systolic or 0) >= DANGER_SYSTOLIC or (diastolic or 0) >= DANGER_DIASTOLIC
            or (glucose is not None and not DANGER_GLUCOSE_LOW < glucose < DANGER_GLUCOSE_HIGH)):
        return Reading.DANGER
    if ((systolic or 0) >= TARGET_SYSTOLIC or (diastolic or 0) >= TARGET_DIASTOLIC
            or (glucose_fasting and glucose is not None and glucose >= TARGET_FASTING_GLUCOSE)):
        return Reading.UNCONTROLLED
    return Reading.CONTROLLED


def timeliness_of(served_on: date, on_time_until: date) -> Timeliness:
    return Timeliness.ON_TIME if served_on <= on_time_until else Timeliness.LATE


def worklist(actor: Actor, *, status: str | None, date_from: date | None, date_to: date | None, programme: str | None,
             cursor: str | None, limit: int) -> dict:
    """The open visits of the doctor's team (or a centre admin's centre), most urgent first.

    Urgency is the on-time range's last day: the longest overdue first, then those whose on-time range closes soonest.
    """
    today = clock.today()
    query = select(Visit).options(joinedload(Visit.resident)).where(
        Visit.centre_id == actor.centre_id, Visit.state == VisitState.PLANNED, Visit.on_time_from <= today)
    if actor.role is Role.DOCTOR and actor.team_id is not None:
        query = query.where(or_(Visit.team_id == actor.team_id, Visit.team_id.is_(None)))
    if status == DUE:
        query = query.where(Visit.on_time_until >= today)
    elif status == OVERDUE:
        query = query.where(Visit.on_time_until < today)
    if date_from:
        query = query.where(Visit.due_date >= date_from)
    if date_to:
        query = query.where(Visit.due_date <= date_to)
    if programme:
        query = query.where(Visit.programme == programme)
    return paginate(query, key_columns=[Visit.on_time_until, Visit.id], cursor=cursor, limit=limit)


def visits_of_household(actor: Actor) -> list[Row]:
    """The calling resident's and their household's visits, by due date (cancelled ones left out).

    Two statements whatever the household's size: the caller's ids, then the visits of everyone sharing their
    household (or only the caller's, without one) with each visit's resident's name joined in.
    """
    me, household_id = access.caller_ids(actor)
    members = (select(RESIDENTS.id).where(RESIDENTS.household_id == household_id) if household_id is not None
               else select(literal(me)))
    return _plan(members)


# What care.schemas.VisitSchema shows of a visit, read as plain rows from the tables: no entities (nor their
# residents, whose ID numbers and phones would be decrypted for nothing) and no ORM loading for a read-only list.
VISITS, RESIDENTS = Visit.__table__.c, Resident.__table__.c
VISIT_ROW = (VISITS.id, VISITS.resident_id, RESIDENTS.name.label("resident_name"), VISITS.programme, VISITS.code,
             VISITS.title, VISITS.due_date, VISITS.on_time_from, VISITS.on_time_until, VISITS.state, VISITS.centre_id,
             VISITS.team_id, VISITS.served_on, VISITS.timeliness, VISITS.referral, VISITS.modes)


def _plan(resident_ids) -> list[Row]:
    """The visits of the residents (ids, or a select of them) by due date, cancelled ones left out."""
    return list(db.session.execute(
        select(*VISIT_ROW).join_from(Visit.__table__, Resident.__table__, VISITS.resident_id == RESIDENTS.id)
        .where(VISITS.resident_id.in_(resident_ids), VISITS.state != VisitState.CANCELLED)
        .order_by(VISITS.due_date, VISITS.id)))


def plan_of(actor: Actor, *, resident_id: int) -> list[Row]:
    """A resident's whole plan for staff who reach them (registry.access), by due date: done, missed and upcoming
    visits as well as due and overdue ones (cancelled ones left out)."""
    return _plan([access.get_resident(actor, resident_id).id])


def get_visit(actor: Actor, visit_id: int) -> Visit:
    visit = db.get_or_404(Visit, visit_id, "visit")
    access.check_centre(actor, visit.centre_id)
    return visit


def _new_record(actor: Actor, *, visit: Visit, revision: int, on_time: tuple[date, date], served_on: date, mode,
                referral: bool, findings: dict) -> VisitRecord:
    """A record of a visit served on `served_on`, judged against `on_time`; 422 for what cannot be.

    It completes the visit when its mode is one the visit's protocol accepts (POLICY.md "Packages": a phone
    contact can be recorded but does not complete a face-to-face or home visit).
    """
    on_time_from, on_time_until = on_time
    systolic, diastolic = findings.get("systolic"), findings.get("diastolic")
    if served_on > clock.today():
        raise Invalid("A visit is logged after it was made: the date cannot be in the future.", field="served_on")
    if served_on < on_time_from:
        raise Invalid(f"The visit's on-time range opens on {on_time_from.isoformat()}.", field="served_on")
    if systolic is not None and diastolic is not None and diastolic >= systolic:
        raise Invalid("The diastolic pressure is below the systolic.", field="diastolic")
    reading = classify(**{name: findings.get(name) for name in ("systolic", "diastolic", "glucose", "glucose_fasting")})
    return VisitRecord(visit_id=visit.id, resident_id=visit.resident_id, revision=revision, author_id=actor.staff_id,
                       served_on=served_on, mode=mode, completes=VisitMode(mode).value in visit.modes, referral=referral or reading is Reading.DANGER,
                       reading=reading, on_time_from=on_time_from, on_time_until=on_time_until,
                       timeliness=timeliness_of(served_on, on_time_until), **findings)


def log_visit(actor: Actor, *, visit_id: int, served_on: date, mode, referral: bool = False, **findings) -> VisitRecord:
    """Log a contact made for a visit. In a mode the visit's protocol accepts, the visit is done, on time or late
    against its on-time range as it stands today; in another (a phone call for a face-to-face or home visit) the contact
    is recorded and the visit is still to be made: logging it later supersedes that record, kept as history.

    A hypertension or diabetes reading feeds back into the plan (see `_feed_back`). Logging a done visit
    again is a 409: a record is corrected, not logged again.
    """
    visit = get_visit(actor, visit_id)
    previous = db.session.scalar(select(VisitRecord).where(VisitRecord.visit_id == visit.id, VisitRecord.current.is_(True)))
    revision = (db.session.scalar(select(func.max(VisitRecord.revision)).where(VisitRecord.visit_id == visit.id)) or 0) + 1
    record = _new_record(actor, visit=visit, revision=revision, on_time=(visit.on_time_from, visit.on_time_until),
                         served_on=served_on, mode=mode, referral=referral, findings=findings)
    done = dict(state=VisitState.DONE, served_on=served_on, timeliness=record.timeliness) if record.completes else {}
    with db.transaction():
        logged = db.session.execute(
            update(Visit).where(Visit.id == visit.id, Visit.state.in_((VisitState.PLANNED, VisitState.MISSED)))
            .values(referral=record.referral, **done)
            .execution_options(synchronize_session=False)).rowcount
        if not logged:
            raise Conflict(f"The visit is {visit.state.value}; a logged visit is corrected, not logged again.",
                           state=visit.state.value)
        if previous is not None:
            _supersede(previous)
        db.session.add(record)
        db.session.flush()
        db.session.refresh(visit)
        _feed_back(visit, previous, record)
    return record


def _supersede(record: VisitRecord) -> None:
    """Make `record` history; 409 when another request did so first."""
    superseded = db.session.execute(
        update(VisitRecord).where(VisitRecord.id == record.id, VisitRecord.current.is_(True)).values(current=False)
        .execution_options(synchronize_session=False)).rowcount
    if not superseded:
        raise Conflict("Only the latest revision of a record can be corrected.")


def _feed_back(visit: Visit, previous: VisitRecord | None, record: VisitRecord) -> None:
    """Make the plan follow the visit's current record: undo what the record it replaces asked for, then do what
    this one asks for (a logging has no previous record; a correction replaces one)."""
    if visit.programme not in FEEDBACK_PROGRAMMES:
        return
    if previous is not None:
        _undo_feedback(visit, previous)
    earliest = record.served_on + timedelta(days=1)
    if record.reading in RECHECK_WITHIN:
        _plan_recheck(visit, earliest, RECHECK_WITHIN[record.reading].after(record.served_on))
    elif record.reading in NEXT_VISIT_WITHIN:
        latest = NEXT_VISIT_WITHIN[record.reading].after(record.served_on)
        following = _following(visit)
        if following is None:
            _plan_recheck(visit, earliest, latest)
        elif following.due_date > latest or following.on_time_until > latest:
            following.on_time_from = min(following.on_time_from, earliest)
            following.due_date = following.on_time_until = latest
            following.rescheduled = True


def _undo_feedback(visit: Visit, previous: VisitRecord) -> None:
    """Take back what `previous` asked for: its open re-visit is cancelled, the next visit it brought forward gets
    the plan's on-time range back (a re-visit already made stays made)."""
    recheck = _recheck_of(visit)
    if recheck is not None and recheck.state is VisitState.PLANNED:
        recheck.state = VisitState.CANCELLED
    if previous.reading in NEXT_VISIT_WITHIN:
        following = _following(visit)
        if (following is not None and following.rescheduled
                and following.on_time_until == NEXT_VISIT_WITHIN[previous.reading].after(previous.served_on)):
            following.rescheduled = False
            plans.rebuild_plans([visit.resident_id])


def _following(visit: Visit) -> Visit | None:
    """The programme's next routine visit still planned (re-visits are extra, never the next routine one)."""
    return db.session.scalar(
        select(Visit).where(Visit.resident_id == visit.resident_id, Visit.programme == visit.programme,
                            Visit.state == VisitState.PLANNED, Visit.on_time_from >= visit.on_time_from,
                            Visit.id != visit.id, ~Visit.code.endswith(RECHECK))
        .order_by(Visit.on_time_from, Visit.id).limit(1).with_for_update())


def _recheck_of(visit: Visit) -> Visit | None:
    return db.session.scalar(select(Visit).where(Visit.resident_id == visit.resident_id,
                                                 Visit.programme == visit.programme,
                                                 Visit.code == visit.code + RECHECK).with_for_update())


def _plan_recheck(visit: Visit, earliest: date, latest: date) -> None:
    """Plan the visit's re-visit in [earliest, latest], or plan it again there (unless it was already made)."""
    recheck = _recheck_of(visit)
    if recheck is None:
        db.session.add(Visit(resident_id=visit.resident_id, agreement_id=visit.agreement_id, centre_id=visit.centre_id,
                             team_id=visit.team_id, programme=visit.programme, code=visit.code + RECHECK,
                             title=f"{visit.title}（复诊）", protocol_version=visit.protocol_version, due_date=latest,
                             on_time_from=earliest, on_time_until=latest, rescheduled=True))
    elif recheck.state in (VisitState.PLANNED, VisitState.CANCELLED):
        recheck.state = VisitState.PLANNED
        recheck.on_time_from, recheck.due_date, recheck.on_time_until = earliest, latest, latest


def visit_records(actor: Actor, *, visit_id: int) -> list[VisitRecord]:
    """Every revision of a visit's record, the first first."""
    visit = get_visit(actor, visit_id)
    return list(db.session.scalars(
        select(VisitRecord).where(VisitRecord.visit_id == visit.id).order_by(VisitRecord.revision)))


def correct_record(actor: Actor, *, record_id: int, served_on: date, mode, referral: bool = False,
                   **findings) -> VisitRecord:
    """Correct a record, by its author only: a new revision; the earlier stays as history.

    Timeliness is judged against the on-time range the visit had when it was first logged. The visit's state and
    clinical feedback follow the corrected record, as they would have followed it at logging: a visit is done
    only while its current record completes it (see `_new_record`, `_feed_back`).
    """
    old = db.get_or_404(VisitRecord, record_id, "visit record")
    visit = get_visit(actor, old.visit_id)
    if old.author_id != actor.staff_id:
        raise Forbidden("Only the author of a record corrects it.")
    record = _new_record(actor, visit=visit, revision=old.revision + 1, on_time=(old.on_time_from, old.on_time_until),
                         served_on=served_on, mode=mode, referral=referral, findings=findings)
    with db.transaction():
        _supersede(old)
        db.session.add(record)
        if record.completes:
            if visit.state is not VisitState.CANCELLED:
                visit.state = VisitState.DONE
            visit.served_on, visit.timeliness = served_on, record.timeliness
        else:  # the visit is still to be made
            if visit.state is VisitState.DONE:
                visit.state = VisitState.PLANNED
            visit.served_on = visit.timeliness = None
        visit.referral = record.referral
        db.session.flush()
        _feed_back(visit, old, record)
    db.session.refresh(old)
    return record


def completion(actor: Actor, *, date_from: date, date_to: date, programme: str | None) -> list[dict]:
    """Visits whose on-time range closes in the period, per team and programme: done on time, late, missed, open.

    A planned visit whose on-time range has closed counts as missed; timeliness is what was kept at logging.
    """
    today = clock.today()
    if date_to < date_from:
        raise Invalid("The period ends after it starts.", field="to", location="query")
    missed = or_(Visit.state == VisitState.MISSED, (Visit.state == VisitState.PLANNED) & (Visit.on_time_until < today))
    count = db.count_where

    query = (
        select(Visit.team_id, Visit.programme,
               count(Visit.timeliness == Timeliness.ON_TIME).label("done_on_time"),
               count(Visit.timeliness == Timeliness.LATE).label("done_late"),
               count(missed).label("missed"),
               count((Visit.state == VisitState.PLANNED) & (Visit.on_time_until >= today)).label("open"))
        .where(Visit.centre_id == actor.centre_id, Visit.state != VisitState.CANCELLED,
               Visit.on_time_until >= date_from, Visit.on_time_until <= date_to)
        .group_by(Visit.team_id, Visit.programme).order_by(Visit.team_id, Visit.programme)
    )
    if programme:
        query = query.where(Visit.programme == programme)
    return [dict(row._mapping, centre_id=actor.centre_id) for row in db.session.execute(query)]
