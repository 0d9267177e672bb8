"""The field survey of the evaluation (annex 2 of 000, item 6), run in jiayi: policy awareness and satisfaction.

The bureau publishes a short questionnaire for the centres of its pooling region, or a centre for itself;
publishing draws the sample: 20 signed insured residents per centre at random (annex 2 asks about 20),
among those who can answer in the mini-program (a bound WeChat account) and, for satisfaction, were
served in the cycle (annex 2: "outpatients" among the signed). A centre with fewer candidates invites
them all. The rate is the share of answers that count (aware, satisfied); the score is annex 2's.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select, update

from care.fulfilment import served_sql
from core import clock, db
from core.auth import Actor, Role
from core.errors import Conflict, Invalid, NotFound
from core.pagination import paginate
from registry import access
from registry.access import check_region
from registry.models import Centre, Resident
from registry.populations import aged
from registry.service import pooling_region, region_and_descendants
from settlement.models import Survey, SurveyInvitation, SurveyKind
from signing import cycles
from signing.models import Agreement, in_force_on

SAMPLE_PER_CENTRE = 20
ADULT = 18
RATE_PLACES, SCORE_PLACES = Decimal("0.0001"), Decimal("0.1")
# Annex 2 item 6: each questionnaire is worth 7.5 points at 90% or more, 0.5 less per percentage point below.
FULL_MARKS, TARGET, PER_POINT = Decimal("7.5"), Decimal("0.90"), Decimal("0.5")
_random = random.SystemRandom()


def field_score(rate: Decimal | None, *, full: Decimal = FULL_MARKS, target: Decimal = TARGET,
                per_point: Decimal = PER_POINT) -> Decimal | None:
    """Annex 2 item 6: 7.5 at a rate of 90% or more, 0.5 off per whole percentage point below, never below 0.

    A part of a point costs nothing, as a part of a step earns nothing in item 3 (evaluation.py).
    """
    if rate is None:
        return None
    if rate >= target:
        return full
    points_below = int((target - rate) * 100)
    return max(Decimal(0), full - per_point * points_below).quantize(SCORE_PLACES)


def _checked_questions(questions: list[dict]) -> None:
    """Codes unique within the survey and each question; every question has a choice that counts and one that does not."""
    codes = [question["code"] for question in questions]
    if len(set(codes)) != len(codes):
        raise Invalid("Question codes are unique.", field="questions")
    for question in questions:
        choices = [choice["code"] for choice in question["choices"]]
        if len(set(choices)) != len(choices):
            raise Invalid(f"Choice codes of {question['code']!r} are unique.", field="questions")
        if {choice["counts"] for choice in question["choices"]} != {True, False}:
            raise Invalid(f"Question {question['code']!r} needs a choice that counts and one that does not.",
                          field="questions")


def _centres(actor: Actor, region: str | None, centre_id: int | None) -> tuple[list[Centre], Centre | None, str]:
    """The centres a survey covers: a bureau's whole pooling region, or a centre admin's own centre."""
    if actor.role is Role.CENTRE_ADMIN:
        if region is not None:
            raise Invalid("A centre surveys its own residents; name no region.", field="region")
        centre = db.get_or_404(Centre, centre_id if centre_id is not None else actor.centre_id, "centre")
        access.check_centre(actor, centre.id)
        pooling = pooling_region(centre.region_code)
        if pooling is None:
            raise Invalid("This centre's region belongs to no pooling region.", field="centre_id")
        return [centre], centre, pooling.code
    if region is None:
        raise Invalid("Name the pooling region to survey.", field="region")
    if centre_id is not None:
        raise Invalid("A bureau surveys every centre of the region.", field="centre_id")
    check_region(actor, region)
    pooling = pooling_region(region)
    if pooling is None:
        raise Invalid("Surveys cover a pooling region (a county); this region is not in one.", field="region")
    centres = db.session.scalars(select(Centre).where(Centre.region_code.in_(region_and_descendants(pooling.code)),
                                                      Centre.takes_part.is_(True)).order_by(Centre.id)).all()
    return list(centres), None, pooling.code


def candidates(kind: SurveyKind, centre_ids: list[int], today: date) -> dict[int, list[int]]:
    """Per centre, the residents who may be drawn: signed insured adults with a bound WeChat account today,
    and for satisfaction, served in their agreement's period."""
    query = (select(Agreement.centre_id, Agreement.resident_id).join(Resident, Agreement.resident_id == Resident.id)
             .where(Agreement.centre_id.in_(centre_ids), in_force_on(today), Agreement.counts_for_capitation.is_(True),
                    Resident.openid.is_not(None), aged(today, min_age=ADULT))
             .order_by(Agreement.centre_id, Agreement.resident_id))
    if kind is SurveyKind.SATISFACTION:
        query = query.where(served_sql())
    found = defaultdict(list)
    for centre_id, resident_id in db.session.execute(query):
        found[centre_id].append(resident_id)
    return found


def publish(actor: Actor, *, kind: SurveyKind, title: str, questions: list[dict], closes_on: date,
            region: str | None = None, centre_id: int | None = None) -> Survey:
    """Publish a questionnaire and invite its sample: up to 20 drawn at random per centre covered."""
    today = clock.today()
    if closes_on < today:
        raise Invalid("A survey closes today or later.", field="closes_on")
    _checked_questions(questions)
    centres, own_centre, pooling_code = _centres(actor, region, centre_id)
    pool = candidates(kind, [centre.id for centre in centres], today)
    with db.transaction():
        survey = Survey(kind=kind, title=title, region_code=pooling_code, centre_id=own_centre.id if own_centre else None,
                        cycle=cycles.cycle_of(pooling_region(pooling_code).profile, today), questions=questions,
                        sample_size=SAMPLE_PER_CENTRE, closes_on=closes_on, published_by=actor.subject,
                        published_at=clock.now())
        db.session.add(survey)
        db.session.flush()
        for centre in centres:
            found = pool.get(centre.id, [])
            drawn = _random.sample(found, min(SAMPLE_PER_CENTRE, len(found)))
            db.session.add_all(SurveyInvitation(survey_id=survey.id, resident_id=resident_id, centre_id=centre.id,
                                                invited_at=clock.now()) for resident_id in sorted(drawn))
    db.session.refresh(survey)
    return survey


def results(survey: Survey, centre_ids: set[int] | None = None) -> list[dict]:
    """Per centre of the sample: invited, answered, the rate of answers that count, and annex 2's score."""
    counting = {(question["code"], choice["code"]) for question in survey.questions for choice in question["choices"]
                if choice["counts"]}
    figures = defaultdict(lambda: {"invited": 0, "answered": 0, "answers": 0, "counting": 0})
    for invitation in survey.invitations:
        if centre_ids is not None and invitation.centre_id not in centre_ids:
            continue
        row = figures[invitation.centre_id]
        row["invited"] += 1
        if invitation.answered_at is not None:
            row["answered"] += 1
            row["answers"] += len(invitation.answers)
            row["counting"] += sum((code, choice) in counting for code, choice in invitation.answers.items())
    rows = []
    for centre_id, row in sorted(figures.items()):
        exact = Decimal(row["counting"]) / row["answers"] if row["answers"] else None
        rows.append({"centre_id": centre_id, "invited": row["invited"], "answered": row["answered"],
                     "rate": None if exact is None else exact.quantize(RATE_PLACES), "score": field_score(exact)})
    return rows


def surveys(actor: Actor, *, region: str | None, cycle: int | None, cursor: str | None, limit: int) -> dict:
    """Surveys with their results: a bureau's region's, or those covering a centre admin's centre (its rows only)."""
    query = select(Survey)
    if actor.role is Role.CENTRE_ADMIN:
        query = query.where(or_(Survey.centre_id == actor.centre_id, Survey.id.in_(
            select(SurveyInvitation.survey_id).where(SurveyInvitation.centre_id == actor.centre_id))))
    else:
        if region is None:
            raise Invalid("Name the pooling region.", field="region", location="query")
        check_region(actor, region)
        pooling = pooling_region(region)
        query = query.where(Survey.region_code == (pooling.code if pooling else region))
    if cycle is not None:
        query = query.where(Survey.cycle == cycle)
    page = paginate(query, key_columns=[Survey.id], cursor=cursor, limit=limit)
    own = {actor.centre_id} if actor.role is Role.CENTRE_ADMIN else None
    page["items"] = [{"survey": survey, "results": results(survey, own)} for survey in page["items"]]
    return page


def field_indicator(centre_ids: list[int], cycle: int) -> dict[int, dict[SurveyKind, dict]]:
    """Per centre and kind, the result of the latest survey of the cycle answered there (none: not run in jiayi)."""
    found: dict[int, dict[SurveyKind, dict]] = defaultdict(dict)
    answered = (select(SurveyInvitation.survey_id).where(SurveyInvitation.centre_id.in_(centre_ids),
                                                         SurveyInvitation.answered_at.is_not(None)))
    for survey in db.session.scalars(select(Survey).where(Survey.cycle == cycle, Survey.id.in_(answered))
                                     .order_by(Survey.id)):
        for row in results(survey, set(centre_ids)):
            if row["answered"]:
                found[row["centre_id"]][survey.kind] = row  # a later survey supersedes an earlier one
    return found


# Residents answer.

def my_invitations(actor: Actor) -> list[SurveyInvitation]:
    """The caller's invitations to surveys still open and not yet answered."""
    resident = access.resident_of(actor)
    return list(db.session.scalars(
        select(SurveyInvitation).join(Survey, SurveyInvitation.survey_id == Survey.id)
        .where(SurveyInvitation.resident_id == resident.id, SurveyInvitation.answered_at.is_(None),
               Survey.closes_on >= clock.today()).order_by(SurveyInvitation.id)))


def survey_of(invitation: SurveyInvitation) -> Survey:
    return db.session.get(Survey, invitation.survey_id)


def answer(actor: Actor, *, survey_id: int, answers: dict[str, str]) -> SurveyInvitation:
    """Answer a survey one was invited to, every question once with one of its choices; once only."""
    resident = access.resident_of(actor)
    invitation = db.session.scalar(select(SurveyInvitation).where(SurveyInvitation.survey_id == survey_id,
                                                                  SurveyInvitation.resident_id == resident.id))
    if invitation is None:
        raise NotFound("You were not invited to this survey.")
    survey = survey_of(invitation)
    if survey.closes_on < clock.today():
        raise Conflict("The survey has closed.", closes_on=survey.closes_on.isoformat())
    choices = {question["code"]: {choice["code"] for choice in question["choices"]} for question in survey.questions}
    if set(answers) != set(choices):
        raise Invalid(f"Answer every question, and only those: {sorted(choices)}.", field="answers")
    wrong = sorted(code for code, choice in answers.items() if choice not in choices[code])
    if wrong:
        raise Invalid(f"Not a choice of {wrong}.", field="answers")
    with db.transaction():
        given = db.session.execute(
            update(SurveyInvitation).where(SurveyInvitation.id == invitation.id, SurveyInvitation.answered_at.is_(None))
            .values(answers=answers, answered_at=clock.now()).execution_options(synchronize_session=False)).rowcount
        if not given:
            raise Conflict("You have answered this survey already.")
    db.session.refresh(invitation)
    return invitation
