"""Bulk import of a county's existing agreements (signing.imports, a kind of registry.imports): real start dates,
cycle and channel, village clinic, team and packages; checked with the signing rules; a bad row writes nothing;
the same file twice changes nothing; the current cycle's agreements start the care plans as a signing does."""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlalchemy import select

from care.models import Visit
from core import db as core_db
from packages.models import PackagePrice
from registry import imports
from registry.models import Condition, Import, ImportProblem, Resident
from signing.models import Agreement, AgreementPackage, AgreementStatus, Channel, SigningBasis
from tests import factories as f
from tests.county_helpers import as_admin, count
from tests.test_county_imports import finished

HEADER = ["姓名", "身份证号", "签约日期", "签约年度", "签约方式", "签约年限", "村卫生室", "签约团队", "服务包"]


def _csv(rows, header=HEADER, encoding="gbk") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _upload(client, centre, content: bytes, kind="agreements", filename="agreements.csv", headers=None):
    return client.post("/api/v1/imports", headers=headers or as_admin(), content_type="multipart/form-data",
                       data={"centre_id": str(centre.id), "kind": kind, "file": (io.BytesIO(content), filename)})


def _row(person: Resident, centre, start="2026-01-08", channel="现场签约", packages="", cycle="2026", team=True):
    return [person.name, person.id_number, start, cycle, channel, "1", centre.windows[0].name,
            centre.teams[0].name if team else "", packages]


def _report(client, job_id: int) -> list[tuple[str, str, str]]:
    text = client.get(f"/api/v1/imports/{job_id}/report.csv", headers=as_admin()).get_data(as_text=True)
    return [tuple(line) for line in csv.reader(io.StringIO(text.lstrip("\ufeff")))][1:]


def _written() -> tuple[int, int, int]:
    return count(Agreement), count(AgreementPackage), count(Visit)


def test_existing_agreements_are_imported_with_their_start_date_cycle_channel_clinic_team_and_packages(client, centres):
    home = centres["home"]
    elder = f.resident(name="老王", born=date(1950, 3, 1), home_window_id=home.windows[0].id)
    young = f.resident(name="小李", born=date(1990, 3, 1))
    core_db.session.add(PackagePrice(centre_id=home.id, edition="2025", package_code="elderly", price_fen=12000, set_by="test"))
    core_db.session.commit()
    body = _upload(client, home, _csv([_row(elder, home, packages="老年人健康包"),
                                       _row(young, home, start="2026/02/03", channel="线上签约")])).get_json()
    assert (body["kind"], body["status"], body["created"], body["refused"]) == ("agreements", "done", 2, 0), body
    old = core_db.session.scalar(select(Agreement).where(Agreement.resident_id == elder.id))
    assert (old.start_date, old.cycle, old.end_date, old.status, old.channel) == (
        date(2026, 1, 8), 2026, date(2026, 12, 31), AgreementStatus.ACTIVE, Channel.ON_SITE)
    assert (old.window_id, old.team_id, old.basis, old.counts_for_capitation) == (
        home.windows[0].id, home.teams[0].id, SigningBasis.SERVICE_AREA, True)
    held = {p.package_code: (p.price_fen, p.added_on) for p in
            core_db.session.scalars(select(AgreementPackage).where(AgreementPackage.agreement_id == old.id))}
    assert held["elderly"] == (12000, date(2026, 1, 8)) and {"basic", "value-added"} <= set(held)
    online = core_db.session.scalar(select(Agreement).where(Agreement.resident_id == young.id))
    assert (online.start_date, online.channel, online.basis) == (date(2026, 2, 3), Channel.ONLINE, SigningBasis.SELF)


def test_an_imported_current_agreement_starts_the_chronic_patients_follow_ups(client, centres):
    home = centres["home"]
    patient = f.resident(name="赵高压", born=date(1955, 6, 1))
    core_db.session.add(Condition(resident_id=patient.id, kind="hypertension", diagnosed_on=date(2020, 1, 1),
                                  recorded_on=date(2026, 1, 1), recorded_by="test"))
    core_db.session.commit()
    assert count(Visit, Visit.resident_id == patient.id) == 0
    assert _upload(client, home, _csv([_row(patient, home)])).get_json()["created"] == 1
    visits = core_db.session.scalars(select(Visit).where(Visit.resident_id == patient.id)).all()
    assert any(v.programme.startswith("hypertension") for v in visits)
    assert {v.team_id for v in visits} == {home.teams[0].id}


def test_an_agreement_of_a_past_cycle_is_recorded_expired_and_plans_nothing(client, centres):
    home = centres["home"]
    patient = f.resident(born=date(1955, 6, 1))
    body = _upload(client, home, _csv([_row(patient, home, start="2025-03-01", cycle="2025")])).get_json()
    assert body["created"] == 1
    past = core_db.session.scalar(select(Agreement).where(Agreement.resident_id == patient.id))
    assert (past.cycle, past.end_date, past.status) == (2025, date(2025, 12, 31), AgreementStatus.EXPIRED)
    assert count(Visit, Visit.resident_id == patient.id) == 0


def test_running_the_same_agreement_file_again_changes_nothing(client, centres):
    home = centres["home"]
    people = [f.resident(born=date(1960 + i, 1, 1)) for i in range(3)]
    content = _csv([_row(person, home) for person in people])
    assert _upload(client, home, content).get_json()["created"] == 3
    before = _written()
    again = _upload(client, home, content).get_json()
    assert (again["created"], again["unchanged"], again["refused"]) == (0, 3, 0)
    assert _written() == before


def test_another_centre_in_the_same_cycle_is_refused_and_nothing_is_written(client, centres):
    home, other = centres["home"], centres["other"]
    person = f.resident(born=date(1970, 1, 1))
    assert _upload(client, home, _csv([_row(person, home)])).get_json()["created"] == 1
    before = _written()
    body = _upload(client, other, _csv([_row(person, other, start="2026-02-01")])).get_json()
    assert (body["created"], body["refused"]) == (0, 1)
    assert _written() == before
    [(row, column, why)] = _report(client, body["id"])
    assert (row, column) == ("2", "签约机构") and "another centre in this cycle" in why


def test_after_a_termination_the_cycle_stays_with_its_centre(client, centres):
    home, other = centres["home"], centres["other"]
    person = f.resident(born=date(1970, 1, 1))
    assert _upload(client, home, _csv([_row(person, home)])).get_json()["created"] == 1
    agreement = core_db.session.scalar(select(Agreement).where(Agreement.resident_id == person.id))
    agreement.status, agreement.terminated_on = AgreementStatus.TERMINATED, date(2026, 2, 1)
    core_db.session.commit()
    before = _written()
    body = _upload(client, other, _csv([_row(person, other, start="2026-03-01")])).get_json()
    assert body["refused"] == 1 and _written() == before
    assert "cannot change within a cycle" in _report(client, body["id"])[0][2]


def test_a_dead_resident_is_not_signed_by_import_and_nothing_is_written(client, centres):
    home = centres["home"]
    person = f.resident(born=date(1940, 1, 1), died_on=date(2026, 2, 1))
    before = _written()
    body = _upload(client, home, _csv([_row(person, home)])).get_json()
    assert (body["created"], body["refused"]) == (0, 1)
    assert _written() == before
    assert "nobody dead is signed" in _report(client, body["id"])[0][2]


def test_bad_agreement_rows_are_refused_whole_and_reported_with_row_column_and_why(client, centres):
    home, other = centres["home"], centres["other"]
    good = f.resident(born=date(1980, 1, 1))
    stranger_id = f.id_number(date(1981, 1, 1))
    rows = [
        _row(good, home),
        ["某人", stranger_id, "2026-01-08", "2026", "现场签约", "1", "", "", ""],  # not registered
        _row(good, home, channel="传真"),  # no such channel
        _row(good, home, start="2026-04-01"),  # after today
        _row(good, home, cycle="2025"),  # the start date lies in 2026
        [good.name, good.id_number, "2026-01-08", "2026", "现场签约", "1", other.windows[0].name, "", ""],
        _row(good, home, packages="儿童健康包"),  # not offered here, and not for an adult
        [good.name, good.id_number, "2026-01-08", "2026", "现场签约", "9", "", "", ""],  # term longer than 3 years
    ]
    body = _upload(client, home, _csv(rows)).get_json()
    assert (body["created"], body["refused"]) == (1, 7)
    assert count(Agreement, Agreement.resident_id == good.id) == 1
    assert [(row, column) for row, column, _ in _report(client, body["id"])] == [
        ("3", "身份证号"), ("4", "签约方式"), ("5", "签约日期"), ("6", "签约年度"), ("7", "村卫生室"), ("8", "服务包"),
        ("9", "签约年限")]


def test_a_personalised_package_the_resident_is_not_eligible_for_refuses_the_row(client, centres):
    home = centres["home"]
    adult = f.resident(born=date(1980, 1, 1))
    core_db.session.add(PackagePrice(centre_id=home.id, edition="2025", package_code="child", price_fen=5000, set_by="test"))
    core_db.session.commit()
    body = _upload(client, home, _csv([_row(adult, home, packages="child")])).get_json()
    assert (body["created"], body["refused"]) == (0, 1)
    assert count(Agreement) == 0 and count(AgreementPackage) == 0
    assert "not for this resident" in _report(client, body["id"])[0][2]


def test_agreements_for_a_centre_that_does_not_take_part_are_422_and_nothing_is_written(client, centres):
    person = f.resident(born=date(1980, 1, 1))
    response = _upload(client, centres["hospital"], _csv([_row(person, centres["home"], team=False)]))
    assert response.status_code == 422 and "centre_id" in response.get_json()["errors"]["json"]
    assert (count(Import), count(Agreement)) == (0, 0)


def test_an_unknown_kind_of_import_is_422_and_nothing_is_written(client, centres):
    person = f.resident(born=date(1980, 1, 1))
    response = _upload(client, centres["home"], _csv([_row(person, centres["home"])]), kind="vaccinations")
    assert response.status_code == 422 and "kind" in response.get_json()["errors"]["form"]
    assert count(Import) == 0


def test_an_agreement_file_without_its_start_date_column_is_422_and_nothing_is_written(client, centres):
    person = f.resident(born=date(1980, 1, 1))
    response = _upload(client, centres["home"], _csv([[person.name, person.id_number]], header=["姓名", "身份证号"]))
    assert response.status_code == 422 and count(Import) == 0


def test_the_registry_takes_agreements_through_the_kind_registered_at_wiring(app):
    assert {"residents", "agreements"} <= set(imports.KINDS)
    source = (imports.__file__ and open(imports.__file__, encoding="utf-8").read())
    assert "signing" not in {line.split()[1].split(".")[0] for line in source.splitlines()
                             if line.startswith(("import ", "from "))}


def test_cli_imports_agreements_with_a_progress_bar(app, centres, tmp_path):
    home = centres["home"]
    person = f.resident(born=date(1980, 1, 1))
    path = tmp_path / "agreements.csv"
    path.write_bytes(_csv([_row(person, home)], encoding="gb18030"))
    result = app.test_cli_runner().invoke(args=["registry", "import", str(path), "--centre", str(home.id),
                                                "--kind", "agreements"])
    assert result.exit_code == 0, result.output
    assert "1 recorded, 0 already recorded, 0 refused" in result.output


def test_a_large_agreement_file_runs_in_the_background_and_reports_progress(app, committed_db, monkeypatch):
    monkeypatch.setattr(imports, "BACKGROUND_ROWS", 10)
    monkeypatch.setattr(imports, "BATCH", 7)
    f.regions()
    home = f.centre()
    people = [f.resident(born=date(1950 + i % 40, 1 + i % 12, 1 + i % 28)) for i in range(25)]
    client = app.test_client()
    response = _upload(client, home, _csv([_row(person, home) for person in people]))
    assert response.status_code == 202 and response.get_json()["total_rows"] == 25
    status = finished(client, response.get_json()["id"])
    assert (status["status"], status["rows_done"], status["created"]) == ("done", 25, 25)
    assert count(ImportProblem) == 0


def test_a_signing_time_with_its_time_of_day_is_read_as_its_date(client, centres):
    home = centres["home"]
    person = f.resident(name="老赵", born=date(1952, 3, 1))
    header = [*HEADER[:2], "签约时间", *HEADER[3:]]  # exports that head it 签约时间 write the time of day too
    body = _upload(client, home, _csv([_row(person, home, start="2026-01-08 09:30:15")], header=header)).get_json()
    assert (body["created"], body["refused"]) == (1, 0), _report(client, body["id"])
    assert core_db.session.scalar(select(Agreement.start_date).where(Agreement.resident_id == person.id)) == date(2026, 1, 8)
