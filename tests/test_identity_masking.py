"""Masking that cannot be undone (POLICY.md signing rule 10).

The attack of the issue: `430***********0032` beside `birth_date` and the region is the whole number
(the hidden digits are the birth date): 2,503 of 2,503 rebuilt from a doctor's view. A view that
shows a masked ID number shows the birth year, not the date, and nothing else that rebuilds it.
"""

from datetime import date, timedelta

import pytest

from core import clock
from core import db as core_db
from core.calendar import add_months
from registry.idcard import check_character
from settlement import rosters
from tests import factories as f
from tests.packages_support import signed, site
from tests.settlement_helpers import agreement, as_bureau


def candidates(masked: str, *, birth_year: int, region: str) -> list[str]:
    """Every valid ID number a masked one could be, knowing the birth year and the region of registration."""
    day, found = date(birth_year, 1, 1), []
    while day.year == birth_year:
        first17 = f"{region}{day:%Y%m%d}{masked[-4:-1]}"
        if first17[:3] == masked[:3] and check_character(first17) == masked[-1]:
            found.append(first17 + masked[-1])
        day += timedelta(days=1)
    return found


def dates_in(node, path="") -> list[str]:
    """Paths of ISO dates in a JSON body."""
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in dates_in(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for value in node for p in dates_in(value, path + "[]")]
    if isinstance(node, str) and len(node) == 10 and node[4] == "-" and node[7] == "-":
        return [path]
    return []


@pytest.fixture
def place(db):
    return site()


def test_a_doctors_view_shows_the_birth_year_not_the_date_and_the_number_is_not_rebuilt(client, place):
    people = [f.resident(born=date(1950, 1, 1) + timedelta(days=37 * i), home_window_id=place.centre.windows[0].id)
              for i in range(30)]
    rebuilt = 0
    for person in people:
        body = client.get(f"/api/v1/residents/{person.id}", headers=f.as_staff(place.doctor)).get_json()
        assert "birth_date" not in body and body["birth_year"] == person.birth_date.year
        assert dates_in(body) == []  # no date at all beside the mask (died_on is null)
        found = candidates(body["id_number"], birth_year=body["birth_year"], region=body["insurance_region_code"])
        assert person.id_number in found
        rebuilt += len(found) == 1
    assert rebuilt == 0


def test_the_worklist_and_a_households_visits_show_no_id_number_beside_visit_dates(client, place):
    child = signed(client, place, born=add_months(date(2026, 3, 16), -3))
    page = client.get("/api/v1/worklist", headers=f.as_staff(place.doctor)).get_json()
    assert page["items"] and all("id_number" not in key for item in page["items"] for key in item)
    child.openid = "wx-child"
    core_db.session.commit()
    visits = client.get("/api/v1/me/visits", headers=f.as_resident(child)).get_json()["items"]
    assert visits and all("id_number" not in key for visit in visits for key in visit)


def test_a_roster_shows_staff_the_masked_number_with_the_birth_year_and_the_bureau_the_whole(client, place):
    person = f.resident(born=date(1956, 7, 1))
    agreement(person, place.centre)
    clock.advance(rosters.SETTLE + timedelta(seconds=1))  # a roster serves settled changes
    [for_staff] = client.get("/api/v1/rosters", headers=f.as_staff(place.doctor)).get_json()["items"]
    assert "*" in for_staff["id_number"] and for_staff["birth_date"] is None and for_staff["birth_year"] == 1956
    [for_bureau] = client.get("/api/v1/rosters?region=430523", headers=as_bureau()).get_json()["items"]
    assert (for_bureau["id_number"], for_bureau["birth_date"]) == (person.id_number, "1956-07-01")


def test_a_resident_sees_their_household_masked_with_birth_years(client, place):
    parent = f.resident(openid="wx-parent")
    f.resident(born=date(2020, 2, 29), household=parent.household)
    body = client.get("/api/v1/me", headers=f.as_resident(parent)).get_json()
    assert "birth_date" not in body and dates_in(body) == []
    assert [m["birth_year"] for m in body["household"]] == [2020]
