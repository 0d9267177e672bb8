"""Builders for the settlement tests: agreements on chosen dates, bureau tokens."""

from __future__ import annotations

from datetime import date

from core import db as core_db
from core.auth import Actor, Role
from registry.models import Centre, Resident
from signing.models import Agreement, AgreementStatus, Channel, SigningBasis
from tests import factories as f


def agreement(resident: Resident, centre: Centre, *, start: date = date(2026, 1, 1), end: date = date(2026, 12, 31),
              status: AgreementStatus = AgreementStatus.ACTIVE, counted: bool = True, terminated_on: date | None = None,
              window: bool = True, cycle: int | None = None,
              basis: SigningBasis | None = SigningBasis.SERVICE_AREA) -> Agreement:
    """An agreement as staff sign one on site; `basis` None is one from before POLICY.md signing rule 10."""
    built = Agreement(
        resident_id=resident.id, centre_id=centre.id, window_id=centre.windows[0].id if window else None,
        team_id=centre.teams[0].id, region_code=centre.region_code, cycle=cycle or start.year, start_date=start,
        end_date=end, term_years=1, term_end_date=end, status=status, channel=Channel.ON_SITE,
        counts_for_capitation=counted, signed_by="staff:1", terminated_on=terminated_on, basis=basis,
    )
    core_db.session.add(built)
    core_db.session.commit()
    return built


def as_bureau(region: str = "430523") -> dict[str, str]:
    return f.bearer(Actor(role=Role.BUREAU, subject=f"client:bureau-{region}", region_code=region))
