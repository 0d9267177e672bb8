"""Evaluation per centre (annex 2 of 000): the indicators the backend computes from its own data."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from care.models import Visit, VisitState
from core import db as core_db
from registry import profiles
from settlement.evaluation import effective_signing_score
from signing.models import AgreementStatus
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau


@pytest.mark.parametrize("centre_rate, county_rate, score", [
    ("0.8", "0.8", 10),
    ("0.805", "0.8", 15),       # 0.5 points above: five steps of 0.1 point
    ("0.8009", "0.8", 10),      # less than a whole step earns nothing
    ("0.7985", "0.8", 9),
    ("0.95", "0.8", 20),        # at most 20
    ("0.5", "0.8", 0),          # down to nothing, not below
])
def test_effective_signing_score_is_10_plus_one_per_tenth_of_a_point_from_the_county_average(centre_rate, county_rate, score):
    rules = profiles.parse_profile(profiles.read_file(profiles.SHIPPED / "hunan-2025.json")).evaluation
    assert effective_signing_score(Decimal(centre_rate), Decimal(county_rate), rules.effective_signing) == score


def _effective(**fields):
    return f.resident(has_health_record=True, in_insurance_master=True, **fields)


def _visit(person, centre, state, on_time_until):
    core_db.session.add(Visit(resident_id=person.id, centre_id=centre.id, programme="hypertension", code=f"q-{on_time_until}",
                              title="随访", protocol_version="2025", due_date=on_time_until, on_time_from=on_time_until,
                              on_time_until=on_time_until, state=state))
    core_db.session.commit()


def test_centre_indicators_effective_signing_coverage_renewal_and_follow_ups(client, db):
    f.regions()
    centre, other = f.centre(), f.centre()
    home = centre.windows[0].id
    elder = _effective(born=date(1950, 1, 1), home_window_id=home)
    f.resident(born=date(2022, 1, 1), home_window_id=home)   # a child of the village, not signed
    f.resident(born=date(1980, 1, 1), home_window_id=home)   # not a key population
    agreement(elder, centre)
    agreement(_effective(), centre)
    agreement(_effective(), centre)
    agreement(f.resident(), centre)
    agreement(_effective(), other)
    agreement(f.resident(), other)
    agreement(elder, centre, start=date(2025, 1, 1), end=date(2025, 12, 31), status=AgreementStatus.EXPIRED)
    agreement(f.resident(), centre, start=date(2025, 1, 1), end=date(2025, 12, 31), status=AgreementStatus.EXPIRED)
    for state, on_time_until in [(VisitState.DONE, date(2026, 1, 10)), (VisitState.DONE, date(2026, 2, 10)),
                              (VisitState.MISSED, date(2026, 3, 1)), (VisitState.CANCELLED, date(2026, 3, 2)),
                              (VisitState.PLANNED, date(2026, 4, 1))]:
        _visit(elder, centre, state, on_time_until)

    response = client.get("/api/v1/settlement/evaluation?region=430523&cycle=2026", headers=as_bureau())
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["county_effective_signing_rate"] == "0.6667"  # 4 effective of 6 signed insured
    row = {r["centre_id"]: r for r in body["centres"]}[centre.id]
    assert (row["signed_insured"], row["effective"], row["effective_signing_rate"]) == (4, 3, "0.7500")
    assert row["effective_signing_score"] == 20   # 8.3 points above the county average: capped
    assert (row["key_population_residents"], row["key_population_signed"], row["key_population_coverage"]) == (2, 1, "0.5000")
    assert (row["previous_cycle_signed"], row["renewed"], row["renewal_rate"]) == (2, 1, "0.5000")
    assert (row["follow_ups_due"], row["follow_ups_done"], row["follow_up_completion"]) == (3, 2, "0.6667")
    assert {r["centre_id"]: r for r in body["centres"]}[other.id]["effective_signing_score"] == 0


def test_evaluating_a_cycle_not_begun_is_422(client, db):
    f.regions()
    response = client.get("/api/v1/settlement/evaluation?region=430523&cycle=2027", headers=as_bureau())
    assert response.status_code == 422
    assert "cycle" in response.get_json()["errors"]["query"]


def test_bureau_of_one_region_cannot_evaluate_another(client, db):
    f.regions()
    response = client.get("/api/v1/settlement/evaluation?region=430522&cycle=2026", headers=as_bureau("430523"))
    assert response.status_code == 403


def test_follow_up_completion_counts_the_visits_whose_on_time_range_closes_on_the_cycles_last_day(client, db):
    """65+ and 80+ visits and the fourth quarter close on 31 December: they count once that day is over."""
    from core import clock
    from tests.packages_support import signed, site

    place = site()
    elder = signed(client, place, born=date(1945, 6, 1))  # 81 in 2026: yearly check, TCM and home visit
    assert client.post(f"/api/v1/residents/{elder.id}/conditions", json={"kind": "hypertension", "diagnosed_on": "2024-05-01"},
                       headers=f.as_staff(place.doctor)).status_code == 201
    clock.set_today(date(2026, 12, 20))
    for code in ("2026-q4", "2026-health-check", "2026-tcm", "2026-home-visit"):
        visit = core_db.session.scalar(select(Visit).where(Visit.resident_id == elder.id, Visit.code == code))
        logged = client.post(f"/api/v1/visits/{visit.id}/records", json={"served_on": "2026-12-20", "mode": "home",
                             "systolic": 130, "diastolic": 80}, headers=f.as_staff(place.doctor))
        assert logged.status_code == 201, logged.get_json()

    def follow_ups():
        response = client.get("/api/v1/settlement/evaluation?region=430523&cycle=2026", headers=as_bureau())
        assert response.status_code == 200, response.get_json()
        row = {r["centre_id"]: r for r in response.get_json()["centres"]}[place.centre.id]
        return row["follow_ups_due"], row["follow_ups_done"], row["follow_up_completion"]

    clock.set_today(date(2026, 12, 31))  # the last day: those windows are still open
    assert follow_ups() == (3, 0, "0.0000")  # q1-q3 closed undone (signed in March)
    clock.set_today(date(2027, 1, 5))
    # q1-q3 missed, q4 + health check + TCM + home visit done: 4 of 7.
    assert follow_ups() == (7, 4, "0.5714")
    not_begun = client.get("/api/v1/settlement/evaluation?region=430523&cycle=2028", headers=as_bureau())
    assert not_begun.status_code == 422 and "cycle" in not_begun.get_json()["errors"]["query"]
