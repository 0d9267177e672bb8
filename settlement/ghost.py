"""False signing (虚假签约, POLICY.md signing rule 9) as the bureau sees it: a signal per doctor and day.

For each member of staff and each day they signed people on site in the region: how many they
signed, how many of those were never served since (no visit record dated on or after the signing),
and how many had a death recorded on or before the day they were signed. One GROUP BY over the
region's agreements, paged by its key (day, signer, centre).

A row is flagged when someone was signed after their recorded death, or when a doctor signed at
least BULK people on a day at least SERVE_WITHIN ago and not one of them has been served since: a
batch nobody ever saw is the mark of signing on paper (签约率虚高、只签不约).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, case, exists, func, or_, select, tuple_

from care.models import Visit, VisitRecord
from core import clock, db
from core.auth import Actor
from core.errors import Invalid
from core.pagination import decode_cursor, encode_cursor
from registry.access import check_region
from registry.models import Resident, Staff
from registry.service import region_and_descendants
from signing.models import Agreement, Channel

BULK = 10
SERVE_WITHIN = timedelta(days=92)  # a quarter: chronic patients are followed up every quarter
DEFAULT_SPAN = timedelta(days=365)
SIGNED_AFTER_DEATH, NEVER_SERVED_BATCH = "signed_after_death", "never_served_batch"
KEY = (Agreement.start_date, Agreement.signed_by, Agreement.centre_id)


def _heads(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def signal(actor: Actor, *, region: str, date_from: date | None, date_to: date | None, flagged_only: bool,
           cursor: str | None, limit: int) -> dict:
    """The on-site signings per signer and day in the region, with the ghost-signing figures and flags."""
    check_region(actor, region)
    today = clock.today()
    date_to = date_to or today
    date_from = date_from or date_to - DEFAULT_SPAN
    if date_from > date_to:
        raise Invalid("The period starts on or before its end.", field="from", location="query")
    served = exists(
        select(VisitRecord.id).join(Visit, VisitRecord.visit_id == Visit.id)
        .where(Visit.resident_id == Agreement.resident_id, VisitRecord.served_on >= Agreement.start_date)
    )
    signings = func.count(Agreement.id)
    never_served = _heads(~served)
    after_death = _heads(and_(Resident.died_on.is_not(None), Resident.died_on <= Agreement.start_date))
    query = (
        select(*KEY, signings.label("signings"), never_served.label("never_served"),
               after_death.label("recorded_death"))
        .join(Resident, Agreement.resident_id == Resident.id)
        .where(Agreement.region_code.in_(region_and_descendants(region)), Agreement.channel == Channel.ON_SITE,
               Agreement.start_date >= date_from, Agreement.start_date <= date_to)
        .group_by(*KEY)
    )
    if flagged_only:
        query = query.having(or_(after_death > 0, and_(signings >= BULK, never_served == signings,
                                                       Agreement.start_date <= today - SERVE_WITHIN)))
    if cursor:
        query = query.where(tuple_(*KEY) > tuple_(*decode_cursor(cursor, KEY)))
    rows = db.session.execute(query.order_by(*KEY).limit(limit + 1)).all()
    more, rows = len(rows) > limit, rows[:limit]
    names = _staff_names([row.signed_by for row in rows])
    items = [_item(row, names, today) for row in rows]
    next_cursor = encode_cursor([rows[-1].start_date.isoformat(), rows[-1].signed_by, rows[-1].centre_id]) if more else None
    return {"items": items, "next_cursor": next_cursor}


def _staff_id(subject: str) -> int | None:
    kind, _, ident = subject.partition(":")
    return int(ident) if kind == "staff" and ident.isdigit() else None


def _staff_names(subjects: list[str]) -> dict[int, str]:
    ids = {staff_id for staff_id in map(_staff_id, subjects) if staff_id is not None}
    rows = db.session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids))) if ids else []
    return {staff_id: name for staff_id, name in rows}


def _item(row, names: dict[int, str], today: date) -> dict:
    flags = []
    if row.recorded_death:
        flags.append(SIGNED_AFTER_DEATH)
    if row.signings >= BULK and row.never_served == row.signings and row.start_date <= today - SERVE_WITHIN:
        flags.append(NEVER_SERVED_BATCH)
    staff_id = _staff_id(row.signed_by)
    return {"day": row.start_date, "signed_by": row.signed_by, "staff_id": staff_id, "staff_name": names.get(staff_id),
            "centre_id": row.centre_id, "signings": row.signings, "never_served": row.never_served,
            "recorded_death": row.recorded_death, "flags": flags}
