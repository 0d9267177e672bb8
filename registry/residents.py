"""Residents' records kept by staff: insurance and record-keeping facts."""

from __future__ import annotations

from core import clock, db
from core.auth import Actor
from core.errors import Invalid
from registry import access, events
from registry.models import Region, Resident, Window


def update_resident(actor: Actor, resident_id: int, **changes) -> Resident:
    """Record a resident's insurance, record-keeping and residence facts, and a death; signing re-derives
    capitation (registry.events)."""
    resident = access.get_resident(actor, resident_id)
    for field, model, what in (("insurance_region_code", Region, "region"), ("home_window_id", Window, "village clinic"),
                               ("residence_window_id", Window, "village clinic")):
        if changes.get(field) is not None and db.session.get(model, changes[field]) is None:
            raise Invalid(f"No such {what}.", field=field)
    died_on = changes.get("died_on")
    if died_on is not None and not resident.birth_date <= died_on <= clock.today():
        raise Invalid("The date of death lies between birth and today.", field="died_on")
    with db.transaction():
        for name, value in changes.items():
            setattr(resident, name, value)
        events.insurance_changed.send(None, resident=resident)
        if died_on is not None:
            events.death_recorded.send(None, resident_id=resident.id, died_on=died_on)
    return resident
