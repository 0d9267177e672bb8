"""Evaluating centres (annex 2 of 000; POLICY.md "Evaluation"): the indicators the backend can compute.

Per centre and cycle: effective signing rate with annex 2's score against the county average,
key-population coverage, renewal rate, follow-up completion, and the field survey (item 6: policy
awareness and satisfaction) where it ran in jiayi (settlement/surveys.py). Rates are Decimal fractions.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from care.models import Visit, VisitState
from core import clock, db
from core.auth import Actor
from core.errors import Invalid
from registry.access import check_region
from registry.models import Centre, Resident, Window
from registry.populations import key_population_sql
from registry.service import pooling_region, region_and_descendants
from settlement import surveys
from settlement.models import SurveyKind
from settlement.service import alive_on, tally
from signing import cycles
from signing.models import Agreement, in_force_on

RATE_PLACES = Decimal("0.0001")
# Annex 2 item 3: base 10 points, one point per 0.1 percentage point above or below the county average, 0..20.
BASE_SCORE, MAX_SCORE, STEP = 10, 20, Decimal("0.001")


def exact_rate(part: int, whole: int) -> Decimal | None:
    return Decimal(part) / whole if whole else None


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole to four places (None when there is nothing to divide by)."""
    exact = exact_rate(part, whole)
    return None if exact is None else exact.quantize(RATE_PLACES)


def effective_signing_score(centre_rate: Decimal | None, county_rate: Decimal | None) -> int | None:
    """Annex 2 item 3: 10 points at the county average, ±1 per whole 0.1 percentage point, within 0..20."""
    if centre_rate is None or county_rate is None:
        return None
    steps = int((centre_rate - county_rate) / STEP)  # int() truncates: a part of a step earns nothing
    return max(0, min(MAX_SCORE, BASE_SCORE + steps))


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
    """Annex 2 indicators per centre of a pooling region for a cycle, as of today or the cycle's end."""
    check_region(actor, region)
    pooling = pooling_region(region)
    if pooling is None:
        raise Invalid("Evaluation is per pooling region (a county); this region is not in one.", field="region",
                      location="query")
    start, end = cycles.cycle_bounds(pooling.profile, cycle)
    if start > clock.today():
        raise Invalid("This cycle has not begun.", field="cycle", location="query")
    as_of = min(clock.today(), end)
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
            "effective_signing_score": effective_signing_score(exact_rate(figures["effective"], figures["counted"]),
                                                               county_rate),
            "key_population_residents": key_residents, "key_population_signed": key_signed,
            "key_population_coverage": rate(key_signed, key_residents),
            "previous_cycle_signed": previous, "renewed": renewed, "renewal_rate": rate(renewed, previous),
            "follow_ups_due": due, "follow_ups_done": done, "follow_up_completion": rate(done, due),
            **_field_survey(field.get(centre.id, {})),
        })
    return {"region": pooling.code, "cycle": cycle, "as_of": as_of,
            "county_effective_signing_rate": rate(county["effective"], county["counted"]),
            "centres": rows}
