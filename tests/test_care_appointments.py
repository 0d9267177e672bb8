"""Appointments (basic package: 预约诊疗服务): slots published by a centre, bookings by residents for their
household, moves, cancellations, no-shows, proposals for a follow-up visit, the day-before reminder."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from care.delivery_models import Booking, BookingState, Slot
from core import clock
from core.auth import Role
from core.clock import SHANGHAI
from notifications import jobs, outbox
from notifications.models import Kind, OutboxMessage
from tests import factories as f
from tests.factories_care import slot
from tests.factories_notifications import signed, subscribed, visit

MORNING = datetime(2026, 3, 18, 9, 0, tzinfo=SHANGHAI)  # two days after the tests' today (16 March)


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def _booked(db, slot_id: int) -> int:
    return db.scalar(select(Slot.booked).where(Slot.id == slot_id).execution_options(populate_existing=True))


@pytest.fixture
def clinic(db):
    """A centre with a doctor and an admin; a mother signed with it and her child (the same household)."""
    f.regions()
    centre = f.centre()
    mother = f.resident(openid="o-mother", born=date(1990, 4, 2))
    child = f.resident(born=date(2024, 5, 3), household=mother.household)
    for person in (mother, child):
        signed(person, centre)
    return SimpleNamespace(centre=centre, mother=mother, child=child, doctor=f.staff(centre=centre),
                           admin=f.staff(centre=centre, role=Role.CENTRE_ADMIN), as_mother=f.as_resident(mother))


def _at(clinic, instant: datetime) -> None:
    """Move the clock (tokens last two hours: the mother's is issued anew)."""
    clock.set_now(instant)
    clinic.as_mother = f.as_resident(clinic.mother)


def _book(client, clinic, slot_id, **body):
    return client.post("/api/v1/bookings", json={"slot_id": slot_id, **body}, headers=clinic.as_mother)


def test_centre_staff_publish_a_slot_and_signed_residents_see_it_with_its_free_places(client, clinic):
    body = {"title": "全科门诊", "starts_at": "2026-03-18T09:00:00+08:00", "ends_at": "2026-03-18T11:30:00+08:00",
            "capacity": 12, "staff_id": clinic.doctor.id}
    created = client.post(f"/api/v1/centres/{clinic.centre.id}/slots", json=body, headers=f.as_staff(clinic.admin))
    assert created.status_code == 201, created.get_json()
    assert (created.get_json()["team_id"], created.get_json()["available"]) == (clinic.doctor.team_id, 12)
    listed = client.get(f"/api/v1/centres/{clinic.centre.id}/slots", headers=clinic.as_mother).get_json()
    assert [(s["id"], s["available"]) for s in listed["items"]] == [(created.get_json()["id"], 12)]
    assert listed["next_cursor"] is None


def test_slots_are_listed_a_page_at_a_time_by_start(client, clinic):
    made = [slot(clinic.centre, MORNING + timedelta(hours=hour)).id for hour in (2, 0, 1)]
    first = client.get(f"/api/v1/centres/{clinic.centre.id}/slots", query_string={"limit": 2}, headers=clinic.as_mother)
    second = client.get(f"/api/v1/centres/{clinic.centre.id}/slots",
                        query_string={"limit": 2, "cursor": first.get_json()["next_cursor"]}, headers=clinic.as_mother)
    seen = [s["id"] for s in first.get_json()["items"] + second.get_json()["items"]]
    assert seen == [made[1], made[2], made[0]] and second.get_json()["next_cursor"] is None


@pytest.mark.parametrize(("change", "field"), [
    ({"starts_at": "2026-03-15T09:00:00+08:00"}, "starts_at"),
    ({"ends_at": "2026-03-18T08:00:00+08:00"}, "ends_at"),
    ({"staff_id": "stranger"}, "staff_id"),
    ({"team_id": "other_team"}, "team_id"),
    ({"window_id": "other_window"}, "window_id"),
])
def test_a_slot_in_the_past_ending_before_it_starts_or_of_another_centres_doctor_team_or_clinic_is_422_and_nothing_is_written(
        client, db, clinic, change, field):
    other = f.centre()
    ids = {"stranger": f.staff(centre=other).id, "other_team": other.teams[0].id, "other_window": other.windows[0].id}
    body = {"title": "全科门诊", "starts_at": "2026-03-18T09:00:00+08:00", "ends_at": "2026-03-18T11:00:00+08:00",
            "capacity": 5, **{key: ids.get(value, value) for key, value in change.items()}}
    response = client.post(f"/api/v1/centres/{clinic.centre.id}/slots", json=body, headers=f.as_staff(clinic.doctor))
    assert response.status_code == 422 and field in response.get_json()["errors"]["json"], response.get_json()
    assert _count(db, Slot) == 0


def test_another_centres_staff_cannot_publish_slots_and_nothing_is_written(client, db, clinic):
    body = {"title": "x", "starts_at": "2026-03-18T09:00:00+08:00", "ends_at": "2026-03-18T10:00:00+08:00", "capacity": 5}
    response = client.post(f"/api/v1/centres/{clinic.centre.id}/slots", json=body,
                           headers=f.as_staff(f.staff(centre=f.centre())))
    assert response.status_code == 403
    assert _count(db, Slot) == 0


def test_a_resident_whose_household_is_not_signed_with_the_centre_does_not_see_its_slots(client, clinic):
    slot(clinic.centre, MORNING)
    stranger = f.resident(openid="o-stranger")
    signed(stranger, f.centre())
    response = client.get(f"/api/v1/centres/{clinic.centre.id}/slots", headers=f.as_resident(stranger))
    assert response.status_code == 403


def test_a_resident_books_a_place_for_themself_and_for_a_household_member(client, db, clinic):
    opened = slot(clinic.centre, MORNING, capacity=3)
    own = _book(client, clinic, opened.id)
    childs = _book(client, clinic, opened.id, resident_id=clinic.child.id)
    assert (own.status_code, childs.status_code) == (201, 201), (own.get_json(), childs.get_json())
    assert [own.get_json()["resident_id"], childs.get_json()["resident_id"]] == [clinic.mother.id, clinic.child.id]
    assert childs.get_json()["state"] == "booked" and childs.get_json()["slot"]["available"] == 1
    assert _booked(db, opened.id) == 2


def test_booking_a_full_slot_is_409_and_nothing_is_written(client, db, clinic):
    full = slot(clinic.centre, MORNING, capacity=1)
    assert _book(client, clinic, full.id).status_code == 201
    response = _book(client, clinic, full.id, resident_id=clinic.child.id)
    assert response.status_code == 409 and response.get_json()["details"]["reason"] == "slot_full"
    assert (_count(db, Booking), _booked(db, full.id)) == (1, 1)


def test_a_second_live_booking_of_one_person_in_one_slot_is_409_and_nothing_is_written(client, db, clinic):
    opened = slot(clinic.centre, MORNING, capacity=5)
    assert _book(client, clinic, opened.id).status_code == 201
    response = _book(client, clinic, opened.id)
    assert response.status_code == 409, response.get_json()
    assert (_count(db, Booking), _booked(db, opened.id)) == (1, 1)


def test_a_resident_not_signed_with_the_slots_centre_cannot_book_it_and_nothing_is_written(client, db, clinic):
    elsewhere = slot(f.centre(), MORNING)
    response = _book(client, clinic, elsewhere.id)
    assert response.status_code == 403 and response.get_json()["details"]["reason"] == "not_signed_with_centre"
    assert (_count(db, Booking), _booked(db, elsewhere.id)) == (0, 0)


def test_booking_someone_outside_the_household_is_404_and_nothing_is_written(client, db, clinic):
    opened = slot(clinic.centre, MORNING)
    neighbour = f.resident()
    signed(neighbour, clinic.centre)
    response = _book(client, clinic, opened.id, resident_id=neighbour.id)
    assert response.status_code == 404
    assert (_count(db, Booking), _booked(db, opened.id)) == (0, 0)


def test_a_slot_that_has_begun_is_not_booked_and_nothing_is_written(client, db, clinic):
    begun = slot(clinic.centre, MORNING)
    _at(clinic, MORNING + timedelta(minutes=5))
    response = _book(client, clinic, begun.id)
    assert response.status_code == 409 and response.get_json()["details"]["reason"] == "slot_begun"
    assert (_count(db, Booking), _booked(db, begun.id)) == (0, 0)


def test_cancelling_gives_the_place_back_and_the_person_may_book_again(client, db, clinic):
    full = slot(clinic.centre, MORNING, capacity=1)
    booking_id = _book(client, clinic, full.id).get_json()["id"]
    cancelled = client.post(f"/api/v1/bookings/{booking_id}/cancellation", headers=clinic.as_mother)
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
    assert _booked(db, full.id) == 0
    assert _book(client, clinic, full.id).status_code == 201


def test_a_booking_is_cancelled_once_the_second_time_is_409_and_nothing_changes(client, db, clinic):
    opened = slot(clinic.centre, MORNING)
    booking_id = _book(client, clinic, opened.id).get_json()["id"]
    assert client.post(f"/api/v1/bookings/{booking_id}/cancellation", headers=clinic.as_mother).status_code == 200
    again = client.post(f"/api/v1/bookings/{booking_id}/cancellation", headers=clinic.as_mother)
    assert again.status_code == 409
    assert _booked(db, opened.id) == 0


def test_cancelling_after_the_slot_began_is_409_and_nothing_changes(client, db, clinic):
    opened = slot(clinic.centre, MORNING)
    booking_id = _book(client, clinic, opened.id).get_json()["id"]
    _at(clinic, MORNING + timedelta(minutes=1))
    response = client.post(f"/api/v1/bookings/{booking_id}/cancellation", headers=clinic.as_mother)
    assert response.status_code == 409
    assert (db.get(Booking, booking_id).state, _booked(db, opened.id)) == (BookingState.BOOKED, 1)


def test_staff_of_the_centre_can_cancel_a_booking_and_another_household_cannot(client, db, clinic):
    opened = slot(clinic.centre, MORNING)
    booking_id = _book(client, clinic, opened.id).get_json()["id"]
    stranger = f.as_resident(f.resident(openid="o-stranger"))
    assert client.post(f"/api/v1/bookings/{booking_id}/cancellation", headers=stranger).status_code == 404
    assert _booked(db, opened.id) == 1
    response = client.post(f"/api/v1/bookings/{booking_id}/cancellation", headers=f.as_staff(clinic.admin))
    assert response.status_code == 200 and _booked(db, opened.id) == 0


def test_moving_takes_a_place_in_the_new_slot_and_gives_back_the_old_one(client, db, clinic):
    first, later = slot(clinic.centre, MORNING, capacity=1), slot(clinic.centre, MORNING + timedelta(days=1), capacity=1)
    booking_id = _book(client, clinic, first.id).get_json()["id"]
    moved = client.post(f"/api/v1/bookings/{booking_id}/move", json={"slot_id": later.id}, headers=clinic.as_mother)
    assert moved.status_code == 201, moved.get_json()
    assert (moved.get_json()["slot"]["id"], moved.get_json()["moved_from_id"]) == (later.id, booking_id)
    assert moved.get_json()["slot"]["available"] == 0
    assert db.get(Booking, booking_id).state is BookingState.MOVED
    assert (_booked(db, first.id), _booked(db, later.id)) == (0, 1)


def test_moving_into_a_full_slot_is_409_and_the_booking_stays_where_it_was(client, db, clinic):
    first, full = slot(clinic.centre, MORNING), slot(clinic.centre, MORNING + timedelta(days=1), capacity=1)
    assert _book(client, clinic, full.id, resident_id=clinic.child.id).status_code == 201
    booking_id = _book(client, clinic, first.id).get_json()["id"]
    response = client.post(f"/api/v1/bookings/{booking_id}/move", json={"slot_id": full.id}, headers=clinic.as_mother)
    assert response.status_code == 409 and response.get_json()["details"]["reason"] == "slot_full"
    assert db.get(Booking, booking_id).state is BookingState.BOOKED and _count(db, Booking) == 2
    assert (_booked(db, first.id), _booked(db, full.id)) == (1, 1)


def test_moving_into_the_same_slot_is_422_and_nothing_changes(client, db, clinic):
    opened = slot(clinic.centre, MORNING)
    booking_id = _book(client, clinic, opened.id).get_json()["id"]
    response = client.post(f"/api/v1/bookings/{booking_id}/move", json={"slot_id": opened.id}, headers=clinic.as_mother)
    assert response.status_code == 422 and "slot_id" in response.get_json()["errors"]["json"]
    assert (_count(db, Booking), _booked(db, opened.id), db.get(Booking, booking_id).state) == (1, 1, BookingState.BOOKED)


def test_moving_after_the_slot_began_is_409_and_nothing_changes(client, db, clinic):
    first, later = slot(clinic.centre, MORNING), slot(clinic.centre, MORNING + timedelta(days=1))
    booking_id = _book(client, clinic, first.id).get_json()["id"]
    _at(clinic, MORNING + timedelta(minutes=10))
    response = client.post(f"/api/v1/bookings/{booking_id}/move", json={"slot_id": later.id}, headers=clinic.as_mother)
    assert response.status_code == 409 and response.get_json()["details"]["reason"] == "slot_begun"
    assert (_count(db, Booking), _booked(db, first.id), _booked(db, later.id)) == (1, 1, 0)


def test_staff_record_a_no_show_once_the_slot_began_and_the_place_stays_taken(client, db, clinic):
    opened = slot(clinic.centre, MORNING, capacity=2)
    booking_id = _book(client, clinic, opened.id).get_json()["id"]
    _at(clinic, MORNING + timedelta(hours=3))
    response = client.post(f"/api/v1/bookings/{booking_id}/outcome", json={"outcome": "no_show"},
                           headers=f.as_staff(clinic.doctor))
    assert response.status_code == 200 and response.get_json()["state"] == "no_show"
    assert _booked(db, opened.id) == 1
    listed = client.get(f"/api/v1/slots/{opened.id}/bookings", headers=f.as_staff(clinic.doctor)).get_json()
    assert [(b["resident_id"], b["state"]) for b in listed["items"]] == [(clinic.mother.id, "no_show")]


def test_a_no_show_before_the_slot_begins_is_409_and_nothing_changes(client, db, clinic):
    opened = slot(clinic.centre, MORNING)
    booking_id = _book(client, clinic, opened.id).get_json()["id"]
    response = client.post(f"/api/v1/bookings/{booking_id}/outcome", json={"outcome": "no_show"},
                           headers=f.as_staff(clinic.doctor))
    assert response.status_code == 409
    assert db.get(Booking, booking_id).state is BookingState.BOOKED


def test_an_outcome_other_than_attended_or_no_show_is_422_and_nothing_changes(client, db, clinic):
    opened = slot(clinic.centre, MORNING)
    booking_id = _book(client, clinic, opened.id).get_json()["id"]
    _at(clinic, MORNING + timedelta(hours=1))
    response = client.post(f"/api/v1/bookings/{booking_id}/outcome", json={"outcome": "cancelled"},
                           headers=f.as_staff(clinic.doctor))
    assert response.status_code == 422 and "outcome" in response.get_json()["errors"]["json"]
    assert db.get(Booking, booking_id).state is BookingState.BOOKED


def test_capacity_cannot_go_below_the_places_booked_and_nothing_changes(client, db, clinic):
    opened = slot(clinic.centre, MORNING, capacity=3)
    for person in (None, clinic.child.id):
        assert _book(client, clinic, opened.id, **({"resident_id": person} if person else {})).status_code == 201
    refused = client.patch(f"/api/v1/slots/{opened.id}", json={"capacity": 1}, headers=f.as_staff(clinic.admin))
    assert refused.status_code == 409
    assert db.scalar(select(Slot.capacity).where(Slot.id == opened.id).execution_options(populate_existing=True)) == 3
    assert client.patch(f"/api/v1/slots/{opened.id}", json={"capacity": 2}, headers=f.as_staff(clinic.admin)).status_code == 200


def test_the_database_refuses_a_counter_beyond_capacity(db, clinic):
    opened = slot(clinic.centre, MORNING, capacity=1)
    with pytest.raises(IntegrityError):
        with db.begin_nested():
            opened.booked = 2
            db.flush()


def test_a_follow_up_visit_proposes_open_slots_in_its_window_nearest_its_due_date_first(client, db, clinic):
    due = visit(clinic.mother, clinic.centre, date(2026, 3, 25), on_time_days=7)  # on-time range 18 March – 1 April
    team = clinic.centre.teams[0].id
    near, far = slot(clinic.centre, datetime(2026, 3, 24, 9, tzinfo=SHANGHAI), team_id=team), slot(clinic.centre, MORNING)
    slot(clinic.centre, datetime(2026, 4, 2, 9, tzinfo=SHANGHAI))  # after the window
    full = slot(clinic.centre, datetime(2026, 3, 26, 9, tzinfo=SHANGHAI), capacity=1)
    full.booked = 1
    db.commit()
    slot(clinic.centre, datetime(2026, 3, 25, 9, tzinfo=SHANGHAI), team_id=f.centre().teams[0].id)  # not its team
    response = client.get(f"/api/v1/me/visits/{due.id}/slots", headers=clinic.as_mother)
    assert response.status_code == 200, response.get_json()
    assert [s["id"] for s in response.get_json()["items"]] == [near.id, far.id]


def test_an_overdue_visit_is_proposed_the_next_two_weeks(client, clinic):
    late = visit(clinic.mother, clinic.centre, date(2026, 3, 1), on_time_days=7)  # on-time range closed 8 March
    soon, later = slot(clinic.centre, MORNING), slot(clinic.centre, datetime(2026, 4, 10, 9, tzinfo=SHANGHAI))
    items = client.get(f"/api/v1/me/visits/{late.id}/slots", headers=clinic.as_mother).get_json()["items"]
    assert [s["id"] for s in items] == [soon.id] and later.id not in {s["id"] for s in items}


def test_another_households_visit_proposes_nothing_404(client, clinic):
    neighbour = f.resident()
    theirs = visit(neighbour, clinic.centre, date(2026, 3, 25))
    assert client.get(f"/api/v1/me/visits/{theirs.id}/slots", headers=clinic.as_mother).status_code == 404


def test_a_visit_is_booked_once_a_second_booking_is_409_and_nothing_is_written(client, db, clinic):
    due = visit(clinic.mother, clinic.centre, date(2026, 3, 20))
    first, second = slot(clinic.centre, MORNING), slot(clinic.centre, MORNING + timedelta(days=1))
    booked = _book(client, clinic, first.id, visit_id=due.id)
    assert booked.status_code == 201 and booked.get_json()["visit_id"] == due.id
    response = _book(client, clinic, second.id, visit_id=due.id)
    assert response.status_code == 409
    assert (_count(db, Booking), _booked(db, second.id)) == (1, 0)
    moved = client.post(f"/api/v1/bookings/{booked.get_json()['id']}/move", json={"slot_id": second.id},
                        headers=clinic.as_mother)
    assert moved.status_code == 201 and moved.get_json()["visit_id"] == due.id


def test_booking_for_another_persons_visit_is_422_and_nothing_is_written(client, db, clinic):
    childs = visit(clinic.child, clinic.centre, date(2026, 3, 20))
    opened = slot(clinic.centre, MORNING)
    response = _book(client, clinic, opened.id, visit_id=childs.id)
    assert response.status_code == 422 and "visit_id" in response.get_json()["errors"]["json"]
    assert (_count(db, Booking), _booked(db, opened.id)) == (0, 0)


def test_my_bookings_are_the_households_by_slot_start(client, clinic):
    late, early = slot(clinic.centre, MORNING + timedelta(days=2)), slot(clinic.centre, MORNING)
    later_id = _book(client, clinic, late.id).get_json()["id"]
    earlier_id = _book(client, clinic, early.id, resident_id=clinic.child.id).get_json()["id"]
    other = f.resident(openid="o-other")
    signed(other, clinic.centre)
    client.post("/api/v1/bookings", json={"slot_id": early.id}, headers=f.as_resident(other))
    first = client.get("/api/v1/me/bookings", query_string={"limit": 1}, headers=clinic.as_mother).get_json()
    second = client.get("/api/v1/me/bookings", query_string={"limit": 1, "cursor": first["next_cursor"]},
                        headers=clinic.as_mother).get_json()
    assert [b["id"] for b in first["items"] + second["items"]] == [earlier_id, later_id]
    assert second["next_cursor"] is None


def test_the_day_before_the_resident_is_reminded_of_a_live_booking_once(client, db, clinic):
    tomorrow = slot(clinic.centre, datetime(2026, 3, 17, 9, 30, tzinfo=SHANGHAI))
    kept = _book(client, clinic, tomorrow.id).get_json()["id"]
    dropped = _book(client, clinic, tomorrow.id, resident_id=clinic.child.id).get_json()["id"]
    client.post(f"/api/v1/bookings/{dropped}/cancellation", headers=clinic.as_mother)
    _book(client, clinic, slot(clinic.centre, MORNING).id)  # the day after tomorrow: not yet
    assert jobs.remind_appointments() == 1 and jobs.remind_appointments() == 0
    message = db.scalars(select(OutboxMessage)).one()
    assert (message.kind, message.resident_id, message.dedupe_key) == (
        Kind.APPOINTMENT_DUE, clinic.mother.id, f"appointment:{kept}:2026-03-17")
    assert message.content["date"] == "2026-03-17 09:30"


def test_the_appointment_reminder_reaches_the_resident_by_wechat(client, db, clinic, wechat):
    subscribed(clinic.mother, "tpl-appointment-due")
    _book(client, clinic, slot(clinic.centre, datetime(2026, 3, 17, 14, tzinfo=SHANGHAI), title="慢病门诊").id)
    jobs.remind_appointments()
    assert outbox.dispatch(worker="test") == {"sent": 1}
    [sent] = wechat.delivered
    assert (sent["touser"], sent["template_id"]) == ("o-mother", "tpl-appointment-due")
    assert (sent["data"]["thing1"]["value"], sent["data"]["time2"]["value"]) == ("慢病门诊", "2026-03-17 14:00")
