"""Key populations (POLICY.md signing rule 8): derived from age, conditions and pregnancies, or recorded.

Tags: elderly_65, elderly_80, child_0_6, pregnant, postpartum, chronic, the recorded tags
(disabled, poverty_alleviated, special_family_planning), and each recorded condition's own kind
(hypertension, diabetes, ...), which package eligibility reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable

from sqlalchemy import ColumnElement, and_, event, exists, select, true

from core import db
from core.calendar import add_months
from registry.idcard import age_on
from registry.models import Condition, ConditionKind, PopulationTag, Pregnancy, RecordedTag, Resident

CHRONIC_KINDS = frozenset({ConditionKind.HYPERTENSION, ConditionKind.DIABETES, ConditionKind.COPD, ConditionKind.TB,
                           ConditionKind.SEVERE_MENTAL})
POSTPARTUM_DAYS = 42
# A pregnancy nobody closed stops counting two weeks after its expected delivery date.
OVERDUE_PREGNANCY = timedelta(days=14)
# The key populations of signing rule 8, by tag; `chronic` and tumour/stroke are tags but not rule-8 populations.
KEY_POPULATIONS = ("elderly_65", "elderly_80", "child_0_6", "pregnant", "postpartum",
                   *(kind.value for kind in ConditionKind if kind in CHRONIC_KINDS), *(tag.value for tag in RecordedTag))


@dataclass
class HealthFacts:
    """What the database knows about one resident that drives key populations and schedules."""

    birth_date: date
    conditions: list[Condition] = field(default_factory=list)
    pregnancies: list[Pregnancy] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def tags_from(facts: HealthFacts, today: date) -> set[str]:
    """The key-population tags `facts` give on `today` (pure)."""
    age = age_on(facts.birth_date, today)
    tags = set(facts.tags) | {c.kind.value for c in facts.conditions}
    tags |= {tag for tag, holds in (("elderly_65", age >= 65), ("elderly_80", age >= 80), ("child_0_6", age <= 6)) if holds}
    if any(c.kind in CHRONIC_KINDS for c in facts.conditions):
        tags.add("chronic")
    for pregnancy in facts.pregnancies:
        if pregnancy.delivered_on is None and pregnancy.last_menstrual_period <= today <= pregnancy.expected_delivery + OVERDUE_PREGNANCY:
            tags.add("pregnant")
        if pregnancy.delivered_on is not None and 0 <= (today - pregnancy.delivered_on).days <= POSTPARTUM_DAYS:
            tags.add("postpartum")
    return tags


# Facts read in the current transaction, by resident id (db.held): a signing reads them for package
# eligibility and again for the care plan; the second read is the first's. Dropped at the transaction's end
# (core.db) and on any write that could change a fact (see `forget_facts_on_writes`).
HELD_FACTS = "health_facts"
FACT_MODELS = (Condition, Pregnancy, PopulationTag, Resident)


def facts_of(residents: Iterable[Resident]) -> dict[int, HealthFacts]:
    """The health facts of many residents in three queries (none for those read earlier in the transaction)."""
    residents = list(residents)
    db.session.flush()  # as the SELECTs' autoflush would: a pending change of a fact drops what is held
    held: dict[int, HealthFacts] = db.held(HELD_FACTS)
    fresh = {r.id: HealthFacts(birth_date=r.birth_date) for r in residents if r.id not in held}
    if fresh:
        ids = list(fresh)
        for condition in db.session.scalars(select(Condition).where(Condition.resident_id.in_(ids))):
            fresh[condition.resident_id].conditions.append(condition)
        for pregnancy in db.session.scalars(select(Pregnancy).where(Pregnancy.resident_id.in_(ids)).order_by(Pregnancy.id)):
            fresh[pregnancy.resident_id].pregnancies.append(pregnancy)
        for tag in db.session.scalars(select(PopulationTag).where(PopulationTag.resident_id.in_(ids))):
            fresh[tag.resident_id].tags.append(tag.tag.value)
        held.update(fresh)
    return {r.id: held[r.id] for r in residents}


def _forget_facts(session, *_args) -> None:
    session.info.pop(db.HELD + HELD_FACTS, None)


def _forget_if_facts_flushed(session, *_args) -> None:
    if any(isinstance(instance, FACT_MODELS) for instance in (*session.new, *session.dirty, *session.deleted)):
        _forget_facts(session)


def _forget_on_statement_writes(state) -> None:
    """Bulk INSERT/UPDATE/DELETE statements do not pass through the flush."""
    if (state.is_insert or state.is_update or state.is_delete) and \
            getattr(state.statement.table, "name", None) in {model.__tablename__ for model in FACT_MODELS}:
        _forget_facts(state.session)


def forget_facts_on_writes() -> None:
    """Held facts never outlive a write to conditions, pregnancies, tags or residents."""
    for name, listener in (("before_flush", _forget_if_facts_flushed), ("do_orm_execute", _forget_on_statement_writes)):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)


def key_populations_of(residents: Iterable[Resident], today: date) -> dict[int, set[str]]:
    """Key-population tags of many residents, by resident id."""
    return {rid: tags_from(facts, today) for rid, facts in facts_of(residents).items()}


def key_populations(resident: Resident, today: date) -> set[str]:
    """The key populations `resident` belongs to on `today` (ages from the ID birth date)."""
    return key_populations_of([resident], today)[resident.id]


# The same definitions in SQL, for GROUP BY counts over a whole county (settlement counts, snapshots, evaluation).

def latest_birth_date(as_of: date, age: int) -> date:
    """The latest birth date of someone at least `age` years old on `as_of` (as registry.idcard.age_on counts)."""
    return add_months(as_of, -12 * age)


def aged(as_of: date, min_age: int | None = None, max_age: int | None = None) -> ColumnElement[bool]:
    """Residents aged min_age..max_age (inclusive) on `as_of`, as a birth-date range the database can use."""
    bounds = []
    if min_age is not None:
        bounds.append(Resident.birth_date <= latest_birth_date(as_of, min_age))
    if max_age is not None:
        bounds.append(Resident.birth_date > latest_birth_date(as_of, max_age + 1))
    return and_(true(), *bounds)


def _pregnancy(*conditions) -> ColumnElement[bool]:
    return exists().where(Pregnancy.resident_id == Resident.id, *conditions)


def key_population_sql(as_of: date) -> dict[str, ColumnElement[bool]]:
    """Each key population of signing rule 8 as a condition on `Resident` (EXISTS subqueries), as `tags_from` says."""
    return {
        "elderly_65": aged(as_of, min_age=65),
        "elderly_80": aged(as_of, min_age=80),
        "child_0_6": aged(as_of, max_age=6),
        "pregnant": _pregnancy(Pregnancy.delivered_on.is_(None), Pregnancy.last_menstrual_period <= as_of,
                               Pregnancy.expected_delivery >= as_of - OVERDUE_PREGNANCY),
        "postpartum": _pregnancy(Pregnancy.delivered_on <= as_of,
                                 Pregnancy.delivered_on >= as_of - timedelta(days=POSTPARTUM_DAYS)),
        **{kind.value: exists().where(Condition.resident_id == Resident.id, Condition.kind == kind)
           for kind in ConditionKind if kind in CHRONIC_KINDS},
        **{tag.value: exists().where(PopulationTag.resident_id == Resident.id, PopulationTag.tag == tag)
           for tag in RecordedTag},
    }
