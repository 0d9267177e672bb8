"""Calling people overdue for care: the call list, each call's outcome, and who came back after a call.

The call list is the overdue part of the team's worklist, one row per person, riskiest first: a danger
sign at their last reading (POLICY.md: it calls for referral and an early re-visit), then the number of
visits missed, then the days the oldest is overdue. A person a call found moved away or dead leaves
the lists (`left_care`); every other outcome keeps them on it until they come back.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Callable

from sqlalchemy import Column, Integer, and_, or_, select
from sqlalchemy.orm import selectinload

from care.fulfilment import in_care_of
from care.fulfilment_models import LEAVES_CARE, Call, CallOutcome, RefusalReason
from care.models import Reading, Visit, VisitMode, VisitRecord, VisitState
from core import clock, db
from core.auth import Actor
from core.errors import Conflict, Invalid
from core.pagination import decode_cursor, encode_cursor
from registry import access, events
from registry.models import Resident
from signing.models import Agreement, in_force_on

# "Returned to care within 15 days of a call": a face-to-face visit done within this many days after it.
RETURN_WITHIN = timedelta(days=15)
RATE_PLACES = Decimal("0.0001")
_SORT_KEY = [Column("rank", Integer)] * 4  # the call list's cursor: four integers (see `_risk_key`)


def overdue(today: date):
    """A visit whose on-time range has closed without it being done (marked missed by the nightly job or not yet)."""
    return or_(Visit.state == VisitState.MISSED, and_(Visit.state == VisitState.PLANNED, Visit.on_time_until < today))


def call_list(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    """The team's people with overdue visits, riskiest first, with a number to call and the last call's outcome."""
    today = clock.today()
    rows = db.session.execute(
        select(Visit, Agreement).join(Agreement, Visit.agreement_id == Agreement.id)
        .options(selectinload(Agreement.resident).selectinload(Resident.household))
        .where(in_care_of(actor, today), overdue(today))
        .order_by(Visit.on_time_until, Visit.id)).all()
    people: dict[int, dict] = {}
    for visit, agreement in rows:
        person = people.setdefault(agreement.resident_id, {"agreement": agreement, "visits": []})
        person["visits"].append(visit)
    readings = _last_readings(list(people))
    calls = _last_calls(list(people))
    entries = [_entry(person["agreement"], person["visits"], readings.get(resident_id), calls.get(resident_id), today)
               for resident_id, person in people.items()]
    return _page(entries, _risk_key, cursor, limit)


def _entry(agreement: Agreement, visits: list[Visit], reading: VisitRecord | None, call: Call | None, today: date) -> dict:
    resident = agreement.resident
    contact = contact_for(resident)
    return {
        "resident_id": resident.id, "name": resident.name, "id_number": resident.id_number,
        "phone": contact.phone, "phone_of": None if contact is resident else contact.name,
        "agreement_id": agreement.id, "team_id": agreement.team_id,
        "danger_sign": reading is not None and reading.reading is Reading.DANGER,
        "last_reading_on": reading.served_on if reading else None,
        "missed_visits": len(visits),
        "days_overdue": max((today - visit.on_time_until).days for visit in visits),
        "visits": [{"visit_id": visit.id, "title": visit.title, "on_time_until": visit.on_time_until,
                    "days_overdue": (today - visit.on_time_until).days} for visit in visits],
        "last_call": call,
    }


def _risk_key(entry: dict) -> tuple[int, int, int, int]:
    return (0 if entry["danger_sign"] else 1, -entry["missed_visits"], -entry["days_overdue"], entry["resident_id"])


def _page(entries: list[dict], key: Callable[[dict], tuple], cursor: str | None, limit: int) -> dict:
    """One page of a list ordered in Python, in the one envelope; the cursor carries the last entry's sort key."""
    entries = sorted(entries, key=key)
    if cursor:
        after = tuple(decode_cursor(cursor, _SORT_KEY))
        entries = [entry for entry in entries if key(entry) > after]
    page = entries[:limit]
    return {"items": page, "next_cursor": encode_cursor(key(page[-1])) if len(entries) > limit else None}


def _last_readings(resident_ids: list[int]) -> dict[int, VisitRecord]:
    """Each person's latest blood-pressure or glucose reading (the current revision of its record)."""
    latest: dict[int, VisitRecord] = {}
    for resident_id, record in db.session.execute(
            select(Visit.resident_id, VisitRecord).join(Visit, VisitRecord.visit_id == Visit.id)
            .where(Visit.resident_id.in_(resident_ids), VisitRecord.current.is_(True), VisitRecord.reading.is_not(None))
            .order_by(VisitRecord.served_on, VisitRecord.id)):
        latest[resident_id] = record
    return latest


def _last_calls(resident_ids: list[int]) -> dict[int, Call]:
    latest: dict[int, Call] = {}
    for call in db.session.scalars(select(Call).where(Call.resident_id.in_(resident_ids)).order_by(Call.called_at, Call.id)):
        latest[call.resident_id] = call
    return latest


def contact_for(resident: Resident) -> Resident:
    """Whose phone to call: the person's, or for someone without one (a child), the oldest household member's
    who has one (as the outbox reaches them)."""
    if resident.phone or resident.household is None:
        return resident
    reachable = [member for member in resident.household.members if member.phone]
    return min(reachable, key=lambda member: member.birth_date) if reachable else resident


def record_call(actor: Actor, *, resident_id: int, outcome: CallOutcome, reason: RefusalReason | None = None,
                note: str | None = None, died_on: date | None = None) -> Call:
    """Record a call and its outcome; a refusal names its reason from the fixed list, other outcomes none.

    A call that learns of a death records it with its date: the registry's death event ends every
    agreement of the person (POLICY.md signing rule 10), in this transaction.
    """
    resident = access.get_resident(actor, resident_id)
    if outcome is CallOutcome.REFUSED and reason is None:
        raise Invalid("A refusal is recorded with its reason.", field="reason")
    if outcome is not CallOutcome.REFUSED and reason is not None:
        raise Invalid("Only a refusal has a reason.", field="reason")
    today = clock.today()
    if (outcome is CallOutcome.DIED) != (died_on is not None):
        raise Invalid("A call that learned of a death gives its date, and only such a call.", field="died_on")
    if died_on is not None and not resident.birth_date <= died_on <= today:
        raise Invalid("The date of death lies between birth and today.", field="died_on")
    agreement = db.session.scalar(select(Agreement).where(
        Agreement.resident_id == resident.id, Agreement.centre_id == actor.centre_id, in_force_on(today)))
    if agreement is None:
        raise Conflict("Calls are about care your centre owes: this person holds no agreement in force with it.")
    call = Call(resident_id=resident.id, agreement_id=agreement.id, centre_id=agreement.centre_id, team_id=agreement.team_id,
                staff_id=actor.staff_id, called_at=clock.now(), called_on=today, outcome=outcome, reason=reason, note=note)
    with db.transaction():
        db.session.add(call)
        if died_on is not None:
            events.death_recorded.send(None, resident_id=resident.id, died_on=died_on)
    return call


def calls_of(actor: Actor, *, resident_id: int) -> list[Call]:
    """The calls the caller's centre made to a person, the first first."""
    resident = access.get_resident(actor, resident_id)
    return list(db.session.scalars(select(Call).where(Call.resident_id == resident.id, Call.centre_id == actor.centre_id)
                                   .order_by(Call.called_at, Call.id)))


def returns(actor: Actor, *, date_from: date, date_to: date) -> list[dict]:
    """Per team, of the people called in the period: how many were reached, and how many returned to care —
    a face-to-face visit done within 15 days after one of their calls.

    People who moved away or died (`left`), and those called less than 15 days ago who have not come
    yet (`waiting`), are left out of the rate.
    """
    if date_to < date_from:
        raise Invalid("The period ends after it starts.", field="to", location="query")
    today = clock.today()
    calls = db.session.scalars(select(Call).where(Call.centre_id == actor.centre_id, Call.called_on >= date_from,
                                                  Call.called_on <= date_to)).all()
    came = defaultdict(list)
    for resident_id, served_on in db.session.execute(
            select(Visit.resident_id, Visit.served_on)
            .join(VisitRecord, and_(VisitRecord.visit_id == Visit.id, VisitRecord.current.is_(True)))
            .where(Visit.resident_id.in_({call.resident_id for call in calls}), Visit.state == VisitState.DONE,
                   Visit.served_on >= date_from, Visit.served_on <= date_to + RETURN_WITHIN,
                   VisitRecord.mode != VisitMode.PHONE)):
        came[resident_id].append(served_on)
    people = defaultdict(lambda: defaultdict(list))
    for call in calls:
        people[call.team_id][call.resident_id].append(call)
    rows = []
    for team_id, called in sorted(people.items(), key=lambda item: item[0] or 0):
        figures = {"called": len(called), "reached": 0, "returned": 0, "left": 0, "waiting": 0}
        for resident_id, their_calls in called.items():
            figures["reached"] += any(call.outcome is CallOutcome.REACHED_WILL_COME for call in their_calls)
            if any(call.called_on <= day <= call.called_on + RETURN_WITHIN
                   for call in their_calls for day in came[resident_id]):
                figures["returned"] += 1
            elif any(call.outcome in LEAVES_CARE for call in their_calls):
                figures["left"] += 1
            elif max(call.called_on for call in their_calls) + RETURN_WITHIN >= today:
                figures["waiting"] += 1
        judged = figures["called"] - figures["left"] - figures["waiting"]
        rows.append({"centre_id": actor.centre_id, "team_id": team_id, **figures,
                     "return_rate": (Decimal(figures["returned"]) / judged).quantize(RATE_PLACES) if judged else None})
    return rows
