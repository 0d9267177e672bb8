"""Shaoyang's outpatient fund [001 五(一)1] (POLICY.md "Settlement"), month by month through a year.

The bureau files the year's fund (settlement/figures.py); the profile's `reserve_share` of it is held as risk
reserve; the rest is prepaid monthly per centre (the township's health centre) by its share of the month's frozen
head count (service.outpatient_fund_shares): the signed insured of the resident scheme, whose fund it is. Each month is settled against the centre's actual cost, filed with
PUT /actual-costs/YYYY-MM: what was prepaid plus what the centre carried in pays the cost; the surplus is carried
to the next month; an overspend is recorded, for the year-end appraisal to share [001 五(一)1], and carries nothing.

Money: each prepayment is rounded half-up once from the exact fund share; the rest is whole fen.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from core import db
from core.auth import Actor
from core.errors import NotFound
from registry.access import check_region
from registry.service import pooling_region
from settlement.figures import Filed
from settlement.models import Snapshot
from settlement.service import FUND_HEADS, centre_figures, fen, filed_costs, outpatient_fund_shares, rules_of


def year(actor: Actor, *, region: str, year: int) -> dict:
    """The year's outpatient fund of a pooling region: reserve, and per frozen month and centre the prepayment,
    the carry in, the actual cost, what it settled, the carry out and any overspend."""
    check_region(actor, region)
    pooling = pooling_region(region)
    if pooling is None or pooling.code != region:
        raise NotFound("The outpatient fund is a pooling region's (a county's).")
    months = list(db.session.scalars(select(Snapshot).where(Snapshot.region_code == region,
                                                            Snapshot.month.like(f"{year}-%")).order_by(Snapshot.month)))
    months = [snapshot for snapshot in months if rules_of(snapshot)["rule"] == "outpatient-fund"]
    if not months:
        raise NotFound(f"No month of {year} is frozen under an outpatient-fund rule for region {region}.")
    fund = Filed(region, str(year)).required("outpatient_fund_fen")["outpatient_fund_fen"]
    reserve_share = Decimal(rules_of(months[0])["reserve_share"])
    carry: dict[int, int | None] = {}
    rows = []
    for snapshot in months:
        counted = {centre_id: figures.get(FUND_HEADS, 0) for centre_id, figures in sorted(centre_figures(snapshot).items())}
        shares = outpatient_fund_shares(snapshot, counted)
        reserve = Decimal(rules_of(snapshot)["reserve_share"])
        costs = filed_costs(region, snapshot.month)
        centres = []
        for centre_id in sorted(set(counted) | set(carry)):  # a centre no one is counted with still has its carry
            heads = counted.get(centre_id, 0)
            prepaid = fen(shares.get(centre_id, Decimal(0)) * (1 - reserve))
            carried_in = carry.get(centre_id, 0)
            cost = costs.get(centre_id)
            if cost is None or carried_in is None:  # not settled yet: nothing known to carry on
                settled = carried_out = overspend = None
            else:
                available = prepaid + carried_in
                settled, carried_out, overspend = min(cost, available), max(available - cost, 0), max(cost - available, 0)
            carry[centre_id] = carried_out
            centres.append({"centre_id": centre_id, "counted": heads, "prepaid_fen": prepaid, "carried_in_fen": carried_in,
                            "actual_cost_fen": cost, "settled_fen": settled, "carried_out_fen": carried_out,
                            "overspend_fen": overspend})
        rows.append({"month": snapshot.month, "counted": sum(counted.values()),
                     "prepaid_fen": sum(c["prepaid_fen"] for c in centres),
                     "centres": centres})
    return {"region": region, "year": year, "fund_fen": fen(fund), "reserve_share": reserve_share,
            "reserve_fen": fen(fund * reserve_share), "prepaid_pool_fen": fen(fund * (1 - reserve_share)), "months": rows}
