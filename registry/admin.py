"""Administration of the registry by county and centre administrators (POLICY.md glossary: regions, centres,
village clinics, teams, staff, API clients, policy profiles).

A county administrator is Role.ADMIN scoped to a region: they administer that region and every region
below it (a city's administrator its counties), and nothing else (403). An administrator account without
a region administers nothing through the API; the server's operator works through the CLI. A centre
administrator administers their own centre's village clinics, teams and doctors. Every change is audited.
"""

from __future__ import annotations

from datetime import date

from core import audit
from core.auth import Actor, Role
from core.errors import Forbidden
from registry import profiles
from registry.models import PolicyProfileVersion
from registry.service import region_and_descendants


def administered_regions(actor: Actor) -> list[str]:
    """The region codes a county administrator administers: their own and every one below it."""
    if actor.role is not Role.ADMIN or not actor.region_code:
        raise Forbidden("Only a county administrator administers regions.")
    return region_and_descendants(actor.region_code)


def check_administers_region(actor: Actor, region_code: str | None) -> None:
    if region_code not in administered_regions(actor):
        raise Forbidden("You administer only your own county.", region_code=region_code)


def load_profile(actor: Actor | None, *, profile: dict, effective_from: date, source: str | None = None,
                 path: str = "") -> tuple[PolicyProfileVersion, bool]:
    """Load a policy profile as a new version (registry.profiles); None as actor is the server's operator (CLI)."""
    allowed = None if actor is None else administered_regions(actor)
    version, created = profiles.load(profile, effective_from=effective_from, source=source, path=path,
                                     loaded_by=actor.subject if actor else "cli", allowed_regions=allowed)
    if created:
        audit.record("profile.load", "policy_profile", version.code, version=version.version,
                     effective_from=effective_from.isoformat(), source=source)
    return version, created
