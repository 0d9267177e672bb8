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

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def full_width(number: str, *, keep_check=False) -> str:
    return number[:17].translate(FULL_WIDTH) + (number[17] if keep_check else number[17].translate(FULL_WIDTH))


@pytest.fixture
def home(db):
    f.regions()
    return f.centre()


@pytest.fixture
def doctor(home):
    return f.staff(centre=home)


def rows_of(number: str) -> int:
    return core_db.session.scalar(select(func.count(Resident.id)).where(Resident.id_number_hash == f.crypto.lookup_hash(number)))


def test_on_site_registration_reads_full_width_digits_as_the_same_person(client, home, doctor):
    person = f.resident(registered_by_centre_id=home.id)
    response = client.post("/api/v1/residents", json={"name": person.name, "id_number": full_width(person.id_number)},
                           headers=f.as_staff(doctor))
    assert response.status_code == 200 and response.get_json()["id"] == person.id
    assert rows_of(person.id_number) == 1


def test_a_household_member_in_full_width_is_one_row(client, home):
    parent = f.resident(openid="wx-parent")
    number = f.id_number(date(2020, 8, 8))
    headers = f.as_resident(parent)
    first = client.post("/api/v1/me/household-members", json={"name": "小宝", "id_number": full_width(number)}, headers=headers)
    again = client.post("/api/v1/me/household-members", json={"name": "小宝", "id_number": number}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"] and rows_of(number) == 1


def test_the_one_parser_every_entry_point_uses_normalises_then_validates():
    number = f.id_number(date(1956, 7, 1))
    for spelling in (full_width(number), full_width(number, keep_check=True), number[:5] + number[5].translate(FULL_WIDTH) + number[6:]):
        assert parse_id_number(spelling.lower(), today=clock.today()).value == number
    for spelling in (number[:17].translate(ARABIC_INDIC) + number[17], number[:6] + number[6].translate(ARABIC_INDIC) + number[7:]):
        with pytest.raises(InvalidIdNumber):
            parse_id_number(spelling, today=clock.today())


def _numeric_fields(schema, path=""):
    """Every number field and every digit pattern of a request schema, with its path."""
    schema = schema() if isinstance(schema, type) else schema
    for name, field in schema.fields.items():
        yield from _field(field, f"{path}.{name}")


def _field(field, path):
    if isinstance(field, ma.fields.Nested):
        yield from _numeric_fields(field.schema, path)
    elif isinstance(field, ma.fields.List):
        yield from _field(field.inner, f"{path}[]")
    elif isinstance(field, ma.fields.Number):
        yield path, isinstance(field, (core_schemas.Integer, core_schemas.Decimal))
    for validator in getattr(field, "validators", []):
        if isinstance(validator, ma.validate.Regexp):
            yield f"{path} ~ {validator.regex.pattern}", "\\d" not in validator.regex.pattern


def test_every_numeric_input_takes_ascii_digits_only(app):
    lax = []
    for endpoint, view in app.view_functions.items():
        view_class = getattr(view, "view_class", None)
        for method in ("get", "post", "put", "patch", "delete"):
            handler = getattr(view_class, method, None) if view_class else None
            for parameter in getattr(handler, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                lax += [f"{endpoint} {method} {path}" for path, ok in _numeric_fields(parameter["schema"]) if not ok]
    assert lax == []


def test_numbers_in_query_and_path_take_ascii_and_full_width_digits_only(client, home, doctor):
    headers = f.as_staff(doctor)
    assert client.get("/api/v1/centres?region=４３０５２３").status_code == 200
    assert client.get("/api/v1/centres?region=٤٣٠٥٢٣").status_code == 422
    assert client.get("/api/v1/agreements?limit=５", headers=headers).status_code == 200
    assert client.get("/api/v1/agreements?limit=٥", headers=headers).status_code == 422
    person = f.resident(registered_by_centre_id=home.id)
    assert client.get(f"/api/v1/residents/{person.id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/residents/{str(person.id).translate(ARABIC_INDIC)}", headers=headers).status_code == 404


def test_a_phone_and_a_region_code_are_stored_in_ascii(client, home, doctor):
    response = client.post("/api/v1/residents", headers=f.as_staff(doctor), json={
        "name": "赵六", "id_number": f.id_number(date(1960, 1, 1)), "phone": "１３７００００２２２２",
        "insurance_region_code": "４３０５２３"})
    assert response.status_code == 201
    person = core_db.session.get(Resident, response.get_json()["id"])
    assert (person.phone, person.insurance_region_code) == ("13700002222", "430523")
    refused = client.post("/api/v1/residents", headers=f.as_staff(doctor), json={
        "name": "钱七", "id_number": f.id_number(date(1961, 1, 1)), "phone": "١٣٧٠٠٠٠٢٢٢٢"})
    assert refused.status_code == 422 and "phone" in refused.get_json()["errors"]["json"]
