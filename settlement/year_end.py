"""Hunan's year-end settlement [000 §二(一)3, 5 and §二(二)] (POLICY.md "Settlement").

For a pooling region whose profile sets `secondary_distribution`, once the year's twelve months are frozen:

- the budgets by scheme: each centre's resident and employee budget is the year's frozen head-months of the
  scheme x the fee / 12 (what the monthly capitation was computed from, adjustments included);
- the pool = total financing - capitation for the signed (the resident budgets) - fee-for-service paid for the
  unsigned; the bureau files the financing and the fee-for-service (settlement/figures.py);
- the pool is distributed to the centres by evaluation grade: each centre's share is its resident budget x the
  weight the bureau files for its grade, over the sum of them all (a negative pool, an overspend, is borne the
  same way: 超支部分由签约基层医疗卫生机构承担);
- the employee year-end: [(resident budget + resident secondary distribution) / signed insured residents] x
  signed insured employees - employee budget, with head-months for the people signed.

Exact decimals throughout; each amount shown is rounded half-up once, from the exact figure.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select

from core import db
from core.auth import Actor
from core.errors import Conflict, NotFound
from registry.access import check_region
from registry.service import pooling_region
from settlement import evaluation
from settlement.figures import Filed
from settlement.models import Snapshot
from settlement.service import SCHEMES, centre_figures, fen, rules_of

MONTHS = [f"{month:02d}" for month in range(1, 13)]


def _budgets(region: str, year: int) -> dict[int, dict[str, Decimal]]:
    """Per centre and scheme: head-months and the exact budget, from the year's twelve frozen months."""
    months = {snapshot.month: snapshot for snapshot in db.session.scalars(
        select(Snapshot).where(Snapshot.region_code == region, Snapshot.month.like(f"{year}-%")))}
    missing = [f"{year}-{month}" for month in MONTHS if f"{year}-{month}" not in months]
    if missing:
        raise Conflict("The year-end settles a whole year: these months are not frozen yet.", months=missing)
    budgets: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for snapshot in months.values():
        settlement = rules_of(snapshot)
        if not settlement.get("secondary_distribution"):
            raise Conflict(f"{snapshot.month} was frozen under a profile version without the secondary distribution.",
                           month=snapshot.month)
        for centre_id, figures in centre_figures(snapshot).items():
            for scheme, measure in SCHEMES.items():
                heads = figures.get(measure, 0)
                budgets[centre_id][f"{scheme}_head_months"] += heads
                budgets[centre_id][f"{scheme}_budget"] += Decimal(heads * settlement["fee_fen_per_year"]) / 12
    return budgets


def settle(actor: Actor, *, region: str, year: int) -> dict:
    """The year-end of a pooling region: the pool, each centre's secondary distribution and employee settlement."""
    check_region(actor, region)
    pooling = pooling_region(region)
    if pooling is None or pooling.code != region:
        raise NotFound("The year-end is a pooling region's (a county's).")
    budgets = _budgets(region, year)
    filed = Filed(region, str(year))
    given = filed.required("total_financing_fen", "fee_for_service_unsigned_fen",
                           *(f"grade_weight_{grade}" for grade in evaluation.GRADES))
    assessed = evaluation.evaluation_of(region, year)
    grading = assessed["grading"]
    if grading is None or not grading["complete"]:
        raise Conflict("The secondary distribution follows the evaluation grades: grade every centre first.",
                       grading=grading)
    grades = {row["centre_id"]: row["grade"] for row in assessed["centres"]}
    capitation = sum((b["resident_budget"] for b in budgets.values()), Decimal(0))
    pool = given["total_financing_fen"] - capitation - given["fee_for_service_unsigned_fen"]
    weighted = {centre_id: b["resident_budget"] * given[f"grade_weight_{grades.get(centre_id) or 'unqualified'}"]
                for centre_id, b in budgets.items()}
    whole = sum(weighted.values(), Decimal(0))
    centres = []
    for centre_id in sorted(budgets):
        b = budgets[centre_id]
        share = pool * weighted[centre_id] / whole if whole else Decimal(0)
        employee = None
        if b["resident_head_months"]:
            employee = ((b["resident_budget"] + share) / b["resident_head_months"] * b["employee_head_months"]
                        - b["employee_budget"])
        centres.append({
            "centre_id": centre_id, "grade": grades.get(centre_id), "weight": given[f"grade_weight_{grades.get(centre_id) or 'unqualified'}"],
            "resident_head_months": int(b["resident_head_months"]), "employee_head_months": int(b["employee_head_months"]),
            "resident_budget_fen": fen(b["resident_budget"]), "employee_budget_fen": fen(b["employee_budget"]),
            "secondary_distribution_fen": fen(share),
            "employee_year_end_fen": None if employee is None else fen(employee),
        })
    return {"region": region, "year": year, "total_financing_fen": fen(given["total_financing_fen"]),
            "capitation_signed_fen": fen(capitation),
            "fee_for_service_unsigned_fen": fen(given["fee_for_service_unsigned_fen"]), "pool_fen": fen(pool),
            "distributed_fen": sum(c["secondary_distribution_fen"] for c in centres), "centres": centres}
