"""The notification domain's scheduled jobs. Each opens its own transactions and is idempotent:
a missed run is caught up by the next, a repeated run creates no second message (dedupe keys)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import select, update

from care import vaccinations as care_vaccinations
from care.delivery_models import Booking, BookingState, Slot
from care.models import Visit, VisitState
from core import clock, db
from core.auth import Role
from core.calendar import add_months
from core.scheduler import Job
from notifications import outbox
from notifications.models import Kind, Lecture
from registry.models import Centre, Resident, Staff, Window
from signing.models import Agreement, in_force_on

CHILD_YEARS = 7  # children 0–6


def reminder_stage(due: date, today: date, leads: tuple[int, ...]) -> int | None:
    """The reminder due today for something due on `due`: the smallest lead time not shorter than the days left.

    With leads (3, 0): 3 days ahead and on the day; a run missed on day −3 still reminds on day −2.
    """
    left = (due - today).days
    fitting = [lead for lead in leads if lead >= left >= 0]
    return min(fitting) if fitting else None


def remind_visits() -> int:
    """Remind residents of planned follow-up visits due soon (POLICY.md packages: follow-ups): one query for the
    visits (the kinds turned off left out by it), then the messages inserted together."""
    leads, today = current_app.config["SETTINGS"].VISIT_REMINDER_DAYS, clock.today()
    visits = (select(Visit.id, Visit.title, Visit.due_date, Visit.resident_id, Visit.centre_id, Centre.name.label("place"))
              .join(Centre, Visit.centre_id == Centre.id)
              .where(Visit.state == VisitState.PLANNED, Visit.due_date.between(today, today + timedelta(days=max(leads))),
                     outbox.wanted(Kind.VISIT_DUE, Visit.resident_id))
              .order_by(Visit.due_date, Visit.id))  # the soonest first: dispatchers send in the order messages are made
    with db.transaction():
        return outbox.enqueue_many([dict(
            dedupe_key=f"visit:{visit.id}:{reminder_stage(visit.due_date, today, leads)}:{visit.due_date}",
            kind=Kind.VISIT_DUE, resident_id=visit.resident_id, centre_id=visit.centre_id,
            content={"title": visit.title, "date": visit.due_date.isoformat(), "place": visit.place,
                     "note": "请按时到医生处随访", "page": f"pages/visits/detail?id={visit.id}"})
            for visit in db.session.execute(visits)])


def signed_today():
    """Agreements in force today, with their centres (whom the package's reminders are for)."""
    today = clock.today()
    return (select(Agreement, Centre.name).join(Centre, Agreement.centre_id == Centre.id)
            .where(in_force_on(today)))


def remind_vaccinations() -> int:
    """Remind signed children 0–6 (their guardians) of doses falling due: the national schedule, less the
    doses recorded as given, catching up within its minimum intervals (care.vaccinations.next_doses)."""
    leads, today = current_app.config["SETTINGS"].VACCINATION_REMINDER_DAYS, clock.today()
    last = today + timedelta(days=max(leads))
    children = signed_today().add_columns(Resident.birth_date).join(Resident, Agreement.resident_id == Resident.id).where(
        Resident.birth_date > add_months(today, -12 * CHILD_YEARS), outbox.wanted(Kind.VACCINATION_DUE, Agreement.resident_id))
    messages = []
    with db.transaction():
        rows = db.session.execute(children).all()
        given = care_vaccinations.given_doses(agreement.resident_id for agreement, _, _ in rows)
        for agreement, centre_name, birth_date in rows:
            for due in care_vaccinations.next_doses(birth_date, given.get(agreement.resident_id, {}), today):
                if not today <= due.due_on <= last:
                    continue
                stage = reminder_stage(due.due_on, today, leads)
                content = {"title": due.dose.title, "date": due.due_on.isoformat(), "place": centre_name,
                           "note": "请带好预防接种证", "page": "pages/vaccinations/index"}
                # The due date is in the key: a dose pushed back by a late one is reminded again for its new day.
                messages.append(dict(
                    dedupe_key=f"vaccination:{agreement.resident_id}:{due.dose.code}:{stage}:{due.due_on}",
                    kind=Kind.VACCINATION_DUE, content=content, resident_id=agreement.resident_id,
                    centre_id=agreement.centre_id))
        return outbox.enqueue_many(messages)


def remind_appointments() -> int:
    """Remind residents the day before of the places they booked (basic package: appointments)."""
    tomorrow = clock.today() + timedelta(days=1)
    first = datetime.combine(tomorrow, time(), tzinfo=clock.SHANGHAI)
    booked = (select(Booking, Slot, Centre.name, Window.name).join(Slot, Booking.slot_id == Slot.id)
              .join(Centre, Slot.centre_id == Centre.id).outerjoin(Window, Slot.window_id == Window.id)
              .where(Booking.state == BookingState.BOOKED, Slot.starts_at >= first,
                     Slot.starts_at < first + timedelta(days=1), outbox.wanted(Kind.APPOINTMENT_DUE, Booking.resident_id)))
    messages = []
    with db.transaction():
        for booking, slot, centre_name, window_name in db.session.execute(booked):
            starts = slot.starts_at.astimezone(clock.SHANGHAI)
            content = {"title": slot.title, "date": starts.strftime("%Y-%m-%d %H:%M"), "place": window_name or centre_name,
                       "note": "请按时就诊，不能前来请提前取消", "page": f"pages/bookings/detail?id={booking.id}"}
            messages.append(dict(dedupe_key=f"appointment:{booking.id}:{tomorrow}", kind=Kind.APPOINTMENT_DUE,
                                 content=content, resident_id=booking.resident_id, centre_id=slot.centre_id))
        return outbox.enqueue_many(messages)


def reminders() -> dict:
    """The daily reminder scan: visits and vaccinations."""
    return {"visits": remind_visits(), "vaccinations": remind_vaccinations()}


def mark_overdue() -> dict:
    """Mark planned visits whose on-time range has closed as missed, and tell each team's doctors how many."""
    today = clock.today()
    with db.transaction():
        overdue = db.session.execute(select(Visit.id, Visit.team_id, Visit.centre_id).where(
            Visit.state == VisitState.PLANNED, Visit.on_time_until < today)).all()
        ids = [row.id for row in overdue]
        for chunk in range(0, len(ids), 1000):
            db.session.execute(update(Visit).where(Visit.id.in_(ids[chunk:chunk + 1000]), Visit.state == VisitState.PLANNED)
                               .values(state=VisitState.MISSED, updated_at=clock.now())
                               .execution_options(synchronize_session=False))
        per_team = Counter(row.team_id for row in overdue if row.team_id is not None)
        doctors = db.session.scalars(select(Staff).where(
            Staff.team_id.in_(per_team), Staff.role == Role.DOCTOR, Staff.active.is_(True))) if per_team else []
        digests = sum(outbox.enqueue(
            dedupe_key=f"overdue-digest:{doctor.id}:{today}", kind=Kind.OVERDUE_DIGEST, staff_id=doctor.id,
            centre_id=doctor.centre_id, content={"title": f"逾期未随访 {per_team[doctor.team_id]} 人次", "date": today.isoformat(),
                                                 "missed": per_team[doctor.team_id]})
            for doctor in doctors)
    return {"missed": len(ids), "digests": digests}


def announce_lecture(lecture: Lecture, centre_name: str) -> int:
    """Tell the residents signed with the lecture's centre (in the caller's transaction)."""
    starts = lecture.starts_at.astimezone(clock.SHANGHAI)
    content = {"title": lecture.title, "date": starts.strftime("%Y-%m-%d %H:%M"), "place": lecture.place,
               "note": f"{centre_name} 健康讲座", "page": "pages/lectures/index"}
    signed = signed_today().where(Agreement.centre_id == lecture.centre_id, outbox.wanted(Kind.LECTURE, Agreement.resident_id))
    return outbox.enqueue_many([dict(dedupe_key=f"lecture:{lecture.id}:{agreement.resident_id}", kind=Kind.LECTURE,
                                     content=content, resident_id=agreement.resident_id, centre_id=lecture.centre_id)
                                for agreement, _ in db.session.execute(signed)])


def notice_opens(starts_at: datetime) -> datetime:
    """When residents are told of a lecture: LECTURE_NOTICE_DAYS before, at the start of that day."""
    day = starts_at.astimezone(clock.SHANGHAI).date() - timedelta(days=current_app.config["SETTINGS"].LECTURE_NOTICE_DAYS)
    return datetime.combine(day, time(), tzinfo=clock.SHANGHAI)


def lectures() -> int:
    """Announce the coming health lectures (basic package: one a month, announced in advance)."""
    now = clock.now()
    coming = select(Lecture, Centre.name).join(Centre, Lecture.centre_id == Centre.id).where(Lecture.starts_at > now)
    with db.transaction():
        return sum(announce_lecture(lecture, name) for lecture, name in db.session.execute(coming)
                   if notice_opens(lecture.starts_at) <= now)


JOBS = [
    Job("reminders", reminders),
    Job("overdue", mark_overdue),
    Job("lectures", lectures),
    Job("appointment_reminders", remind_appointments),
    Job("dispatch", outbox.dispatch),
]
