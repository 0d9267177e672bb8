"""Fulfilment for the bureau (POLICY.md "Fulfilment"): per centre and team of a pooling region, what a cycle's
agreements promised and what was delivered, and the people signed but never served (签约率虚高、只签不约).

The figures are the sums of care's ledgers (care.fulfilment), one definition for the resident's view,
the doctor's and the bureau's; "never served" is care's `served_sql`, negated.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, not_, or_, select
from sqlalchemy.orm import selectinload

from care import fulfilment
from core import clock, db
from core.auth import Actor
from core.errors import Invalid
from core.pagination import paginate
from registry.access import check_region
from registry.models import Centre, Region, Team
from registry.service import pooling_region, region_and_descendants
from signing import cycles
from signing.models import Agreement, AgreementStatus

RATE_PLACES = Decimal("0.0001")
FIGURES = ("signed", "served", "never_served", "due", "delivered", "missed", "coming")


def _scope(actor: Actor, region: str, cycle: int | None) -> tuple[Region, int, date, list[str]]:
    """The pooling region, the cycle (default: the current one), the day figures run to, and the region codes."""
    check_region(actor, region)
    pooling = pooling_region(region)
    if pooling is None:
        raise Invalid("Fulfilment is reported per pooling region (a county); this region is not in one.", field="region",
                      location="query")
    today = clock.today()
    cycle = cycle if cycle is not None else cycles.cycle_of(pooling.profile, today)
    start, end = cycles.cycle_bounds(pooling.profile, cycle)
    if start > today:
        raise Invalid("This cycle has not begun.", field="cycle", location="query")
    return pooling, cycle, min(today, end), region_and_descendants(pooling.code)


def cycle_agreements(codes: list[str], cycle: int, as_of: date) -> Select:
    """The region's agreements of the cycle that were in force for at least a day by `as_of`."""
    return select(Agreement).where(
        Agreement.region_code.in_(codes), Agreement.cycle == cycle, Agreement.start_date <= as_of,
        or_(Agreement.status != AgreementStatus.TERMINATED, Agreement.terminated_on > Agreement.start_date))


def rate(delivered: int, missed: int) -> Decimal | None:
    """Of what was due by now, the share delivered (items still open are left out)."""
    whole = delivered + missed
    return (Decimal(delivered) / whole).quantize(RATE_PLACES) if whole else None


def report(actor: Actor, *, region: str, cycle: int | None) -> dict:
    """Per centre, and per team within it: people signed, served, never served; items due, delivered, missed, coming."""
    pooling, cycle, as_of, codes = _scope(actor, region, cycle)
    today = clock.today()
    centres = {centre.id: centre for centre in db.session.scalars(
        select(Centre).where(Centre.region_code.in_(codes), Centre.takes_part.is_(True)).order_by(Centre.id))}
    teams = {team.id: team.name for team in db.session.scalars(select(Team).where(Team.centre_id.in_(centres)))}
    per_centre = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    per_team = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    query = cycle_agreements(codes, cycle, as_of).options(selectinload(Agreement.resident)).order_by(Agreement.id)
    last = 0
    while batch := db.session.scalars(query.where(Agreement.id > last).limit(fulfilment.BATCH)).all():
        for ledger in fulfilment.ledgers(batch, today, promised_only=True):
            agreement = ledger.agreement
            for figures in (per_centre[agreement.centre_id], per_team[agreement.centre_id, agreement.team_id]):
                figures["signed"] += 1
                figures["served" if ledger.served else "never_served"] += 1
                for name, value in ledger.totals.items():
                    figures[name] += value
        last = batch[-1].id
    rows = []
    for centre_id, centre in centres.items():
        figures = per_centre[centre_id]
        team_rows = [{"team_id": team_id, "name": teams.get(team_id), **values,
                      "fulfilment_rate": rate(values["delivered"], values["missed"])}
                     for (centre, team_id), values in sorted(per_team.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))
                     if centre == centre_id]
        rows.append({"centre_id": centre_id, "name": centre.name, **figures,
                     "fulfilment_rate": rate(figures["delivered"], figures["missed"]), "teams": team_rows})
    return {"region": pooling.code, "cycle": cycle, "as_of": as_of, "centres": rows}


def never_served(actor: Actor, *, region: str, cycle: int | None, centre_id: int | None, cursor: str | None,
                 limit: int) -> dict:
    """The people signed in the cycle with nothing served in their agreement's period, a page at a time."""
    _, cycle, as_of, codes = _scope(actor, region, cycle)
    query = cycle_agreements(codes, cycle, as_of).options(selectinload(Agreement.resident)).where(
        not_(fulfilment.served_sql()))
    if centre_id is not None:
        query = query.where(Agreement.centre_id == centre_id)
    return paginate(query, key_columns=[Agreement.id], cursor=cursor, limit=limit)
