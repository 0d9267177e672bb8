"""Monthly snapshots and capitation (issue 5; POLICY.md "Settlement"), figures computed by hand."""

from datetime import date

import pytest
from sqlalchemy import func, select

from core import clock
from core import db as core_db
from registry.models import Region
from settlement import jobs
from settlement.models import Snapshot
from signing.models import AgreementStatus
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau


@pytest.fixture
def regions(db):
    f.regions()


def _get(client, url, region="430523"):
    return client.get(url, headers=as_bureau(region))


def _snapshot(client, month, region="430523"):
    response = _get(client, f"/api/v1/settlement/snapshots/{month}?region={region}", region)
    assert response.status_code == 200, response.get_json()
    [snapshot] = response.get_json()["items"]
    return snapshot


def _capitation(client, region, period="2026-03", costs=()):
    query = "".join(f"&actual_cost={centre}:{fen}" for centre, fen in costs)
    response = _get(client, f"/api/v1/settlement/capitation?region={region}&period={period}{query}", region)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _freeze_on(day):
    clock.set_today(day, hour=0)
    return jobs.freeze_monthly_snapshots()


def test_job_at_midnight_on_the_first_freezes_each_centres_counts_for_the_month(client, regions):
    centre = f.centre()
    agreement(f.resident(), centre)
    agreement(f.resident(insured_in=None), centre, counted=False)
    assert _freeze_on(date(2026, 4, 1)) == 3  # one snapshot per pooling region
    snapshot = _snapshot(client, "2026-04")
    assert snapshot["as_of"] == "2026-04-01"
    assert [(line["centre_id"], line["kind"], line["figures"]["signed"], line["figures"]["counted"])
            for line in snapshot["lines"]] == [(centre.id, "count", 2, 1)]
    assert len(snapshot["content_hash"]) == 64


def test_freezing_a_month_twice_is_a_no_op(client, regions):
    agreement(f.resident(), f.centre())
    _freeze_on(date(2026, 4, 1))
    first = _snapshot(client, "2026-04")
    agreement(f.resident(), f.centre())
    assert _freeze_on(date(2026, 4, 1)) == 0
    assert _snapshot(client, "2026-04") == first
    assert core_db.session.scalar(select(func.count(Snapshot.id)).where(Snapshot.month == "2026-04")) == 3


def test_late_correction_goes_into_next_months_snapshot_as_an_adjustment_not_a_rewrite(client, regions):
    centre = f.centre()
    agreement(f.resident(), centre)
    late = agreement(f.resident(), centre)
    _freeze_on(date(2026, 3, 1))
    march = _snapshot(client, "2026-03")
    late.status, late.terminated_on = AgreementStatus.TERMINATED, date(2026, 2, 20)  # reported in mid-March
    core_db.session.commit()
    _freeze_on(date(2026, 4, 1))
    assert _snapshot(client, "2026-03") == march
    april = _snapshot(client, "2026-04")
    assert [(line["kind"], line["adjusts_month"], line["figures"].get("signed"), line["figures"].get("counted"))
            for line in april["lines"]] == [("count", None, 1, 1), ("adjustment", "2026-03", -1, -1)]
    _freeze_on(date(2026, 5, 1))
    assert [line["kind"] for line in _snapshot(client, "2026-05")["lines"]] == ["count"]  # corrected once only


def test_cli_freezes_a_month_and_refuses_one_not_yet_begun(app, regions):
    runner = app.test_cli_runner()
    assert "3 snapshot(s) made" in runner.invoke(args=["settlement", "snapshot", "--month", "2026-03"]).output
    assert "already frozen" in runner.invoke(args=["settlement", "snapshot", "--month", "2026-03"]).output
    refused = runner.invoke(args=["settlement", "snapshot", "--month", "2026-04"])
    assert refused.exit_code != 0 and "not before" in refused.output


def test_a_month_not_frozen_is_404_and_a_bad_month_422(client, regions):
    assert _get(client, "/api/v1/settlement/snapshots/2026-03?region=430523").status_code == 404
    assert _get(client, "/api/v1/settlement/snapshots/2026-13?region=430523").status_code == 422


def test_bureau_of_one_region_gets_403_for_another_regions_snapshot(client, regions):
    _freeze_on(date(2026, 3, 1))
    response = client.get("/api/v1/settlement/snapshots/2026-03?region=430522", headers=as_bureau("430523"))
    assert response.status_code == 403


def test_hunan_prepays_90_percent_of_a_twelfth_of_counted_times_85_yuan(client, regions):
    centre = f.centre(region="430523")
    for _ in range(3):
        agreement(f.resident(), centre)
    agreement(f.resident(insured_in=None), centre, counted=False)
    _freeze_on(date(2026, 3, 1))
    [row] = _capitation(client, "430523")["centres"]
    # 3 x 8500 / 12 = 2125 fen; x 0.90 = 1912.5 -> 1913 (half up); 212 waits for the year-end evaluation.
    assert (row["counted"], row["fund_fen"], row["payable_fen"], row["withheld_fen"], row["withheld_as"]) == (
        3, 2125, 1913, 212, "year_end_remainder")


def test_capitation_takes_90_percent_of_the_exact_monthly_fund_and_rounds_half_up_once(client, regions):
    """POLICY.md "Settlement": budget / 12 x 90%, not round(budget / 12) x 90%."""
    one, seven = f.centre(region="430523"), f.centre(region="430523")
    agreement(f.resident(), one)
    for _ in range(7):
        agreement(f.resident(), seven)
    assert _get(client, "/api/v1/settlement/capitation?region=430523&period=2026-03").status_code == 404  # not frozen
    assert core_db.session.scalar(select(func.count(Snapshot.id))) == 0  # asking froze nothing
    _freeze_on(date(2026, 3, 1))
    rows = {row["centre_id"]: row for row in _capitation(client, "430523")["centres"]}
    # 1 x 8500 / 12 = 708.333...; x 0.90 = 637.5 -> 638 (rounding the fund first gave 708 x 0.90 = 637.2 -> 637).
    assert (rows[one.id]["fund_fen"], rows[one.id]["payable_fen"], rows[one.id]["withheld_fen"]) == (708, 638, 70)
    # 7 x 8500 / 12 = 4958.333...; x 0.90 = 4462.5 -> 4463 (rounding first gave 4958 x 0.90 = 4462.2 -> 4462).
    assert (rows[seven.id]["fund_fen"], rows[seven.id]["payable_fen"], rows[seven.id]["withheld_fen"]) == (4958, 4463, 495)


def test_zhanjiang_pays_95_percent_of_the_lesser_of_actual_cost_and_a_twelfth_of_the_lump(client, regions):
    cheap, dear = f.centre(region="440823"), f.centre(region="440823")
    for centre in (cheap, dear):
        for _ in range(3):
            agreement(f.resident(insured_in="440823"), centre)
    _freeze_on(date(2026, 3, 1))
    result = _capitation(client, "440823", costs=[(cheap.id, 1000), (dear.id, 2000)])
    rows = {row["centre_id"]: row for row in result["centres"]}
    # Fund 3 x 5000 / 12 = 1250. Cheap: min(1000, 1250) x 0.95 = 950, deposit 50.
    assert (rows[cheap.id]["settled_fen"], rows[cheap.id]["payable_fen"], rows[cheap.id]["withheld_fen"]) == (1000, 950, 50)
    # Dear: overspend not covered: min(2000, 1250) = 1250; x 0.95 = 1187.5 -> 1188, deposit 62.
    assert (rows[dear.id]["settled_fen"], rows[dear.id]["payable_fen"], rows[dear.id]["withheld_fen"]) == (1250, 1188, 62)
    assert result["totals"] == {"fund_fen": 2500, "settled_fen": 2250, "payable_fen": 2138, "withheld_fen": 112}


def test_zhanjiang_without_the_actual_cost_is_422_naming_it(client, regions):
    agreement(f.resident(insured_in="440823"), f.centre(region="440823"))
    _freeze_on(date(2026, 3, 1))
    response = _get(client, "/api/v1/settlement/capitation?region=440823&period=2026-03", "440823")
    assert response.status_code == 422
    assert "actual_cost" in response.get_json()["errors"]["query"]


def test_adjustment_lines_are_paid_with_the_month_that_carries_them(client, regions):
    centre = f.centre(region="430523")
    agreement(f.resident(), centre)
    _freeze_on(date(2026, 3, 1))
    agreement(f.resident(), centre, start=date(2026, 2, 10))  # a February signing entered late
    _freeze_on(date(2026, 4, 1))
    [row] = _capitation(client, "430523", period="2026-04")["centres"]
    # April: 2 counted + 1 for March = 3 x 8500 / 12 = 2125.
    assert (row["counted"], row["fund_fen"]) == (3, 2125)


def test_a_new_region_with_age_group_fees_is_only_data(client, regions):
    """Guangdong 2025 [004 一]: the fee differs by age group; the profile row says how, no code does."""
    core_db.session.add(Region(code="440100", name="广州市", parent_code="440000", profile_code="guangdong-2025"))
    core_db.session.commit()
    centre = f.centre(region="440100")
    for born in (date(2022, 5, 1), date(1950, 5, 1), date(1980, 5, 1)):
        agreement(f.resident(born=born, insured_in="440100"), centre)
    _freeze_on(date(2026, 3, 1))
    [row] = _capitation(client, "440100")["centres"]
    # (9000 child + 10000 aged 65+ + 6000 other) / 12 = 2083.33 -> 2083, all paid.
    assert (row["fund_fen"], row["payable_fen"], row["withheld_fen"]) == (2083, 2083, 0)


def test_hunan_year_sums_the_frozen_months_and_the_withheld_total_is_the_year_end_remainder(client, regions):
    centre = f.centre(region="430523")
    for _ in range(3):
        agreement(f.resident(), centre)
    for month in (1, 2, 3):
        _freeze_on(date(2026, month, 1))
    [row] = _capitation(client, "430523", period="2026")["centres"]
    # Three months of 2125 fund, 1913 prepaid, 212 held: 6375, 5739, and 636 settled after the evaluation.
    assert (row["counted"], row["fund_fen"], row["payable_fen"], row["withheld_fen"], row["withheld_as"]) == (
        9, 6375, 5739, 636, "year_end_remainder")


def test_a_year_with_no_frozen_month_is_404(client, regions):
    assert _get(client, "/api/v1/settlement/capitation?region=430523&period=2025").status_code == 404
