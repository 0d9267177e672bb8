"""Races decided by the database: many parallel requests on a live server over committed data."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import requests
from sqlalchemy import func, select

from core import db as core_db
from core.auth import Actor, Role
from registry.models import Resident
from signing.models import Agreement
from tests import factories as f
from tests.live import live_server

SIGNERS = 200
BINDERS = 20
TIMEOUT = 60


@pytest.fixture(scope="module")
def live(app, settings, tmp_path_factory):
    with live_server(settings, tmp_path_factory.mktemp("live"), restore=app) as served:
        yield served


def in_parallel(calls, workers=50) -> Counter:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return Counter(pool.map(lambda call: call().status_code, calls))


def test_200_parallel_signings_of_one_resident_make_one_agreement(live, settings):
    live_app, base_url = live
    with live_app.app_context():
        f.regions()
        centre = f.centre()
        resident = f.resident(openid="wx-parallel-signer")
        headers = f.as_resident(resident)
    body = {"centre_id": centre.id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION}
    sign = lambda: requests.post(f"{base_url}/api/v1/agreements", json=body, headers=headers, timeout=TIMEOUT)  # noqa: E731
    statuses = in_parallel([sign] * SIGNERS)
    assert statuses == Counter({201: 1, 200: SIGNERS - 1})
    with live_app.app_context():
        count = select(func.count()).select_from(Agreement).where(Agreement.resident_id == resident.id)
        assert core_db.session.scalar(count) == 1


def test_20_parallel_identity_bindings_of_one_id_number_bind_one_openid_and_the_rest_are_refused(live):
    live_app, base_url = live
    number = f.id_number(date(1962, 4, 9))
    with live_app.app_context():
        f.regions()
        tokens = [f.bearer(Actor(role=Role.RESIDENT, subject=f"wx:racer-{i}")) for i in range(BINDERS)]
    body = {"name": "王五", "id_number": number}
    calls = [lambda h=h: requests.post(f"{base_url}/api/v1/me/identity", json=body, headers=h, timeout=TIMEOUT)
             for h in tokens]
    statuses = in_parallel(calls)
    # One self-registration wins; the rest find the record (403: no proof) or lose the insert race (409).
    assert statuses[200] == 1 and statuses[403] + statuses[409] == BINDERS - 1
    with live_app.app_context():
        bound = core_db.session.scalars(select(Resident.openid).where(Resident.id_number_hash == f.crypto.lookup_hash(number)))
        assert len(list(bound)) == 1
