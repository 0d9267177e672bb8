"""Annex 2 of 000 in full (issue 12): the nine indicators scored by the profile's rules, computed where jiayi has
the data and filed by the bureau where it does not; a total per centre, grades by ranking, the veto.
Every score computed by hand from the annex's rules (hunan-2025's `evaluation`)."""

from datetime import date

import pytest
from sqlalchemy import func, select

from core import clock
from core import db as core_db
from settlement.models import Figure, Survey, SurveyInvitation, SurveyKind
from tests import factories as f
from tests.county_helpers import as_admin
from tests.settlement_helpers import agreement, as_bureau

HUNAN = "430523"
INTEGRATION = ("drug_delivery", "supervision", "settlement", "fund_allocation", "agreement")


def _file(client, items):
    response = client.put("/api/v1/settlement/figures/2026", json={"region": HUNAN, "figures": items},
                          headers=as_bureau())
    assert response.status_code == 200, response.get_json()


def _evaluation(client, headers=None):
    response = client.get(f"/api/v1/settlement/evaluation?region={HUNAN}&cycle=2026", headers=headers or as_bureau())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _signed(centre, effective):
    """Two signed insured residents of the centre, `effective` of them with a health record and in the master file."""
    for index in range(2):
        on_file = index < effective
        agreement(f.resident(has_health_record=on_file, in_insurance_master=on_file), centre)


def _centre_figures(centre, **values):
    return [{"name": name, "centre_id": centre.id, "value": value} for name, value in values.items()]


@pytest.fixture
def county(db):
    """P, Q, R of 邵阳县, two signed insured each; effective: P 2, Q 1, R 1 (county 4 of 6 = 0.6667)."""
    f.regions()
    p, q, r = f.centre(), f.centre(), f.centre()
    _signed(p, 2)
    _signed(q, 1)
    _signed(r, 1)
    clock.set_today(date(2027, 1, 10))  # the cycle is over: evaluated as of 31 December 2026
    return p, q, r


def _file_all(client, p, q, r, *, veto_r=True):
    integration = {f"integration_{item}": 1 for item in INTEGRATION}
    _file(client, [
        {"name": "drug_list_required", "value": 25},
        {"name": "grade_share_excellent", "value": "0.5"}, {"name": "grade_share_good", "value": "0.5"},
        {"name": "grade_share_qualified", "value": "0"},
        *_centre_figures(p, personal_burden_fen=3420, outpatient_cost_fen=10000, outpatient_visits=5,
                         drug_list_stocked=25, policy_awareness_rate="0.95", satisfaction_rate="0.90",
                         awards_national=1, awards_provincial=1, awards_other=3, **integration),
        *_centre_figures(q, personal_burden_fen=3580, outpatient_cost_fen=10000, outpatient_visits=4,
                         drug_list_stocked=22, policy_awareness_rate="0.875", satisfaction_rate="0.80",
                         awards_county=2, deduction_cases=12,
                         integration_drug_delivery=1, integration_supervision=1, integration_settlement=1,
                         integration_fund_allocation=0, integration_agreement=0),
        *_centre_figures(r, personal_burden_fen=3500, outpatient_cost_fen=10000, outpatient_visits=6,
                         drug_list_stocked=25, policy_awareness_rate="0.90", satisfaction_rate="0.95",
                         deduction_cases=1, agreement_appraisal_failed=1 if veto_r else 0, **integration),
    ])


def test_annex2_scores_the_nine_items_per_centre_by_the_profiles_rules(client, county):
    p, q, r = county
    _file_all(client, p, q, r)
    body = _evaluation(client)
    # Item 1: burden = own payments / outpatient cost; county = (3420 + 3580 + 3500) / 30000 = 0.35.
    # Item 2: visits / signed insured; county = (5 + 4 + 6) / 6 = 2.5.
    assert (body["county_personal_burden_ratio"], body["county_visit_rate"], body["county_effective_signing_rate"]) == (
        "0.3500", "2.5000", "0.6667")
    rows = {row["centre_id"]: row for row in body["centres"]}
    # P. 1: 0.342 is 0.8 point below 0.35: one whole 0.5-point step -> 7 + 1 = 8.
    #    2: 5 / 2 = 2.5, the county's -> 10.   3: 2/2 = 1.0, 333 steps of 0.1 point above 0.6667 -> 20 (the most).
    #    4: 25 of 25 -> 20.   5: five of five unified x 2 -> 10.   6: 95% and 90% -> 7.5 + 7.5 = 15.
    #    7: national 5 + provincial 3 + 3 others x 1 = 11 -> 10 (the most).   8: none -> 0.
    #    Total 8 + 10 + 20 + 20 + 10 + 15 + 10 - 0 = 93.
    assert rows[p.id]["annex2"] == {
        "personal_burden_ratio": "0.3420", "personal_burden_score": 8, "visit_rate": "2.5000", "visit_rate_score": 10,
        "drug_list_score": 20, "integration_score": 10, "field_survey_score": "15.0", "bonus": 10, "deduction": 0,
        "missing": []}
    assert (rows[p.id]["effective_signing_score"], rows[p.id]["total"]) == (20, "93.0")
    # Q. 1: 0.358 is 0.8 point above: one step worse -> 6.   2: 4 / 2 = 2.0, 50 points below -> 0.
    #    3: 1/2 = 0.5, 166 steps below -> 0.   4: 3 of 25 missing -> 20 - 3 = 17.   5: 3 of 5 -> 6.
    #    6: 87.5% is 2.5 points below 90%: 2 whole points -> 7.5 - 1 = 6.5; 80%: 10 points -> 7.5 - 5 = 2.5; 9.
    #    7: 2 county awards -> 2.   8: 12 cases -> 10 (the most).   Total 6 + 0 + 0 + 17 + 6 + 9 + 2 - 10 = 30.
    assert ({k: rows[q.id]["annex2"][k] for k in ("personal_burden_score", "visit_rate_score", "drug_list_score",
                                                   "integration_score", "field_survey_score", "bonus", "deduction")},
            rows[q.id]["effective_signing_score"], rows[q.id]["total"]) == (
        {"personal_burden_score": 6, "visit_rate_score": 0, "drug_list_score": 17, "integration_score": 6,
         "field_survey_score": "9.0", "bonus": 2, "deduction": 10}, 0, "30.0")
    # R. 1: 0.35 -> 7.   2: 6 / 2 = 3.0, 50 points above -> 20.   3: -> 0.   4: -> 20.   5: -> 10.   6: -> 15.
    #    7: -> 0.   8: 1 case -> 1.   Total 7 + 20 + 0 + 20 + 10 + 15 + 0 - 1 = 71.
    assert rows[r.id]["total"] == "71.0"


def test_grades_go_by_ranking_with_the_filed_shares(client, county):
    p, q, r = county
    _file_all(client, p, q, r, veto_r=False)
    rows = {row["centre_id"]: row for row in _evaluation(client, as_admin())["centres"]}
    # Ranked by total: P 93, R 71, Q 30. Shares 0.5 / 0.5 / 0 of 3: excellent up to rank round(1.5) = 2,
    # good up to round(3.0) = 3: P and R excellent, Q good.
    assert [(rows[c.id]["rank"], rows[c.id]["grade"]) for c in (p, r, q)] == [(1, "excellent"), (2, "excellent"),
                                                                               (3, "good")]


def test_veto_makes_a_centre_unqualified_whatever_its_points(client, county):
    p, q, r = county
    _file_all(client, p, q, r, veto_r=True)
    body = _evaluation(client)
    rows = {row["centre_id"]: row for row in body["centres"]}
    # R (71 points) failed its agreement appraisal: unqualified, out of the ranking. P and Q are ranked alone:
    # excellent up to round(0.5 x 2) = 1, good up to round(1.0 x 2) = 2.
    assert (rows[r.id]["veto"], rows[r.id]["rank"], rows[r.id]["grade"]) == (True, None, "unqualified")
    assert [(rows[c.id]["rank"], rows[c.id]["grade"]) for c in (p, q)] == [(1, "excellent"), (2, "good")]
    assert body["grading"]["complete"] is True


def test_no_centre_is_graded_by_points_while_a_figure_is_missing_and_the_missing_are_named(client, county):
    p, q, r = county
    _file_all(client, p, q, r, veto_r=True)
    s = f.centre()  # a fourth centre, nothing filed for it
    _signed(s, 0)
    body = _evaluation(client)
    rows = {row["centre_id"]: row for row in body["centres"]}
    assert rows[s.id]["total"] is None
    assert rows[s.id]["annex2"]["missing"] == ["personal_burden_fen", "outpatient_cost_fen", "outpatient_visits",
                                               "drug_list_stocked", *(f"integration_{i}" for i in INTEGRATION),
                                               "policy_awareness_rate", "satisfaction_rate"]
    assert body["grading"]["centres_without_total"] == [s.id] and body["grading"]["complete"] is False
    assert [rows[c.id]["grade"] for c in (p, q, r, s)] == [None, None, "unqualified", None]  # the veto still holds


def test_grade_shares_adding_up_to_more_than_one_are_409_and_nothing_is_written(client, county):
    p, q, r = county
    _file_all(client, p, q, r)
    _file(client, [{"name": "grade_share_qualified", "value": "0.2"}])  # 0.5 + 0.5 + 0.2
    before = core_db.session.scalar(select(func.count(Figure.id)))
    response = client.get(f"/api/v1/settlement/evaluation?region={HUNAN}&cycle=2026", headers=as_bureau())
    assert response.status_code == 409
    assert core_db.session.scalar(select(func.count(Figure.id))) == before


def _survey(centre, kind, answers):
    """A survey of the cycle run in jiayi, answered at `centre`: one question, an answer 'yes' counts."""
    survey = Survey(kind=kind, title="调查", region_code=HUNAN, cycle=2026, sample_size=20, closes_on=date(2026, 12, 31),
                    published_by="client:bureau-430523", questions=[
                        {"code": "q1", "text": "?", "choices": [{"code": "yes", "text": "是", "counts": True},
                                                                {"code": "no", "text": "否", "counts": False}]}])
    core_db.session.add(survey)
    core_db.session.flush()
    for answer in answers:
        core_db.session.add(SurveyInvitation(survey_id=survey.id, resident_id=f.resident().id, centre_id=centre.id,
                                             answered_at=clock.now(), answers={"q1": answer}))
    core_db.session.commit()


def test_field_survey_run_in_jiayi_scores_item_6_unless_the_bureau_filed_its_own(client, county):
    p, q, r = county
    _survey(p, SurveyKind.POLICY_AWARENESS, ["yes"] * 8 + ["no"])  # 8 / 9 = 88.89%
    _survey(p, SurveyKind.SATISFACTION, ["yes", "yes"])             # 100%
    row = {row["centre_id"]: row for row in _evaluation(client)["centres"]}[p.id]
    # 88.89% is 1.11 points below 90%: one whole point -> 7.5 - 0.5 = 7.0; 100% -> 7.5; item 6 = 14.5.
    assert (row["policy_awareness_rate"], row["annex2"]["field_survey_score"]) == ("0.8889", "14.5")
    assert "policy_awareness_rate" not in row["annex2"]["missing"]
    _file(client, _centre_figures(p, policy_awareness_rate="0.95"))  # the bureau's own field survey wins
    rows = {row["centre_id"]: row for row in _evaluation(client)["centres"]}
    assert rows[p.id]["annex2"]["field_survey_score"] == "15.0"  # 7.5 + 7.5
    assert "policy_awareness_rate" in rows[q.id]["annex2"]["missing"]  # neither run in jiayi nor filed


def test_a_region_without_annex2_rules_shows_jiayis_indicators_only(client, county):
    f.centre(region="430522")
    response = client.get("/api/v1/settlement/evaluation?region=430522&cycle=2026", headers=as_bureau("430522"))
    assert response.status_code == 200, response.get_json()
    assert {(row["annex2"], row["grade"]) for row in response.get_json()["centres"]} == {(None, None)}
