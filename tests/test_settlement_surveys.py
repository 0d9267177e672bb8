"""The field survey (annex 2 of 000, item 6) run in jiayi: a questionnaire published by the bureau or a centre, a
random sample of 20 signed insured residents per centre, answers from the mini-program, and the indicator:
7.5 points at 90% or more, 0.5 off per percentage point below."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from care.models import Visit, VisitState
from core import db as core_db
from core.auth import Role
from settlement.models import Survey, SurveyInvitation
from settlement.surveys import field_score
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau

QUESTIONS = [
    {"code": "q1", "text": "您知道签约后普通门诊可按比例报销吗？",
     "choices": [{"code": "yes", "text": "知道", "counts": True}, {"code": "no", "text": "不知道", "counts": False}]},
    {"code": "q2", "text": "您知道您的家庭医生是谁吗？",
     "choices": [{"code": "yes", "text": "知道", "counts": True}, {"code": "no", "text": "不知道", "counts": False}]},
]


@pytest.mark.parametrize("rate, score", [
    ("0.95", "7.5"),
    ("0.90", "7.5"),
    ("0.895", "7.5"),   # half a point below: a part of a point costs nothing
    ("0.89", "7.0"),
    ("0.85", "5.0"),
    ("0.75", "0.0"),
    ("0.40", "0.0"),    # at most 7.5 off
])
def test_the_field_score_is_7_5_at_90_percent_and_half_a_point_less_per_point_below(rate, score):
    assert field_score(Decimal(rate)) == Decimal(score)


def test_no_survey_no_score():
    assert field_score(None) is None


def _signed(centre, n, **fields):
    people = []
    for _ in range(n):
        person = f.resident(**fields)
        agreement(person, centre)
        people.append(person)
    return people


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def county(client, db):
    """邵阳县: centre A with 25 signed insured adults on WeChat, 3 without WeChat, 2 not insured here, 2 children;
    centre B with 5 on WeChat; 3 of A's were served in the cycle."""
    f.regions()
    a, b = f.centre(), f.centre()
    on_wechat = [_signed(a, 1, openid=f"wx-survey-a{n}")[0] for n in range(25)]
    _signed(a, 3)
    for n in range(2):
        person = f.resident(openid=f"wx-survey-elsewhere{n}")
        agreement(person, a, counted=False)
    for n in range(2):
        _signed(a, 1, openid=f"wx-survey-child{n}", born=date(2015, 1, 1))
    at_b = [_signed(b, 1, openid=f"wx-survey-b{n}")[0] for n in range(5)]
    for n, person in enumerate(on_wechat[:3]):
        core_db.session.add(Visit(resident_id=person.id, centre_id=a.id, programme="hypertension", code=f"served-{n}",
                                  title="随访", protocol_version="test", due_date=date(2026, 3, 1),
                                  on_time_from=date(2026, 2, 1), on_time_until=date(2026, 3, 31), state=VisitState.DONE,
                                  served_on=date(2026, 3, 1)))
    core_db.session.commit()
    return SimpleNamespace(a=a, b=b, on_wechat=on_wechat, at_b=at_b)


def _publish(client, headers, **body):
    payload = {"kind": "policy_awareness", "title": "门诊统筹政策知晓率调查", "questions": QUESTIONS,
               "closes_on": "2026-04-15", **body}
    return client.post("/api/v1/settlement/surveys", json=payload, headers=headers)


def _answer(client, person, survey_id, q1="yes", q2="yes"):
    return client.post("/api/v1/me/survey-answers", json={"survey_id": survey_id, "answers": {"q1": q1, "q2": q2}},
                       headers=f.as_resident(person))


def test_a_bureau_survey_invites_20_signed_insured_adults_on_wechat_per_centre_at_random(client, db, county):
    response = _publish(client, as_bureau(), region="430523")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    results = {row["centre_id"]: row for row in body["results"]}
    assert (results[county.a.id]["invited"], results[county.b.id]["invited"]) == (20, 5)  # B has only five
    invited_at_a = set(db.scalars(select(SurveyInvitation.resident_id).where(SurveyInvitation.centre_id == county.a.id)))
    assert invited_at_a <= {person.id for person in county.on_wechat}
    assert (body["survey"]["region_code"], body["survey"]["cycle"], body["survey"]["sample_size"]) == ("430523", 2026, 20)


def test_a_satisfaction_survey_draws_only_people_served_in_the_cycle(client, db, county):
    response = _publish(client, as_bureau(), region="430523", kind="satisfaction")
    results = {row["centre_id"]: row["invited"] for row in response.get_json()["results"]}
    assert results == {county.a.id: 3}
    invited = set(db.scalars(select(SurveyInvitation.resident_id)))
    assert invited == {person.id for person in county.on_wechat[:3]}


def test_a_centre_surveys_its_own_residents(client, db, county):
    admin = f.staff(role=Role.CENTRE_ADMIN, centre=county.b)
    response = _publish(client, f.as_staff(admin))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["survey"]["centre_id"] == county.b.id
    assert {row["centre_id"] for row in response.get_json()["results"]} == {county.b.id}


def test_answers_feed_the_field_survey_indicator_of_the_evaluation(client, db, county):
    survey_id = _publish(client, as_bureau(), region="430523").get_json()["survey"]["id"]
    invited = {resident_id for resident_id in db.scalars(select(SurveyInvitation.resident_id))}
    at_a = [person for person in county.on_wechat if person.id in invited]
    # Centre A: 20 people, 40 answers, 34 aware: 85%, five points below 90%: 7.5 - 2.5.
    for n, person in enumerate(at_a):
        q1, q2 = ("no" if n < 3 else "yes"), ("no" if n < 3 else "yes")
        assert _answer(client, person, survey_id, q1, q2).status_code == 201
    # Centre B: 5 people, 10 answers, 9 aware: 90%, full marks.
    for n, person in enumerate(county.at_b):
        assert _answer(client, person, survey_id, "no" if n == 0 else "yes", "yes").status_code == 201

    rows = {row["centre_id"]: row for row in client.get("/api/v1/settlement/evaluation?region=430523&cycle=2026",
                                                         headers=as_bureau()).get_json()["centres"]}
    a, b = rows[county.a.id], rows[county.b.id]
    assert (a["policy_awareness_rate"], a["policy_awareness_score"], a["policy_awareness_respondents"]) == ("0.8500", "5.0", 20)
    assert (b["policy_awareness_rate"], b["policy_awareness_score"], b["policy_awareness_respondents"]) == ("0.9000", "7.5", 5)
    assert (a["satisfaction_rate"], a["satisfaction_score"], a["satisfaction_respondents"]) == (None, None, 0)

    listed = client.get("/api/v1/settlement/surveys?region=430523", headers=as_bureau()).get_json()["items"]
    [(survey, results)] = [(item["survey"], item["results"]) for item in listed]
    assert [(row["centre_id"], row["answered"], row["rate"], row["score"]) for row in results] == [
        (county.a.id, 20, "0.8500", "5.0"), (county.b.id, 5, "0.9000", "7.5")]


def test_a_later_survey_of_the_cycle_supersedes_an_earlier_one(client, db, county):
    first = _publish(client, as_bureau(), region="430523").get_json()["survey"]["id"]
    for person in county.at_b:
        _answer(client, person, first, "no", "no")
    second = _publish(client, as_bureau(), region="430523").get_json()["survey"]["id"]
    for person in county.at_b:
        _answer(client, person, second)
    [b] = [row for row in client.get("/api/v1/settlement/evaluation?region=430523&cycle=2026", headers=as_bureau())
           .get_json()["centres"] if row["centre_id"] == county.b.id]
    assert (b["policy_awareness_rate"], b["policy_awareness_score"]) == ("1.0000", "7.5")


def test_residents_see_their_open_invitations_without_which_answers_count(client, county):
    survey_id = _publish(client, as_bureau(), region="430523").get_json()["survey"]["id"]
    person = county.at_b[0]
    [invitation] = client.get("/api/v1/me/surveys", headers=f.as_resident(person)).get_json()["items"]
    assert (invitation["survey_id"], invitation["kind"], invitation["closes_on"]) == (survey_id, "policy_awareness",
                                                                                     "2026-04-15")
    assert invitation["questions"][0]["choices"] == [{"code": "yes", "text": "知道"}, {"code": "no", "text": "不知道"}]
    assert _answer(client, person, survey_id).status_code == 201
    assert client.get("/api/v1/me/surveys", headers=f.as_resident(person)).get_json()["items"] == []


# Refusals: each leaves nothing written.

def _answered(db) -> int:
    return db.scalar(select(func.count()).select_from(SurveyInvitation).where(SurveyInvitation.answered_at.is_not(None)))


def test_answering_a_survey_one_was_not_invited_to_is_404(client, db, county):
    survey_id = _publish(client, as_bureau(), region="430523").get_json()["survey"]["id"]
    outsider = f.resident(openid="wx-survey-outsider")
    assert _answer(client, outsider, survey_id).status_code == 404 and _answered(db) == 0


def test_answering_a_survey_twice_is_409(client, db, county):
    survey_id = _publish(client, as_bureau(), region="430523").get_json()["survey"]["id"]
    assert _answer(client, county.at_b[0], survey_id).status_code == 201
    again = _answer(client, county.at_b[0], survey_id, "no", "no")
    assert again.status_code == 409
    answers = db.scalar(select(SurveyInvitation.answers).where(SurveyInvitation.resident_id == county.at_b[0].id))
    assert answers == {"q1": "yes", "q2": "yes"}


def test_answering_after_the_survey_closed_is_409(client, db, county):
    from core import clock

    survey_id = _publish(client, as_bureau(), region="430523", closes_on="2026-03-20").get_json()["survey"]["id"]
    clock.set_today(date(2026, 3, 21))
    assert _answer(client, county.at_b[0], survey_id).status_code == 409 and _answered(db) == 0


@pytest.mark.parametrize("answers", [{"q1": "yes"}, {"q1": "yes", "q2": "maybe"}, {"q1": "yes", "q2": "yes", "q3": "no"}])
def test_answers_missing_a_question_or_naming_an_unknown_choice_are_422(client, db, county, answers):
    survey_id = _publish(client, as_bureau(), region="430523").get_json()["survey"]["id"]
    response = client.post("/api/v1/me/survey-answers", json={"survey_id": survey_id, "answers": answers},
                           headers=f.as_resident(county.at_b[0]))
    assert response.status_code == 422 and "answers" in response.get_json()["errors"]["json"]
    assert _answered(db) == 0


@pytest.mark.parametrize("body, field", [
    ({"closes_on": "2026-03-15"}, "closes_on"),                                          # closes in the past
    ({"questions": [{**QUESTIONS[0], "choices": [{"code": "a", "text": "知道", "counts": True},
                                                 {"code": "b", "text": "了解", "counts": True}]}]}, "questions"),
    ({"questions": [QUESTIONS[0], QUESTIONS[0]]}, "questions"),                           # a code twice
    ({"region": None}, "region"),                                                        # a bureau names its region
])
def test_a_survey_that_cannot_be_run_is_422(client, db, county, body, field):
    response = _publish(client, as_bureau(), **{"region": "430523", **body})
    assert response.status_code == 422 and field in response.get_json()["errors"]["json"]
    assert (_count(db, Survey), _count(db, SurveyInvitation)) == (0, 0)


def test_a_bureau_surveys_only_its_own_region_403(client, db, county):
    assert _publish(client, as_bureau("440823"), region="430523").status_code == 403
    assert (_count(db, Survey), _count(db, SurveyInvitation)) == (0, 0)


def test_a_centre_admin_surveys_only_their_own_centre_403(client, db, county):
    admin = f.staff(role=Role.CENTRE_ADMIN, centre=county.b)
    assert _publish(client, f.as_staff(admin), centre_id=county.a.id).status_code == 403
    assert (_count(db, Survey), _count(db, SurveyInvitation)) == (0, 0)


def test_a_centre_admin_sees_only_their_centres_results(client, county):
    _publish(client, as_bureau(), region="430523")
    admin = f.staff(role=Role.CENTRE_ADMIN, centre=county.b)
    [item] = client.get("/api/v1/settlement/surveys", headers=f.as_staff(admin)).get_json()["items"]
    assert [row["centre_id"] for row in item["results"]] == [county.b.id]
