"""What makes the imported demo county live, through the services staff and jobs use: the doctors have served
part of the visits due so far (some on time, some late; the rest are due or overdue), a health lecture is
announced, the morning's reminders are in the outbox, and last month's counts are frozen for settlement.

Run once by `flask demo load` after registry.demo has imported the county's files, on the demo's business date.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from care import followups
from care.models import Visit, VisitState
from core import clock, db
from core.auth import Actor, Role
from notifications import jobs as notifications_jobs
from notifications import service as notifications
from packages import service as packages
from registry.models import Centre, Staff
from settlement import service as settlement

SERVED_SHARE = 3  # of every 5 visits whose on-time range has opened, 3 were served
LECTURE_IN_DAYS = 2
# Personalised packages a centre offers, in fen a year (invented for the demo; each centre prices its own).
PRICES = {"elderly": 12000, "child": 10000, "hypertension": 8000, "diabetes": 8000, "home-service": 20000}


def live() -> dict:
    """Serve visits, announce a lecture, send the reminders, freeze the month; returns what was done."""
    today = clock.today()
    done = sum(_serve(staff, today) for staff in db.session.scalars(
        select(Staff).where(Staff.role == Role.DOCTOR, Staff.team_id.is_not(None)).order_by(Staff.id)))
    centres = db.session.scalars(select(Centre).where(Centre.takes_part.is_(True)).order_by(Centre.id)).all()
    for centre in centres:
        _price(centre)
    lectures = [_lecture(centre, today) for centre in centres
                if db.session.scalar(select(Visit.id).where(Visit.centre_id == centre.id).limit(1))]
    reminders = notifications_jobs.reminders()
    frozen = settlement.freeze_month(f"{today:%Y-%m}")
    return {"visits_done": done, "lectures": len(lectures), "reminders": reminders["visits"], "frozen": len(frozen)}


def _serve(staff: Staff, today) -> int:
    """The doctor logs 3 of every 5 of their team's visits whose on-time range has opened (readings in range)."""
    doctor = Actor(role=Role.DOCTOR, subject=f"staff:{staff.id}", centre_id=staff.centre_id, team_id=staff.team_id)
    opened = db.session.scalars(select(Visit).where(
        Visit.team_id == staff.team_id, Visit.state == VisitState.PLANNED, Visit.on_time_from <= today)
        .order_by(Visit.id)).all()
    served = 0
    for n, visit in enumerate(opened):
        if n % 5 >= SERVED_SHARE:
            continue
        on_time = visit.on_time_until >= visit.on_time_from + timedelta(days=3)
        served_on = min(today, visit.on_time_from + timedelta(days=3) if on_time or n % 2 else visit.on_time_until + timedelta(days=5))
        findings = {}
        if visit.programme.startswith("hypertension"):
            findings = {"systolic": 128 + n % 9, "diastolic": 80 + n % 6}
        elif visit.programme.startswith("diabetes"):
            findings = {"glucose": Decimal("6.1"), "glucose_fasting": True}
        followups.log_visit(doctor, visit_id=visit.id, served_on=served_on, mode=visit.modes[0], **findings)
        served += 1
    return served


def _price(centre: Centre) -> None:
    """The centre's administrator prices some personalised packages from the local price list [000 §二(一)2]."""
    admin = Actor(role=Role.CENTRE_ADMIN, subject="demo:prices", centre_id=centre.id)
    for code, price_fen in PRICES.items():
        packages.set_price(admin, code=code, centre_id=centre.id, price_fen=price_fen)


def _lecture(centre: Centre, today):
    """A health lecture in two days, announced at once to the residents signed with the centre."""
    admin = Actor(role=Role.CENTRE_ADMIN, subject="demo:lecture", centre_id=centre.id)
    starts = datetime.combine(today + timedelta(days=LECTURE_IN_DAYS), time(9, 30), tzinfo=clock.SHANGHAI)
    return notifications.publish_lecture(admin, centre_id=centre.id, title="冬季高血压与糖尿病自我管理",
                                         place=f"{centre.name}二楼会议室", starts_at=starts)
