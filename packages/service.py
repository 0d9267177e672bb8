"""The package catalogue and centres' prices of personalised packages (POLICY.md "Packages")."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import clock, db
from core.auth import Actor, Role
from core.errors import Conflict, Invalid, NotFound
from packages import catalogue
from packages.models import PackageDef, PackagePrice
from registry import access, populations


def list_packages(actor: Actor | None, *, tier: str | None, centre_id: int | None, eligible_for: str | None) -> list[dict]:
    """The current catalogue, with a centre's prices and, for `eligible_for=me`, only what the caller may choose.

    The catalogue is public (`actor` None); `eligible_for=me` is for the calling resident.
    """
    query = select(PackageDef).where(PackageDef.edition == catalogue.EDITION)
    if tier:
        query = query.where(PackageDef.tier == tier)
    packages = list(db.session.scalars(query))
    if eligible_for == "me":
        if actor is None or actor.role is not Role.RESIDENT:
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


