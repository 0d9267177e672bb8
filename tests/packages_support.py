"""Helpers for the packages tests: a centre with a doctor and an admin, residents signed through the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core import db as core_db
from core.auth import Role
from registry.models import Centre, Household, Resident, Sex, Staff
from tests import factories as f

CONSENT = "2025-01"


@dataclass
class Site:
    centre: Centre
    doctor: Staff
    admin: Staff

    @property
    def team_id(self) -> int:
        return self.centre.teams[0].id


def site() -> Site:
    f.regions()
    centre = f.centre()
    return Site(centre, f.staff(centre=centre), f.staff(role=Role.CENTRE_ADMIN, centre=centre))


def sign(client, place: Site, person: Resident, *, package_codes=(), guardian: Resident | None = None):
    """The centre's doctor signs a person of its villages (its service area, POLICY.md signing rule 10)."""
    if person.home_window_id is None:
        person.home_window_id = place.centre.windows[0].id
        core_db.session.commit()
    body = {"centre_id": place.centre.id, "team_id": place.team_id, "resident_ids": [person.id], "term_years": 1,
            "consent_version": CONSENT, "package_codes": list(package_codes)}
    if guardian is not None:
        body["guardian_id"] = guardian.id
    return client.post("/api/v1/agreements", json=body, headers=f.as_staff(place.doctor))


def signed(client, place: Site, *, born: date, sex: Sex = Sex.FEMALE, package_codes=(), **fields) -> Resident:
    household = Household()
    person = f.resident(born=born, sex=sex, household=household, **fields)
    guardian = f.resident(born=date(1990, 1, 1), household=household) if born > date(2012, 3, 16) else None
    response = sign(client, place, person, package_codes=package_codes, guardian=guardian)
    assert response.status_code == 201, response.get_json()
    return person


def price(client, place: Site, code: str, fen: int):
    return client.put(f"/api/v1/packages/{code}/prices/{place.centre.id}", json={"price_fen": fen},
                      headers=f.as_staff(place.admin))
