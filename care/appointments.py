"""Appointments (basic package, 预约诊疗服务; POLICY.md "Packages"): centres publish slots, residents book,
move and cancel them for themselves or their household, staff record who came.

A place is one unit of a slot's `booked` counter, taken by a conditional UPDATE (`booked < capacity`)
and given back by the cancellation or move that frees it, in the same transaction as the booking
row: the last place goes to exactly one person however many ask at once. A resident holds at most
one live booking per slot, and a follow-up visit one live booking (the database's partial unique
indexes). Bookings close when their slot begins: after that staff record attendance or a no-show,
and a no-show keeps its place (it was held for them).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from care.delivery_models import Booking, BookingState, Slot
from care.models import Visit, VisitState
from core import audit, clock, db
from core.auth import STAFF, Actor, Role
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.pagination import paginate
from registry import access
from registry.models import Resident, Staff, Team, Window
from registry.service import get_centre
from signing.models import Agreement, in_force_on

# A visit whose on-time range has closed is offered the slots of the next two weeks.
OVERDUE_PROPOSAL_DAYS = 14
PROPOSALS = 10
OUTCOMES = (BookingState.ATTENDED, BookingState.NO_SHOW)


def day_start(day: date) -> datetime:
    """The first instant of a business day (Asia/Shanghai)."""
    return datetime.combine(day, time(), tzinfo=clock.SHANGHAI)


def publish_slot(actor: Actor, *, centre_id: int, title: str, starts_at: datetime, ends_at: datetime, capacity: int,
                 team_id: int | None = None, staff_id: int | None = None, window_id: int | None = None) -> Slot:
    """Publish clinic hours of the centre, for a team or a doctor, at the centre or one of its windows."""
    centre = get_centre(centre_id)
    access.check_centre(actor, centre.id)
    if starts_at <= clock.now():
        raise Invalid("Slots are published ahead: it must start in the future.", field="starts_at")
    if ends_at <= starts_at:
        raise Invalid("A slot ends after it starts.", field="ends_at")
    if staff_id is not None:
        doctor = db.session.get(Staff, staff_id)
        if doctor is None or doctor.centre_id != centre.id or doctor.role is not Role.DOCTOR or not doctor.active:
            raise Invalid("Not an active doctor of this centre.", field="staff_id")
        team_id = team_id if team_id is not None else doctor.team_id
    if team_id is not None and getattr(db.session.get(Team, team_id), "centre_id", None) != centre.id:
        raise Invalid("Not a team of this centre.", field="team_id")
    if window_id is not None and getattr(db.session.get(Window, window_id), "centre_id", None) != centre.id:
        raise Invalid("Not a village clinic of this centre.", field="window_id")
    slot = Slot(centre_id=centre.id, team_id=team_id, staff_id=staff_id, window_id=window_id, title=title,
                starts_at=starts_at, ends_at=ends_at, capacity=capacity, booked=0, created_by=actor.subject)
    with db.transaction():
        db.session.add(slot)
    return slot


def signed_with(resident_id: int, centre_id: int, day: date) -> bool:
    """The resident holds an agreement in force with the centre on `day`."""
    return db.session.scalar(select(Agreement.id).where(
        Agreement.resident_id == resident_id, Agreement.centre_id == centre_id, in_force_on(day)).limit(1)) is not None


def _check_sees_centre(actor: Actor, centre_id: int) -> None:
    """Staff see their centre's slots; a resident those of a centre someone of their household is signed with."""
    if actor.role is Role.RESIDENT:
        household = access.household_of(access.resident_of(actor))
        if not any(signed_with(member.id, centre_id, clock.today()) for member in household):
            raise Forbidden("You see the slots of the centre your household is signed with.")
    else:
        access.check_centre(actor, centre_id)


def list_slots(actor: Actor, *, centre_id: int, date_from: date | None, date_to: date | None, team_id: int | None,
               open_only: bool, cursor: str | None, limit: int) -> dict:
    """The centre's slots by start, from `date_from` (default today) to `date_to`; `open_only`: with a free place."""
    centre = get_centre(centre_id)
    _check_sees_centre(actor, centre.id)
    query = select(Slot).where(Slot.centre_id == centre.id, Slot.starts_at >= day_start(date_from or clock.today()))
    if date_to is not None:
        query = query.where(Slot.starts_at < day_start(date_to + timedelta(days=1)))
    if team_id is not None:
        query = query.where(Slot.team_id == team_id)
    if open_only:
        query = query.where(Slot.booked < Slot.capacity, Slot.starts_at > clock.now())
    return paginate(query, key_columns=[Slot.starts_at, Slot.id], cursor=cursor, limit=limit)


def get_slot(actor: Actor, slot_id: int) -> Slot:
    slot = db.get_or_404(Slot, slot_id, "slot")
    access.check_centre(actor, slot.centre_id)
    return slot


def change_capacity(actor: Actor, *, slot_id: int, capacity: int) -> Slot:
    """Open or close places; never below the places already booked (409)."""
    slot = get_slot(actor, slot_id)
    with db.transaction():
        changed = db.session.execute(
            update(Slot).where(Slot.id == slot.id, Slot.booked <= capacity).values(capacity=capacity)
            .execution_options(synchronize_session=False)).rowcount
        if not changed:
            raise Conflict(f"{slot.booked} places are booked: the capacity cannot go below them.", booked=slot.booked)
    db.session.refresh(slot)
    return slot


def slot_bookings(actor: Actor, *, slot_id: int) -> list[Booking]:
    """Who booked the slot (every state), for the front desk; the read is audited."""
    slot = get_slot(actor, slot_id)
    bookings = list(db.session.scalars(select(Booking).options(joinedload(Booking.resident))
                                       .where(Booking.slot_id == slot.id).order_by(Booking.id)))
    audit.record("booking.list", "slot", slot.id, rows=len(bookings))
    return bookings


def _check_bookable(member: Resident, slot: Slot) -> None:
    if not signed_with(member.id, slot.centre_id, clock.today()):
        raise Forbidden(f"{member.name} is not signed with this slot's centre.", reason="not_signed_with_centre")
    if slot.starts_at <= clock.now():
        raise Conflict("The slot has begun: it is no longer booked.", reason="slot_begun")


def _take_place(slot_id: int) -> None:
    """Take one place of a slot that has not begun, or raise the 409 of a full one (caller's transaction)."""
    taken = db.session.execute(
        update(Slot).where(Slot.id == slot_id, Slot.booked < Slot.capacity, Slot.starts_at > clock.now())
        .values(booked=Slot.booked + 1).execution_options(synchronize_session=False)).rowcount
    if not taken:
        raise Conflict("The slot is full.", reason="slot_full")


def _give_back_place(slot_id: int) -> None:
    db.session.execute(update(Slot).where(Slot.id == slot_id).values(booked=Slot.booked - 1)
                       .execution_options(synchronize_session=False))


def _visit_to_book(member: Resident, slot: Slot, visit_id: int | None) -> Visit | None:
    if visit_id is None:
        return None
    visit = db.session.get(Visit, visit_id)
    if visit is None or visit.resident_id != member.id:
        raise Invalid("Not a follow-up visit of the person booked.", field="visit_id")
    if visit.state is not VisitState.PLANNED:
        raise Invalid(f"The visit is {visit.state.value}: only a planned visit is booked.", field="visit_id")
    if visit.centre_id != slot.centre_id:
        raise Invalid("The visit is with another centre than the slot.", field="visit_id")
    return visit


def _committed(write, duplicate: str, **details) -> None:
    """Run `write` in a transaction; a partial unique index refusing the row is the 409 `duplicate`."""
    db.session.commit()  # end the reads first: SQLite cannot turn a read into a write, the UPDATE waits instead
    try:
        with db.transaction():
            write()
    except IntegrityError:
        raise Conflict(duplicate, **details) from None


def book(actor: Actor, *, slot_id: int, resident_id: int | None = None, visit_id: int | None = None) -> Booking:
    """Book a place in a slot for the caller or a member of their household (optionally for a follow-up visit)."""
    member = access.get_resident(actor, resident_id) if resident_id is not None else access.resident_of(actor)
    slot = db.get_or_404(Slot, slot_id, "slot")
    _check_bookable(member, slot)
    visit = _visit_to_book(member, slot, visit_id)
    booking = Booking(slot_id=slot.id, resident_id=member.id, visit_id=visit.id if visit else None, state=BookingState.BOOKED,
                      booked_by=actor.subject)

    def write():
        _take_place(slot.id)
        db.session.add(booking)
        db.session.flush()

    _committed(write, "A live booking exists already for this person in this slot, or for this visit: move it instead.")
    db.session.refresh(slot)
    return booking


def get_booking(actor: Actor, booking_id: int) -> Booking:
    """A booking the actor may act on: a resident's household's, or one in a slot of a staff member's centre."""
    booking = db.get_or_404(Booking, booking_id, "booking")
    if actor.role is Role.RESIDENT:
        if booking.resident_id not in {member.id for member in access.household_of(access.resident_of(actor))}:
            raise NotFound("No such booking.")
    elif actor.role in STAFF:
        access.check_centre(actor, booking.slot.centre_id)
    else:
        raise Forbidden("Bookings are the residents' and their centre's.")
    return booking


def _end(booking: Booking, state: BookingState, actor: Actor) -> None:
    """Move a live booking to `state` (caller's transaction), or 409 when a concurrent request ended it first."""
    ended = db.session.execute(
        update(Booking).where(Booking.id == booking.id, Booking.state == BookingState.BOOKED)
        .values(state=state, ended_by=actor.subject, updated_at=clock.now())
        .execution_options(synchronize_session=False)).rowcount
    if not ended:
        raise Conflict("The booking is no longer live.", reason="not_live")


def _check_live(booking: Booking, action: str) -> None:
    if booking.state is not BookingState.BOOKED:
        raise Conflict(f"The booking is {booking.state.value}: only a live booking is {action}.", state=booking.state.value)


def move(actor: Actor, *, booking_id: int, slot_id: int) -> Booking:
    """Move a live booking to another slot: a new booking takes a place there, the old one gives its place back."""
    old = get_booking(actor, booking_id)
    _check_live(old, "moved")
    if old.slot.starts_at <= clock.now():
        raise Conflict("The slot has begun: the booking is no longer moved.", reason="slot_begun")
    if slot_id == old.slot_id:
        raise Invalid("The booking is in this slot already.", field="slot_id")
    slot = db.get_or_404(Slot, slot_id, "slot")
    member = db.session.get(Resident, old.resident_id)
    _check_bookable(member, slot)
    if old.visit_id is not None and slot.centre_id != old.slot.centre_id:
        raise Invalid("The visit is with another centre than the slot.", field="slot_id")
    new = Booking(slot_id=slot.id, resident_id=member.id, visit_id=old.visit_id, state=BookingState.BOOKED,
                  booked_by=actor.subject, moved_from_id=old.id)

    def write():
        _end(old, BookingState.MOVED, actor)
        # Slots in id order: two moves crossing between the same slots lock them in one order.
        for touched in sorted((old.slot_id, slot.id)):
            if touched == slot.id:
                _take_place(touched)
            else:
                _give_back_place(touched)
        db.session.add(new)
        db.session.flush()

    _committed(write, "A live booking exists already for this person in that slot.")
    for stale in (old, old.slot, slot):
        db.session.refresh(stale)
    return new


def cancel(actor: Actor, *, booking_id: int) -> Booking:
    """Cancel a live booking before its slot begins; its place is free again."""
    booking = get_booking(actor, booking_id)
    _check_live(booking, "cancelled")
    if booking.slot.starts_at <= clock.now():
        raise Conflict("The slot has begun: staff record attendance or a no-show instead.", reason="slot_begun")

    def write():
        _end(booking, BookingState.CANCELLED, actor)
        _give_back_place(booking.slot_id)

    _committed(write, "The booking changed meanwhile.")
    db.session.refresh(booking)
    db.session.refresh(booking.slot)
    return booking


def record_outcome(actor: Actor, *, booking_id: int, outcome: BookingState) -> Booking:
    """Record that the resident came or did not (a no-show), once the slot has begun; the place stays taken."""
    booking = get_booking(actor, booking_id)
    if outcome not in OUTCOMES:
        raise Invalid("The outcome is attended or no_show.", field="outcome")
    _check_live(booking, "given an outcome")
    if booking.slot.starts_at > clock.now():
        raise Conflict("The slot has not begun: attendance is recorded from its start.", reason="slot_not_begun")
    _committed(lambda: _end(booking, outcome, actor), "The booking changed meanwhile.")
    db.session.refresh(booking)
    audit.record("booking.outcome", "booking", booking.id, result=outcome.value)
    return booking


def bookings_of_household(actor: Actor, *, state: BookingState | None, cursor: str | None, limit: int) -> dict:
    """The bookings of the caller and their household, by the slot's start."""
    ids = [member.id for member in access.household_of(access.resident_of(actor))]
    query = (select(Booking).join(Slot, Booking.slot_id == Slot.id)
             .options(contains_eager(Booking.slot), joinedload(Booking.resident)).where(Booking.resident_id.in_(ids)))
    if state is not None:
        query = query.where(Booking.state == state)
    return paginate(query, key_columns=[Slot.starts_at, Booking.id], cursor=cursor, limit=limit,
                    key_of=lambda booking: [booking.slot.starts_at, booking.id])


def slots_for_visit(actor: Actor, *, visit_id: int) -> list[Slot]:
    """Open slots proposed for a planned follow-up visit: within its on-time range, nearest its due date first.

    The visit's team's slots and the centre's slots for no team; a visit whose on-time range has closed
    is offered the next two weeks.
    """
    visit = db.session.get(Visit, visit_id)
    household = {member.id for member in access.household_of(access.resident_of(actor))}
    if visit is None or visit.resident_id not in household:
        raise NotFound("No such visit.")
    if visit.state is not VisitState.PLANNED:
        raise Conflict(f"The visit is {visit.state.value}: only a planned visit is booked.", state=visit.state.value)
    today = clock.today()
    first, last = max(visit.on_time_from, today), visit.on_time_until
    if first > last:
        first, last = today, today + timedelta(days=OVERDUE_PROPOSAL_DAYS)
    query = select(Slot).where(
        Slot.centre_id == visit.centre_id, Slot.booked < Slot.capacity, Slot.starts_at > clock.now(),
        Slot.starts_at >= day_start(first), Slot.starts_at < day_start(last + timedelta(days=1)))
    if visit.team_id is not None:
        query = query.where((Slot.team_id == visit.team_id) | Slot.team_id.is_(None))
    found = db.session.scalars(query.order_by(Slot.starts_at, Slot.id)).all()
    nearest = sorted(found, key=lambda slot: abs((slot.starts_at.astimezone(clock.SHANGHAI).date() - visit.due_date).days))
    return nearest[:PROPOSALS]
