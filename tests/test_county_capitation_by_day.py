"""Capitation follows the bureau's insurance facts day by day (issue 11, insurance enrolment; POLICY.md signing
rules 6 and 10): an insurance change has an effective date and changes counts from that date, not backwards;
frozen months keep their count, and a correction to the past is an adjustment line in the next snapshot."""

from __future__ import annotations

from datetime import date

import pytest

from core import clock
from settlement import jobs
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau


@pytest.fixture
def centre(db):
    f.regions()
    return f.centre(region="430523")


def _push(client, person, region="430523", **fact):
    item = {"id_number": person.id_number, "scheme": "resident", "region_code": "430523", "valid_from": "2026-01-01",
            **fact}
    response = client.post("/api/v1/insurance/enrolments", headers=as_bureau(region), json={"items": [item]})
    assert response.status_code == 200 and response.get_json()["applied"] == 1, response.get_json()


def _counts(client, as_of: str, group_by: str = "centre") -> dict:
    response = client.get(f"/api/v1/settlement/signed-counts?region=430523&as_of={as_of}&group_by={group_by}",
                          headers=as_bureau())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _total(client, as_of: str) -> dict:
    return _counts(client, as_of)["total"]


def _schemes(client, as_of: str) -> dict:
    return {row["key"]: row["figures"]["counted"] for row in _counts(client, as_of, "scheme")["rows"]}


def _snapshot(client, month: str) -> dict:
    response = client.get(f"/api/v1/settlement/snapshots/{month}?region=430523", headers=as_bureau())
    assert response.status_code == 200, response.get_json()
    [snapshot] = response.get_json()["items"]
    return snapshot


def _freeze_on(day: date) -> None:
    clock.set_today(day, hour=0)
    jobs.freeze_monthly_snapshots()


def test_an_enrolment_counts_from_its_effective_date_and_not_before(client, centre):
    person = f.resident(insured_in=None)  # signed online, uninsured until the bureau's push
    agreement(person, centre, counted=False)
    _push(client, person, valid_from="2026-02-01")
    before, after = _total(client, "2026-01-20"), _total(client, "2026-02-15")
    assert (before["counted"], before["uninsured"], before["resident_scheme"]) == (0, 1, 0)
    assert (after["counted"], after["uninsured"], after["resident_scheme"]) == (1, 0, 1)
    assert (_schemes(client, "2026-01-20"), _schemes(client, "2026-02-15")) == ({"uninsured": 0}, {"resident": 1})


def test_insurance_moved_to_another_pooling_region_stops_counting_from_the_move(client, centre):
    person = f.resident()
    agreement(person, centre)
    _push(client, person, region="430500", valid_to="2026-02-28")
    _push(client, person, region="430500", region_code="430522", valid_from="2026-03-01")  # 新邵县: another pool
    assert _total(client, "2026-02-15")["counted"] == 1
    assert _total(client, "2026-03-10")["counted"] == 0


def test_a_fact_dated_later_leaves_the_recorded_insurance_in_force_until_it_begins(client, centre):
    person = f.resident()  # recorded by staff: resident scheme in 邵阳县
    agreement(person, centre)
    _push(client, person, scheme="employee", valid_from="2026-04-01")
    today, later = _total(client, "2026-03-16"), _total(client, "2026-04-10")
    assert (today["counted"], today["resident_scheme"], today["employee_scheme"]) == (1, 1, 0)
    assert (later["counted"], later["resident_scheme"], later["employee_scheme"]) == (1, 0, 1)
    assert (_schemes(client, "2026-03-16"), _schemes(client, "2026-04-10")) == ({"resident": 1}, {"employee": 1})


def test_a_frozen_month_keeps_its_count_and_the_past_change_becomes_adjustment_lines(client, centre):
    person = f.resident(insured_in=None)
    agreement(person, centre, counted=False)
    _freeze_on(date(2026, 2, 1))
    _freeze_on(date(2026, 3, 1))
    february, march = _snapshot(client, "2026-02"), _snapshot(client, "2026-03")
    assert [line["figures"]["counted"] for line in march["lines"]] == [0]
    clock.set_today(date(2026, 3, 16))
    _push(client, person, valid_from="2026-02-01")  # reported in mid-March, effective from February
    assert _total(client, "2026-01-20")["counted"] == 0  # not backwards past its date
    assert (_snapshot(client, "2026-02"), _snapshot(client, "2026-03")) == (february, march)
    _freeze_on(date(2026, 4, 1))
    april = _snapshot(client, "2026-04")
    assert [(line["kind"], line["adjusts_month"], line["figures"].get("counted")) for line in april["lines"]] == [
        ("count", None, 1), ("adjustment", "2026-02", 1), ("adjustment", "2026-03", 1)]
