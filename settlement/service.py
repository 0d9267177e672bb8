"""Settlement (POLICY.md "Settlement"): signed-population counts, frozen monthly snapshots, capitation.

Counts are GROUP BY queries, never rows loaded into Python: a county holds 700k agreements.
A snapshot freezes a pooling region's counts per centre as of the first day of a month; it is
never rewritten: a late correction becomes an adjustment line in the next snapshot made.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit, clock, db
from core.auth import Actor
from core.calendar import add_months
from core.errors import Invalid, NotFound
from registry import profiles
from registry.access import check_region
from registry.insurance import InsuranceOn, insurance_on, pool_members
from registry.models import Centre, InsuranceScheme, Region, Resident, Team, Window
from registry.populations import aged, key_population_sql
from registry.service import pooling_region, region_and_descendants
from settlement.figures import Filed
from settlement.models import ActualCost, ActualCostFiling, LineKind, Snapshot, SnapshotLine
from signing.models import Agreement, in_force_on
from signing.service import counted_on

ROUNDING = ("Amounts are integer fen. A centre-month's payable part is taken from the exact fund (fee x heads / 12) "
            "and rounded ROUND_HALF_UP once; fund and settled are shown rounded; the withheld part is the rest.")


def alive_on(day: date) -> ColumnElement[bool]:
    """No death recorded on or before `day`."""
    return or_(Resident.died_on.is_(None), Resident.died_on > day)


def _insurance(as_of: date) -> InsuranceOn:
    """Everyone's insurance on `as_of` as known today: a count's measures and its joins share it (registry.insurance)."""
    return insurance_on(as_of, clock.today())


def measures_of(as_of: date, age_groups: list[dict], region_codes: list[str] | None = None) -> dict:
    """What settlement needs of a group of signed people: counted for capitation or not, scheme, key populations.

    Counted and scheme are those of `as_of` (an insurance change counts from its effective date: signing.service.counted_on).
    """
    held = _insurance(as_of)
    counted = counted_on(held, pool_members(region_codes))
    return {
        "signed": func.count(Agreement.id),
        "counted": db.count_where(counted),
        "not_counted": db.count_where(~counted),
        # Effective signing (annex 2 of 000): counted, with a health record and in the insurance master file.
        "effective": db.count_where(and_(counted, Resident.has_health_record.is_(True), Resident.in_insurance_master.is_(True))),
        "resident_scheme": db.count_where(held.scheme_is(InsuranceScheme.RESIDENT)),
        "employee_scheme": db.count_where(held.scheme_is(InsuranceScheme.EMPLOYEE)),
        "uninsured": db.count_where(held.scheme_is(InsuranceScheme.UNINSURED)),
        "counted_resident_scheme": db.count_where(and_(counted, held.scheme_is(InsuranceScheme.RESIDENT))),
        "counted_employee_scheme": db.count_where(and_(counted, held.scheme_is(InsuranceScheme.EMPLOYEE))),
        **{name: db.count_where(condition) for name, condition in key_population_sql(as_of).items()},
        **{f"counted_{group['group']}": db.count_where(and_(counted, aged(as_of, group.get("min_age"), group.get("max_age"))))
           for group in age_groups},
    }


def tally(as_of: date, region_codes: list[str], *, by: tuple = (), joins: tuple = (), where=None,
          age_groups: list[dict] = (), reading: Session | None = None) -> list[tuple[tuple, dict[str, int]]]:
    """Head counts of the people signed on `as_of` in the regions, one (key, figures) per group of `by`, read
    through `reading` (the primary's session unless said otherwise)."""
    measures = measures_of(as_of, list(age_groups), region_codes)
    query = tally_query(as_of, region_codes, measures, by=by, joins=joins, where=where)
    width = len(by)
    reading = reading or db.session
    db.without_jit(reading)
    return [(tuple(row[:width]), dict(zip(measures, map(int, row[width:]), strict=True))) for row in reading.execute(query)]


def tally_query(as_of: date, region_codes: list[str], measures: dict, *, by: tuple = (), joins: tuple = (), where=None):
    """The one GROUP BY statement behind a tally."""
    query = select(*by, *measures.values()).select_from(Agreement).join(Resident, Agreement.resident_id == Resident.id)
    for target, on in (*_insurance(as_of).joins, *joins):
        query = query.outerjoin(target, on)
    # Nobody dead is counted from the date of death on (POLICY.md signing rule 10), whatever their agreement says.
    query = query.where(Agreement.region_code.in_(region_codes), in_force_on(as_of), alive_on(as_of))
    if where is not None:
        query = query.where(where)
    return query.group_by(*by) if by else query


GROUPS = {
    "centre": ((Agreement.centre_id, Centre.name), ((Centre, Centre.id == Agreement.centre_id),)),
    "window": ((Agreement.window_id, Window.name), ((Window, Window.id == Agreement.window_id),)),
    "team": ((Agreement.team_id, Team.name), ((Team, Team.id == Agreement.team_id),)),
    "scheme": ((Resident.insurance_scheme,), ()),  # signed_counts groups by the scheme of the day
}


def _key(value) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def signed_counts(actor: Actor, *, region: str, as_of: date, group_by: str) -> dict:
    """Head counts of the people signed on `as_of` in `region` and its sub-regions, split by `group_by`.

    Counts someone only reads come from the read replica when there is one (seconds behind the primary; all
    of one answer from one snapshot); snapshots, which are frozen from counts, read the primary."""
    check_region(actor, region)
    codes = region_and_descendants(region)
    with db.replica_session() as reading:
        if group_by == "key_population":  # groups overlap: the total is counted on its own
            rows = [{"key": name, "name": None, "figures": figures}
                    for name, condition in key_population_sql(as_of).items()
                    for _, figures in tally(as_of, codes, where=condition, reading=reading)]
            [(_, total)] = tally(as_of, codes, reading=reading)
        else:  # groups partition the signed people: the total is their sum, no second scan
            by, joins = GROUPS[group_by]
            if group_by == "scheme":  # the scheme of `as_of`, as the figures are (registry.insurance)
                by = (_insurance(as_of).scheme,)
            rows = [{"key": _key(key[0]), "name": key[1] if len(key) > 1 else None, "figures": figures}
                    for key, figures in tally(as_of, codes, by=by, joins=joins, reading=reading)]
            rows.sort(key=lambda row: (row["key"] is not None, row["key"] or ""))
            total = {name: sum(row["figures"][name] for row in rows) for name in measures_of(as_of, [])}
    return {"region": region, "as_of": as_of, "group_by": group_by, "rows": rows, "total": total}


# Snapshots -----------------------------------------------------------------------------------------

_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$", re.ASCII)


def month_start(month: str) -> date:
    """The first day of a YYYY-MM month, or a 422 naming `month`."""
    match = _MONTH.match(month)
    if not match:
        raise Invalid("A month is written YYYY-MM.", field="month", location="path")
    return date(int(match[1]), int(match[2]), 1)


def content_hash(snapshot: Snapshot) -> str:
    """SHA-256 of the snapshot's canonical JSON: what a bureau keeps to prove the figures never changed."""
    body = {
        "region_code": snapshot.region_code,
        "month": snapshot.month,
        "as_of": snapshot.as_of.isoformat(),
        "lines": [{"centre_id": line.centre_id, "kind": line.kind.value, "adjusts_month": line.adjusts_month,
                   "figures": line.figures} for line in snapshot.lines],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def rules_of(snapshot: Snapshot) -> dict:
    """The capitation rules a snapshot is settled under: the profile version it was frozen with, so a later
    version never reprices a frozen month (registry.profiles)."""
    if snapshot.profile_version is not None:
        return snapshot.profile_version.settlement
    region = db.session.get(Region, snapshot.region_code)
    first = profiles.version_on(region.profile_code, date.min)
    return first.settlement if first is not None else region.profile.settlement


def _age_groups(settlement: dict) -> list[dict]:
    return list(settlement.get("age_groups", []))


def _recorded(region_code: str, months: list[str]) -> dict[tuple[str, int], dict[str, int]]:
    """What earlier snapshots say of `months`, per (month, centre): the frozen counts plus later adjustments."""
    recorded: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    lines = db.session.execute(
        select(SnapshotLine, Snapshot.month).join(Snapshot, SnapshotLine.snapshot_id == Snapshot.id).where(
            Snapshot.region_code == region_code,
            or_(and_(SnapshotLine.kind == LineKind.COUNT, Snapshot.month.in_(months)), SnapshotLine.adjusts_month.in_(months)),
        )
    )
    for line, month in lines:
        figures = recorded[(line.adjusts_month or month, line.centre_id)]
        for name, value in line.figures.items():
            figures[name] += value
    return recorded


def _adjustments(region: Region, codes: list[str], as_of: date) -> list[SnapshotLine]:
    """Late corrections to the past year's frozen months: each month recounted, minus what was recorded."""
    earlier = list(db.session.scalars(
        select(Snapshot).where(Snapshot.region_code == region.code, Snapshot.as_of < as_of,
                               Snapshot.as_of >= add_months(as_of, -12)).order_by(Snapshot.as_of)
    ))
    recorded = _recorded(region.code, [snapshot.month for snapshot in earlier])
    lines = []
    for snapshot in earlier:
        for (centre_id,), figures in sorted(tally(snapshot.as_of, codes, by=(Agreement.centre_id,),
                                                  age_groups=_age_groups(rules_of(snapshot)))):
            was = recorded.pop((snapshot.month, centre_id), {})
            delta = {name: figures.get(name, 0) - was.get(name, 0) for name in figures.keys() | was.keys()}
            lines += _adjustment_line(centre_id, snapshot.month, delta)
        for (month, centre_id), was in sorted(recorded.items()):
            if month == snapshot.month:
                lines += _adjustment_line(centre_id, month, {name: -value for name, value in was.items()})
    return lines


def _adjustment_line(centre_id: int, month: str, delta: dict[str, int]) -> list[SnapshotLine]:
    delta = {name: value for name, value in delta.items() if value}
    return [SnapshotLine(centre_id=centre_id, kind=LineKind.ADJUSTMENT, adjusts_month=month, figures=delta)] if delta else []


def freeze(region: Region, month: str) -> Snapshot | None:
    """Freeze a pooling region's counts per centre as of the month's first day; None if already frozen.

    The unique (region, month) index makes a racing second freeze a no-op as well.
    """
    as_of = month_start(month)
    try:
        with db.transaction():
            if db.session.scalar(select(Snapshot.id).where(Snapshot.region_code == region.code, Snapshot.month == month)):
                return None
            codes = region_and_descendants(region.code)
            version = profiles.version_on(region.profile_code, as_of)
            settlement = version.settlement if version is not None else region.profile.settlement
            counts = sorted(tally(as_of, codes, by=(Agreement.centre_id,), age_groups=_age_groups(settlement)))
            snapshot = Snapshot(region_code=region.code, month=month, as_of=as_of, content_hash="",
                                profile_version=version)
            snapshot.lines = [SnapshotLine(centre_id=centre_id, kind=LineKind.COUNT, figures=figures)
                              for (centre_id,), figures in counts] + _adjustments(region, codes, as_of)
            snapshot.content_hash = content_hash(snapshot)
            db.session.add(snapshot)
            db.session.flush()
    except IntegrityError:
        return None
    return snapshot


def freeze_month(month: str) -> list[Snapshot]:
    """Freeze every pooling region's counts for `month`; regions already frozen are left as they are."""
    if month_start(month) > clock.today():
        raise Invalid("A month is frozen on its first day, not before.", field="month")
    regions = db.session.scalars(select(Region).where(Region.profile_code.is_not(None)).order_by(Region.code)).all()
    return [snapshot for region in regions if (snapshot := freeze(region, month)) is not None]


def snapshots(actor: Actor, *, region: str, month: str) -> list[Snapshot]:
    """The frozen snapshots of `month` for `region`'s pooling regions, as the actor may see them."""
    check_region(actor, region)
    return frozen(region, month)


def frozen(region: str, month: str) -> list[Snapshot]:
    """The frozen snapshots of `month` for `region`'s pooling regions (a city sees its counties)."""
    month_start(month)
    found = list(db.session.scalars(
        select(Snapshot).where(Snapshot.region_code.in_(region_and_descendants(region)), Snapshot.month == month)
        .order_by(Snapshot.region_code)
    ))
    if not found:
        raise NotFound(f"No snapshot of {month} for region {region}: it is frozen at 00:00 on the month's first day.")
    return found


# Capitation ----------------------------------------------------------------------------------------

def fen(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def monthly_fund(figures: dict[str, int], settlement: dict) -> Decimal:
    """A centre's capitation fund for one month, exact: counted heads x yearly fee / 12, per age group where set [004 一].

    Not rounded: the rules take their shares of the exact fund and round once, at the end (POLICY.md "Settlement").
    """
    yearly, rest = Decimal(0), figures.get("counted", 0)
    for group in settlement.get("age_groups", []):
        heads = figures.get(f"counted_{group['group']}", 0)
        yearly += heads * group["fee_fen_per_year"]
        rest -= heads
    return (yearly + rest * settlement["fee_fen_per_year"]) / Decimal(12)


def _prepay(fund: Decimal, settlement: dict, actual_cost: int | None) -> tuple[Decimal, int, str]:
    """Prepay `pay_share` of the month's fund; the rest after the year-end evaluation [000 §二(一)3]."""
    return fund, fen(fund * Decimal(settlement["pay_share"])), "year_end_remainder"


def _reserve(fund: Decimal, settlement: dict, actual_cost: int | None) -> tuple[Decimal, int, str]:
    """Hold `reserve_share` of the fund as risk reserve, prepay the rest by head count [001 五(一)1]."""
    return fund, fen(fund * (1 - Decimal(settlement["reserve_share"]))), "risk_reserve"


def _cost_capped(fund: Decimal, settlement: dict, actual_cost: int | None) -> tuple[Decimal, int, str]:
    """Settle min(actual cost, monthly fund), pay `pay_share` of it, keep the rest as quality deposit [003 §六]."""
    if actual_cost is None:
        raise Invalid("This region settles the actual cost: file it with PUT /api/v1/settlement/actual-costs/YYYY-MM "
                      "or ask month by month with actual_cost=CENTRE_ID:FEN.",
                      field="actual_cost", location="query")
    settled = min(Decimal(actual_cost), fund)
    return settled, fen(settled * Decimal(settlement["pay_share"])), "quality_deposit"


# The capitation rules a profile's settlement["rule"] names: the exact fund in; out the settled amount (exact),
# the payable amount (rounded once, in fen) and what the rest is held as. The withheld part is the rest in fen.
# The outpatient fund [001 五(一)1] holds its reserve share of the month's part of the filed fund as _reserve does.
RULES = {"prepay": _prepay, "reserve": _reserve, "cost-capped": _cost_capped, "outpatient-fund": _reserve}
# [000 §二(二)] the schemes a split capitation pays from, and the count of each.
SCHEMES = {"resident": "counted_resident_scheme", "employee": "counted_employee_scheme"}
# [001] The outpatient fund is the resident scheme's (城乡居民医保): its heads are the signed insured of that scheme.
FUND_HEADS = SCHEMES["resident"]


def centre_figures(snapshot: Snapshot) -> dict[int, dict[str, int]]:
    """Each centre's counts to pay on this month: the frozen counts plus the adjustments it carries."""
    figures: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in snapshot.lines:
        for name, value in line.figures.items():
            figures[line.centre_id][name] += value
    return figures


def outpatient_fund_shares(snapshot: Snapshot, counted: dict[int, int]) -> dict[int, Decimal]:
    """Each centre's exact part of a month of the year's filed outpatient fund, by head count [001 五(一)1]:
    fund / 12 x the centre's heads / all heads of the region's month (`counted`: heads by centre, FUND_HEADS)."""
    fund = Filed(snapshot.region_code, snapshot.month[:4]).required("outpatient_fund_fen")["outpatient_fund_fen"]
    heads = sum(counted.values())
    return {centre_id: fund / 12 * count / heads if heads else Decimal(0) for centre_id, count in counted.items()}


def _owed(snapshot: Snapshot, actual_costs: dict[int, int]) -> list[dict]:
    """Each centre's capitation for the snapshot's month under its pooling region's rule."""
    settlement = rules_of(snapshot)
    rule = RULES[settlement["rule"]]
    centres = sorted(centre_figures(snapshot).items())
    if profiles.FEE in settlement:
        funds = {centre_id: monthly_fund(figures, settlement) for centre_id, figures in centres}
    else:
        funds = outpatient_fund_shares(snapshot, {centre_id: figures.get(FUND_HEADS, 0) for centre_id, figures in centres})
    rows = []
    for centre_id, figures in centres:
        fund = funds[centre_id]
        settled, payable, withheld_as = rule(fund, settlement, actual_costs.get(centre_id))
        schemes = []
        if settlement.get("split_by_scheme"):
            # Each scheme's fund pays its own part, rounded once: the centre is paid their sum.
            for scheme, measure in SCHEMES.items():
                part = Decimal(figures.get(measure, 0) * settlement[profiles.FEE]) / 12
                _, part_payable, _ = rule(part, settlement, None)
                schemes.append({"scheme": scheme, "counted": figures.get(measure, 0), "fund_fen": fen(part),
                                "payable_fen": part_payable, "withheld_fen": fen(part) - part_payable})
            payable = sum(scheme["payable_fen"] for scheme in schemes)
        rows.append({
            "centre_id": centre_id, "pooling_region": snapshot.region_code, "rule": settlement["rule"],
            "counted": figures.get("counted", 0), "fund_fen": fen(fund), "actual_cost_fen": actual_costs.get(centre_id),
            "settled_fen": fen(settled), "payable_fen": payable, "withheld_fen": fen(settled) - payable,
            "withheld_as": withheld_as, "schemes": schemes,
        })
    return rows


MONEY = ("fund_fen", "settled_fen", "payable_fen", "withheld_fen")


def _year(region: str, year: int) -> list[dict]:
    """A year's frozen months summed per centre: the withheld total is what the year-end settles [000 §二(一)3]."""
    months = list(db.session.scalars(
        select(Snapshot).where(Snapshot.region_code.in_(region_and_descendants(region)), Snapshot.month.like(f"{year}-%"))
        .order_by(Snapshot.month, Snapshot.region_code)
    ))
    if not months:
        raise NotFound(f"No month of {year} is frozen for region {region}.")
    totals: dict[int, dict] = {}
    for snapshot in months:
        for row in _owed(snapshot, filed_costs(snapshot.region_code, snapshot.month)):
            held = totals.setdefault(row["centre_id"], {**row, "counted": 0, "actual_cost_fen": None, "schemes": {},
                                                         **dict.fromkeys(MONEY, 0)})
            for name in ("counted", *MONEY):
                held[name] += row[name]
            for scheme in row["schemes"]:
                summed = held["schemes"].setdefault(scheme["scheme"], dict.fromkeys(scheme, 0) | {"scheme": scheme["scheme"]})
                for name in ("counted", "fund_fen", "payable_fen", "withheld_fen"):
                    summed[name] += scheme[name]
    for held in totals.values():
        held["schemes"] = list(held["schemes"].values())
    return [totals[centre_id] for centre_id in sorted(totals)]


def capitation(actor: Actor, *, region: str, period: str, actual_costs: dict[int, int]) -> dict:
    """What each centre is owed for a month, or summed over a year's frozen months (POLICY.md "Settlement").

    A month's actual costs are the ones the query gives, else the bureau's latest filing of them.
    """
    check_region(actor, region)
    if len(period) == 4:
        centres = _year(region, int(period))
    else:
        centres = [row for snapshot in frozen(region, period)
                   for row in _owed(snapshot, {**filed_costs(snapshot.region_code, period), **actual_costs})]
    totals = {name: sum(c[name] for c in centres) for name in MONEY}
    return {"region": region, "period": period, "rounding": ROUNDING, "centres": centres, "totals": totals}


# Actual costs (Zhanjiang [003 §六]) ----------------------------------------------------------------

def file_actual_costs(actor: Actor, *, region: str, month: str, costs: list[dict]) -> ActualCostFiling:
    """Keep a pooling region's actual costs of a month; it supersedes earlier filings, which stay as history.

    Every centre must be one of the region's, named once: else 422 naming the item, and nothing is written.
    The filing is audited with its total.
    """
    check_region(actor, region)
    month_start(month)
    pooling = pooling_region(region)
    if pooling is None or pooling.code != region:
        raise Invalid("Actual costs are filed per pooling region (the one whose profile settles them).", field="region")
    centres = set(db.session.scalars(select(Centre.id).where(Centre.region_code.in_(region_and_descendants(region)),
                                                             Centre.id.in_([item["centre_id"] for item in costs]))))
    seen: set[int] = set()
    for index, item in enumerate(costs):
        if item["centre_id"] not in centres or item["centre_id"] in seen:
            why = "is named twice" if item["centre_id"] in seen else f"is not a centre of region {region}"
            raise Invalid(f"Centre {item['centre_id']} {why}.", field=f"costs.{index}.centre_id", centre_id=item["centre_id"])
        seen.add(item["centre_id"])
    filing = ActualCostFiling(region_code=region, month=month, filed_by=actor.subject,
                              costs=[ActualCost(centre_id=item["centre_id"], cost_fen=item["cost_fen"]) for item in costs])
    with db.transaction():
        db.session.add(filing)
    audit.record("settlement.actual_costs", "region", filing.region_code, month=month, filing_id=filing.id,
                 centres=len(filing.costs), total_fen=sum(cost.cost_fen for cost in filing.costs))
    return filing


def filed_costs(region_code: str, month: str) -> dict[int, int]:
    """The actual costs of the latest filing of a pooling region's month, by centre (empty if none was filed)."""
    latest = (select(ActualCostFiling.id).where(ActualCostFiling.region_code == region_code, ActualCostFiling.month == month)
              .order_by(ActualCostFiling.id.desc()).limit(1).scalar_subquery())
    return dict(db.session.execute(select(ActualCost.centre_id, ActualCost.cost_fen).where(ActualCost.filing_id == latest)).all())
