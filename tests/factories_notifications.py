"""Factories for the notification tests: agreements in force, visits, subscriptions. They commit (see factories)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from care.models import Visit, VisitState
from core import db as core_db
from notifications.models import Subscription
from registry.models import Centre, Resident
from signing.models import Agreement, AgreementStatus, Channel, SigningBasis

_codes = itertools.count(1)
VISIT_TEMPLATE = "tpl-visit-due"


def signed(person: Resident, centre: Centre, *, cycle: int = 2026) -> Agreement:
    built = Agreement(
        resident_id=person.id, centre_id=centre.id, team_id=centre.teams[0].id if centre.teams else None,
        region_code=centre.region_code, cycle=cycle, start_date=date(cycle, 1, 1), end_date=date(cycle, 12, 31),
        term_years=1, term_end_date=date(cycle, 12, 31), status=AgreementStatus.ACTIVE, channel=Channel.ON_SITE,
        counts_for_capitation=True, signed_by="test", basis=SigningBasis.SELF,  # the resident chose the centre
    )
    core_db.session.add(built)
    core_db.session.commit()
    return built


def visit(person: Resident, centre: Centre, due: date, *, on_time_days: int = 14, state: VisitState = VisitState.PLANNED,
          title: str = "高血压随访") -> Visit:
    built = Visit(
        resident_id=person.id, centre_id=centre.id, team_id=centre.teams[0].id if centre.teams else None,
        programme="hypertension", code=f"v{next(_codes)}", title=title, protocol_version="test", due_date=due,
        on_time_from=due - timedelta(days=on_time_days), on_time_until=due + timedelta(days=on_time_days), state=state,
    )
    core_db.session.add(built)
    core_db.session.commit()
    return built


def subscribed(person: Resident, template_id: str = VISIT_TEMPLATE, *, credits: int = 1) -> Subscription:
    built = Subscription(resident_id=person.id, template_id=template_id, credits=credits)
    core_db.session.add(built)
    core_db.session.commit()
    return built
