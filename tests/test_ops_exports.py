"""Exports keep text as text: CSV cells that a spreadsheet would run as a formula are neutralised (OWASP's
list: = + - @, tab, carriage return), XLSX cells are real strings; and a name that shows nothing is refused."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import marshmallow as ma
import openpyxl
import pytest
from sqlalchemy import func, select

from core import schemas as core_schemas
from core.config import ROOT
from core.exports import csv_cell
from registry.models import Resident, Staff
from tests import factories as f
from tests.county_helpers import as_admin
from tests.identity_support import register_on_site
from tests.request_schemas import request_fields
from tests.settlement_helpers import agreement, as_bureau
from tests.test_settlement_rosters import XLSX, settle

FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.fixture
def centre(db):
    f.regions()
    return f.centre(region="430523")


@pytest.fixture
def formula_names(centre):
    for name in FORMULAS:
        agreement(f.resident(name=name), centre)
    settle()
    return FORMULAS


def test_every_formula_start_on_the_owasp_list_is_neutralised_in_a_roster_csv(client, formula_names):
    response = client.get("/api/v1/rosters?region=430523", headers={**as_bureau(), "Accept": "text/csv"})
    names = {row["name"] for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    assert names == {"'" + name for name in formula_names}


def test_roster_xlsx_cells_are_text_showing_the_name_as_stored(client, formula_names):
    response = client.get("/api/v1/rosters?region=430523", headers={**as_bureau(), "Accept": XLSX})
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data()))["roster"]
    name_column = [cell.value for cell in sheet[1]].index("name")
    cells = [row[name_column] for row in sheet.iter_rows(min_row=2)]
    assert {cell.data_type for cell in cells} == {"s"}  # not "f": nothing runs
    # No visible apostrophe. (XML reads a bare carriage return back as a line feed: the file keeps the line break.)
    assert {cell.value for cell in cells} == {name.replace("\r", "\n") for name in formula_names}


def test_text_that_starts_otherwise_and_numbers_pass_as_they_are():
    assert [csv_cell(value) for value in ["李爱丽", "a=b", "", -3, 2.5, None, date(2026, 3, 16)]] == [
        "李爱丽", "a=b", "", -3, 2.5, None, date(2026, 3, 16)]


# Folders that write CSV as input for us, not for people: the demo's and the benchmarks' generated county files.
INPUT_MAKERS = ("tests", "bench", "demo", ".venv")


def test_every_csv_we_write_goes_through_the_neutralising_writer():
    """Rosters, import reports, and whatever comes next: csv.writer and DictWriter only in core/exports.py."""
    writers = re.compile(r"\bcsv\.(writer|DictWriter)\(")
    found = [str(path.relative_to(ROOT)) for path in ROOT.glob("*/**/*.py")
             if not any(path.is_relative_to(ROOT / folder) for folder in INPUT_MAKERS)
             and writers.search(path.read_text(encoding="utf-8"))]
    assert found == ["core/exports.py"]


INVISIBLE = {"spaces": " \u3000 ", "zero-width": "\u200b\u200c\u200d\ufeff", "bidi-override": "\u202e\u202d\u2066\u2069",
             "mixed": "\u200f \u202e\u200b", "hangul-filler": "\u3164"}


@pytest.mark.parametrize("name", list(INVISIBLE.values()), ids=list(INVISIBLE))
def test_a_resident_name_that_shows_nothing_is_422_naming_it_and_nothing_is_written(client, db, centre, name):
    doctor = f.staff(centre=centre)
    parent = f.resident(openid="wx-parent")
    residents = db.scalar(select(func.count(Resident.id)))
    answers = [
        register_on_site(client, doctor, name=name, id_number=f.id_number(date(1970, 1, 1)), identity_document="id_card"),
        client.post("/api/v1/me/household-members", json={"name": name, "id_number": f.id_number(date(2020, 1, 1))},
                    headers=f.as_resident(parent)),
    ]
    for answer in answers:
        assert answer.status_code == 422 and list(answer.get_json()["errors"]["json"]) == ["name"], answer.get_json()
    assert db.scalar(select(func.count(Resident.id))) == residents


def test_a_staff_name_that_shows_nothing_is_422_naming_it_and_nothing_is_written(client, db, centre):
    staff = db.scalar(select(func.count(Staff.id)))
    response = client.post("/api/v1/admin/staff", headers=as_admin(), json={
        "username": "doctor.blank", "name": "\u202e\u200b ", "role": "doctor", "centre_id": centre.id})
    assert response.status_code == 422 and list(response.get_json()["errors"]["json"]) == ["name"]
    assert db.scalar(select(func.count(Staff.id))) == staff


def test_a_name_with_marks_around_visible_letters_is_kept(client, centre):
    doctor = f.staff(centre=centre)
    response = register_on_site(client, doctor, name="\u200b王五 ", id_number=f.id_number(date(1971, 1, 1)),
                                identity_document="id_card")
    assert response.status_code == 201, response.get_json()


def _one_of_our_codes(field) -> bool:
    return any(isinstance(validator, ma.validate.OneOf) for validator in field.validators)


def test_every_name_a_client_sends_must_show_something(app):
    """Every `name` or `…_name` a client types; a name that must be one of our codes (a figure's) is no free text."""
    unchecked = [where for where, field in request_fields(app)
                 if re.search(r"\.(\w+_)?name$", where) and isinstance(field, ma.fields.String)
                 and not isinstance(field, core_schemas.Name) and not _one_of_our_codes(field)]
    assert unchecked == []


def test_an_imported_row_whose_name_shows_nothing_is_refused_and_reported_naming_name(client, db):
    from tests.test_county_imports import _csv, _upload

    f.regions()
    centre = f.centre(region="430523")
    residents = db.scalar(select(func.count(Resident.id)))
    content = _csv([["\u200b\u202e ", f.id_number(date(1960, 1, 1))]], header=["name", "id_number"], encoding="utf-8")
    response = _upload(client, centre, content)
    assert (response.get_json()["created"], response.get_json()["refused"]) == (0, 1)
    report = client.get(f"/api/v1/imports/{response.get_json()['id']}/report.csv", headers=as_admin())
    lines = list(csv.reader(io.StringIO(report.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[1][:2] == ["2", "name"] and db.scalar(select(func.count(Resident.id))) == residents
