"""The money side (issue 12): Shaoyang's outpatient fund [001 五(一)1], Hunan's capitation by scheme, the
year-end pool and its distribution by grade [000 §二(一)3, 5], the employee formula [000 §二(二)], and the
figures the bureau files for them (append-only, with author and history). Every figure computed by hand."""

import json
from datetime import date

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from core import clock
from core import db as core_db
from core.auth import Actor, Role
from registry import profiles
from registry.models import InsuranceScheme
from settlement import jobs
from settlement.models import ActualCostFiling, Figure, Snapshot
from tests import factories as f
from tests.county_helpers import as_admin
from tests.settlement_helpers import agreement, as_bureau

SHAOYANG, HUNAN = "430522", "430523"


@pytest.fixture
def regions(db):
    f.regions()


def _figures(client, period, items, region=HUNAN, headers=None):
    return client.put(f"/api/v1/settlement/figures/{period}", json={"region": region, "figures": items},
                      headers=headers or as_bureau(region))


def _file(client, period, items, region=HUNAN):
    response = _figures(client, period, items, region)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def _get(client, url, region, headers=None):
    response = client.get(url, headers=headers or as_bureau(region))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _freeze_on(day):
    clock.set_today(day, hour=0)
    return jobs.freeze_monthly_snapshots()


def _figure_rows():
    return core_db.session.scalar(select(func.count(Figure.id)))


def _costs(client, month, costs, region=SHAOYANG):
    response = client.put(f"/api/v1/settlement/actual-costs/{month}", headers=as_bureau(region),
                          json={"region": region, "costs": [{"centre_id": c, "cost_fen": fen} for c, fen in costs]})
    assert response.status_code == 200, response.get_json()


# Shaoyang: the outpatient fund [001 五(一)1] ----------------------------------------------------------

@pytest.fixture
def townships(regions):
    """Two township centres of 新邵县: A with one signed insured resident, B with two (three heads in all); B also
    signed one person of the employee scheme, who is no head of the resident scheme's outpatient fund."""
    a, b = f.centre(region=SHAOYANG), f.centre(region=SHAOYANG)
    agreement(f.resident(insured_in=SHAOYANG), a)
    for _ in range(2):
        agreement(f.resident(insured_in=SHAOYANG), b)
    agreement(f.resident(insured_in=None), b, counted=False)  # signed, not insured: no head in the count
    agreement(f.resident(insured_in=SHAOYANG, scheme=InsuranceScheme.EMPLOYEE), b)  # the employee fund's
    return a, b


def test_shaoyang_prepays_the_filed_outpatient_fund_less_20_percent_reserve_monthly_by_head_count(client, townships):
    a, b = townships
    _file(client, "2026", [{"name": "outpatient_fund_fen", "value": 1_000_000}], region=SHAOYANG)
    _freeze_on(date(2026, 3, 1))
    capitation = _get(client, f"/api/v1/settlement/capitation?region={SHAOYANG}&period=2026-03", SHAOYANG)
    rows = {row["centre_id"]: row for row in capitation["centres"]}
    # The fund 1,000,000 fen a year; a month is 1,000,000 / 12 = 83,333.33..., shared 1 : 2 by the 3 heads.
    # A: 83,333.33 / 3 = 27,777.78 -> fund shown 27,778; prepaid 80% of the exact share = 22,222.22 -> 22,222;
    #    the risk reserve the rest: 27,778 - 22,222 = 5,556.
    assert (rows[a.id]["rule"], rows[a.id]["schemes"], rows[a.id]["fund_fen"], rows[a.id]["payable_fen"],
            rows[a.id]["withheld_fen"], rows[a.id]["withheld_as"]) == ("outpatient-fund", [], 27778, 22222, 5556,
                                                                       "risk_reserve")
    # B: 55,555.56 -> 55,556; 80% = 44,444.44 -> 44,444; reserve 11,112. (Not 40 yuan a head: that is the
    # basic-package fee of 001 五(三), which would have given 2 x 4000 / 12 = 667.)
    assert (rows[b.id]["fund_fen"], rows[b.id]["payable_fen"], rows[b.id]["withheld_fen"]) == (55556, 44444, 11112)


def test_shaoyang_settles_each_month_against_actual_cost_and_carries_the_surplus_to_the_next(client, townships):
    a, b = townships
    _file(client, "2026", [{"name": "outpatient_fund_fen", "value": 1_000_000}], region=SHAOYANG)
    for month in (1, 2, 3):
        _freeze_on(date(2026, month, 1))
    _costs(client, "2026-01", [(a.id, 20_000), (b.id, 50_000)])
    _costs(client, "2026-02", [(a.id, 25_000), (b.id, 40_000)])
    fund = _get(client, f"/api/v1/settlement/outpatient-fund?region={SHAOYANG}&year=2026", SHAOYANG)
    # 1,000,000 a year: 20% = 200,000 held as risk reserve, 800,000 prepaid over the year.
    assert (fund["fund_fen"], fund["reserve_share"], fund["reserve_fen"], fund["prepaid_pool_fen"]) == (
        1_000_000, "0.20", 200_000, 800_000)
    months = {month["month"]: {c["centre_id"]: c for c in month["centres"]} for month in fund["months"]}

    def line(month, centre):
        row = months[month][centre.id]
        return (row["prepaid_fen"], row["carried_in_fen"], row["actual_cost_fen"], row["settled_fen"],
                row["carried_out_fen"], row["overspend_fen"])

    # Prepaid a month: 800,000 / 12 / 3 = 22,222.22 -> 22,222 for A (1 head); 44,444.44 -> 44,444 for B (2 heads:
    # its employee-scheme person is no head of the resident scheme's fund).
    assert (months["2026-01"][a.id]["counted"], months["2026-01"][b.id]["counted"]) == (1, 2)
    # January. A: 22,222 available, cost 20,000 settled, 2,222 carried to February.
    assert line("2026-01", a) == (22222, 0, 20000, 20000, 2222, 0)
    # B: 44,444 available, cost 50,000: 44,444 settled, 5,556 overspent (left to the year's appraisal), nothing carried.
    assert line("2026-01", b) == (44444, 0, 50000, 44444, 0, 5556)
    # February. A: 22,222 + 2,222 = 24,444 available, cost 25,000: 24,444 settled, 556 overspent.
    assert line("2026-02", a) == (22222, 2222, 25000, 24444, 0, 556)
    # B: 44,444 available, cost 40,000: settled, 4,444 carried to March.
    assert line("2026-02", b) == (44444, 0, 40000, 40000, 4444, 0)
    # March: prepaid, the carry in known, the cost not filed yet: nothing settled.
    assert line("2026-03", b) == (44444, 4444, None, None, None, None)
    assert [m["prepaid_fen"] for m in fund["months"]] == [66666, 66666, 66666]  # 22,222 + 44,444


def test_shaoyang_reserve_share_is_profile_data_and_a_frozen_month_keeps_the_share_it_was_frozen_with(client, townships):
    a, _ = townships
    _file(client, "2026", [{"name": "outpatient_fund_fen", "value": 1_000_000}], region=SHAOYANG)
    _freeze_on(date(2026, 3, 1))
    profile = json.loads((profiles.SHIPPED / "shaoyang-2019.json").read_text(encoding="utf-8"))
    profile["settlement"]["reserve_share"] = "0.10"
    loaded = client.post("/api/v1/policy-profiles", headers=as_admin(SHAOYANG),
                         json={"profile": profile, "effective_from": "2026-01-01"})
    assert loaded.status_code == 201, loaded.get_json()
    _freeze_on(date(2026, 4, 1))
    fund = _get(client, f"/api/v1/settlement/outpatient-fund?region={SHAOYANG}&year=2026", SHAOYANG)
    prepaid = {month["month"]: month["centres"][0]["prepaid_fen"] for month in fund["months"]}
    # March, frozen under 20%: 1,000,000 / 12 / 3 x 0.80 = 22,222.22 -> 22,222.
    # April, frozen under the new version's 10%: 1,000,000 / 12 / 3 x 0.90 = 25,000.
    assert (fund["months"][0]["centres"][0]["centre_id"], prepaid) == (a.id, {"2026-03": 22222, "2026-04": 25000})


def test_shaoyang_without_the_filed_fund_is_409_naming_it_and_nothing_is_written(client, townships):
    _freeze_on(date(2026, 3, 1))
    before = (_figure_rows(), core_db.session.scalar(select(func.count(ActualCostFiling.id))))
    for url in (f"/api/v1/settlement/capitation?region={SHAOYANG}&period=2026-03",
                f"/api/v1/settlement/outpatient-fund?region={SHAOYANG}&year=2026"):
        response = client.get(url, headers=as_bureau(SHAOYANG))
        assert response.status_code == 409
        assert response.get_json()["details"]["missing"] == ["outpatient_fund_fen"]
    assert (_figure_rows(), core_db.session.scalar(select(func.count(ActualCostFiling.id)))) == before


def test_shaoyang_month_frozen_under_the_first_profile_version_keeps_it(client, regions):
    """Frozen months keep the profile version they were computed with: December 2019 was frozen under version 1
    (40 yuan a head, 20% reserve); migration 0015's version (the outpatient fund) prices months from 2020 on."""
    centre = f.centre(region=SHAOYANG)
    for _ in range(2):
        agreement(f.resident(insured_in=SHAOYANG), centre, start=date(2019, 1, 1), end=date(2019, 12, 31))
    _freeze_on(date(2019, 12, 1))
    [row] = _get(client, f"/api/v1/settlement/capitation?region={SHAOYANG}&period=2019-12", SHAOYANG)["centres"]
    # Version 1: 2 x 4000 / 12 = 666.67 -> 667 shown; 80% = 533.33 -> 533 prepaid; 134 held.
    assert (row["rule"], row["fund_fen"], row["payable_fen"], row["withheld_fen"]) == ("reserve", 667, 533, 134)


def test_outpatient_fund_is_read_by_the_county_admin_not_by_centre_staff(client, townships):
    a, _ = townships
    _file(client, "2026", [{"name": "outpatient_fund_fen", "value": 1_200_000}], region=SHAOYANG)
    _freeze_on(date(2026, 3, 1))
    url = f"/api/v1/settlement/outpatient-fund?region={SHAOYANG}&year=2026"
    assert _get(client, url, SHAOYANG, headers=as_admin(SHAOYANG))["fund_fen"] == 1_200_000
    assert client.get(url, headers=f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=a))).status_code == 403
    assert client.get(url, headers=as_bureau(HUNAN)).status_code == 403  # another county's bureau


# Filed figures: append-only, author and history --------------------------------------------------------

def test_a_refiled_figure_is_a_new_version_and_the_history_keeps_every_version_and_its_author(client, regions):
    first = _file(client, "2026", [{"name": "outpatient_fund_fen", "value": 1_000_000}], region=SHAOYANG)
    assert [(i["name"], i["value"], i["version"]) for i in first] == [("outpatient_fund_fen", "1000000", 1)]
    other = f.bearer(Actor(role=Role.BUREAU, subject="staff:bureau-second-desk", region_code=SHAOYANG))
    again = _figures(client, "2026", [{"name": "outpatient_fund_fen", "value": "1250000.00"}], SHAOYANG, other)
    assert again.status_code == 200, again.get_json()
    [figure] = _get(client, f"/api/v1/settlement/figures/2026?region={SHAOYANG}", SHAOYANG, as_admin(SHAOYANG))["items"]
    assert (figure["value"], figure["version"]) == ("1250000", 2)
    assert [(v["version"], v["value"]) for v in figure["history"]] == [(2, "1250000"), (1, "1000000")]
    assert [v["filed_by"] for v in figure["history"]] == ["staff:bureau-second-desk", f"client:bureau-{SHAOYANG}"]
    assert _figure_rows() == 2  # nothing overwritten


def test_filed_figures_cannot_be_updated_or_deleted_in_the_database(client, regions):
    _file(client, "2026", [{"name": "outpatient_fund_fen", "value": 1_000_000}], region=SHAOYANG)
    with pytest.raises(DBAPIError, match="append-only"):
        with core_db.session.begin_nested():
            core_db.session.execute(update(Figure).values(value="1"))
    assert core_db.session.scalar(select(Figure.value)) == "1000000"


def test_two_racing_filings_of_a_figure_one_is_409_and_writes_nothing(client, regions, monkeypatch):
    """The version is the unique index's: a filing that read the versions before another committed loses."""
    from settlement import figures

    _file(client, "2026", [{"name": "outpatient_fund_fen", "value": 1_000_000}], region=SHAOYANG)
    monkeypatch.setattr(figures, "_versions", lambda region, period: {})  # what it read before the first committed
    before = _figure_rows()
    response = _figures(client, "2026", [{"name": "total_financing_fen", "value": 5},
                                         {"name": "outpatient_fund_fen", "value": 900_000}], SHAOYANG)
    assert response.status_code == 409
    assert _figure_rows() == before  # not even the figure that did not collide


@pytest.mark.parametrize("item, field", [
    ({"name": "outpatient_fund_fen", "value": 1, "centre_id": 1}, "figures.1.centre_id"),  # a region's figure
    ({"name": "drug_list_stocked", "value": 20}, "figures.1.centre_id"),                   # a centre's, none named
    ({"name": "grade_share_good", "value": "1.5"}, "figures.1.value"),                     # a share above 1
    ({"name": "outpatient_fund_fen", "value": "10.5"}, "figures.1.value"),                 # a part of a fen
])
def test_a_bad_figure_is_422_naming_it_and_nothing_is_written(client, regions, item, field):
    before = _figure_rows()
    response = _figures(client, "2026", [{"name": "total_financing_fen", "value": 5}, item], SHAOYANG)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert _figure_rows() == before


def test_only_the_bureau_files_figures_and_only_for_its_own_pooling_region(client, regions):
    before = _figure_rows()
    item = [{"name": "outpatient_fund_fen", "value": 1}]
    assert _figures(client, "2026", item, SHAOYANG, as_admin(SHAOYANG)).status_code == 403
    assert _figures(client, "2026", item, SHAOYANG, as_bureau(HUNAN)).status_code == 403
    assert _figures(client, "2026-03", item, SHAOYANG).status_code == 422  # per year
    assert _figure_rows() == before


# Hunan: capitation by scheme [000 §二(二)] ---------------------------------------------------------------

def test_hunan_capitation_is_split_by_scheme_each_fund_paying_its_own_rounded_part(client, regions):
    centre = f.centre(region=HUNAN)
    agreement(f.resident(), centre)
    agreement(f.resident(scheme=InsuranceScheme.EMPLOYEE), centre)
    _freeze_on(date(2026, 3, 1))
    [row] = _get(client, f"/api/v1/settlement/capitation?region={HUNAN}&period=2026-03", HUNAN)["centres"]
    # Each scheme: 1 x 8500 / 12 = 708.33 -> 708 shown; x 90% = 637.5 -> 638 prepaid; 70 held.
    assert [(s["scheme"], s["counted"], s["fund_fen"], s["payable_fen"], s["withheld_fen"]) for s in row["schemes"]] == [
        ("resident", 1, 708, 638, 70), ("employee", 1, 708, 638, 70)]
    # The centre: 2 x 8500 / 12 = 1416.67 -> 1417; paid 638 + 638 = 1276 (one sum would round 1275 once); held 141.
    assert (row["fund_fen"], row["payable_fen"], row["withheld_fen"]) == (1417, 1276, 141)


# Hunan: the year-end [000 §二(一)5, §二(二)] ------------------------------------------------------------

def annex2_complete(centre, *, awards_national=0, visits=2, signed=1):
    """Every centre figure of annex 2, equal for all centres but the awards (so the ranking is the awards')."""
    items = [("personal_burden_fen", 3500), ("outpatient_cost_fen", 10000), ("outpatient_visits", visits * signed),
             ("drug_list_stocked", 20), ("policy_awareness_rate", "0.9"), ("satisfaction_rate", "0.9"),
             ("awards_national", awards_national)]
    items += [(f"integration_{item}", 1) for item in ("drug_delivery", "supervision", "settlement", "fund_allocation",
                                                       "agreement")]
    return [{"name": name, "centre_id": centre.id, "value": value} for name, value in items]


@pytest.fixture
def hunan_year(regions):
    """邵阳县 2026: X with 2 resident-scheme and 1 employee-scheme signed insured, Y with 1 resident; all year."""
    x, y = f.centre(region=HUNAN), f.centre(region=HUNAN)
    for _ in range(2):
        agreement(f.resident(), x)
    agreement(f.resident(scheme=InsuranceScheme.EMPLOYEE), x)
    agreement(f.resident(), y)
    for month in range(1, 13):
        _freeze_on(date(2026, month, 1))
    clock.set_today(date(2027, 1, 10))
    return x, y


REGION_FIGURES = [{"name": "total_financing_fen", "value": 100_000}, {"name": "fee_for_service_unsigned_fen", "value": 30_000},
                  {"name": "drug_list_required", "value": 20},
                  {"name": "grade_share_excellent", "value": "0.5"}, {"name": "grade_share_good", "value": "0.5"},
                  {"name": "grade_share_qualified", "value": "0"},
                  {"name": "grade_weight_excellent", "value": "1.2"}, {"name": "grade_weight_good", "value": "1.0"},
                  {"name": "grade_weight_qualified", "value": "0.8"}, {"name": "grade_weight_unqualified", "value": "0"}]


def test_hunan_year_end_pool_is_financing_less_capitation_for_signed_less_fee_for_service_for_unsigned(client, hunan_year):
    x, y = hunan_year
    _file(client, "2026", REGION_FIGURES + annex2_complete(x, awards_national=1, signed=3) + annex2_complete(y))
    result = _get(client, f"/api/v1/settlement/year-end?region={HUNAN}&year=2026", HUNAN, as_admin(HUNAN))
    # Resident budgets: X 2 heads x 12 months = 24 head-months x 8500 / 12 = 17,000; Y 12 x 8500 / 12 = 8,500.
    # Capitation for the signed (resident scheme): 25,500. Pool = 100,000 - 25,500 - 30,000 = 44,500.
    assert (result["total_financing_fen"], result["capitation_signed_fen"], result["fee_for_service_unsigned_fen"],
            result["pool_fen"]) == (100_000, 25_500, 30_000, 44_500)
    rows = {row["centre_id"]: row for row in result["centres"]}
    # Grades (annex 2, all items equal but X's national award, +5): X ranks 1st of 2 -> excellent (0.5 x 2 = 1),
    # Y 2nd -> good. Weighted: X 17,000 x 1.2 = 20,400; Y 8,500 x 1.0 = 8,500; together 28,900.
    # X: 44,500 x 20,400 / 28,900 = 31,411.76 -> 31,412. Y: 44,500 x 8,500 / 28,900 = 13,088.24 -> 13,088.
    assert (rows[x.id]["grade"], rows[x.id]["resident_budget_fen"], rows[x.id]["secondary_distribution_fen"]) == (
        "excellent", 17_000, 31_412)
    assert (rows[y.id]["grade"], rows[y.id]["resident_budget_fen"], rows[y.id]["secondary_distribution_fen"]) == (
        "good", 8_500, 13_088)
    assert result["distributed_fen"] == 44_500


def test_hunan_employee_year_end_is_resident_per_head_with_distribution_times_employees_less_employee_budget(
        client, hunan_year):
    x, y = hunan_year
    _file(client, "2026", REGION_FIGURES + annex2_complete(x, awards_national=1, signed=3) + annex2_complete(y))
    rows = {row["centre_id"]: row for row in
            _get(client, f"/api/v1/settlement/year-end?region={HUNAN}&year=2026", HUNAN)["centres"]}
    # X: employee budget 12 head-months x 8500 / 12 = 8,500.
    # [(17,000 + 31,411.7647) / 24 resident head-months] x 12 employee head-months - 8,500
    #   = 2,017.1569 x 12 - 8,500 = 24,205.88 - 8,500 = 15,705.88 -> 15,706 (from the exact distribution, rounded once).
    assert (rows[x.id]["employee_head_months"], rows[x.id]["employee_budget_fen"], rows[x.id]["employee_year_end_fen"]) == (
        12, 8_500, 15_706)
    # Y has no signed employees: [(8,500 + 13,088.24) / 12] x 0 - 0 = 0.
    assert rows[y.id]["employee_year_end_fen"] == 0


def test_hunan_overspent_pool_is_borne_by_the_centres_by_the_same_weights(client, hunan_year):
    """超支部分由签约基层医疗卫生机构承担 [000 §二(一)5]: a negative pool is shared as a positive one is."""
    x, y = hunan_year
    overspent = [{**item, "value": 20_000} if item["name"] == "total_financing_fen" else item for item in REGION_FIGURES]
    _file(client, "2026", overspent + annex2_complete(x, awards_national=1, signed=3) + annex2_complete(y))
    result = _get(client, f"/api/v1/settlement/year-end?region={HUNAN}&year=2026", HUNAN)
    # Pool = 20,000 - 25,500 - 30,000 = -35,500.
    # X: -35,500 x 20,400 / 28,900 = -25,058.82 -> -25,059; Y: -35,500 x 8,500 / 28,900 = -10,441.18 -> -10,441.
    # X's employees: -25,058.82 x 12 / 24 = -12,529.41 -> -12,529 (their share of the overspend).
    rows = {row["centre_id"]: row for row in result["centres"]}
    assert (result["pool_fen"], rows[x.id]["secondary_distribution_fen"], rows[y.id]["secondary_distribution_fen"],
            rows[x.id]["employee_year_end_fen"]) == (-35_500, -25_059, -10_441, -12_529)


def test_hunan_year_end_before_every_input_is_filed_is_409_naming_what_is_missing(client, hunan_year):
    x, y = hunan_year
    before = _figure_rows()
    response = client.get(f"/api/v1/settlement/year-end?region={HUNAN}&year=2026", headers=as_bureau())
    assert response.status_code == 409
    assert "total_financing_fen" in response.get_json()["details"]["missing"]
    assert _figure_rows() == before
    _file(client, "2026", REGION_FIGURES + annex2_complete(x, signed=3))  # Y's annex-2 figures not filed
    response = client.get(f"/api/v1/settlement/year-end?region={HUNAN}&year=2026", headers=as_bureau())
    assert response.status_code == 409
    assert response.get_json()["details"]["grading"]["centres_without_total"] == [y.id]


def test_hunan_year_end_of_a_year_not_wholly_frozen_is_409_naming_the_months(client, regions):
    agreement(f.resident(), f.centre(region=HUNAN))
    _freeze_on(date(2026, 1, 1))
    response = client.get(f"/api/v1/settlement/year-end?region={HUNAN}&year=2026", headers=as_bureau())
    assert response.status_code == 409
    assert response.get_json()["details"]["months"][0] == "2026-02"
    assert core_db.session.scalar(select(func.count(Snapshot.id)).where(Snapshot.region_code == HUNAN)) == 1
