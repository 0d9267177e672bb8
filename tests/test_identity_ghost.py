"""The ghost-signing signal the bureau pulls (POLICY.md signing rule 9: false signing is forbidden and audited).

Per doctor and day: on-site signings, signings of people never served since, signings of people
signed on or after their recorded death. The scenario: one doctor signs a batch of villagers one
November day, never serves any of them, and one of them had died before; another serves theirs.
"""

from datetime import date

import pytest

from care.models import Timeliness, Visit, VisitMode, VisitRecord
from core import clock
from core import db as core_db
from tests import factories as f
from tests.identity_support import sign_body
from tests.settlement_helpers import as_bureau

URL = "/api/v1/settlement/ghost-signing"
BATCH_DAY = date(2025, 11, 3)


def served(resident, doctor, on: date) -> None:
    visit = Visit(resident_id=resident.id, centre_id=doctor.centre_id, programme="hypertension", code=f"v-{resident.id}",
                  title="随访", protocol_version="2025", due_date=on, on_time_from=on, on_time_until=on)
    core_db.session.add(visit)
    core_db.session.flush()
    core_db.session.add(VisitRecord(visit_id=visit.id, resident_id=visit.resident_id, revision=1, author_id=doctor.id,
                                    served_on=on, mode=VisitMode.CLINIC, on_time_from=on, on_time_until=on, timeliness=Timeliness.ON_TIME))
    core_db.session.commit()


@pytest.fixture
def scenario(client, db):
    f.regions()
    centre = f.centre(region="430523")
    ghost_writer, honest = f.staff(centre=centre), f.staff(centre=centre)
    villagers = [f.resident(home_window_id=centre.windows[0].id) for _ in range(22)]
    clock.set_today(BATCH_DAY)
    for doctor, people in ((ghost_writer, villagers[:12]), (honest, villagers[12:])):
        response = client.post("/api/v1/agreements", json=sign_body(centre, resident_ids=[p.id for p in people]),
                               headers=f.as_staff(doctor))
        assert response.status_code == 201, response.get_json()
    clock.set_today(date(2026, 3, 16))
    for person in villagers[12:]:
        served(person, honest, date(2025, 12, 1))
    died = client.patch(f"/api/v1/residents/{villagers[0].id}", json={"died_on": "2025-10-20"},
                        headers=f.as_staff(ghost_writer))
    assert died.status_code == 200
    return ghost_writer, honest, centre


def test_false_signing_trips_the_ghost_signal_for_the_doctor_and_day(client, scenario):
    ghost_writer, honest, centre = scenario
    response = client.get(URL, query_string={"region": "430523"}, headers=as_bureau())
    assert response.status_code == 200
    rows = {row["staff_id"]: row for row in response.get_json()["items"]}
    assert rows[ghost_writer.id] == {
        "day": BATCH_DAY.isoformat(), "signed_by": f"staff:{ghost_writer.id}", "staff_id": ghost_writer.id,
        "staff_name": ghost_writer.name, "centre_id": centre.id, "signings": 12, "never_served": 12,
        "recorded_death": 1, "flags": ["signed_after_death", "never_served_batch"]}
    assert (rows[honest.id]["signings"], rows[honest.id]["never_served"], rows[honest.id]["flags"]) == (10, 0, [])


def test_the_bureau_pulls_only_flagged_rows_a_page_at_a_time(client, scenario):
    ghost_writer, *_ = scenario
    flagged = client.get(URL, query_string={"region": "430523", "flagged_only": "true"}, headers=as_bureau()).get_json()
    assert [row["staff_id"] for row in flagged["items"]] == [ghost_writer.id] and flagged["next_cursor"] is None
    first = client.get(URL, query_string={"region": "430523", "limit": 1}, headers=as_bureau()).get_json()
    second = client.get(URL, query_string={"region": "430523", "limit": 1, "cursor": first["next_cursor"]},
                        headers=as_bureau()).get_json()
    assert len(first["items"]) == len(second["items"]) == 1 and second["next_cursor"] is None
    assert first["items"][0]["staff_id"] != second["items"][0]["staff_id"]


def test_a_recent_batch_is_not_yet_flagged_as_never_served(client, scenario):
    _, _, centre = scenario
    fresh = f.staff(centre=centre)
    people = [f.resident(home_window_id=centre.windows[0].id) for _ in range(12)]
    client.post("/api/v1/agreements", json=sign_body(centre, resident_ids=[p.id for p in people]), headers=f.as_staff(fresh))
    rows = client.get(URL, query_string={"region": "430523"}, headers=as_bureau()).get_json()["items"]
    [today] = [row for row in rows if row["staff_id"] == fresh.id]
    assert (today["never_served"], today["flags"]) == (12, [])


def test_the_signal_is_the_bureaus_own_region_only(client, scenario):
    assert client.get(URL, query_string={"region": "430523"}, headers=as_bureau("430522")).status_code == 403
    assert client.get(URL, query_string={"region": "430522"}, headers=as_bureau("430522")).get_json()["items"] == []
    doctor, *_ = scenario
    assert client.get(URL, query_string={"region": "430523"}, headers=f.as_staff(doctor)).status_code == 403


def test_a_period_ending_before_it_starts_is_422_naming_from(client, scenario):
    response = client.get(URL, query_string={"region": "430523", "from": "2026-03-01", "to": "2026-02-01"},
                          headers=as_bureau())
    assert response.status_code == 422 and "from" in response.get_json()["errors"]["query"]
