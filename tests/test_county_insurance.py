"""Insurance enrolment pushed by the bureau (issue part D; POLICY.md signing rule 6, rule 10 effective dates)."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import select

from core import db as core_db
from core.crypto import lookup_hash
from registry import insurance
from registry.models import HeldEnrolment, InsuranceFact, InsuranceScheme, Resident
from signing.models import Agreement
from tests import factories as f
from tests.county_helpers import as_admin, count
from tests.identity_support import bind, login
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


def test_a_batch_reporting_two_facts_of_one_person_for_one_date_refuses_the_second_and_twice_changes_nothing(client, centres):
    person = f.resident(insured_in=None)
    batch = (_item(person), _item(person, scheme="employee"))
    first = _push(client, *batch).get_json()
    assert (first["applied"], first["refused"]) == (1, [{"index": 1, "field": "valid_from",
                                                        "why": "This person's fact from this date is in the batch already."}])
    again = _push(client, *batch).get_json()
    assert (again["applied"], again["unchanged"]) == (0, 1)
    assert core_db.session.get(Resident, person.id).insurance_scheme is InsuranceScheme.RESIDENT


def test_a_self_registered_resident_whose_id_number_and_name_match_the_enrolment_becomes_verified_and_counts(client, centres):
    person = f.resident(insured_in=None, verified=False, name="赵敏")
    signed = agreement(person, centres["home"], counted=False)
    body = _push(client, _item(person, name="赵敏")).get_json()
    assert (body["applied"], body["verified"]) == (1, 1)
    held = core_db.session.get(Resident, person.id)
    assert held.verified and held.verified_by.startswith("insurance:")
    assert core_db.session.get(Agreement, signed.id).counts_for_capitation is True
    again = _push(client, _item(person, name="赵敏")).get_json()
    assert (again["applied"], again["unchanged"], again["verified"]) == (0, 1, 0)


def test_a_name_that_does_not_match_verifies_nobody_and_is_reported(client, centres):
    person = f.resident(insured_in=None, verified=False, name="赵敏")
    signed = agreement(person, centres["home"], counted=False)
    body = _push(client, _item(person, name="赵明")).get_json()
    assert (body["applied"], body["verified"]) == (1, 0)
    assert body["not_verified"] == [{"index": 0, "field": "name",
                                     "why": "The name differs from the record's: the record stays unverified."}]
    assert not core_db.session.get(Resident, person.id).verified
    assert core_db.session.get(Agreement, signed.id).counts_for_capitation is False


def test_an_enrolment_without_a_name_verifies_nobody(client, centres):
    person = f.resident(insured_in=None, verified=False)
    assert _push(client, _item(person)).get_json()["verified"] == 0
    assert not core_db.session.get(Resident, person.id).verified


def _file(rows, header=("姓名", "身份证号", "险种类型", "参保地", "开始日期", "终止日期"), encoding="gbk") -> bytes:
    lines = [",".join(header), *(",".join(row) for row in rows)]
    return "\n".join(lines).encode(encoding)


def _push_file(client, content: bytes, filename="enrolments.csv", region="430523"):
    return client.post("/api/v1/insurance/enrolment-files", headers=as_bureau(region), content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), filename)})


def test_a_file_of_enrolments_is_applied_as_a_batch_with_row_numbers_in_the_report(client, centres):
    person = f.resident(insured_in=None, verified=False, name="钱多")
    stranger = f.id_number(date(1970, 1, 1))
    content = _file([("钱多", person.id_number, "城乡居民", "430523", "2026-01-01", ""),
                     ("孙少", stranger, "职工医保", "430523", "2026/01/01", "2026-12-31"),
                     ("李白", person.id_number, "城乡居民", "430523", "2026-13-01", "")])
    response = _push_file(client, content)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["applied"], body["verified"]) == (1, 1)
    assert body["unmatched"] == [{"index": 3, "id_number": stranger[:3] + "*" * 11 + stranger[-4:]}]
    assert body["refused"] == [{"index": 4, "field": "开始日期", "why": "A date is written YYYY-MM-DD."}]
    assert core_db.session.get(Resident, person.id).insurance_scheme is InsuranceScheme.RESIDENT
    again = _push_file(client, content).get_json()
    assert (again["applied"], again["unchanged"]) == (0, 1)
    assert count(InsuranceFact) == 1


def test_an_enrolment_file_without_its_id_number_column_is_422_and_nothing_is_written(client, centres):
    response = _push_file(client, _file([("钱多", "城乡居民")], header=("姓名", "险种类型")))
    assert response.status_code == 422 and "file" in response.get_json()["errors"]["files"]
    assert count(InsuranceFact) == 0


def test_only_the_bureau_pushes_an_enrolment_file(client, centres):
    response = client.post("/api/v1/insurance/enrolment-files", headers=as_admin(), content_type="multipart/form-data",
                           data={"file": (io.BytesIO(_file([])), "enrolments.csv")})
    assert response.status_code == 403


def test_a_fact_the_bureau_reports_puts_the_person_in_the_insurance_master_file_even_when_nothing_else_changes(client, centres):
    person = f.resident()  # recorded by staff: resident scheme in 邵阳县, as the bureau then reports it
    assert core_db.session.get(Resident, person.id).in_insurance_master is False
    assert _push(client, _item(person)).get_json()["applied"] == 1
    assert core_db.session.get(Resident, person.id).in_insurance_master is True


def test_insurance_that_ends_takes_the_person_out_of_the_insurance_master_file(client, centres):
    person = f.resident(insured_in=None)
    assert _push(client, _item(person, valid_to="2026-03-20")).get_json()["applied"] == 1
    assert core_db.session.get(Resident, person.id).in_insurance_master is True
    insurance.apply_due(date(2026, 3, 21))
    assert core_db.session.get(Resident, person.id).in_insurance_master is False


def test_a_large_enrolment_file_is_recorded_in_chunks_and_a_fact_twice_across_chunks_is_still_refused(client, centres, monkeypatch):
    monkeypatch.setattr(insurance, "FILE_CHUNK", 2)
    people = [f.resident(insured_in=None) for _ in range(3)]
    rows = [(p.name, p.id_number, "城乡居民", "430523", "2026-01-01", "") for p in people]
    body = _push_file(client, _file([*rows, rows[0]])).get_json()
    assert (body["applied"], body["refused"]) == (3, [{"index": 5, "field": "开始日期",
                                                      "why": "This person's fact from this date is in the batch already."}])
    assert count(InsuranceFact) == 3


def test_a_file_row_bad_in_three_columns_is_reported_with_all_three_and_nothing_is_written(client, centres):
    person = f.resident(insured_in=None)
    body = _push_file(client, _file([("某", person.id_number, "未参保", "邵阳县", "2026-01-01", "2025-01-01")])).get_json()
    assert [(entry["index"], entry["field"]) for entry in body["refused"]] == [(2, "险种类型"), (2, "参保地"), (2, "终止日期")]
    assert count(InsuranceFact) == 0


def _stranger(birth=date(1988, 5, 6)) -> str:
    return f.id_number(birth)


def _enrol_stranger(client, number: str, **overrides) -> dict:
    body = _push(client, {"id_number": number, "scheme": "resident", "region_code": "430523",
                          "valid_from": "2026-01-01", **overrides}).get_json()
    assert len(body["unmatched"]) == 1
    return body


def _self_register(client, number: str, name: str) -> Resident:
    response = bind(client, login(client, f"held-{number[-6:]}"), number, name)
    assert response.status_code in (200, 201), response.get_json()
    return core_db.session.get(Resident, response.get_json()["id"], populate_existing=True)


def test_an_enrolment_of_someone_not_yet_registered_is_held_and_becomes_theirs_when_they_self_register(client, centres):
    """The bureau pushes the county's insured at go-live; residents register online afterwards (issue 11: nobody stays
    uninsured until a staff member PATCHes them). The held fact keeps neither the ID number nor the name in clear."""
    number = _stranger()
    _enrol_stranger(client, number, name="孙立")
    held = core_db.session.scalars(select(HeldEnrolment)).one()
    assert number not in (held.id_number_hash, held.name_hash) and held.id_number_hash == lookup_hash(number)
    assert count(InsuranceFact) == 0

    person = _self_register(client, number, "孙立")
    assert (person.insurance_scheme, person.insurance_region_code, person.in_insurance_master) == (
        InsuranceScheme.RESIDENT, "430523", True)
    assert person.verified and person.verified_by.startswith("insurance:")
    assert [fact.valid_from for fact in core_db.session.scalars(select(InsuranceFact).where(
        InsuranceFact.resident_id == person.id))] == [date(2026, 1, 1)]
    assert count(HeldEnrolment) == 0


def test_a_held_enrolment_whose_name_differs_gives_the_insurance_but_verifies_nobody(client, centres):
    number = _stranger()
    _enrol_stranger(client, number, name="孙立")
    person = _self_register(client, number, "孙丽")
    assert person.insurance_scheme is InsuranceScheme.RESIDENT and not person.verified


def test_the_same_held_enrolment_pushed_again_is_held_once_and_a_new_answer_replaces_it(client, centres):
    number = _stranger()
    for _ in range(2):
        _enrol_stranger(client, number)
    _enrol_stranger(client, number, scheme="employee")
    held = core_db.session.scalars(select(HeldEnrolment)).one()
    assert held.scheme is InsuranceScheme.EMPLOYEE


def test_an_imported_resident_takes_the_enrolment_held_for_them(client, centres):
    number = _stranger(date(1961, 2, 3))
    _enrol_stranger(client, number, valid_from="2026-02-01")
    content = f"姓名,身份证号\n孙立,{number}\n".encode()
    response = client.post("/api/v1/imports", headers=as_admin(), content_type="multipart/form-data",
                           data={"centre_id": str(centres["home"].id), "file": (io.BytesIO(content), "export.csv")})
    assert response.get_json()["created"] == 1
    person = core_db.session.scalar(select(Resident).where(Resident.id_number_hash == lookup_hash(number))
                                    .execution_options(populate_existing=True))
    assert (person.insurance_scheme, person.in_insurance_master) == (InsuranceScheme.RESIDENT, True)
    assert count(HeldEnrolment) == 0

