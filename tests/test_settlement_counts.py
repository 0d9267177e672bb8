"""Signed-population counts (issue 5): who is signed on a date, split the way settlement needs."""

from datetime import date, timedelta

import pytest

from registry.idcard import age_on
from registry.models import InsuranceScheme
from registry.populations import KEY_POPULATIONS, latest_birth_date
from signing.models import AgreementStatus, TerminationReason
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau

AS_OF = "2026-03-01"


@pytest.fixture
def county(db):
    f.regions()
    return f.centre(region="430523"), f.centre(region="430523")


def _counts(client, region="430523", as_of=AS_OF, group_by="centre", headers=None):
    response = client.get(f"/api/v1/settlement/signed-counts?region={region}&as_of={as_of}&group_by={group_by}",
                          headers=headers or as_bureau())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("as_of", [date(2026, 3, 1), date(2028, 2, 29), date(2027, 2, 28), date(2026, 12, 31)])
def test_birth_date_bound_agrees_with_age_on_for_every_day_around_it(as_of):
    for age in (1, 7, 65, 80):
        bound = latest_birth_date(as_of, age)
        assert age_on(bound, as_of) >= age
        assert age_on(bound + timedelta(days=1), as_of) == age - 1


def test_signed_on_a_date_counts_holding_expired_and_later_terminated_but_not_earlier_ones(client, county):
    centre, _ = county
    agreement(f.resident(), centre)
    agreement(f.resident(), centre, status=AgreementStatus.EXPIRED)
    agreement(f.resident(), centre, status=AgreementStatus.TERMINATED, terminated_on=date(2026, 3, 2))
    agreement(f.resident(), centre, status=AgreementStatus.TERMINATED, terminated_on=date(2026, 3, 1))
    agreement(f.resident(), centre, start=date(2026, 3, 2))
    agreement(f.resident(), centre, start=date(2025, 1, 1), end=date(2025, 12, 31))
    assert _counts(client)["total"]["signed"] == 3


def test_counted_for_capitation_scheme_and_key_population_split_by_centre(client, county):
    first, second = county
    agreement(f.resident(born=date(1950, 3, 1)), first)  # 76 on 1 March 2026: 65+
    agreement(f.resident(born=date(1946, 3, 2)), first)  # 79 on 1 March 2026, 80 the day after
    agreement(f.resident(born=date(2020, 1, 1), scheme=InsuranceScheme.EMPLOYEE), first)
    agreement(f.resident(insured_in=None), first, counted=False)
    agreement(f.resident(born=date(1946, 3, 1)), second)  # 80 on the day
    rows = {row["key"]: row["figures"] for row in _counts(client)["rows"]}
    assert rows[str(first.id)] == {
        "signed": 4, "counted": 3, "not_counted": 1, "effective": 0, "resident_scheme": 2, "employee_scheme": 1,
        "uninsured": 1, "counted_resident_scheme": 2, "counted_employee_scheme": 1,
        **dict.fromkeys(KEY_POPULATIONS, 0), "child_0_6": 1, "elderly_65": 2,
    }
    assert rows[str(second.id)]["elderly_80"] == 1


def test_group_by_key_population_scheme_window_and_team(client, county):
    centre, _ = county
    agreement(f.resident(born=date(1940, 1, 1)), centre)
    agreement(f.resident(born=date(2021, 1, 1), scheme=InsuranceScheme.EMPLOYEE), centre, window=False)
    populations = {row["key"]: row["figures"]["signed"] for row in _counts(client, group_by="key_population")["rows"]}
    assert populations == {**dict.fromkeys(KEY_POPULATIONS, 0), "child_0_6": 1, "elderly_65": 1, "elderly_80": 1}
    schemes = {row["key"]: row["figures"]["signed"] for row in _counts(client, group_by="scheme")["rows"]}
    assert schemes == {"resident": 1, "employee": 1}
    windows = {row["key"]: row["figures"]["signed"] for row in _counts(client, group_by="window")["rows"]}
    assert windows == {None: 1, str(centre.windows[0].id): 1}
    teams = _counts(client, group_by="team")["rows"]
    assert [(row["key"], row["name"], row["figures"]["signed"]) for row in teams] == [(str(centre.teams[0].id), centre.teams[0].name, 2)]


def test_a_city_sees_its_counties_rolled_up(client, county):
    agreement(f.resident(), county[0])
    agreement(f.resident(insured_in="430522"), f.centre(region="430522"))
    assert _counts(client, region="430500", headers=as_bureau("430500"))["total"]["signed"] == 2


def test_bureau_of_one_region_gets_403_for_another(client, county):
    response = client.get(f"/api/v1/settlement/signed-counts?region=430522&as_of={AS_OF}", headers=as_bureau("430523"))
    assert response.status_code == 403


def test_doctors_cannot_read_settlement_counts(client, county):
    doctor = f.staff(centre=county[0])
    response = client.get(f"/api/v1/settlement/signed-counts?region=430523&as_of={AS_OF}", headers=f.as_staff(doctor))
    assert response.status_code == 403


def test_unknown_group_by_is_422_naming_the_field(client, county):
    response = client.get("/api/v1/settlement/signed-counts?region=430523&group_by=village", headers=as_bureau())
    assert response.status_code == 422
    assert "group_by" in response.get_json()["errors"]["query"]


def test_termination_through_the_api_bumps_updated_at(client, county):
    from core import clock

    doctor = f.staff(centre=county[0])
    signed = agreement(f.resident(), county[0])
    before = signed.updated_at
    clock.advance(timedelta(minutes=5))
    response = client.post(f"/api/v1/agreements/{signed.id}/termination", json={"reason": TerminationReason.MOVED_AWAY.value},
                           headers=f.as_staff(doctor))
    assert response.status_code == 200, response.get_json()
    from core import db as core_db
    core_db.session.refresh(signed)
    assert signed.updated_at > before


def test_nobody_dead_is_counted_from_the_date_of_death_whatever_the_agreement_says(client, county):
    """POLICY.md signing rule 10; a death recorded by the registry alone still stops the count."""
    centre, _ = county
    agreement(f.resident(died_on=date(2026, 3, 1)), centre)  # agreement not (yet) ended
    agreement(f.resident(died_on=date(2026, 3, 2)), centre)
    agreement(f.resident(), centre)
    assert _counts(client)["total"]["signed"] == 2
    assert _counts(client, as_of="2026-03-02")["total"]["signed"] == 1
