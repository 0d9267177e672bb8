"""The demo a newcomer sees (`make run` → `flask demo load`): a small living county loaded through the import path,
so that the worklist, the counts and the capitation answer with real figures on the first try."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from care.models import Visit, VisitState
from core import clock
from core import db as core_db
from demo import generate, shift
from notifications.models import Lecture, OutboxMessage
from registry import demo
from registry.models import Centre, Import, ImportStatus, Pregnancy, Resident, Staff, Window
from settlement.models import Snapshot
from signing.models import Agreement
from tests.county_helpers import count


@pytest.fixture
def demo_county(app, db):
    clock.set_now(datetime.combine(demo.DEMO_DATE, shift.START, tzinfo=clock.SHANGHAI))  # as make run starts it
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return result.output


def _login(client, login: str) -> dict[str, str]:
    username, password = demo.LOGINS[login]
    response = client.post("/api/v1/auth/staff-login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_the_demo_files_are_what_the_committed_generator_writes(tmp_path):
    generate.generate(tmp_path)
    for written in sorted(tmp_path.glob("**/*.csv")):
        committed = generate.OUT / written.relative_to(tmp_path)
        assert committed.read_bytes() == written.read_bytes(), f"{committed}: run python -m demo.generate"


def test_the_demo_county_is_loaded_through_the_import_path_with_no_row_refused(demo_county):
    jobs = core_db.session.scalars(select(Import).order_by(Import.id)).all()
    assert [job.kind for job in jobs] == ["residents", "agreements", "residents", "agreements"]
    assert all(job.status is ImportStatus.DONE and job.refused == 0 and job.created == job.total_rows for job in jobs)
    assert count(Resident) == sum(job.created for job in jobs if job.kind == "residents") >= 300
    assert count(Agreement) == sum(job.created for job in jobs if job.kind == "agreements")


def test_the_demo_covers_every_programme(demo_county):
    programmes = set(core_db.session.scalars(select(Visit.programme).distinct()))
    assert {"child", "prenatal", "elderly", "elderly-80", "hypertension", "diabetes"} <= programmes
    assert count(Pregnancy) > 0


def test_the_doctors_worklist_has_visits_due_and_overdue_and_some_are_done(client, demo_county):
    doctor = _login(client, "doctor")
    for status in ("due", "overdue"):
        page = client.get(f"/api/v1/worklist?status={status}", headers=doctor)
        assert page.status_code == 200 and page.get_json()["items"], status
    team = core_db.session.scalar(select(Staff.team_id).where(Staff.username == demo.LOGINS["doctor"][0]))
    assert count(Visit, Visit.team_id == team, Visit.state == VisitState.DONE) > 0


def test_the_demo_has_a_lecture_messages_in_the_outbox_and_a_frozen_month(demo_county):
    assert count(Lecture) > 0
    kinds = dict(core_db.session.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all())
    assert kinds.get("lecture", 0) > 0 and kinds.get("visit_due", 0) > 0
    assert core_db.session.scalar(select(Snapshot.month).where(Snapshot.region_code == "430523")) == \
        f"{demo.DEMO_DATE:%Y-%m}"


def test_counts_and_capitation_answer_with_real_figures(client, demo_county):
    bureau = _login(client, "bureau_user")
    counts = client.get("/api/v1/settlement/signed-counts?region=430523&group_by=centre", headers=bureau).get_json()
    signed = sum(row["figures"]["signed"] for row in counts["rows"])
    counted = sum(row["figures"]["counted"] for row in counts["rows"])
    assert 0 < counted < signed  # a few were never checked on site or are insured elsewhere
    capitation = client.get(f"/api/v1/settlement/capitation?region=430523&period={demo.DEMO_DATE:%Y-%m}", headers=bureau)
    assert capitation.status_code == 200 and capitation.get_json()["totals"]["fund_fen"] > 0


def test_effective_signings_are_those_with_a_health_record_in_the_bureaus_master_file(client, demo_county):
    """The residents' files give most a health record number and the bureau's file enrols its insured: the effective
    signings (POLICY.md glossary) are real figures, fewer than those counted for capitation."""
    bureau = _login(client, "bureau_user")
    counts = client.get("/api/v1/settlement/signed-counts?region=430523&group_by=centre", headers=bureau).get_json()
    effective = sum(row["figures"]["effective"] for row in counts["rows"])
    counted = sum(row["figures"]["counted"] for row in counts["rows"])
    assert 0 < effective < counted
    assert count(Resident, Resident.in_insurance_master.is_(True)) == sum(
        1 for _ in (generate.OUT / "insurance.csv").read_bytes().splitlines()[1:])


def test_the_demo_logins_work(client, demo_county):
    for login in ("doctor", "centre_admin", "bureau_user", "county_admin"):
        _login(client, login)
    client_id, secret = demo.LOGINS["bureau_client"]
    token = client.post("/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                     "client_secret": secret})
    assert token.status_code == 200


def test_loading_the_demo_again_changes_nothing(app, demo_county):
    before = (count(Resident), count(Agreement), count(Visit), count(OutboxMessage), count(Import))
    again = app.test_cli_runner().invoke(args=["demo", "load"])
    assert again.exit_code == 0 and "already present" in again.output
    assert (count(Resident), count(Agreement), count(Visit), count(OutboxMessage), count(Import)) == before


def test_a_demo_agreement_names_the_centres_address_phone_and_hours_and_the_text_prices_personalised_packages(
        client, demo_county):
    doctor = _login(client, "doctor")
    agreement = core_db.session.scalar(select(Agreement).join(Centre, Centre.id == Agreement.centre_id)
                                       .where(Centre.code == demo.CENTRES[0][0]).order_by(Agreement.id).limit(1))
    page = client.get(f"/api/v1/agreements/{agreement.id}/document.html", headers=doctor).get_data(as_text=True)
    assert "地址：—" not in page and "电话：—" not in page and "服务时间：—" not in page
    text = client.get(f"/api/v1/agreement-text?centre_id={agreement.centre_id}").get_json()
    assert any(p["tier"] == "personalised" and p["price_fen"] for p in text["packages"])


def test_each_demo_village_clinic_is_served_by_the_team_its_files_sign_with(demo_county):
    teams = dict(core_db.session.execute(select(Agreement.window_id, func.min(Agreement.team_id)).group_by(Agreement.window_id)
                                         .having(func.count(func.distinct(Agreement.team_id)) == 1)).all())
    windows = {w.id: w.team_id for w in core_db.session.scalars(select(Window).where(Window.id.in_(teams)))}
    assert windows and windows == {window: team for window, team in teams.items() if window is not None}
