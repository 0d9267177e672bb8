"""One person, one row, whatever form the digits came in (POLICY.md signing rule 10).

The attack of the issue: ID numbers with non-ASCII digits (full-width ４３０５… with an ASCII check
character, a single full-width digit, Arabic-Indic digits) were accepted as a different person, so
one person signed twice in a cycle and stood twice on the bureau's roster (`\\d` matches Unicode
digits). Full-width digits are what a Chinese phone keyboard types: they are normalised (NFKC) and
then validated as ASCII; other scripts' digits are refused. The same holds for every numeric input.
"""

from datetime import date

import marshmallow as ma
import pytest
from sqlalchemy import func, select

from core import clock
from core import db as core_db
from core import schemas as core_schemas
from registry.idcard import InvalidIdNumber, parse_id_number
from registry.models import Resident
from tests import factories as f
from tests.identity_support import bind, login, register_on_site, residents_count
from tests.request_schemas import request_fields

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def full_width(number: str, *, keep_check=False) -> str:
    return number[:17].translate(FULL_WIDTH) + (number[17] if keep_check else number[17].translate(FULL_WIDTH))


def one_full_width_digit(number: str) -> str:
    return number[:5] + number[5].translate(FULL_WIDTH) + number[6:]


def rows_of(number: str) -> int:
    return core_db.session.scalar(select(func.count(Resident.id)).where(Resident.id_number_hash == f.crypto.lookup_hash(number)))


@pytest.mark.parametrize("spelling", [full_width, lambda n: full_width(n, keep_check=True), one_full_width_digit],
                         ids=["full-width", "full-width-with-ascii-check", "one-full-width-digit"])
def test_self_binding_reads_full_width_digits_as_the_same_person(client, wechat, home, spelling):
    person = f.resident(name="王五", phone="13700001111", registered_by_centre_id=home.id)
    count = residents_count()
    response = bind(client, login(client, "wang"), spelling(person.id_number), name="王五", phone_code="phone-13700001111")
    assert response.status_code == 200 and response.get_json()["id"] == person.id
    assert residents_count() == count


def test_a_self_registration_in_full_width_is_stored_once_in_ascii(client, wechat, home, doctor):
    number = f.id_number(date(1991, 1, 1))
    headers = login(client, "fw")
    created = bind(client, headers, full_width(number), name="全角")
    assert created.status_code == 200 and rows_of(number) == 1
    assert core_db.session.get(Resident, created.get_json()["id"]).id_number == number
    again = register_on_site(client, doctor, name="全角", id_number=number, identity_document="id_card")
    assert again.status_code == 200 and again.get_json()["id"] == created.get_json()["id"]


@pytest.mark.parametrize("spelling", [lambda n: n[:17].translate(ARABIC_INDIC) + n[17],
                                      lambda n: n[:6] + n[6].translate(ARABIC_INDIC) + n[7:]],
                         ids=["arabic-indic", "one-arabic-indic-digit"])
def test_other_scripts_digits_are_422_naming_id_number_at_every_entry_point_and_nothing_is_written(
        client, wechat, home, doctor, spelling):
    number = spelling(f.id_number(date(1991, 1, 1)))
    adult = f.resident(openid="wx-adult")
    count = residents_count()
    answers = [
        bind(client, login(client, "arabic"), number, name="某人"),
        register_on_site(client, doctor, name="某人", id_number=number, identity_document="id_card"),
        client.post("/api/v1/me/household-members", json={"name": "某人", "id_number": number}, headers=f.as_resident(adult)),
    ]
    for answer in answers:
        assert answer.status_code == 422 and "id_number" in answer.get_json()["errors"]["json"], answer.get_json()
    assert residents_count() == count


def test_on_site_registration_reads_full_width_digits_as_the_same_person(client, home, doctor):
    person = f.resident(home_window_id=home.windows[0].id)
    count = residents_count()
    response = register_on_site(client, doctor, name=person.name, id_number=full_width(person.id_number))
    assert response.status_code == 200 and response.get_json()["id"] == person.id
    assert residents_count() == count


def test_a_household_member_in_full_width_is_one_row(client, wechat, home):
    parent = f.resident(openid="wx-parent")
    number = f.id_number(date(2020, 8, 8))
    headers = f.as_resident(parent)
    first = client.post("/api/v1/me/household-members", json={"name": "小宝", "id_number": full_width(number)}, headers=headers)
    again = client.post("/api/v1/me/household-members", json={"name": "小宝", "id_number": number}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"] and rows_of(number) == 1


def test_the_one_parser_every_import_will_use_normalises_then_validates():
    number = f.id_number(date(1956, 7, 1))
    assert parse_id_number(full_width(number).lower(), today=clock.today()).value == number
    with pytest.raises(InvalidIdNumber):
        parse_id_number(number[:17].translate(ARABIC_INDIC) + number[17], today=clock.today())


def _numeric_checks(where, field):
    """Each number field and each digit pattern of a request field, and whether it takes ASCII digits only."""
    if isinstance(field, ma.fields.Number):
        yield where, isinstance(field, (core_schemas.Integer, core_schemas.Decimal, core_schemas.Float))
    for validator in getattr(field, "validators", []):
        if isinstance(validator, ma.validate.Regexp):
            yield f"{where} ~ {validator.regex.pattern}", "\\d" not in validator.regex.pattern


def test_every_numeric_input_takes_ascii_digits_only(app):
    lax = [path for where, field in request_fields(app) for path, ok in _numeric_checks(where, field) if not ok]
    assert lax == []


def test_numbers_in_query_and_path_take_ascii_and_full_width_digits_only(client, home, doctor):
    headers = f.as_staff(doctor)
    assert client.get("/api/v1/centres?region=４３０５２３").status_code == 200
    assert client.get("/api/v1/centres?region=٤٣٠٥٢٣").status_code == 422
    assert client.get("/api/v1/agreements?limit=５", headers=headers).status_code == 200
    assert client.get("/api/v1/agreements?limit=٥", headers=headers).status_code == 422
    person = f.resident(home_window_id=home.windows[0].id)
    assert client.get(f"/api/v1/residents/{person.id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/residents/{str(person.id).translate(ARABIC_INDIC)}", headers=headers).status_code == 404


def test_a_phone_and_a_region_code_are_stored_in_ascii(client, home, doctor):
    number = f.id_number(date(1960, 1, 1))
    response = register_on_site(client, doctor, name="赵六", id_number=number, identity_document="id_card",
                                phone="１３７００００２２２２", insurance_region_code="４３０５２３")
    assert response.status_code == 201
    person = core_db.session.get(Resident, response.get_json()["id"])
    assert (person.phone, person.insurance_region_code) == ("13700002222", "430523")
    refused = register_on_site(client, doctor, name="钱七", id_number=f.id_number(date(1961, 1, 1)),
                               identity_document="id_card", phone="١٣٧٠٠٠٠٢٢٢٢")
    assert refused.status_code == 422 and "phone" in refused.get_json()["errors"]["json"]
