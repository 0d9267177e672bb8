"""The packages an agreement holds: basic + value-added with every signing, personalised ones chosen and
paid for by the resident [000 §二(一)1–2] (POLICY.md "Packages")."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from core import clock, db
from core.auth import Actor
from core.errors import Conflict, Invalid, NotFound
from packages import catalogue
from packages.models import PackageDef
from packages.service import _package, _prices, is_eligible
from registry import populations
from signing import access
from signing.models import Agreement, AgreementPackage


def give_packages(agreements: list[Agreement], *, package_codes: list[str], signed_by: str) -> None:
    """Give new agreements basic + value-added and the chosen personalised packages.

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
        db.session.execute(insert(AgreementPackage.__table__), rows)  # the table: no ORM bulk machinery


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
    agreement = _agreement_in_force(actor, agreement_id)
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
    agreement = _agreement_in_force(actor, agreement_id)
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


def _agreement_in_force(actor: Actor, agreement_id: int) -> Agreement:
    agreement = access.get_agreement(actor, agreement_id)
    if not agreement.is_in_force_on(clock.today()):
        raise Conflict(f"An agreement that is {agreement.status.value} takes no package changes.",
                       status=agreement.status.value)
    return agreement
