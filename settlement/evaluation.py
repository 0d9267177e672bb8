"""Evaluating centres (annex 2 of 000; POLICY.md "Evaluation").

Per centre and cycle, the nine indicators of annex 2, scored by the rules in the region's profile
(registry.profiles.Evaluation): computed where jiayi has the data (item 3 effective signing, item 6 field
survey where it ran in jiayi, settlement/surveys.py), from the bureau's filed figures where it does not
(settlement/figures.py: item 1 personal burden, item 2 visit rate, item 4 specific drug list, item 5
village-clinic integration, item 6 the bureau's own field survey, item 7 bonus, item 8 deduction, item 9
the veto). A total per centre, grades by ranking with the shares the bureau files, and the veto that
makes a centre unqualified whatever its points. Beside them, jiayi's own indicators: key-population
coverage, renewal rate, follow-up completion. Rates are Decimal fractions.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from care.models import Visit, VisitState
from core import clock, db
from core.auth import Actor
from core.errors import Conflict, Invalid
from registry import profiles
from registry.access import check_region
from registry.models import Centre, Resident, Window
from registry.populations import key_population_sql
from registry.profiles import AWARD_LEVELS, INTEGRATION, Evaluation, Relative
from registry.service import pooling_region, region_and_descendants
from settlement import surveys
from settlement.figures import Filed
from settlement.models import SurveyKind
from settlement.service import alive_on, tally
from signing import cycles
from signing.models import Agreement, in_force_on

RATE_PLACES = Decimal("0.0001")
GRADES = ("excellent", "good", "qualified", "unqualified")  # 优秀 良好 合格 不合格 [000 §二(一)4]


def exact_rate(part: int, whole: int) -> Decimal | None:
    return Decimal(part) / whole if whole else None


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole to four places (None when there is nothing to divide by)."""
    exact = exact_rate(part, whole)
    return None if exact is None else exact.quantize(RATE_PLACES)


def relative_score(rule: Relative, centre_rate: Decimal | None, county_rate: Decimal | None) -> int | None:
    """Annex 2 items 1-3: base points at the county average, one per whole step better, one off per whole step
    worse, within 0..points (a part of a step earns and costs nothing: 不足…不计算)."""
    if centre_rate is None or county_rate is None:
        return None
    better = centre_rate - county_rate if rule.better == "higher" else county_rate - centre_rate
    steps = int(better / rule.step)  # int() truncates toward zero
    return max(0, min(rule.points, rule.base + steps))


def effective_signing_score(centre_rate: Decimal | None, county_rate: Decimal | None, rule: Relative) -> int | None:
    """Annex 2 item 3: base points at the county's effective signing rate, ±1 per whole step (0.1 point in Hunan)."""
    return relative_score(rule, centre_rate, county_rate)


def _coverage(centre_ids: list[int], as_of: date) -> dict[int, tuple[int, int]]:
    """Key-population residents of each centre's villages, and how many of them are signed there."""
    query = (
        select(Window.centre_id, func.count(Resident.id), func.count(Agreement.id))
        .select_from(Resident)
        .join(Window, Resident.home_window_id == Window.id)
        .outerjoin(Agreement, and_(Agreement.resident_id == Resident.id, Agreement.centre_id == Window.centre_id,
                                   in_force_on(as_of)))
        .where(Window.centre_id.in_(centre_ids), or_(*key_population_sql(as_of).values()), alive_on(as_of))
        .group_by(Window.centre_id)
    )
    return {centre_id: (residents, signed) for centre_id, residents, signed in db.session.execute(query)}


def _renewals(centre_ids: list[int], previous_end: date, as_of: date) -> dict[int, tuple[int, int]]:
    """People signed with each centre on the previous cycle's last day, and how many are signed there now."""
    now = aliased(Agreement)
    query = (
        select(Agreement.centre_id, func.count(Agreement.id), func.count(now.id))
        .outerjoin(now, and_(now.resident_id == Agreement.resident_id, now.centre_id == Agreement.centre_id,
                             in_force_on(as_of, now)))
        .where(Agreement.centre_id.in_(centre_ids), in_force_on(previous_end))
        .group_by(Agreement.centre_id)
    )
    return {centre_id: (previous, renewed) for centre_id, previous, renewed in db.session.execute(query)}


def _follow_ups(centre_ids: list[int], start: date, end: date, today: date) -> dict[int, tuple[int, int]]:
    """Follow-up visits whose on-time range closes within the cycle and has closed by today (not cancelled), and how many
    were done. A window closing on the cycle's last day counts once that day is over: the year's 65+ and 80+ visits
    and the fourth quarter's follow-ups all close on 31 December."""
    query = (
        select(Visit.centre_id, func.count(Visit.id), func.count(Visit.id).filter(Visit.state == VisitState.DONE))
        .where(Visit.centre_id.in_(centre_ids), Visit.on_time_until >= start, Visit.on_time_until <= end,
               Visit.on_time_until < today, Visit.state != VisitState.CANCELLED)
        .group_by(Visit.centre_id)
    )
    return {centre_id: (due, done) for centre_id, due, done in db.session.execute(query)}


def _field_survey(results: dict) -> dict:
    """Annex 2 item 6 from the surveys run in jiayi: rate, score and respondents per questionnaire (None: not run)."""
    row = {}
    for kind in SurveyKind:
        result = results.get(kind, {})
        row |= {f"{kind.value}_rate": result.get("rate"), f"{kind.value}_score": result.get("score"),
                f"{kind.value}_respondents": result.get("answered", 0)}
    return row


def evaluate(actor: Actor, *, region: str, cycle: int) -> dict:
    """Annex 2 indicators, total and grade per centre of a pooling region for a cycle, as of today or the cycle's end."""
    check_region(actor, region)
    return evaluation_of(region, cycle)


def evaluation_of(region: str, cycle: int) -> dict:
    pooling = pooling_region(region)
    if pooling is None:
        raise Invalid("Evaluation is per pooling region (a county); this region is not in one.", field="region",
                      location="query")
    start, end = cycles.cycle_bounds(pooling.profile, cycle)
    if start > clock.today():
        raise Invalid("This cycle has not begun.", field="cycle", location="query")
    as_of = min(clock.today(), end)
    version = profiles.version_on(pooling.profile_code, end)
    rules = profiles.evaluation_rules(version.body) if version is not None else None
    codes = region_and_descendants(pooling.code)
    centres = db.session.scalars(select(Centre).where(Centre.region_code.in_(codes), Centre.takes_part.is_(True))
                                 .order_by(Centre.id)).all()
    ids = [centre.id for centre in centres]
    counts = {key[0]: figures for key, figures in tally(as_of, codes, by=(Agreement.centre_id,))}
    [(_, county)] = tally(as_of, codes)
    county_rate = exact_rate(county["effective"], county["counted"])
    coverage, renewals = _coverage(ids, as_of), _renewals(ids, start - timedelta(days=1), as_of)
    follow_ups = _follow_ups(ids, start, end, clock.today())
    field = surveys.field_indicator(ids, cycle)
    filed = Filed(pooling.code, str(cycle))
    rows = []
    for centre in centres:
        figures = counts.get(centre.id, {"effective": 0, "counted": 0})
        key_residents, key_signed = coverage.get(centre.id, (0, 0))
        previous, renewed = renewals.get(centre.id, (0, 0))
        due, done = follow_ups.get(centre.id, (0, 0))
        rows.append({
            "centre_id": centre.id, "name": centre.name,
            "signed_insured": figures["counted"], "effective": figures["effective"],
            "effective_signing_rate": rate(figures["effective"], figures["counted"]),
            "key_population_residents": key_residents, "key_population_signed": key_signed,
            "key_population_coverage": rate(key_signed, key_residents),
            "previous_cycle_signed": previous, "renewed": renewed, "renewal_rate": rate(renewed, previous),
            "follow_ups_due": due, "follow_ups_done": done, "follow_up_completion": rate(done, due),
            **_field_survey(field.get(centre.id, {})),
        })
    body = {"region": pooling.code, "cycle": cycle, "as_of": as_of,
            "county_effective_signing_rate": rate(county["effective"], county["counted"]),
            "county_personal_burden_ratio": None, "county_visit_rate": None, "grading": None, "centres": rows}
    if rules is None:  # the region does not evaluate by annex 2: jiayi's indicators only
        for row in rows:
            row.update(effective_signing_score=None, annex2=None, total=None, veto=False, rank=None, grade=None)
        return body
    _annex2(body, rules, filed, county_rate)
    return body


def _ratio(parts: list[tuple[Decimal | None, Decimal | int | None]]) -> Decimal | None:
    """Σ part / Σ whole over the centres where both are known: the county average per signed insured person."""
    known = [(part, whole) for part, whole in parts if part is not None and whole is not None]
    whole = sum(whole for _, whole in known)
    return Decimal(sum(part for part, _ in known)) / whole if whole else None


def _annex2(body: dict, rules: Evaluation, filed: Filed, county_effective: Decimal | None) -> None:
    """Score annex 2's nine items per centre, total them, and grade the region's centres by ranking."""
    rows = body["centres"]
    burden = {row["centre_id"]: (filed.centre("personal_burden_fen", row["centre_id"]),
                                 filed.centre("outpatient_cost_fen", row["centre_id"])) for row in rows}
    visits = {row["centre_id"]: (filed.centre("outpatient_visits", row["centre_id"]), row["signed_insured"])
              for row in rows}
    county_burden, county_visits = _ratio(list(burden.values())), _ratio(list(visits.values()))
    body["county_personal_burden_ratio"] = _places(county_burden)
    body["county_visit_rate"] = _places(county_visits)
    required = filed.region("drug_list_required")
    for row in rows:
        centre_id = row["centre_id"]
        missing: list[str] = []
        need = functools.partial(_need, filed, centre_id, missing)
        burden_ratio = _exact(need("personal_burden_fen"), need("outpatient_cost_fen"))
        visit_rate = _exact(need("outpatient_visits"), row["signed_insured"])
        stocked = need("drug_list_stocked")
        if required is None:
            missing.append("drug_list_required")
        flags = [need(f"integration_{item}") for item in INTEGRATION]
        effective = exact_rate(row["effective"], row["signed_insured"])
        surveys_ = {}
        for kind in ("policy_awareness", "satisfaction"):
            # The bureau's filed survey wins over one run in jiayi: it is the one the bureau stands by.
            found = filed.centre(f"{kind}_rate", centre_id)
            surveys_[kind] = found if found is not None else row[f"{kind}_rate"]
            if surveys_[kind] is None:
                missing.append(f"{kind}_rate")
        awards = {level: filed.centre(f"awards_{level}", centre_id) or 0 for level in AWARD_LEVELS}
        cases = filed.centre("deduction_cases", centre_id) or 0
        items = {
            "personal_burden_ratio": _places(burden_ratio),
            "personal_burden_score": relative_score(rules.personal_burden, burden_ratio, county_burden),
            "visit_rate": _places(visit_rate),
            "visit_rate_score": relative_score(rules.visit_rate, visit_rate, county_visits),
            "effective_signing_score": relative_score(rules.effective_signing, effective, county_effective),
            "drug_list_score": (None if stocked is None or required is None else
                                max(0, rules.drug_list_points - rules.drug_list_per_missing * int(max(required - stocked, 0)))),
            "integration_score": None if None in flags else rules.integration_points * int(sum(flags)),
            "field_survey_score": (None if None in surveys_.values() else
                                   sum(_survey_score(rules, value) for value in surveys_.values())),
            "bonus": min(rules.bonus_max, int(sum(awards[level] * rules.award_points[level] for level in AWARD_LEVELS))),
            "deduction": min(rules.deduction_max, int(cases) * rules.deduction_per_case),
        }
        scored = [items[name] for name in ("personal_burden_score", "visit_rate_score", "effective_signing_score",
                                           "drug_list_score", "integration_score", "field_survey_score")]
        if items["effective_signing_score"] is None:
            missing.append("signed_insured")
        row["effective_signing_score"] = items.pop("effective_signing_score")
        row["annex2"] = {**items, "missing": missing}
        row["total"] = None if None in scored else Decimal(sum(scored)) + items["bonus"] - items["deduction"]
        row["veto"] = filed.centre("agreement_appraisal_failed", centre_id) == 1
    body["grading"] = _grade(rows, filed)


def _need(filed: Filed, centre_id: int, missing: list[str], name: str) -> Decimal | None:
    """A centre's filed figure, noting its name in `missing` when it is not filed."""
    value = filed.centre(name, centre_id)
    if value is None:
        missing.append(name)
    return value


def _exact(part: Decimal | None, whole: Decimal | int | None) -> Decimal | None:
    return None if part is None or not whole else Decimal(part) / whole


def _places(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(RATE_PLACES)


def _survey_score(rules: Evaluation, value: Decimal) -> Decimal:
    """Annex 2 item 6, one questionnaire: full points at the target rate or above, `per_point` off per whole
    percentage point below, never below 0."""
    return surveys.field_score(value, full=rules.survey_points, target=rules.survey_target, per_point=rules.survey_per_point)


def _grade(rows: list[dict], filed: Filed) -> dict:
    """Grades by ranking [000 §二(一)4]: a vetoed centre is unqualified [annex 2 item 9]; the others are ranked by
    total (equal totals share a rank) and graded by the shares the bureau files, the boundaries rounded half-up
    (excellent: ranks up to share x N; good: up to (excellent + good) x N; ...). Nobody is graded by points until
    every centre not vetoed has a total."""
    shares = {grade: filed.region(f"grade_share_{grade}") for grade in GRADES[:3]}
    ranked = [row for row in rows if not row["veto"]]
    for row in rows:
        row["rank"], row["grade"] = None, ("unqualified" if row["veto"] else None)
    missing = [f"grade_share_{grade}" for grade, share in shares.items() if share is None]
    incomplete = [row["centre_id"] for row in ranked if row["total"] is None]
    status = {"shares": {grade: share for grade, share in shares.items()}, "missing": missing,
              "centres_without_total": incomplete, "complete": not missing and not incomplete}
    if missing or incomplete:
        return status
    if sum(shares.values()) > 1:
        raise Conflict("The grade shares filed add up to more than 1.", shares={k: str(v) for k, v in shares.items()})
    bounds, cumulative = [], Decimal(0)
    for grade in GRADES[:3]:
        cumulative += shares[grade]
        bounds.append((int((cumulative * len(ranked)).quantize(Decimal(1), rounding=ROUND_HALF_UP)), grade))
    for row in ranked:
        row["rank"] = 1 + sum(1 for other in ranked if other["total"] > row["total"])
        row["grade"] = next((grade for bound, grade in bounds if row["rank"] <= bound), "unqualified")
    return status
