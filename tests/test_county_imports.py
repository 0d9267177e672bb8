"""Bulk import of residents and households (issue part C): county exports as they come, every row checked
with the API's rules, a bad row refused whole and reported, the same file twice changing nothing."""

from __future__ import annotations

import csv
import io
import time
from datetime import date

import openpyxl
import pytest
from sqlalchemy import select

from core import clock
from core import db as core_db
from core.auth import Role
from core.crypto import lookup_hash
from registry import imports
from registry.idcard import check_character
from registry.models import Condition, Household, Import, ImportStatus, PopulationTag, Pregnancy, Resident
from tests import factories as f
from tests.county_helpers import as_admin, count

HEADER_ZH = ["序号", "姓名", "身份证号", "性别", "出生日期", "联系电话", "户号", "参保类型", "参保地", "村卫生室", "备注"]


def _id(birth: date, sex: str = "F") -> str:
    return f.id_number(birth, sex=f.Sex.MALE if sex == "M" else f.Sex.FEMALE)


def _csv(rows, header=HEADER_ZH, encoding="gbk") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _upload(client, centre, content: bytes, filename="export.csv", headers=None):
    return client.post("/api/v1/imports", headers=headers or as_admin(), content_type="multipart/form-data",
                       data={"centre_id": str(centre.id), "file": (io.BytesIO(content), filename)})


def finished(client, import_id: int) -> dict:
    """Poll a background import's progress (GET /api/v1/imports/{id}) until it ends (or 30 s pass)."""
    deadline = time.monotonic() + 30
    while True:
        core_db.session.remove()  # the test's app context outlives requests: end its read transaction, as a request would
        status = client.get(f"/api/v1/imports/{import_id}", headers=as_admin()).get_json()
        if status["status"] in (ImportStatus.DONE.value, ImportStatus.FAILED.value) or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def _family(centre):
    father, mother, child = _id(date(1970, 2, 3), "M"), _id(date(1972, 4, 5)), _id(date(2021, 6, 7), "M")
    clinic = centre.windows[0]
    return father, [
        ["1", "张大山", father, "男", "1970-02-03", "13812345678", "HH-001", "城乡居民", "430523", clinic.name, ""],
        ["2", "王秀英", mother, "女", "1972/04/05", "", "HH-001", "居民医保", "邵阳县", clinic.code, ""],
        ["3", "张小明", child, "男", "20210607", "", "HH-001", "", "", "", "新生儿"],
    ]


def test_gbk_export_with_chinese_headers_registers_residents_and_their_household(client, centres):
    father, rows = _family(centres["home"])
    response = _upload(client, centres["home"], _csv(rows))
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["status"], body["created"], body["refused"], body["rows_done"], body["total_rows"]) == ("done", 3, 0, 3, 3)
    people = core_db.session.query(Resident).filter(Resident.registered_by_centre_id == centres["home"].id).all()
    assert len({person.household_id for person in people}) == 1
    dad = next(p for p in people if p.id_number == father)
    assert dad.home_window_id == centres["home"].windows[0].id and dad.insurance_region_code == "430523"


def test_utf8_export_with_a_bom_and_english_headers_is_read(client, centres):
    number = _id(date(1960, 1, 1))
    content = b"\xef\xbb\xbf" + _csv([["Ann", number, "13900001111"]], header=["name", "id_number", "phone"], encoding="utf-8")
    response = _upload(client, centres["home"], content)
    assert response.get_json()["created"] == 1


def test_xlsx_export_is_read(client, centres):
    _, rows = _family(centres["home"])
    book = openpyxl.Workbook()
    book.active.append(HEADER_ZH)
    for row in rows:
        book.active.append(row)
    content = io.BytesIO()
    book.save(content)
    response = _upload(client, centres["home"], content.getvalue(), filename="export.xlsx")
    assert response.get_json()["created"] == 3, response.get_json()


def test_old_15_digit_id_number_becomes_18_digits_with_its_check_character(client, centres):
    old = "430523560701001"  # born 1956-07-01
    first17 = "43052319560701001"
    assert imports.eighteen_digits(old) == first17 + check_character(first17)
    response = _upload(client, centres["home"], _csv([["老人", old]], header=["姓名", "身份证号"]))
    assert response.get_json()["created"] == 1
    person = core_db.session.query(Resident).filter(Resident.name == "老人").one()
    assert person.id_number == first17 + check_character(first17) and person.birth_date == date(1956, 7, 1)


def test_bad_rows_are_refused_whole_and_reported_with_row_column_and_why(client, centres):
    good, wrong_check = _id(date(1980, 1, 1)), _id(date(1981, 1, 1))
    wrong_check = wrong_check[:17] + ("0" if wrong_check[17] != "0" else "1")
    rows = [["甲", good, "女", "", "13812345678"], ["乙", wrong_check, "", "", ""], ["丙", _id(date(1982, 1, 1)), "", "", "12345"],
            ["丁", _id(date(1983, 1, 1), "M"), "女", "", ""]]
    before = count(Resident)
    response = _upload(client, centres["home"], _csv(rows, header=["姓名", "身份证号", "性别", "出生日期", "联系电话"]))
    assert (response.get_json()["created"], response.get_json()["refused"]) == (1, 3)
    assert count(Resident) == before + 1
    report = client.get(f"/api/v1/imports/{response.get_json()['id']}/report.csv", headers=as_admin())
    assert report.status_code == 200 and report.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(report.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == list(imports.REPORT_HEADER)
    assert [(row, column) for row, column, _ in lines[1:]] == [("3", "身份证号"), ("4", "联系电话"), ("5", "性别")]


def test_running_the_same_file_again_changes_nothing(client, centres):
    _, rows = _family(centres["home"])
    content = _csv(rows)
    assert _upload(client, centres["home"], content).get_json()["created"] == 3
    residents, households = count(Resident), count(Household)
    again = _upload(client, centres["home"], content).get_json()
    assert (again["created"], again["unchanged"], again["refused"]) == (0, 3, 0)
    assert (count(Resident), count(Household)) == (residents, households)


def test_a_different_name_for_a_registered_id_number_is_refused(client, centres):
    known = f.resident(name="李四")
    response = _upload(client, centres["home"], _csv([["李五", known.id_number]], header=["姓名", "身份证号"]))
    assert (response.get_json()["created"], response.get_json()["refused"]) == (0, 1)
    assert core_db.session.get(Resident, known.id).name == "李四"


def test_id_number_stored_as_an_excel_number_is_refused_with_a_hint(client, centres):
    book = openpyxl.Workbook()
    book.active.append(["姓名", "身份证号"])
    book.active.append(["王五", 430523198001010000])
    content = io.BytesIO()
    book.save(content)
    response = _upload(client, centres["home"], content.getvalue(), filename="export.xlsx")
    assert response.get_json()["refused"] == 1


def test_a_file_without_an_id_number_column_is_422_and_nothing_is_written(client, centres):
    response = _upload(client, centres["home"], _csv([["王五", "x"]], header=["姓名", "住址"]))
    assert response.status_code == 422 and "file" in response.get_json()["errors"]["files"]
    assert count(Import) == 0


def test_centre_administrator_cannot_import_into_another_centre_and_nothing_is_written(client, centres):
    admin = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"]))
    _, rows = _family(centres["other"])
    before = count(Resident)
    response = _upload(client, centres["other"], _csv(rows), headers=admin)
    assert response.status_code == 403
    assert (count(Resident), count(Import)) == (before, 0)


def test_cli_imports_a_file_with_a_progress_bar(app, centres, tmp_path):
    _, rows = _family(centres["home"])
    path = tmp_path / "export.csv"
    path.write_bytes(_csv(rows, encoding="gb18030"))
    result = app.test_cli_runner().invoke(args=["registry", "import-residents", str(path), "--centre", str(centres["home"].id)])
    assert result.exit_code == 0, result.output
    assert "3 registered, 0 already registered, 0 refused" in result.output


def test_a_large_file_runs_in_the_background_and_reports_progress(app, committed_db, monkeypatch):
    monkeypatch.setattr(imports, "BACKGROUND_ROWS", 10)
    monkeypatch.setattr(imports, "BATCH", 7)
    f.regions()
    centre = f.centre()
    rows = [[f"居民{i}", _id(date(1950 + i % 50, 1 + i % 12, 1 + i % 28))] for i in range(40)]
    client = app.test_client()
    response = _upload(client, centre, _csv(rows, header=["姓名", "身份证号"]))
    assert response.status_code == 202 and response.get_json()["total_rows"] == 40
    status = finished(client, response.get_json()["id"])
    assert (status["status"], status["rows_done"], status["created"]) == ("done", 40, 40)


@pytest.mark.parametrize("raw,sex", [("男", "M"), ("2", "F"), ("female", "F")])
def test_sex_is_read_in_the_ways_exports_write_it(raw, sex):
    assert imports.SEXES[raw.lower()].value == sex


def test_chronic_conditions_are_recorded_once_with_their_diagnosis_date(client, centres):
    number = _id(date(1950, 1, 1), "M")
    content = _csv([["赵六", number, "高血压、2型糖尿病", "2020-05-01"]], header=["姓名", "身份证号", "慢病", "确诊日期"])
    assert _upload(client, centres["home"], content).get_json()["created"] == 1
    person = core_db.session.query(Resident).filter(Resident.name == "赵六").one()
    kinds = {c.kind.value for c in core_db.session.query(Condition).filter(Condition.resident_id == person.id)}
    assert kinds == {"hypertension", "diabetes"}
    assert _upload(client, centres["home"], content).get_json()["unchanged"] == 1
    assert count(Condition, Condition.resident_id == person.id) == 2


def test_a_condition_without_its_diagnosis_date_refuses_the_row_whole(client, centres):
    before = (count(Resident), count(Condition))
    content = _csv([["钱七", _id(date(1950, 1, 1)), "高血压", ""], ["孙八", _id(date(1951, 1, 1)), "感冒", "2020-01-01"]],
                   header=["姓名", "身份证号", "慢病", "确诊日期"])
    body = _upload(client, centres["home"], content).get_json()
    assert (body["created"], body["refused"]) == (0, 2)
    assert (count(Resident), count(Condition)) == before


def test_a_signed_residents_imported_condition_starts_their_follow_ups(client, alice, centres, settings):
    signed = client.post("/api/v1/agreements", headers=f.as_resident(alice), json={
        "centre_id": centres["home"].id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION})
    assert signed.status_code == 201
    before = len(client.get("/api/v1/me/visits", headers=f.as_resident(alice)).get_json()["items"])
    content = _csv([[alice.name, alice.id_number, "高血压", "2025-06-01"]], header=["姓名", "身份证号", "慢病", "确诊日期"])
    assert _upload(client, centres["home"], content).get_json()["unchanged"] == 1
    after = client.get("/api/v1/me/visits", headers=f.as_resident(alice)).get_json()["items"]
    assert len(after) > before and any(v["programme"].startswith("hypertension") for v in after)


def test_pregnancies_and_recorded_key_population_tags_come_in_with_the_resident_file(client, centres):
    mother, disabled = _id(date(1996, 2, 2)), _id(date(1960, 3, 3), "M")
    header = ["姓名", "身份证号", "末次月经", "预产期", "重点人群"]
    content = _csv([["孕妇甲", mother, "2025-12-01", "", "孕产妇"], ["残疾乙", disabled, "", "", "残疾人、脱贫人口、老年人"]],
                   header=header)
    body = _upload(client, centres["home"], content).get_json()
    assert (body["created"], body["refused"]) == (2, 0), body
    woman = core_db.session.query(Resident).filter(Resident.name == "孕妇甲").one()
    pregnancy = core_db.session.query(Pregnancy).filter(Pregnancy.resident_id == woman.id).one()
    assert (pregnancy.last_menstrual_period, pregnancy.expected_delivery) == (date(2025, 12, 1), date(2026, 9, 7))
    man = core_db.session.query(Resident).filter(Resident.name == "残疾乙").one()
    assert {t.tag.value for t in core_db.session.query(PopulationTag).filter(PopulationTag.resident_id == man.id)} == {
        "disabled", "poverty_alleviated"}
    again = _upload(client, centres["home"], content).get_json()
    assert (again["unchanged"], count(Pregnancy), count(PopulationTag)) == (2, 1, 2)


def test_a_pregnancy_from_its_expected_delivery_date_is_registered_as_the_api_does(client, centres):
    content = _csv([["孕妇丙", _id(date(1995, 5, 5)), "2026-10-01"]], header=["姓名", "身份证号", "预产期"])
    assert _upload(client, centres["home"], content).get_json()["created"] == 1
    assert core_db.session.query(Pregnancy).one().last_menstrual_period == date(2025, 12, 25)


def test_a_pregnancy_a_man_or_an_old_date_refuses_the_row_whole_and_nothing_is_written(client, centres):
    rows = [["男甲", _id(date(1990, 1, 1), "M"), "2026-01-01", "", ""],  # only a woman
            ["女乙", _id(date(1990, 1, 2)), "2024-01-01", "", ""],  # not within 44 weeks
            ["女丙", _id(date(1990, 1, 3)), "2026-01-01", "2026-12-31", ""],  # the dates disagree
            ["女丁", _id(date(1990, 1, 4)), "", "", "劳模"]]  # not a recorded key population
    before = (count(Resident), count(Pregnancy), count(PopulationTag))
    body = _upload(client, centres["home"], _csv(rows, header=["姓名", "身份证号", "末次月经", "预产期", "重点人群"])).get_json()
    assert (body["created"], body["refused"]) == (0, 4)
    assert (count(Resident), count(Pregnancy), count(PopulationTag)) == before
    report = client.get(f"/api/v1/imports/{body['id']}/report.csv", headers=as_admin()).get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(report.lstrip("\ufeff"))))[1:]
    assert [(row, column) for row, column, _ in lines] == [("2", "末次月经"), ("3", "末次月经"), ("4", "预产期"), ("5", "重点人群")]


def test_a_different_ongoing_pregnancy_refuses_the_row_and_its_other_facts(client, centres):
    woman = f.resident(name="周女士", born=date(1994, 4, 4))
    core_db.session.add(Pregnancy(resident_id=woman.id, last_menstrual_period=date(2026, 1, 10),
                                  expected_delivery=date(2026, 10, 17), registered_on=date(2026, 2, 1), recorded_by="test"))
    core_db.session.commit()
    content = _csv([[woman.name, woman.id_number, "2025-12-01", "残疾人"]], header=["姓名", "身份证号", "末次月经", "重点人群"])
    body = _upload(client, centres["home"], content).get_json()
    assert (body["refused"], count(Pregnancy), count(PopulationTag)) == (1, 1, 0)


@pytest.mark.parametrize("content,why", [
    (bytes(range(256)) * 4, "encoding"),  # neither UTF-8 nor GB18030
    ("姓名,身份证号\n".encode("gbk"), "no rows"),  # the header alone
    (b"", "empty"),
    ("姓名,身份证号\n\"".encode() + b"x" * 200_000 + b"\",1\n", "cell too long"),  # over the csv module's field limit
])
def test_a_file_that_cannot_be_imported_is_422_naming_the_file_and_nothing_is_written(client, centres, content, why):
    response = _upload(client, centres["home"], content)
    assert response.status_code == 422, (why, response.status_code)
    assert "file" in response.get_json()["errors"]["files"]
    assert count(Import) == 0


def test_an_xlsx_with_its_header_alone_is_422_and_nothing_is_written(client, centres):
    book = openpyxl.Workbook()
    book.active.append(["姓名", "身份证号"])
    content = io.BytesIO()
    book.save(content)
    response = _upload(client, centres["home"], content.getvalue(), filename="export.xlsx")
    assert response.status_code == 422 and "file" in response.get_json()["errors"]["files"]
    assert count(Import) == 0


def test_a_finished_import_has_done_all_its_rows_blank_lines_too(client, centres):
    _, rows = _family(centres["home"])
    content = _csv([rows[0], [], rows[1], [""] * 11, rows[2], []])
    body = _upload(client, centres["home"], content).get_json()
    assert (body["status"], body["created"], body["rows_done"], body["total_rows"]) == ("done", 3, 6, 6)


def test_an_export_larger_than_a_json_body_may_be_is_imported(client, centres, settings):
    _, rows = _family(centres["home"])
    remark = "备" * 60_000  # a county export's free-text columns make a few rows weigh megabytes
    content = _csv([[*row[:-1], remark] for row in rows] + [[""] * 10 + [remark]] * 8)
    assert len(content) > settings.MAX_CONTENT_LENGTH
    response = _upload(client, centres["home"], content)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["created"] == 3


def test_a_file_over_the_upload_limit_is_413_naming_the_file_and_nothing_is_written(client, centres, limited):
    limited(UPLOAD_MAX_BYTES=2000)
    _, rows = _family(centres["home"])
    response = _upload(client, centres["home"], _csv([[*row[:-1], "x" * 1000] for row in rows]))
    assert response.status_code == 413
    assert "file" in response.get_json()["errors"]["files"]
    assert count(Import) == 0


def test_an_old_15_digit_id_number_excel_stored_as_a_number_is_read_whole(client, centres):
    book = openpyxl.Workbook()  # Excel keeps 15 significant digits: a 15-digit number loses none (an 18-digit one does)
    book.active.append(["姓名", "身份证号"])
    book.active.append(["老人", 430523560701003])
    book.active.append(["老伴", 430523570802004.0])
    content = io.BytesIO()
    book.save(content)
    response = _upload(client, centres["home"], content.getvalue(), filename="export.xlsx")
    assert (response.get_json()["created"], response.get_json()["refused"]) == (2, 0)
    first17 = "43052319560701003"
    assert core_db.session.query(Resident).filter(Resident.name == "老人").one().id_number == first17 + check_character(first17)


def test_a_person_on_two_rows_one_a_condition_is_registered_once_with_both(client, centres):
    number = _id(date(1951, 1, 1), "M")  # exports of chronic-disease registers list a patient once per disease
    content = _csv([["钱七", number, "高血压", "2020-05-01", ""], ["钱七", number, "糖尿病", "2021-06-01", "残疾人"]],
                   header=["姓名", "身份证号", "慢病", "确诊日期", "重点人群"])
    body = _upload(client, centres["home"], content).get_json()
    assert (body["created"], body["unchanged"], body["refused"]) == (1, 1, 0)
    person = core_db.session.query(Resident).filter(Resident.name == "钱七").one()
    conditions = {(c.kind.value, c.diagnosed_on) for c in core_db.session.query(Condition).filter(Condition.resident_id == person.id)}
    assert conditions == {("hypertension", date(2020, 5, 1)), ("diabetes", date(2021, 6, 1))}
    assert count(PopulationTag, PopulationTag.resident_id == person.id) == 1
    assert _upload(client, centres["home"], content).get_json()["unchanged"] == 2
    assert count(Condition, Condition.resident_id == person.id) == 2


def test_a_second_row_with_another_pregnancy_of_the_same_woman_is_refused_and_writes_nothing(client, centres):
    mother = _id(date(1995, 5, 5))
    content = _csv([["孕妇丙", mother, "2025-12-01", ""], ["孕妇丙", mother, "2026-01-05", "残疾人"]],
                   header=["姓名", "身份证号", "末次月经", "重点人群"])
    body = _upload(client, centres["home"], content).get_json()
    assert (body["created"], body["refused"], count(Pregnancy), count(PopulationTag)) == (1, 1, 1, 0)


def test_a_title_row_above_the_header_is_passed_over_and_rows_keep_their_numbers_in_the_file(client, centres):
    _, rows = _family(centres["home"])
    rows[1][5] = "12345"  # a bad phone, reported with its row number in the file
    title = ["塘渡口镇居民健康档案花名册", *[""] * 10]  # what county systems put above the header
    body = _upload(client, centres["home"], _csv([HEADER_ZH, *rows], header=title)).get_json()
    assert (body["created"], body["refused"], body["total_rows"], body["rows_done"]) == (2, 1, 3, 3)
    report = client.get(f"/api/v1/imports/{body['id']}/report.csv", headers=as_admin()).get_data(as_text=True)
    assert [line[:2] for line in csv.reader(io.StringIO(report.lstrip("\ufeff")))][1:] == [["4", "联系电话"]]


def test_an_xlsx_with_a_title_row_above_the_header_is_read(client, centres):
    book = openpyxl.Workbook()
    book.active.append(["居民花名册（2026年）"])
    book.active.append(["姓名", "身份证号"])
    book.active.append(["孙八", _id(date(1966, 6, 6))])
    content = io.BytesIO()
    book.save(content)
    body = _upload(client, centres["home"], content.getvalue(), filename="export.xlsx").get_json()
    assert (body["created"], body["total_rows"]) == (1, 1)


def test_cli_writes_the_report_of_refused_rows_to_a_file(app, centres, tmp_path):
    _, rows = _family(centres["home"])
    rows[0][5] = "12345"
    path, report = tmp_path / "export.csv", tmp_path / "report.csv"
    path.write_bytes(_csv(rows))
    result = app.test_cli_runner().invoke(args=["registry", "import", str(path), "--centre", str(centres["home"].id),
                                                "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "2 registered, 0 already registered, 1 refused" in result.output
    lines = list(csv.reader(io.StringIO(report.read_bytes().decode("utf-8-sig"))))
    assert lines == [list(imports.REPORT_HEADER), ["2", "联系电话", "A mainland mobile number has 11 digits and starts with 1."]]


def test_the_same_file_imported_twice_at_once_registers_each_person_once_and_neither_import_fails(app, committed_db,
                                                                                                   monkeypatch):
    import threading

    f.regions()
    centre = f.centre()
    content = _csv([[f"同时{i}", _id(date(1940 + i, 2, 2))] for i in range(6)], header=["姓名", "身份证号"])
    jobs = []
    for _ in range(2):
        source = imports.open_source(content, "export.csv")
        jobs.append((imports.begin(None, centre_id=centre.id, filename="export.csv", source=source,
                                   started_by="test").id, source))
    both_checked = threading.Barrier(2)
    check_row = imports.check_row

    def checked_together(values, place):  # both batches past their checks before either looks up who is registered
        try:
            both_checked.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        return check_row(values, place)

    monkeypatch.setattr(imports, "check_row", checked_together)
    ended = {}

    def run(job_id, source):
        with app.app_context():
            try:
                ended[job_id] = imports.run(job_id, source).status.value
            finally:
                core_db.session.remove()

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    core_db.session.remove()
    assert sorted(ended.values()) == ["done", "done"]
    assert count(Resident) == 6


@pytest.mark.parametrize("written", ['="{}"', "'{}", "\t{}"])
def test_an_id_number_written_so_that_excel_keeps_it_as_text_is_read(client, centres, written):
    number = _id(date(1977, 7, 7))
    content = f"姓名,身份证号\n文本,{written.format(number)}\n".encode("gbk")  # exports guard the digits so
    body = _upload(client, centres["home"], content).get_json()
    assert (body["created"], body["refused"]) == (1, 0)
    assert core_db.session.query(Resident).filter(Resident.name == "文本").one().id_number == number


def test_an_import_with_blank_lines_resumed_after_its_runner_died_registers_everyone_once(centres, frozen_clock,
                                                                                         monkeypatch):
    from datetime import timedelta

    from tests.test_county_import_resume import Killed, _dies_after_first_batch

    monkeypatch.setattr(imports, "BATCH", 3)
    people = [[f"续空{n}", _id(date(1940 + n, 2, 2))] for n in range(8)]
    content = _csv([people[0], [], people[1], [], [], *people[2:5], [], *people[5:], []], header=["姓名", "身份证号"])
    source = imports.open_source(content, "county.csv")
    job = imports.begin(None, centre_id=centres["home"].id, filename="county.csv", source=source, started_by="test")
    with pytest.raises(Killed):
        imports.run(job.id, source, progress=_dies_after_first_batch)
    clock.advance(imports.LEASE + timedelta(seconds=1))
    assert imports.resume_abandoned() == [job.id]
    done = core_db.session.get(Import, job.id, populate_existing=True)
    assert (done.status, done.created, done.rows_done, done.total_rows) == (ImportStatus.DONE, 8, 13, 13)
    assert count(Resident, Resident.name.like("续空%")) == 8


def _with_health_records(rows: list[list], numbers: list[str]) -> bytes:
    return _csv([[*row, number] for row, number in zip(rows, numbers, strict=True)], header=[*HEADER_ZH, "健康档案编号"])


def _records_on_file(rows) -> list[bool]:
    return [core_db.session.scalar(select(Resident.has_health_record).where(Resident.id_number_hash == lookup_hash(row[2]))
                                   .execution_options(populate_existing=True)) for row in rows]


def test_a_health_record_number_in_the_export_puts_the_residents_health_record_on_file(client, centres):
    """Effective signing (POLICY.md glossary) needs a health record: a county's export names it by its number."""
    _, rows = _family(centres["home"])
    assert _upload(client, centres["home"], _with_health_records(rows, ["43052300001", "", "43052300003"])
                   ).get_json()["created"] == 3
    assert _records_on_file(rows) == [True, False, True]


def test_a_registered_residents_health_record_number_puts_it_on_file_and_the_same_file_again_changes_nothing(
        client, centres):
    _, rows = _family(centres["home"])
    _upload(client, centres["home"], _csv(rows))
    assert _records_on_file(rows) == [False, False, False]
    content = _with_health_records(rows, ["", "43052300002", ""])
    for _ in range(2):
        report = _upload(client, centres["home"], content).get_json()
        assert (report["created"], report["unchanged"], report["refused"]) == (0, 3, 0)
        assert _records_on_file(rows) == [False, True, False]


def test_an_imports_times_read_in_shanghai_time_when_written_and_when_read_back(client, centres):
    """An instant is the same in every response: not +08:00 just written and +00:00 once read back."""
    _, rows = _family(centres["home"])
    written = _upload(client, centres["home"], _csv(rows)).get_json()
    core_db.session.expire_all()
    read = client.get(f"/api/v1/imports/{written['id']}", headers=as_admin()).get_json()
    assert written["started_at"] == read["started_at"] and read["started_at"].endswith("+08:00")
    assert read["finished_at"].endswith("+08:00")
