"""Health facts that drive schedules: conditions, pregnancies and deliveries, recorded key-population
tags (POLICY.md signing rule 8). Recording one tells care (registry.events) to rebuild the resident's plan in the same transaction."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from core import clock, db
from core.auth import Actor
from core.errors import Conflict, Invalid
from registry import access, events, populations
from registry.models import Condition, ConditionKind, PopulationTag, Pregnancy, RecordedTag, Sex

GESTATION = timedelta(days=280)  # Naegele: expected delivery = last menstrual period + 280 days
LONGEST_PREGNANCY = timedelta(days=44 * 7)


def record_condition(actor: Actor, *, resident_id: int, kind: ConditionKind, diagnosed_on: date) -> Condition:
    """Record a diagnosis; a chronic one starts the resident's quarterly follow-ups."""
    resident = access.get_resident(actor, resident_id)
    if diagnosed_on > clock.today() or diagnosed_on < resident.birth_date:
        raise Invalid("The diagnosis date lies between birth and today.", field="diagnosed_on")
    condition = Condition(resident_id=resident.id, kind=kind, diagnosed_on=diagnosed_on, recorded_on=clock.today(),
                          recorded_by=actor.subject)
    return _add_and_replan(condition, resident.id, f"The resident already has {kind.value} recorded.")


def register_pregnancy(actor: Actor, *, resident_id: int, last_menstrual_period: date | None = None,
                       expected_delivery: date | None = None) -> Pregnancy:
    """Register a pregnancy from the last menstrual period or the expected delivery date (one ongoing at a time)."""
    resident = access.get_resident(actor, resident_id)
    if resident.sex is not Sex.FEMALE:
        raise Invalid("Only a woman can have a pregnancy registered.", field="resident_id", location="path")
    if (last_menstrual_period is None) == (expected_delivery is None):
        raise Invalid("Give the last menstrual period or the expected delivery date, not both.",
                      field="last_menstrual_period")
    lmp = last_menstrual_period or expected_delivery - GESTATION
    today = clock.today()
    if not today - LONGEST_PREGNANCY <= lmp <= today:
        raise Invalid("The last menstrual period lies within the last 44 weeks.",
                      field="last_menstrual_period" if last_menstrual_period else "expected_delivery")
    pregnancy = Pregnancy(resident_id=resident.id, last_menstrual_period=lmp, expected_delivery=lmp + GESTATION,
                          registered_on=today, recorded_by=actor.subject)
    return _add_and_replan(pregnancy, resident.id, "An ongoing pregnancy is already registered.")


def record_delivery(actor: Actor, *, pregnancy_id: int, delivered_on: date) -> Pregnancy:
    """Record the delivery: the prenatal series ends, postpartum visits are planned."""
    pregnancy = db.get_or_404(Pregnancy, pregnancy_id, "pregnancy")
    access.get_resident(actor, pregnancy.resident_id)
    if not pregnancy.last_menstrual_period < delivered_on <= clock.today():
        raise Invalid("The delivery date lies between the last menstrual period and today.", field="delivered_on")
    with db.transaction():
        closed = db.session.execute(
            update(Pregnancy).where(Pregnancy.id == pregnancy.id, Pregnancy.delivered_on.is_(None))
            .values(delivered_on=delivered_on)).rowcount
        if not closed:
            raise Conflict("The delivery is already recorded.")
        db.session.refresh(pregnancy)
        events.health_facts_changed.send(None, resident_ids=[pregnancy.resident_id])
    return pregnancy


def record_tag(actor: Actor, *, resident_id: int, tag: RecordedTag) -> PopulationTag:
    """Record a key-population tag that cannot be derived (disabled, poverty-alleviated, special family)."""
    resident = access.get_resident(actor, resident_id)
    row = PopulationTag(resident_id=resident.id, tag=tag, recorded_on=clock.today(), recorded_by=actor.subject)
    return _add_and_replan(row, resident.id, f"The resident is already tagged {tag.value}.")


def health_of(actor: Actor, *, resident_id: int) -> dict:
    """A resident's conditions, pregnancies, recorded tags and key populations today."""
    resident = access.get_resident(actor, resident_id)
    facts = populations.facts_of([resident])[resident.id]
    return dict(resident_id=resident.id, conditions=facts.conditions, pregnancies=facts.pregnancies, tags=facts.tags,
                key_populations=sorted(populations.tags_from(facts, clock.today())))


def _add_and_replan(row, resident_id: int, conflict: str):
    try:
        with db.transaction():
            db.session.add(row)
            db.session.flush()
            events.health_facts_changed.send(None, resident_ids=[resident_id])
    except IntegrityError:
        raise Conflict(conflict) from None
    return row
