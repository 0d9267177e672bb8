"""Packages and plans: the catalogue, centre prices, what each agreement includes, and building the
follow-up plans of signed residents (POLICY.md "Packages")."""

from __future__ import annotations

from datetime import date
from typing import Iterable

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from core import clock, db
from core.auth import Actor, Role, token_actor
from core.errors import Conflict, Invalid, NotFound
from packages import catalogue, populations, schedule
from packages.models import AgreementPackage, PackageDef, PackagePrice, Visit, VisitState
from signing import access, cycles
from signing.models import Agreement, AgreementStatus, Resident
from signing.registry import profile_for

BATCH = 1000
# Agreements whose cycle is running: the ones plans are built for.
RUNNING = (AgreementStatus.ACTIVE, AgreementStatus.CHANGE_PENDING)


def list_packages(*, tier: str | None, centre_id: int | None, eligible_for: str | None) -> list[dict]:
    """The current catalogue, with a centre's prices and, for `eligible_for=me`, only what the caller may choose.

    The catalogue is public; `eligible_for=me` needs the calling resident's token.
    """
    query = select(PackageDef).where(PackageDef.edition == catalogue.EDITION)
    if tier:
        query = query.where(PackageDef.tier == tier)
    packages = list(db.session.scalars(query))
    if eligible_for == "me":
        actor = token_actor()
        if actor.role is not Role.RESIDENT:
            raise Invalid("eligible_for=me is for residents.", field="eligible_for", location="query")
        tags = populations.key_populations(access.resident_of(actor), clock.today())
        packages = [package for package in packages if is_eligible(package, tags)]
    prices = _prices(centre_id)
    return [_with_price(package, prices) for package in _in_catalogue_order(packages)]


def get_package(code: str, *, centre_id: int | None = None) -> dict:
    """One package of the current catalogue with its items (and a centre's price)."""
    package = _package(code, field=None)
    return _with_price(package, _prices(centre_id))


def _in_catalogue_order(packages: list[PackageDef]) -> list[PackageDef]:
    order = {package.code: index for index, package in enumerate(catalogue.PACKAGES_2025)}
    return sorted(packages, key=lambda package: order.get(package.code, len(order)))


def _package(code: str, *, field: str | None = "package_codes") -> PackageDef:
    package = db.session.get(PackageDef, (catalogue.EDITION, code))
    if package is None:
        if field is None:
            raise NotFound(f"No package {code!r} in the {catalogue.EDITION} catalogue.")
        raise Invalid(f"Unknown package {code!r}.", field=field, package_code=code)
    return package


def _prices(centre_id: int | None) -> dict[str, int]:
    """A centre's prices by package code (none without a centre)."""
    if centre_id is None:
        return {}
    return dict(db.session.execute(
        select(PackagePrice.package_code, PackagePrice.price_fen)
        .where(PackagePrice.centre_id == centre_id, PackagePrice.edition == catalogue.EDITION)
    ).all())


def _with_price(package: PackageDef, prices: dict[str, int]) -> dict:
    """Basic and value-added are free; a personalised package costs what the centre set (null: not offered)."""
    mandatory = package.tier in catalogue.MANDATORY_TIERS
    return dict(edition=package.edition, code=package.code, tier=package.tier, title=package.title,
                eligible=package.eligible, items=package.items, mandatory=mandatory,
                price_fen=0 if mandatory else prices.get(package.code))


def is_eligible(package: PackageDef, tags: set[str]) -> bool:
    """Everyone may have a package without eligible tags; others need one of them (e.g. child: 0–6)."""
    return not package.eligible or bool(tags & set(package.eligible))


def set_price(actor: Actor, *, code: str, centre_id: int, price_fen: int) -> PackagePrice:
    """Set a centre's price for a personalised package (its own centre only) [000 §二(一)2]."""
    access.check_centre(actor, centre_id)
    package = _package(code, field=None)
    if package.tier != catalogue.PERSONALISED:
        raise Invalid("Basic and value-added packages are free to residents and have no price.", field="code",
                      location="path")
    try:
        with db.transaction():
            price = db.session.get(PackagePrice, (centre_id, catalogue.EDITION, code), with_for_update=True)
            if price is None:
                price = PackagePrice(centre_id=centre_id, edition=catalogue.EDITION, package_code=code,
                                     price_fen=price_fen, set_by=actor.subject)
                db.session.add(price)
            price.price_fen, price.set_by = price_fen, actor.subject
    except IntegrityError:
        raise Conflict("The price was set by someone else at the same moment; try again.") from None
    return price


def on_agreements_signed(agreements: list[Agreement], *, package_codes: list[str], signed_by: str) -> None:
    """Give new agreements basic + value-added and the chosen personalised packages, and build their plans.

    Called by signing inside its transaction, so a rejected package leaves nothing written.
    """
    chosen = [_package(code) for code in dict.fromkeys(package_codes)]
    today = clock.today()
    tags = populations.key_populations_of([a.resident for a in agreements], today)
    mandatory = [p.code for p in catalogue.PACKAGES_2025 if p.tier in catalogue.MANDATORY_TIERS]
    personalised = [p for p in chosen if p.tier == catalogue.PERSONALISED]
    rows = []
    for agreement in agreements:
        prices = _checked_prices(agreement, personalised, tags[agreement.resident_id]) if personalised else {}
        rows += [dict(agreement_id=agreement.id, edition=catalogue.EDITION, package_code=code,
                      price_fen=prices.get(code, 0), added_on=today, added_by=signed_by)
                 for code in [*mandatory, *(p.code for p in personalised)]]
    if rows:
        db.session.execute(insert(AgreementPackage), rows)
    rebuild_plans([a.resident_id for a in agreements])


def _checked_prices(agreement: Agreement, packages: list[PackageDef], tags: set[str]) -> dict[str, int]:
    """The centre's prices of personalised packages, or 422 naming an ineligible or unoffered one."""
    prices = _prices(agreement.centre_id)
    for package in packages:
        if not is_eligible(package, tags):
            raise Invalid(f"Package {package.code!r} is not for this resident (for: {', '.join(package.eligible)}).",
                          field="package_codes", package_code=package.code, resident_id=agreement.resident_id)
        if package.code not in prices:
            raise Invalid(f"Package {package.code!r} is not offered by this centre.", field="package_codes",
                          package_code=package.code)
    return prices


def add_package(actor: Actor, *, agreement_id: int, code: str) -> AgreementPackage:
    """Add a personalised package to a running agreement; the earlier history stays."""
    agreement = _running_agreement(actor, agreement_id)
    package = _package(code, field="code")
    if package.tier != catalogue.PERSONALISED:
        raise Invalid("Basic and value-added packages come with every agreement.", field="code")
    tags = populations.key_populations(agreement.resident, clock.today())
    prices = _checked_prices(agreement, [package], tags)
    row = AgreementPackage(agreement_id=agreement.id, edition=package.edition, package_code=code, price_fen=prices[code],
                           added_on=clock.today(), added_by=actor.subject)
    try:
        with db.transaction():
            db.session.add(row)
    except IntegrityError:
        raise Conflict(f"The agreement already includes {code!r}.", package_code=code) from None
    return row


def drop_package(actor: Actor, *, agreement_id: int, code: str) -> AgreementPackage:
    """Drop a personalised package from a running agreement (the row stays, with the day it ended)."""
    agreement = _running_agreement(actor, agreement_id)
    if _package(code, field=None).tier != catalogue.PERSONALISED:
        raise Invalid("Basic and value-added packages are signed together and cannot be dropped.", field="code",
                      location="path")
    with db.transaction():
        current = db.session.scalar(
            select(AgreementPackage).where(AgreementPackage.agreement_id == agreement.id, AgreementPackage.package_code == code,
                                           AgreementPackage.dropped_on.is_(None)).with_for_update())
        if current is None:
            raise NotFound(f"The agreement does not include {code!r}.")
        current.dropped_on, current.dropped_by = clock.today(), actor.subject
    return current


def agreement_packages(actor: Actor, *, agreement_id: int) -> list[AgreementPackage]:
    """Every package an agreement has had, current and dropped, oldest first."""
    agreement = access.get_agreement(actor, agreement_id)
    return list(db.session.scalars(
        select(AgreementPackage).where(AgreementPackage.agreement_id == agreement.id).order_by(AgreementPackage.id)))


def _running_agreement(actor: Actor, agreement_id: int) -> Agreement:
    agreement = access.get_agreement(actor, agreement_id)
    if agreement.status not in RUNNING:
        raise Conflict(f"An agreement that is {agreement.status.value} takes no package changes.",
                       status=agreement.status.value)
    return agreement


def rebuild_plans(resident_ids: Iterable[int]) -> None:
    """(Re)build the current-cycle follow-up plans of residents with a running agreement.

    A resident whose agreement ended (terminated, expired) keeps their logged visits; open ones are closed.

    Idempotent: a visit already there (same programme and code) is updated in place, never
    duplicated; done and missed visits and those clinical feedback moved are never touched. A
    planned visit the plan no longer holds is missed when its window has closed, else cancelled.
    Bulk-friendly: a few queries per batch of residents, visits inserted in one statement.
    """
    ids = list(dict.fromkeys(resident_ids))
    for start in range(0, len(ids), BATCH):
        _rebuild_batch(ids[start:start + BATCH], clock.today())


def _rebuild_batch(ids: list[int], today: date) -> None:
    agreements = db.session.scalars(select(Agreement).where(
        Agreement.resident_id.in_(ids), Agreement.status.in_(RUNNING), Agreement.start_date <= today,
        Agreement.end_date >= today)).all()
    residents = db.session.scalars(select(Resident).where(Resident.id.in_([a.resident_id for a in agreements]))).all()
    facts = populations.facts_of(residents)
    existing: dict[int, dict[tuple[str, str], Visit]] = {}
    for visit in db.session.scalars(select(Visit).where(Visit.resident_id.in_(ids))):
        existing.setdefault(visit.resident_id, {})[visit.programme, visit.code] = visit
    bounds: dict[str, tuple[date, date]] = {}
    inserts = []
    for agreement in agreements:
        key = f"{agreement.region_code}:{agreement.cycle}"
        if key not in bounds:
            bounds[key] = cycles.cycle_bounds(profile_for(agreement.region_code), agreement.cycle)
        cycle_start, cycle_end = bounds[key]
        desired = schedule.resident_plan(facts[agreement.resident_id], signed_on=agreement.start_date,
                                         cycle=agreement.cycle, cycle_start=cycle_start, cycle_end=cycle_end)
        inserts += _reconcile(agreement, desired, existing.get(agreement.resident_id, {}), today)
    for resident_id in set(ids) - {agreement.resident_id for agreement in agreements}:
        _reconcile(None, [], existing.get(resident_id, {}), today)  # no running agreement: no open visits
    if inserts:
        db.session.execute(insert(Visit), inserts)
    db.session.flush()


def _reconcile(agreement: Agreement | None, desired: list[schedule.PlannedVisit], existing: dict[tuple[str, str], Visit],
               today: date) -> list[dict]:
    """Update the resident's visits towards `desired`; return the rows still to insert."""
    inserts, wanted = [], set()
    for planned in desired:
        wanted.add((planned.programme, planned.code))
        values = dict(programme=planned.programme, code=planned.code, title=planned.title,
                      protocol_version=planned.protocol_version, due_date=planned.due_date,
                      window_start=planned.window_start, window_end=planned.window_end,
                      agreement_id=agreement.id, centre_id=agreement.centre_id, team_id=agreement.team_id)
        visit = existing.get((planned.programme, planned.code))
        if visit is None:
            inserts.append(dict(values, resident_id=agreement.resident_id, state=VisitState.PLANNED))
        elif visit.state in (VisitState.PLANNED, VisitState.CANCELLED) and not visit.rescheduled:
            for name, value in dict(values, state=VisitState.PLANNED).items():
                if getattr(visit, name) != value:
                    setattr(visit, name, value)
    for key, visit in existing.items():
        if key not in wanted and visit.state is VisitState.PLANNED and not visit.rescheduled:
            visit.state = VisitState.MISSED if visit.window_end < today else VisitState.CANCELLED
    return inserts

