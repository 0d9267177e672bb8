"""Factories for the care tests: slots, vaccination doses, referrals. They commit (see factories)."""

from __future__ import annotations

from datetime import datetime, timedelta

from care.delivery_models import Slot
from core import db as core_db
from registry.models import Centre


def slot(centre: Centre, starts_at: datetime, *, capacity: int = 5, minutes: int = 30, team_id: int | None = None,
         title: str = "全科门诊") -> Slot:
    built = Slot(centre_id=centre.id, team_id=team_id, title=title, starts_at=starts_at,
                 ends_at=starts_at + timedelta(minutes=minutes), capacity=capacity, booked=0, created_by="test")
    core_db.session.add(built)
    core_db.session.commit()
    return built
