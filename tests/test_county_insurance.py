"""Insurance enrolment pushed by the bureau (issue part D; POLICY.md signing rule 6, rule 10 effective dates)."""

from __future__ import annotations

from datetime import date

from core import db as core_db
from registry import insurance
from registry.models import InsuranceFact, InsuranceScheme, Resident
from signing.models import Agreement
from tests import factories as f
from tests.county_helpers import count
from tests.settlement_helpers import agreement, as_bureau


def _push(client, *items, region="430523"):
    return client.post("/api/v1/insurance/enrolments", headers=as_bureau(region), json={"items": list(items)})


def _item(person, **overrides):
    return {"id_number": person.id_number, "scheme": "resident", "region_code": "430523", "valid_from": "2026-01-01",
            **overrides}


def test_an_enrolment_makes_a_signed_uninsured_resident_count_for_capitation(client, centres):
    person = f.resident(insured_in=None)
    signed = agreement(person, centres["home"], counted=False)
    response = _push(client, _item(person))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["applied"] == 1
    assert core_db.session.get(Resident, person.id).insurance_scheme is InsuranceScheme.RESIDENT
    assert core_db.session.get(Agreement, signed.id).counts_for_capitation is True


def test_the_same_batch_again_changes_nothing(client, centres):
    person = f.resident(insured_in=None)
    assert _push(client, _item(person)).get_json()["applied"] == 1
    again = _push(client, _item(person)).get_json()
    assert (again["applied"], again["unchanged"]) == (0, 1)
    assert count(InsuranceFact) == 1


def test_unmatched_id_numbers_come_back_masked_in_the_report(client, centres):
    stranger = f.id_number(date(1970, 1, 1))
    body = _push(client, {"id_number": stranger, "scheme": "employee", "region_code": "430523",
                          "valid_from": "2026-01-01"}).get_json()
    assert body["unmatched"] == [{"index": 0, "id_number": stranger[:3] + "*" * 11 + stranger[-4:]}]
    assert count(InsuranceFact) == 0


def test_a_fact_for_another_region_is_refused_and_nothing_is_written(client, centres):
    person = f.resident(insured_in=None)
    body = _push(client, _item(person, region_code="440823")).get_json()
    assert body["refused"] == [{"index": 0, "field": "region_code", "why": "Not a region of your pooling region."}]
    assert count(InsuranceFact) == 0
    assert core_db.session.get(Resident, person.id).insurance_scheme is InsuranceScheme.UNINSURED


def test_a_batch_with_a_bad_scheme_is_422_and_nothing_is_written(client, centres):
    person = f.resident(insured_in=None)
    response = _push(client, _item(person, scheme="uninsured"))
    assert response.status_code == 422
    assert count(InsuranceFact) == 0


def test_a_change_from_a_later_date_counts_from_its_date(client, centres):
    person = f.resident()  # insured in 邵阳县 (resident scheme)
    assert _push(client, _item(person, scheme="employee", valid_from="2026-04-01")).get_json()["applied"] == 1
    assert core_db.session.get(Resident, person.id).insurance_scheme is InsuranceScheme.RESIDENT
    insurance.apply_due(date(2026, 3, 31))
    assert core_db.session.get(Resident, person.id).insurance_scheme is InsuranceScheme.RESIDENT
    insurance.apply_due(date(2026, 4, 1))
    assert core_db.session.get(Resident, person.id).insurance_scheme is InsuranceScheme.EMPLOYEE


def test_insurance_that_ends_leaves_the_resident_uninsured_the_day_after_and_not_counted(client, centres):
    person = f.resident(insured_in=None)
    signed = agreement(person, centres["home"], counted=False)
    assert _push(client, _item(person, valid_to="2026-03-20")).get_json()["applied"] == 1
    assert core_db.session.get(Agreement, signed.id).counts_for_capitation is True
    insurance.apply_due(date(2026, 3, 21))
    assert core_db.session.get(Resident, person.id).insurance_scheme is InsuranceScheme.UNINSURED
    assert core_db.session.get(Agreement, signed.id).counts_for_capitation is False


def test_an_old_15_digit_id_number_matches_the_person(client, centres):
    person = f.resident(insured_in=None, born=date(1956, 7, 1))
    old = person.id_number[:6] + person.id_number[8:17]
    assert _push(client, _item(person, id_number=old)).get_json()["applied"] == 1
