"""Figures the bureau files because it alone knows them (POLICY.md "Settlement", "Evaluation").

Each figure has a kind (fen, a count, a rate, a flag), a scope (the whole pooling region or one centre) and a
period (a year, i.e. a cycle). A filing appends a version per figure; nothing is ever overwritten (the database
refuses UPDATE and DELETE), so every figure keeps its history and who filed it. Two racing filings of one figure
meet the unique (region, period, name, scope, version) index: the loser is a 409 and writes nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import audit, db
from core.auth import Actor
from core.errors import Conflict, Invalid
from registry.access import check_region
from registry.models import Centre
from registry.profiles import AWARD_LEVELS, INTEGRATION
from registry.service import pooling_region, region_and_descendants
from settlement.models import Figure

REGION, CENTRE = "region", "centre"


@dataclass(frozen=True)
class Kind:
    """What a figure's value is: bounds and decimal places."""

    low: Decimal
    high: Decimal
    places: int


AMOUNT = Kind(Decimal(0), Decimal(10**15), 0)  # integer fen
COUNT = Kind(Decimal(0), Decimal(10**9), 0)
RATE = Kind(Decimal(0), Decimal(1), 6)
FLAG = Kind(Decimal(0), Decimal(1), 0)
WEIGHT = Kind(Decimal(0), Decimal(100), 6)

# name -> (kind, scope, what it is)
CATALOGUE: dict[str, tuple[Kind, str, str]] = {
    "outpatient_fund_fen": (AMOUNT, REGION, "[001 五(一)1] the year's outpatient fund of the pooling region"),
    "total_financing_fen": (AMOUNT, REGION, "[000 §二(一)1, 5] the year's resident outpatient financing total"),
    "fee_for_service_unsigned_fen": (AMOUNT, REGION, "[000 §二(一)5] fee-for-service paid for unsigned insured residents"),
    "drug_list_required": (COUNT, REGION, "[annex 2 item 4] items on the region's specific drug list"),
    "grade_share_excellent": (RATE, REGION, "[000 §二(一)4] share of ranked centres graded 优秀"),
    "grade_share_good": (RATE, REGION, "share of ranked centres graded 良好"),
    "grade_share_qualified": (RATE, REGION, "share of ranked centres graded 合格 (the rest: 不合格)"),
    "grade_weight_excellent": (WEIGHT, REGION, "[000 §二(一)5] a 优秀 centre's weight in the secondary distribution"),
    "grade_weight_good": (WEIGHT, REGION, "a 良好 centre's weight in the secondary distribution"),
    "grade_weight_qualified": (WEIGHT, REGION, "a 合格 centre's weight in the secondary distribution"),
    "grade_weight_unqualified": (WEIGHT, REGION, "a 不合格 centre's weight in the secondary distribution"),
    "personal_burden_fen": (AMOUNT, CENTRE, "[annex 2 item 1] signed insured people's own outpatient payments"),
    "outpatient_cost_fen": (AMOUNT, CENTRE, "[annex 2 item 1] signed insured people's total outpatient cost"),
    "outpatient_visits": (COUNT, CENTRE, "[annex 2 item 2] signed insured people's outpatient visits at the centre"),
    "drug_list_stocked": (COUNT, CENTRE, "[annex 2 item 4] items of the specific drug list the centre stocks"),
    **{f"integration_{item}": (FLAG, CENTRE, f"[annex 2 item 5] unified {item.replace('_', ' ')} (1) or not (0)")
       for item in INTEGRATION},
    "policy_awareness_rate": (RATE, CENTRE, "[annex 2 item 6] policy awareness of the bureau's field survey"),
    "satisfaction_rate": (RATE, CENTRE, "[annex 2 item 6] satisfaction of the bureau's field survey"),
    **{f"awards_{level}": (COUNT, CENTRE, f"[annex 2 item 7] {level} awards or model sites") for level in AWARD_LEVELS},
    "deduction_cases": (COUNT, CENTRE, "[annex 2 item 8] verified cases of fraud or refused patients"),
    "agreement_appraisal_failed": (FLAG, CENTRE, "[annex 2 item 9] the centre's agreement appraisal failed (veto)"),
}
_YEAR = re.compile(r"^[0-9]{4}$", re.ASCII)


def year_of(period: str) -> int:
    if not _YEAR.match(period) or not 2000 <= int(period) <= 2100:
        raise Invalid("Figures are filed per year (a cycle): YYYY.", field="period", location="path")
    return int(period)


def _pooling(actor: Actor, region: str) -> None:
    check_region(actor, region)
    pooling = pooling_region(region)
    if pooling is None or pooling.code != region:
        raise Invalid("Figures are filed per pooling region (the county whose profile settles them).", field="region")


def _value(kind: Kind, value: Decimal, where: str) -> str:
    if not value.is_finite() or not kind.low <= value <= kind.high:
        raise Invalid(f"The value lies between {kind.low} and {kind.high}.", field=where)
    if value != value.quantize(Decimal(1).scaleb(-kind.places)):
        raise Invalid(f"The value has at most {kind.places} decimal places.", field=where)
    return format(value.normalize(), "f")


def file(actor: Actor, *, region: str, period: str, figures: list[dict]) -> list[Figure]:
    """Append a version of each figure; every item is checked first: a bad one is a 422 naming it, nothing written."""
    _pooling(actor, region)
    year_of(period)
    centres = set(db.session.scalars(select(Centre.id).where(Centre.region_code.in_(region_and_descendants(region)))))
    rows, seen = [], set()
    for index, item in enumerate(figures):
        where = f"figures.{index}"
        if item["name"] not in CATALOGUE:
            raise Invalid(f"Unknown figure: the bureau files {', '.join(sorted(CATALOGUE))}.", field=f"{where}.name")
        kind, scope, _ = CATALOGUE[item["name"]]
        centre_id = item.get("centre_id")
        if scope == CENTRE and centre_id not in centres:
            why = "is not a centre of region " + region if centre_id else "is required: this figure is a centre's"
            raise Invalid(f"centre_id {why}.", field=f"{where}.centre_id")
        if scope == REGION and centre_id is not None:
            raise Invalid("This figure is the whole pooling region's: no centre_id.", field=f"{where}.centre_id")
        key = (item["name"], centre_id or 0)
        if key in seen:
            raise Invalid("This figure is named twice in the filing.", field=f"{where}.name")
        seen.add(key)
        rows.append(Figure(region_code=region, period=period, name=item["name"], scope=centre_id or 0,
                           centre_id=centre_id, value=_value(kind, item["value"], f"{where}.value"),
                           filed_by=actor.subject))
    latest = _versions(region, period)
    try:
        with db.transaction():
            for row in rows:
                row.version = latest.get((row.name, row.scope), 0) + 1
                db.session.add(row)
            db.session.flush()
    except IntegrityError:
        raise Conflict("Another filing of these figures was made at the same time; read them and file again.") from None
    audit.record("settlement.figures", "region", region, period=period, figures=len(rows))
    return rows


def _versions(region: str, period: str) -> dict[tuple[str, int], int]:
    query = (select(Figure.name, Figure.scope, func.max(Figure.version))
             .where(Figure.region_code == region, Figure.period == period).group_by(Figure.name, Figure.scope))
    return {(name, scope): version for name, scope, version in db.session.execute(query)}


def history(actor: Actor, *, region: str, period: str) -> list[dict]:
    """Every figure of the period: its latest version first-class, and all versions (newest first) as history."""
    _pooling(actor, region)
    year_of(period)
    grouped: dict[tuple[str, int], list[Figure]] = defaultdict(list)
    for row in db.session.scalars(select(Figure).where(Figure.region_code == region, Figure.period == period)
                                  .order_by(Figure.name, Figure.scope, Figure.version.desc())):
        grouped[(row.name, row.scope)].append(row)
    return [{"name": rows[0].name, "centre_id": rows[0].centre_id, "value": rows[0].value, "version": rows[0].version,
             "filed_by": rows[0].filed_by, "filed_at": rows[0].filed_at, "history": rows} for rows in grouped.values()]


class Filed:
    """The latest filed figures of a pooling region's year, read as exact decimals."""

    def __init__(self, region: str, period: str):
        latest = (select(Figure.name, Figure.scope, func.max(Figure.version).label("version"))
                  .where(Figure.region_code == region, Figure.period == period)
                  .group_by(Figure.name, Figure.scope).subquery())
        query = select(Figure.name, Figure.scope, Figure.value).join(
            latest, (Figure.name == latest.c.name) & (Figure.scope == latest.c.scope) & (Figure.version == latest.c.version)
        ).where(Figure.region_code == region, Figure.period == period)
        self.values = {(name, scope): Decimal(value) for name, scope, value in db.session.execute(query)}

    def region(self, name: str) -> Decimal | None:
        return self.values.get((name, 0))

    def centre(self, name: str, centre_id: int) -> Decimal | None:
        return self.values.get((name, centre_id))

    def required(self, *names: str) -> dict[str, Decimal]:
        """The region's figures `names`, or a 409 naming the ones not filed yet."""
        missing = [name for name in names if self.region(name) is None]
        if missing:
            raise Conflict(f"File these figures first (PUT /api/v1/settlement/figures/YYYY): {', '.join(missing)}.",
                           missing=missing)
        return {name: self.region(name) for name in names}
