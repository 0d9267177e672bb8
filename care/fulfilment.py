"""The fulfilment ledger (履约): for each agreement and each item of its packages, what the cycle promises
and what was delivered, derived from what the team recorded — never a typed-in number. "The service
actions recorded on the information platform are the main measure of a family doctor's fulfilment"
[002 §(三)4]; POLICY.md "Fulfilment".

Each item takes its promise and its evidence from one source (`SOURCES`, data):
- visits: the follow-up plan is the promise; a done visit delivers it when its record is face-to-face
  (clinic or home; home for home services) — a phone contact is recorded but completes nothing
  (POLICY.md "Packages");
- lectures: at least one a month, for each month the agreement is in force; a month is delivered when
  the resident attended a lecture of their centre in it (attendance lives with lectures, in
  notifications, which registers its reader in `LECTURE_ATTENDANCE` at start-up);
- record: the electronic health record exists;
- contact: the agreement names a team and the team was in touch in the period (a visit, a logged
  delivery, a call that reached the person, an answer to their message);
- logged: deliveries the team logs one by one (`log_delivery`). Personalised items, whose frequency
  annex 1 leaves to the agreement, are promised once a cycle; per-need and continuous items promise no
  count (`due` is None) and show what was delivered.

A promised count splits into delivered, missed (its time is over) and coming (still open).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable, Iterable, Sequence

from sqlalchemy import ColumnElement, Select, and_, exists, not_, or_, select
from sqlalchemy.orm import aliased, selectinload

from care.fulfilment_models import (
    Author,
    Call,
    CallOutcome,
    Conversation,
    ConversationMessage,
    ItemDelivery,
    left_care,
)
from care.models import Visit, VisitMode, VisitRecord, VisitState
from core import clock, db
from core.auth import Actor, Role
from core.calendar import add_months
from core.errors import Invalid
from core.pagination import decode_cursor, encode_cursor
from packages import catalogue
from packages import protocols as p
from packages.models import PackageDef, PackageItem
from registry import access, populations
from signing import access as signing_access
from signing.models import Agreement, AgreementPackage, AgreementStatus, in_force_on

VISITS, LECTURES, RECORD, CONTACT, LOGGED = "visits", "lectures", "record", "contact", "logged"
SOURCE_KINDS = (VISITS, LECTURES, RECORD, CONTACT, LOGGED)
BATCH = 500

FACE_TO_FACE = frozenset({VisitMode.CLINIC, VisitMode.HOME})
AT_HOME = frozenset({VisitMode.HOME})
# A plan's visit code carries its cycle ("2026-q1") or pregnancy ("p7-early") in front of the protocol's code.
_VISIT_PREFIX = re.compile(r"^(?:\d{4}|p\d+)-")


@dataclass(frozen=True)
class Source:
    """Where an item's promise and deliveries come from; for visits, the programmes and protocol codes."""

    kind: str
    programmes: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()  # empty: every visit of the programmes

    def holds(self, visit: Visit) -> bool:
        return visit.programme in self.programmes and (not self.codes or protocol_code(visit.code) in self.codes)


def protocol_code(visit_code: str) -> str:
    """The protocol's code of a planned visit; a danger sign's re-visit ("2026-q1-recheck") matches none."""
    return _VISIT_PREFIX.sub("", visit_code, count=1)


def _visits(programmes: Iterable[str], codes: Iterable[str] = ()) -> Source:
    return Source(VISITS, frozenset(programmes), frozenset(codes))


def _child(pattern: str) -> Source:
    return _visits({p.CHILD.programme}, {v.code for v in p.CHILD.visits if re.fullmatch(pattern, v.code)})


VALUE_ADDED = "value-added"
SOURCES: dict[tuple[str, str], Source] = {
    ("basic", "health-record"): Source(RECORD),
    ("basic", "named-doctor"): Source(CONTACT),
    ("basic", "health-lecture"): Source(LECTURES),
    (VALUE_ADDED, "chronic-follow-up"): _visits(p.CHRONIC, {v.code for v in p.CHRONIC["hypertension"].visits}),
    (VALUE_ADDED, "elderly-health-check"): _visits({p.ELDERLY.programme}, {"health-check"}),
    (VALUE_ADDED, "elderly-tcm"): _visits({p.ELDERLY.programme}, {"tcm"}),
    (VALUE_ADDED, "elderly-home-visit"): _visits({p.ELDERLY_80.programme}, {"home-visit"}),
    (VALUE_ADDED, "newborn-home-visit"): _child(r"newborn-home"),
    (VALUE_ADDED, "full-month-check"): _child(r"full-month"),
    (VALUE_ADDED, "infant-visits"): _child(r"\d+m"),
    (VALUE_ADDED, "child-blood-test"): _child(r"blood-.+"),
    (VALUE_ADDED, "child-hearing-screening"): _child(r"hearing-.+"),
    (VALUE_ADDED, "preschool-check"): _child(r"preschool-.+"),
    (VALUE_ADDED, "child-tcm-guidance"): _child(r"tcm-.+"),
    (VALUE_ADDED, "prenatal-care"): _visits({p.PRENATAL.programme}),
    (VALUE_ADDED, "postpartum-home-visit"): _visits({p.POSTPARTUM.programme}, {"home-visit"}),
    (VALUE_ADDED, "postpartum-42-day-check"): _visits({p.POSTPARTUM.programme}, {"42-day"}),
}
LOGGED_SOURCE = Source(LOGGED)
# Where the catalogue's one population tag says less than annex 1: the TB pack's chest imaging is
# "for people 65+ and diabetes patients" [000 附件1 三(四)4].
POPULATIONS: dict[tuple[str, str], frozenset[str]] = {("tb", "chest-imaging"): frozenset({"elderly_65", "diabetes"})}
# Personalised items are "as agreed" (annex 1): until agreements carry an agreed count, once a cycle.

# Lecture attendance is recorded where lectures live (notifications, to care's right); its module
# registers a reader here at start-up (app.create_app): a Select of (resident_id, centre_id, day).
LECTURE_ATTENDANCE: list[Callable[[], Select]] = []


def source_of(package_code: str, item_code: str) -> Source:
    return SOURCES.get((package_code, item_code), LOGGED_SOURCE)


def populations_of(item: PackageItem) -> frozenset[str]:
    """The tags any of which makes the item apply to a resident; empty: everyone."""
    override = POPULATIONS.get((item.package_code, item.code))
    if override is not None:
        return override
    return frozenset({item.population}) if item.population else frozenset()


def modes_for(item: PackageItem) -> frozenset[VisitMode]:
    return AT_HOME if item.kind == catalogue.HOME_SERVICE else FACE_TO_FACE


def period_of(agreement: Agreement) -> tuple[date, date]:
    """The first and last day the agreement is in force (signing.models.in_force_on for a loaded row)."""
    end = agreement.end_date
    if agreement.status is AgreementStatus.TERMINATED and agreement.terminated_on is not None:
        end = min(end, agreement.terminated_on - timedelta(days=1))
    return agreement.start_date, end


def within_period(day, agreement=Agreement) -> ColumnElement[bool]:
    """`day` is one the agreement is in force on (as `period_of` says), as SQL."""
    return and_(day >= agreement.start_date, day <= agreement.end_date,
                or_(agreement.status != AgreementStatus.TERMINATED, day < agreement.terminated_on))


# Evidence that the team acted for a signed person in the agreement's period, as SQL (EXISTS on indexed
# columns), so one definition serves a page of a county and one household alike.
def _visit_done(agreement) -> ColumnElement[bool]:
    return exists().where(Visit.resident_id == agreement.resident_id, Visit.centre_id == agreement.centre_id,
                          Visit.state == VisitState.DONE, within_period(Visit.served_on, agreement))


def _item_delivered(agreement) -> ColumnElement[bool]:
    return exists().where(ItemDelivery.agreement_id == agreement.id)


def _lecture_attended(agreement) -> list[ColumnElement[bool]]:
    clauses = []
    for reader in LECTURE_ATTENDANCE:
        attended = reader().subquery()
        clauses.append(exists(select(attended.c.resident_id).where(
            attended.c.resident_id == agreement.resident_id, attended.c.centre_id == agreement.centre_id,
            within_period(attended.c.day, agreement))))
    return clauses


def _reached_by_call(agreement) -> ColumnElement[bool]:
    return exists().where(Call.resident_id == agreement.resident_id, Call.centre_id == agreement.centre_id,
                          Call.outcome == CallOutcome.REACHED_WILL_COME, within_period(Call.called_on, agreement))


def _team_wrote(agreement, *, answering: bool = False) -> ColumnElement[bool]:
    """A team member wrote to the person in the period (`answering`: in answer to a message of theirs)."""
    answer = aliased(ConversationMessage)
    condition = and_(Conversation.resident_id == agreement.resident_id, Conversation.centre_id == agreement.centre_id,
                     answer.conversation_id == Conversation.id, answer.author == Author.STAFF,
                     within_period(answer.sent_on, agreement))
    if answering:
        condition = and_(condition, exists().where(ConversationMessage.conversation_id == Conversation.id,
                                                   ConversationMessage.author == Author.RESIDENT,
                                                   ConversationMessage.id < answer.id))
    return exists(select(answer.id).where(condition))


def _answered_question(agreement) -> ColumnElement[bool]:
    return _team_wrote(agreement, answering=True)


SERVICE_EVIDENCE: list[Callable] = [_visit_done, _item_delivered, _answered_question]
# A call that reached the person, or a message from the team, is contact; it is a service once it answers them.
CONTACT_EVIDENCE: list[Callable] = [_visit_done, _item_delivered, _reached_by_call, _team_wrote]


def served_sql(agreement=Agreement) -> ColumnElement[bool]:
    """The person was served in the agreement's period: a visit done, an item delivered, a lecture attended,
    a question answered by the team. Its negation is "signed but never served" (只签不约)."""
    return or_(*(evidence(agreement) for evidence in SERVICE_EVIDENCE), *_lecture_attended(agreement))


def contacted_sql(agreement=Agreement) -> ColumnElement[bool]:
    """The team was in touch with the person in the agreement's period (basic package item 2)."""
    return or_(*(evidence(agreement) for evidence in CONTACT_EVIDENCE))


@dataclass(slots=True)
class Line:
    """One item of one package: what the agreement promises in its period and how it stands."""

    package_code: str
    item_code: str
    title: str
    frequency: str
    source: str
    due: int | None
    delivered: int = 0
    missed: int = 0
    coming: int = 0

    @property
    def owed(self) -> int:
        return self.missed + self.coming


@dataclass
class Ledger:
    agreement: Agreement
    period_start: date
    period_end: date
    served: bool
    lines: list[Line] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        """Promised counts only (lines with a due); a delivery beyond the promise adds nothing."""
        promised = [line for line in self.lines if line.due is not None]
        return {"due": sum(line.due for line in promised),
                "delivered": sum(min(line.delivered, line.due) for line in promised),
                "missed": sum(line.missed for line in promised),
                "coming": sum(line.coming for line in promised)}

    @property
    def owed_lines(self) -> list[Line]:
        return [line for line in self.lines if line.due is not None and line.owed]


@dataclass(frozen=True)
class _Spec:
    """A package item as the ledger reads it, resolved once per batch (not per agreement)."""

    package_code: str
    item_code: str
    title: str
    frequency: str
    personalised: bool
    source: Source
    needed: frozenset[str]
    modes: frozenset[VisitMode]

    @property
    def promises(self) -> bool:
        """The item promises a count (the others are per need)."""
        return self.source.kind != LOGGED or self.personalised


def ledgers(agreements: Sequence[Agreement], today: date, *, promised_only: bool = False) -> list[Ledger]:
    """The ledgers of many agreements (their residents loaded), a few queries for all of them.

    `promised_only` leaves out the per-need lines (no due), for those who only count promises.
    """
    if not agreements:
        return []
    ids = [agreement.id for agreement in agreements]
    resident_ids = list({agreement.resident_id for agreement in agreements})
    flags = {row.id: row for row in db.session.execute(
        select(Agreement.id, served_sql().label("served"), contacted_sql().label("contacted")).where(Agreement.id.in_(ids)))}
    held = _packages_held(ids)
    specs = _specs_of({(edition, code) for rows in held.values() for edition, code, _ in rows})
    visits = defaultdict(list)
    for visit, mode in db.session.execute(
            select(Visit, VisitRecord.mode)
            .outerjoin(VisitRecord, and_(VisitRecord.visit_id == Visit.id, VisitRecord.current.is_(True)))
            .where(Visit.agreement_id.in_(ids), Visit.state != VisitState.CANCELLED)):
        visits[visit.agreement_id].append((visit, mode))
    deliveries = defaultdict(lambda: defaultdict(int))
    for agreement_id, package_code, item_code in db.session.execute(
            select(ItemDelivery.agreement_id, ItemDelivery.package_code, ItemDelivery.item_code)
            .where(ItemDelivery.agreement_id.in_(ids))):
        deliveries[agreement_id][package_code, item_code] += 1
    attended = _lecture_days(resident_ids)
    facts = populations.facts_of([agreement.resident for agreement in agreements])

    found = []
    for agreement in agreements:
        start, end = period_of(agreement)
        as_of = min(max(today, start), end)
        tags = populations.tags_from(facts[agreement.resident_id], start) | populations.tags_from(
            facts[agreement.resident_id], as_of)
        evidence = _Evidence(visits=visits[agreement.id], logged=deliveries[agreement.id],
                             attended=attended[agreement.resident_id, agreement.centre_id],
                             record=agreement.resident.has_health_record,
                             contact=agreement.team_id is not None and bool(flags[agreement.id].contacted))
        ledger = Ledger(agreement, start, end, served=bool(flags[agreement.id].served))
        for edition, package_code, _ in held.get(agreement.id, []):
            for spec in specs.get((edition, package_code), []):
                if promised_only and not spec.promises:
                    continue
                line = _line(spec, (start, end), today, tags, evidence)
                if line is not None:
                    ledger.lines.append(line)
        found.append(ledger)
    return found


@dataclass(frozen=True)
class _Evidence:
    """What was recorded for one agreement, as the lines read it."""

    visits: list
    logged: dict
    attended: set[date]
    record: bool
    contact: bool


def _packages_held(ids: list[int]) -> dict[int, list[tuple[str, str, str]]]:
    """(edition, package code, tier) of the packages each agreement holds now, basic first, then in the order added.

    A personalised package dropped during the period no longer promises anything.
    """
    rows = db.session.execute(
        select(AgreementPackage.agreement_id, AgreementPackage.edition, AgreementPackage.package_code, PackageDef.tier)
        .join(PackageDef, and_(PackageDef.edition == AgreementPackage.edition, PackageDef.code == AgreementPackage.package_code))
        .where(AgreementPackage.agreement_id.in_(ids), AgreementPackage.dropped_on.is_(None))
        .order_by(AgreementPackage.agreement_id, AgreementPackage.id))
    held = defaultdict(list)
    for agreement_id, edition, code, tier in rows:
        held[agreement_id].append((edition, code, tier))
    for packages in held.values():
        packages.sort(key=lambda package: catalogue.TIERS.index(package[2]))
    return held


def _specs_of(packages: set[tuple[str, str]]) -> dict[tuple[str, str], list[_Spec]]:
    editions = {edition for edition, _ in packages}
    tiers = dict(((row.edition, row.code), row.tier) for row in db.session.execute(
        select(PackageDef.edition, PackageDef.code, PackageDef.tier).where(PackageDef.edition.in_(editions))))
    specs = defaultdict(list)
    for item in db.session.scalars(select(PackageItem).where(PackageItem.edition.in_(editions))
                                   .order_by(PackageItem.package_code, PackageItem.position)):
        key = (item.edition, item.package_code)
        if key in packages:
            specs[key].append(_Spec(item.package_code, item.code, item.title, item.frequency,
                                    tiers[key] == catalogue.PERSONALISED, source_of(item.package_code, item.code),
                                    populations_of(item), modes_for(item)))
    return specs


def _lecture_days(resident_ids: list[int]) -> dict[tuple[int, int], set[date]]:
    days = defaultdict(set)
    for reader in LECTURE_ATTENDANCE:
        attended = reader().subquery()
        for resident_id, centre_id, day in db.session.execute(
                select(attended.c.resident_id, attended.c.centre_id, attended.c.day)
                .where(attended.c.resident_id.in_(resident_ids))):
            days[resident_id, centre_id].add(day)
    return days


def _line(spec: _Spec, period: tuple[date, date], today: date, tags: set[str], evidence: _Evidence) -> Line | None:
    """The item's line, or None when it does not apply to this person (a population, no planned visit)."""
    source = spec.source
    start, end = period
    line = Line(spec.package_code, spec.item_code, spec.title, spec.frequency, source.kind, due=None)
    if source.kind == VISITS:
        planned = [(visit, mode) for visit, mode in evidence.visits if source.holds(visit)]
        if not planned:
            return None
        line.due = len(planned)
        for visit, mode in planned:
            if visit.state is VisitState.DONE and mode in spec.modes:
                line.delivered += 1
            elif visit.on_time_until < today:
                line.missed += 1
            else:
                line.coming += 1
        return line
    if source.kind == LECTURES:
        months = _months(start, end)
        line.due = len(months)
        for month_start, month_end in months:
            if any(month_start <= day <= month_end for day in evidence.attended):
                line.delivered += 1
            elif month_end < today:
                line.missed += 1
            else:
                line.coming += 1
        return line
    if source.kind in (RECORD, CONTACT):
        return _once(line, delivered=int(evidence.record if source.kind == RECORD else evidence.contact), over=end < today)
    if spec.needed and not spec.needed & tags:
        return None
    line.delivered = evidence.logged.get((spec.package_code, spec.item_code), 0)
    if spec.personalised:
        return _once(line, delivered=line.delivered, over=end < today)
    return line


def _once(line: Line, *, delivered: int, over: bool) -> Line:
    line.due, line.delivered = 1, delivered
    if not delivered:
        line.missed, line.coming = (1, 0) if over else (0, 1)
    return line


@functools.lru_cache(maxsize=4096)
def _months(start: date, end: date) -> tuple[tuple[date, date], ...]:
    """The calendar months the period touches, each clipped to the period."""
    months, first = [], start.replace(day=1)
    while first <= end:
        following = add_months(first, 1)
        months.append((max(first, start), min(following - timedelta(days=1), end)))
        first = following
    return tuple(months)


# What residents, doctors and the bureau see.

def household_ledgers(actor: Actor) -> list[Ledger]:
    """The ledgers of the caller's household: each member's agreement in force today."""
    today = clock.today()
    members = [member.id for member in access.household_of(access.resident_of(actor))]
    agreements = db.session.scalars(select(Agreement).options(selectinload(Agreement.resident))
                                    .where(Agreement.resident_id.in_(members), in_force_on(today))
                                    .order_by(Agreement.resident_id, Agreement.id)).all()
    return ledgers(agreements, today)


def agreement_ledger(actor: Actor, *, agreement_id: int) -> Ledger:
    """One agreement's ledger, for staff of its centre or the bureau of its region."""
    agreement = signing_access.get_agreement(actor, agreement_id)
    [ledger] = ledgers([agreement], clock.today())
    return ledger


def in_care_of(actor: Actor, day: date, agreement=Agreement) -> ColumnElement[bool]:
    """Agreements in force on `day` with the doctor's team (and those with no team), or a centre admin's centre,
    whose person has not left care (moved away or died, as a call found)."""
    condition = and_(agreement.centre_id == actor.centre_id, in_force_on(day, agreement), not_(left_care(agreement)))
    if actor.role is Role.DOCTOR and actor.team_id is not None:
        condition = and_(condition, or_(agreement.team_id == actor.team_id, agreement.team_id.is_(None)))
    return condition


def owed(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    """The team's signed people who are still owed something this cycle, with what: a page at a time, by agreement."""
    today = clock.today()
    query = select(Agreement).options(selectinload(Agreement.resident)).where(in_care_of(actor, today))
    last = decode_cursor(cursor, [Agreement.id])[0] if cursor else 0
    found: list[Ledger] = []
    while len(found) <= limit:
        batch = db.session.scalars(query.where(Agreement.id > last).order_by(Agreement.id).limit(BATCH)).all()
        if not batch:
            break
        found += [ledger for ledger in ledgers(batch, today, promised_only=True) if ledger.owed_lines]
        last = batch[-1].id
    page = found[:limit]
    return {"items": page, "next_cursor": encode_cursor([page[-1].agreement.id]) if len(found) > limit else None}


# Deliveries the team logs.

def log_delivery(actor: Actor, *, agreement_id: int, package_code: str, item_code: str, delivered_on: date,
                 note: str | None = None) -> ItemDelivery:
    """Log one delivery of a package item the agreement holds, on the day it was given (422 for what cannot be).

    Items that visits, lecture attendance or the health record deliver are refused here: each
    delivery has one record, so nothing is counted twice.
    """
    agreement = signing_access.get_agreement(actor, agreement_id)
    start, end = period_of(agreement)
    if delivered_on > clock.today():
        raise Invalid("A delivery is logged after it was given: the date cannot be in the future.", field="delivered_on")
    if not start <= delivered_on <= end:
        raise Invalid(f"The agreement is in force from {start.isoformat()} to {end.isoformat()}.", field="delivered_on")
    held = db.session.scalar(select(AgreementPackage).where(
        AgreementPackage.agreement_id == agreement.id, AgreementPackage.package_code == package_code,
        AgreementPackage.added_on <= delivered_on,
        or_(AgreementPackage.dropped_on.is_(None), AgreementPackage.dropped_on > delivered_on)))
    if held is None:
        raise Invalid(f"The agreement did not include package {package_code!r} on that day.", field="package_code")
    item = db.session.scalar(select(PackageItem).where(
        PackageItem.edition == held.edition, PackageItem.package_code == package_code, PackageItem.code == item_code))
    if item is None:
        raise Invalid(f"Package {package_code!r} has no item {item_code!r}.", field="item_code")
    source = source_of(package_code, item_code)
    if source.kind != LOGGED:
        raise Invalid(f"This item is delivered through its {source.kind} record, not logged.", field="item_code",
                      source=source.kind)
    needed = populations_of(item)
    if needed and not needed & populations.key_populations(agreement.resident, delivered_on):
        raise Invalid(f"This item is for {', '.join(sorted(needed))}.", field="item_code")
    delivery = ItemDelivery(agreement_id=agreement.id, resident_id=agreement.resident_id, centre_id=agreement.centre_id,
                            team_id=agreement.team_id, edition=held.edition, package_code=package_code,
                            item_code=item_code, delivered_on=delivered_on, note=note, staff_id=actor.staff_id)
    with db.transaction():
        db.session.add(delivery)
    return delivery


def deliveries_of(actor: Actor, *, agreement_id: int) -> list[ItemDelivery]:
    agreement = signing_access.get_agreement(actor, agreement_id)
    return list(db.session.scalars(select(ItemDelivery).where(ItemDelivery.agreement_id == agreement.id)
                                   .order_by(ItemDelivery.delivered_on, ItemDelivery.id)))
