"""Insurance enrolment as the bureau reports it (POLICY.md signing rule 6 and rule 10: insurance facts have
effective dates; a change counts from its date).

The bureau pushes insured-person facts in batches: ID number, scheme, insurance region, valid from/to.
People are matched by ID-number lookup hash; each fact is kept with its dates (one per person and
start date: the same push again changes nothing, a different one for the same date corrects it). A
resident's scheme and insurance region are the fact in force today, and a change sends
registry.events.insurance_changed so signing re-derives counts_for_capitation in the same
transaction. A fact starting later takes effect on its day (the daily job). Unmatched and refused
items come back in the answer; the rest of the batch is applied.

Not date-ranged yet: an agreement's counts_for_capitation is one flag, so a fact dated in the past
changes it from now on; frozen months keep their counts, and a later snapshot's adjustment lines
recount earlier months with the flag as it is then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import or_, select

from core import clock, crypto, db
from core.auth import Actor
from core.crypto import mask_id_number
from registry import events
from registry.idcard import InvalidIdNumber, parse_id_number
from registry.imports import eighteen_digits
from registry.models import InsuranceFact, InsuranceScheme, Region, Resident
from registry.service import region_and_descendants

CATCH_UP = timedelta(days=7)  # the daily job looks this far back, so a missed run is made good


@dataclass
class EnrolmentReport:
    applied: int = 0
    unchanged: int = 0
    unmatched: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)


def fact_on(facts: list[InsuranceFact], day: date) -> InsuranceFact | None:
    """The fact in force on `day`: the latest begun by then and not ended before it."""
    running = [fact for fact in facts if fact.valid_from <= day and (fact.valid_to is None or fact.valid_to >= day)]
    return max(running, key=lambda fact: fact.valid_from, default=None)


def _refresh(residents: list[Resident], today: date) -> None:
    """Set each resident's scheme and region to the fact in force today; tell signing of each change."""
    facts: dict[int, list[InsuranceFact]] = {}
    for fact in db.session.scalars(select(InsuranceFact).where(InsuranceFact.resident_id.in_([r.id for r in residents]))):
        facts.setdefault(fact.resident_id, []).append(fact)
    for resident in residents:
        known = facts.get(resident.id, [])
        if not any(fact.valid_from <= today for fact in known):
            continue  # only facts of later dates: what was recorded before holds until then
        current = fact_on(known, today)
        scheme, region = (current.scheme, current.region_code) if current else (InsuranceScheme.UNINSURED, None)
        if (resident.insurance_scheme, resident.insurance_region_code) != (scheme, region):
            resident.insurance_scheme, resident.insurance_region_code = scheme, region
            resident.in_insurance_master = current is not None
            events.insurance_changed.send(None, resident=resident)


def _checked(index: int, item: dict, regions: set[str], today: date, report: EnrolmentReport) -> tuple[int, str, dict] | None:
    def refuse(name: str, why: str) -> None:
        report.refused.append({"index": index, "field": name, "why": why})

    try:
        number = parse_id_number(eighteen_digits(item["id_number"].strip().upper()), today=today).value
    except InvalidIdNumber as error:
        return refuse("id_number", str(error))
    if item["region_code"] not in regions:
        return refuse("region_code", "Not a region of your pooling region.")
    if item["valid_to"] is not None and item["valid_to"] < item["valid_from"]:
        return refuse("valid_to", "valid_to is on or after valid_from.")
    return index, number, item


def report_enrolments(actor: Actor, *, items: list[dict]) -> EnrolmentReport:
    """Record a batch of the bureau's insured-person facts for people of its region (idempotent)."""
    today, report = clock.today(), EnrolmentReport()
    regions = set(region_and_descendants(actor.region_code or "")) & set(
        db.session.scalars(select(Region.code).where(Region.code.in_({item["region_code"] for item in items}))))
    checked = [found for index, item in enumerate(items) if (found := _checked(index, item, regions, today, report))]
    hashes = {crypto.lookup_hash(number): number for _, number, _ in checked}
    people = {r.id_number_hash: r for r in db.session.scalars(select(Resident).where(Resident.id_number_hash.in_(hashes)))}
    with db.transaction():
        held = {(fact.resident_id, fact.valid_from): fact for fact in db.session.scalars(
            select(InsuranceFact).where(InsuranceFact.resident_id.in_([p.id for p in people.values()])))}
        touched: dict[int, Resident] = {}
        for index, number, item in checked:
            resident = people.get(crypto.lookup_hash(number))
            if resident is None:
                report.unmatched.append({"index": index, "id_number": mask_id_number(number)})
                continue
            values = dict(scheme=item["scheme"], region_code=item["region_code"], valid_to=item["valid_to"])
            fact = held.get((resident.id, item["valid_from"]))
            if fact is not None and all(getattr(fact, name) == value for name, value in values.items()):
                report.unchanged += 1
                continue
            if fact is None:
                fact = held[(resident.id, item["valid_from"])] = InsuranceFact(
                    resident_id=resident.id, valid_from=item["valid_from"], reported_by=actor.subject, **values)
                db.session.add(fact)
            else:
                for name, value in values.items():
                    setattr(fact, name, value)
                fact.reported_by, fact.reported_at = actor.subject, clock.now()
            report.applied += 1
            touched[resident.id] = resident
        db.session.flush()
        _refresh(list(touched.values()), today)
    return report


def apply_due(today: date) -> int:
    """Bring residents whose facts began or ended lately to the fact in force today; how many were looked at."""
    ids = set(db.session.scalars(select(InsuranceFact.resident_id).where(or_(
        InsuranceFact.valid_from.between(today - CATCH_UP, today),
        InsuranceFact.valid_to.between(today - CATCH_UP - timedelta(days=1), today - timedelta(days=1))))))
    with db.transaction():
        _refresh(list(db.session.scalars(select(Resident).where(Resident.id.in_(ids)))), today)
    return len(ids)
