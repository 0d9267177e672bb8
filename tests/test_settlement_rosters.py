"""Rosters the bureau pulls (issue 5): keyset pages that stay correct during a sync, tombstones, files, audit."""

import csv
import io
from datetime import date, timedelta

import openpyxl
import pytest
from sqlalchemy import select

from core import clock
from core import db as core_db
from core.auth import Role, hash_secret
from core.models import AuditEvent
from registry.models import ApiClient, InsuranceScheme
from settlement import rosters
from signing.models import HOLDING, Agreement
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def centre(db):
    f.regions()
    return f.centre(region="430523")


@pytest.fixture
def bureau_client(client, centre):
    """A bureau system logged in with its own client credentials."""
    core_db.session.add(ApiClient(client_id="shaoyang-bureau", secret_hash=hash_secret("s3cret-of-the-bureau"),
                                  name="邵阳县医保", region_code="430523"))
    core_db.session.commit()
    token = client.post("/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "shaoyang-bureau",
                                                     "client_secret": "s3cret-of-the-bureau"})
    assert token.status_code == 200, token.get_json()
    return {"Authorization": f"Bearer {token.get_json()['access_token']}"}


def settle():
    """Let the changes made so far settle: a pull serves them once SETTLE has passed since they were made."""
    clock.advance(rosters.SETTLE + timedelta(seconds=1))


def _page(client, headers, *, settled=True, **params):
    if settled:
        settle()
    response = client.get("/api/v1/rosters", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _sync(client, headers, copy: dict, *, between=lambda: None, settled=True, **params):
    """Page to the end, applying upserts and tombstones to `copy`; `between` runs after each page."""
    cursor, latest = None, params.get("updated_since")
    while True:
        page = _page(client, headers, settled=settled, limit=2, **params, **({"cursor": cursor} if cursor else {}))
        for item in page["items"]:
            latest = max(latest or item["updated_at"], item["updated_at"])
            if item["tombstone"]:
                copy.pop(item["id"], None)
            else:
                copy[item["id"]] = item["status"]
        cursor = page["next_cursor"]
        if cursor is None:
            return latest
        between()


def _database_state() -> dict:
    rows = core_db.session.execute(select(Agreement.id, Agreement.status).where(Agreement.status.in_(HOLDING)))
    return {agreement_id: status.value for agreement_id, status in rows}


def test_bureau_pulls_incrementally_while_signings_and_terminations_happen_and_ends_with_the_databases_state(
        client, centre, bureau_client):
    doctor = f.staff(centre=centre)
    signed = [agreement(f.resident(), centre) for _ in range(5)]

    def villager():  # the doctor signs people of the centre's villages (POLICY.md signing rule 10)
        return f.resident(home_window_id=centre.windows[0].id)

    changes = iter([
        lambda: client.post(f"/api/v1/agreements/{signed[0].id}/termination", json={"reason": "moved_away"},
                            headers=f.as_staff(doctor)),
        lambda: client.post("/api/v1/agreements", json={"centre_id": centre.id, "term_years": 1, "consent_version": "2025-01",
                                                        "resident_ids": [villager().id]}, headers=f.as_staff(doctor)),
        lambda: client.post(f"/api/v1/agreements/{signed[4].id}/termination", json={"reason": "death"},
                            headers=f.as_staff(doctor)),
    ])

    def change_something():
        clock.advance(timedelta(seconds=1))
        change = next(changes, None)
        if change:
            assert change().status_code in (200, 201)

    copy: dict = {}
    since = _sync(client, bureau_client, copy, between=change_something)
    assert copy == _database_state()

    clock.advance(timedelta(seconds=1))
    client.post(f"/api/v1/agreements/{signed[2].id}/termination", json={"reason": "own_request"}, headers=f.as_staff(doctor))
    client.post("/api/v1/agreements", json={"centre_id": centre.id, "term_years": 1, "consent_version": "2025-01",
                                            "resident_ids": [villager().id]}, headers=f.as_staff(doctor))
    incremental = _page(client, bureau_client, updated_since=since)["items"]
    assert len(incremental) <= 3  # only what changed since (and the rows at that very instant)
    _sync(client, bureau_client, copy, updated_since=since)
    assert copy == _database_state()


def test_terminations_come_as_tombstones_with_date_and_reason(client, centre):
    agreement(f.resident(), centre, status="terminated", terminated_on=date(2026, 3, 1))
    [item] = _page(client, as_bureau())["items"]
    assert (item["tombstone"], item["terminated_on"], item["status"]) == (True, "2026-03-01", "terminated")


def test_full_id_number_for_the_bureau_only_and_staff_see_their_own_centre_masked(client, centre):
    person = f.resident()
    agreement(person, centre)
    agreement(f.resident(), f.centre(region="430523"))
    assert [item["id_number"] for item in _page(client, as_bureau())["items"]][0] == person.id_number
    admin = f.staff(role=Role.CENTRE_ADMIN, centre=centre)
    [item] = _page(client, f.as_staff(admin))["items"]
    assert item["id_number"] != person.id_number and item["id_number"].endswith(person.id_number[-4:])
    assert (item["centre_id"], item["counts_for_capitation"]) == (centre.id, True)


def test_bureau_of_one_region_gets_403_for_another_regions_roster_audited_as_refused(client, centre, bureau_client):
    response = client.get("/api/v1/rosters?region=440823", headers=bureau_client)
    assert response.status_code == 403
    outcomes = core_db.session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "roster.pull")).all()
    assert outcomes == ["refused_403"]


def test_every_pull_is_audited_with_who_region_and_rows(client, centre, bureau_client):
    for _ in range(3):
        agreement(f.resident(), centre)
    _page(client, bureau_client, limit=2)
    event = core_db.session.scalar(select(AuditEvent).where(AuditEvent.action == "roster.pull"))
    assert (event.actor, event.target_id, event.detail["rows"], event.detail["format"]) == (
        "client:shaoyang-bureau", "430523", 2, "json")


def test_roster_streams_as_csv_and_audits_the_rows_sent(client, centre):
    people = [f.resident(name="=HYPERLINK(1)")] + [f.resident() for _ in range(2)]
    for person in people:
        agreement(person, centre)
    settle()
    response = client.get("/api/v1/rosters?region=430523", headers={**as_bureau(), "Accept": "text/csv"})
    assert response.status_code == 200 and response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(row["id_number"] for row in rows) == sorted(p.id_number for p in people)
    assert "'=HYPERLINK(1)" in {row["name"] for row in rows}  # no formula injection into spreadsheets
    started, done = core_db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("roster.pull%"))
                                            .order_by(AuditEvent.id)).all()
    assert (started.action, started.detail["rows"], started.detail["format"]) == ("roster.pull", None, "csv")
    assert (done.action, done.detail["rows"], done.detail["format"]) == ("roster.pull.done", 3, "csv")


def test_a_roster_download_is_audited_when_it_starts_even_if_aborted(client, centre):
    for _ in range(3):
        agreement(f.resident(), centre)
    response = client.get("/api/v1/rosters?region=430523", headers={**as_bureau(), "Accept": "text/csv"})
    next(response.response)  # the client reads the first chunk and hangs up
    response.close()
    events = core_db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("roster.pull%"))).all()
    assert events == ["roster.pull"]


def test_roster_as_xlsx_opens_in_a_spreadsheet(client, centre):
    for _ in range(2):
        agreement(f.resident(), centre)
    settle()
    response = client.get("/api/v1/rosters?region=430523", headers={**as_bureau(), "Accept": XLSX})
    assert response.status_code == 200 and response.mimetype == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)["roster"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "resident_id", "name") and len(rows) == 3


def test_a_cursor_not_given_out_is_422(client, centre):
    response = client.get("/api/v1/rosters?cursor=bm9wZQ==", headers=as_bureau())
    assert response.status_code == 422
    assert "cursor" in response.get_json()["errors"]["query"]


def test_updated_since_without_a_timezone_is_422(client, centre):
    response = client.get("/api/v1/rosters?updated_since=2026-03-01T00:00:00", headers=as_bureau())
    assert response.status_code == 422
    assert "updated_since" in response.get_json()["errors"]["query"]


def test_residents_cannot_pull_rosters(client, centre):
    person = f.resident(openid="wx-roster")
    assert client.get("/api/v1/rosters", headers=f.as_resident(person)).status_code == 403


def test_a_change_to_a_residents_insurance_reaches_the_next_incremental_pull(client, centre):
    person = f.resident(scheme=InsuranceScheme.RESIDENT)
    agreement(person, centre)
    since = _page(client, as_bureau())["items"][0]["updated_at"]
    clock.advance(timedelta(seconds=1))
    doctor = f.staff(centre=centre)
    changed = client.patch(f"/api/v1/residents/{person.id}", json={"insurance_scheme": "employee"}, headers=f.as_staff(doctor))
    assert changed.status_code == 200, changed.get_json()
    clock.advance(timedelta(seconds=1))
    later = (clock.now() - timedelta(milliseconds=1500)).isoformat()
    [item] = _page(client, as_bureau(), updated_since=later)["items"]
    assert (item["insurance_scheme"], item["updated_at"] > since) == ("employee", True)


def test_a_change_stamped_before_a_faster_transactions_is_not_passed_by_the_cursor(client, centre):
    """A slow transaction stamps its change, a faster one commits a later-stamped change first: a pull in between
    must not move the client's cursor past the slow one's stamp."""
    for _ in range(2):
        agreement(f.resident(), centre)
    copy: dict = {}
    since = _sync(client, as_bureau(), copy)
    slow_stamp = clock.now()  # the slow transaction stamps its change here, and commits it only later
    clock.advance(timedelta(seconds=1))
    fast = agreement(f.resident(), centre)
    clock.advance(timedelta(seconds=5))
    since = _sync(client, as_bureau(), copy, settled=False, updated_since=since)
    assert fast.id not in copy  # not settled: held back, the cursor stays before the slow stamp
    slow = agreement(f.resident(), centre)
    slow.updated_at = slow_stamp  # what the slow transaction wrote, committed now
    core_db.session.commit()
    _sync(client, as_bureau(), copy, updated_since=since)
    assert copy == _database_state() and {fast.id, slow.id} <= set(copy)
