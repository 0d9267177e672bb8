"""The last places of a slot under parallel bookings: decided by the database, on a live server over
committed data (each request thread has its own session and connection)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests
from sqlalchemy import func, select

from care.delivery_models import Booking, BookingState, Slot
from core import db as core_db
from core.clock import SHANGHAI
from tests import factories as f
from tests.factories_care import slot
from tests.factories_notifications import signed
from tests.live import live_server

RACERS = 30
PLACES = 3
TIMEOUT = 60


@pytest.fixture(scope="module")
def live(app, settings, tmp_path_factory):
    with live_server(settings, tmp_path_factory.mktemp("live-bookings"), restore=app) as served:
        yield served


def _in_parallel(calls) -> Counter:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return Counter(pool.map(lambda call: call().status_code, calls))


def _places(live_app, slot_id: int) -> tuple[int, int]:
    """(the slot's counter, the live bookings it holds), as committed."""
    with live_app.app_context():
        core_db.session.remove()
        booked = core_db.session.scalar(select(Slot.booked).where(Slot.id == slot_id))
        live_bookings = core_db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.slot_id == slot_id, Booking.state == BookingState.BOOKED))
        return booked, live_bookings


def test_30_residents_racing_for_the_last_3_places_get_exactly_3_and_the_rest_409(live):
    live_app, base_url = live
    with live_app.app_context():
        f.regions()
        centre = f.centre()
        racers = [f.resident(openid=f"wx-racer-{i}") for i in range(RACERS)]
        for racer in racers:
            signed(racer, centre)
        opened = slot(centre, datetime(2026, 3, 20, 9, tzinfo=SHANGHAI), capacity=PLACES)
        headers = [f.as_resident(racer) for racer in racers]
    calls = [lambda h=h: requests.post(f"{base_url}/api/v1/bookings", json={"slot_id": opened.id}, headers=h,
                                       timeout=TIMEOUT) for h in headers]
    assert _in_parallel(calls) == Counter({201: PLACES, 409: RACERS - PLACES})
    assert _places(live_app, opened.id) == (PLACES, PLACES)


def test_20_parallel_bookings_of_one_resident_in_one_slot_make_one_live_booking(live):
    live_app, base_url = live
    with live_app.app_context():
        f.regions()
        centre = f.centre()
        resident = f.resident(openid="wx-impatient")
        signed(resident, centre)
        opened = slot(centre, datetime(2026, 3, 20, 10, tzinfo=SHANGHAI), capacity=50)
        headers = f.as_resident(resident)
    book = lambda: requests.post(f"{base_url}/api/v1/bookings", json={"slot_id": opened.id}, headers=headers,  # noqa: E731
                                 timeout=TIMEOUT)
    assert _in_parallel([book] * 20) == Counter({201: 1, 409: 19})
    assert _places(live_app, opened.id) == (1, 1)
