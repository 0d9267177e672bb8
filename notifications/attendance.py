"""Who attended a centre's health lecture (basic package: at least one a month [000 附件1 一3]).

Staff of the centre record it once the lecture has begun, for residents signed with the centre on its
day. The fulfilment ledger (care, to the left) reads it through the reader `subscribe` registers.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from care import fulfilment
from core import clock, db
from core.auth import Actor
from core.errors import Conflict, Invalid, NotFound
from notifications.models import Lecture, LectureAttendance
from registry import access
from signing.models import Agreement, in_force_on


def subscribe() -> None:
    """Let the fulfilment ledger count the months a resident attended a lecture."""
    if attended_days not in fulfilment.LECTURE_ATTENDANCE:
        fulfilment.LECTURE_ATTENDANCE.append(attended_days)


def attended_days() -> Select:
    """(resident_id, centre_id, day) of every attendance."""
    return select(LectureAttendance.resident_id.label("resident_id"), LectureAttendance.centre_id.label("centre_id"),
                  LectureAttendance.lecture_on.label("day"))


def _lecture(actor: Actor, centre_id: int, lecture_id: int) -> Lecture:
    access.check_centre(actor, centre_id)
    lecture = db.session.get(Lecture, lecture_id)
    if lecture is None or lecture.centre_id != centre_id:
        raise NotFound("No such lecture.")
    return lecture


def record_attendance(actor: Actor, *, centre_id: int, lecture_id: int, resident_ids: list[int]) -> list[LectureAttendance]:
    """Record that residents attended; recording someone again changes nothing. 422 naming those not signed
    with the centre on the lecture's day; 409 before the lecture has begun."""
    lecture = _lecture(actor, centre_id, lecture_id)
    if lecture.starts_at > clock.now():
        raise Conflict("Attendance is recorded once the lecture has begun.", starts_at=lecture.starts_at.isoformat())
    day = lecture.starts_at.astimezone(clock.SHANGHAI).date()
    wanted = list(dict.fromkeys(resident_ids))
    signed = set(db.session.scalars(select(Agreement.resident_id).where(
        Agreement.resident_id.in_(wanted), Agreement.centre_id == centre_id, in_force_on(day))))
    strangers = [resident_id for resident_id in wanted if resident_id not in signed]
    if strangers:
        raise Invalid(f"Not signed with this centre on {day.isoformat()}: {strangers}.", field="resident_ids")
    with db.transaction():
        for resident_id in wanted:
            db.insert_unless_exists(LectureAttendance, lecture_id=lecture.id, resident_id=resident_id, centre_id=centre_id,
                                    lecture_on=day, recorded_by=actor.subject, recorded_at=clock.now())
    return attendance_of(actor, centre_id=centre_id, lecture_id=lecture_id)


def attendance_of(actor: Actor, *, centre_id: int, lecture_id: int) -> list[LectureAttendance]:
    lecture = _lecture(actor, centre_id, lecture_id)
    return list(db.session.scalars(select(LectureAttendance).where(LectureAttendance.lecture_id == lecture.id)
                                   .order_by(LectureAttendance.resident_id)))
