"""Insurance enrolment as the bureau reports it (POLICY.md signing rule 6 and rule 10: insurance facts have
effective dates; a change counts from its date).

The bureau pushes insured-person facts in batches: ID number, scheme, insurance region, valid from/to.
People are matched by ID-number lookup hash; each fact is kept with its dates (one per person and
start date: the same push again changes nothing, a different one for the same date corrects it). A
resident's scheme and insurance region are the fact in force today, and a change sends
registry.events.insurance_changed so signing re-derives counts_for_capitation in the same
transaction. A fact starting later takes effect on its day (the daily job). Unmatched and refused
items come back in the answer; the rest of the batch is applied.

Counts follow the facts day by day: `insurance_on(day)` is each resident's insurance on a day as SQL, which
settlement's counts join (signing.service.counted_on), so a change counts from its effective date and not
backwards. Once a fact of a person has begun, the facts are their insurance on every day (before the first
one they were not insured); a person without one keeps the insurance recorded on their row. Frozen months
keep their counts (snapshots are never rewritten); a fact dated in the past becomes adjustment lines in the
next snapshot, which recounts earlier months day by day. An agreement's counts_for_capitation flag is the
answer for today (rosters, lists).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import ColumnElement, Subquery, and_, case, func, or_, select

from core import audit, clock, crypto, db
from core.auth import Actor
from core.crypto import mask_id_number
from core.schemas import nfkc
from registry import events, imports
from registry.idcard import InvalidIdNumber, parse_id_number
from registry.models import HeldEnrolment, InsuranceFact, InsuranceScheme, Region, Resident
from registry.service import region_and_descendants

CATCH_UP = timedelta(days=7)  # the daily job looks this far back, so a missed run is made good


@dataclass
class EnrolmentReport:
    applied: int = 0
    unchanged: int = 0
    verified: int = 0  # self-registered (or imported) records whose ID number and name the bureau's data confirmed
    unmatched: list[dict] = field(default_factory=list)  # nobody registered holds the ID number: held until one does
    refused: list[dict] = field(default_factory=list)
    not_verified: list[dict] = field(default_factory=list)  # a name that differs from the record's


def fact_on(facts: list[InsuranceFact], day: date) -> InsuranceFact | None:
    """The fact in force on `day`: the latest begun by then and not ended before it."""
    running = [fact for fact in facts if fact.valid_from <= day and (fact.valid_to is None or fact.valid_to >= day)]
    return max(running, key=lambda fact: fact.valid_from, default=None)


@dataclass(frozen=True)
class InsuranceOn:
    """Each resident's insurance on `day`, as SQL to outer-join to residents (`joins`).

    `fact` has a row for each person whose facts decide: those with a fact begun by the day or by today, so a fact
    reported for a later date leaves what was recorded on the resident's row in force until it begins. The row is
    the fact in force on the day (the latest begun by then and not ended before it, as `fact_on`) with `in_force`
    1, or, when none is, another of their facts with `in_force` 0: not insured that day. One scan of the facts.
    """

    day: date
    fact: Subquery

    @property
    def joins(self) -> tuple:
        return ((self.fact, self.fact.c.resident_id == Resident.id),)

    @property
    def by_facts(self) -> ColumnElement[bool]:
        return self.fact.c.resident_id.is_not(None)

    @property
    def scheme(self) -> ColumnElement[InsuranceScheme]:
        """The scheme on the day: the recorded one, else the fact in force, else uninsured."""
        return case((~self.by_facts, Resident.insurance_scheme), (self.fact.c.in_force == 1, self.fact.c.scheme),
                    else_=InsuranceScheme.UNINSURED)

    def scheme_is(self, scheme: InsuranceScheme) -> ColumnElement[bool]:
        """Insured under `scheme` on the day (never NULL: safe to negate)."""
        recorded = and_(~self.by_facts, Resident.insurance_scheme == scheme)
        if scheme is InsuranceScheme.UNINSURED:
            return or_(recorded, and_(self.by_facts, or_(self.fact.c.in_force == 0, self.fact.c.scheme == scheme)))
        return or_(recorded, and_(self.by_facts, self.fact.c.in_force == 1, self.fact.c.scheme == scheme))

    def insured_in(self, region_codes: list[str]) -> ColumnElement[bool]:
        """By the facts: insured on the day, in one of the regions (never NULL)."""
        return and_(self.by_facts, self.fact.c.in_force == 1, self.fact.c.scheme != InsuranceScheme.UNINSURED,
                    self.fact.c.region_code.in_(region_codes))


@functools.lru_cache(maxsize=64)
def insurance_on(day: date, today: date) -> InsuranceOn:
    """The SQL of everyone's insurance on `day` as known `today` (cached: a count's measures and joins share it)."""
    in_force = case((and_(InsuranceFact.valid_from <= day,
                          or_(InsuranceFact.valid_to.is_(None), InsuranceFact.valid_to >= day)), 1), else_=0)
    ranked = select(InsuranceFact.resident_id, InsuranceFact.scheme, InsuranceFact.region_code, in_force.label("in_force"),
                    func.row_number().over(partition_by=InsuranceFact.resident_id,
                                           order_by=(in_force.desc(), InsuranceFact.valid_from.desc())).label("rank")
                    ).where(InsuranceFact.valid_from <= max(day, today)).subquery()
    fact = (select(ranked.c.resident_id, ranked.c.scheme, ranked.c.region_code, ranked.c.in_force)
            .where(ranked.c.rank == 1).subquery("insurance_on"))
    return InsuranceOn(day, fact)


def pool_members(region_codes: list[str] | None = None) -> dict[str, list[str]]:
    """Each pooling region (of `region_codes`, or every one) with the regions it pools: those whose nearest region
    at or above them with a policy profile it is (registry.service.pooling_region, for all regions at once)."""
    rows = db.session.execute(select(Region.code, Region.parent_code, Region.profile_code)).all()
    parent = {code: parent_code for code, parent_code, _ in rows}
    profiled = {code for code, _, profile in rows if profile}

    def pool(code: str | None) -> str | None:
        while code is not None and code not in profiled:
            code = parent.get(code)
        return code

    members: dict[str, list[str]] = defaultdict(list)
    for code in parent:
        if (found := pool(code)) is not None:
            members[found].append(code)
    wanted = None if region_codes is None else {pool(code) for code in region_codes}
    return {code: sorted(codes) for code, codes in sorted(members.items()) if wanted is None or code in wanted}


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
        resident.in_insurance_master = current is not None  # the bureau's facts are the master file, changed or not
        if (resident.insurance_scheme, resident.insurance_region_code) != (scheme, region):
            resident.insurance_scheme, resident.insurance_region_code = scheme, region
            events.insurance_changed.send(None, resident=resident)


def _checked(index: int, item: dict, regions: set[str], today: date, report: EnrolmentReport,
             seen: set[tuple[str, date]]) -> tuple[int, str, dict] | None:
    def refuse(name: str, why: str) -> None:
        report.refused.append({"index": index, "field": name, "why": why})

    try:
        number = parse_id_number(imports.eighteen_digits(item["id_number"].strip().upper()), today=today).value
    except InvalidIdNumber as error:
        return refuse("id_number", str(error))
    if item["region_code"] not in regions:
        return refuse("region_code", "Not a region of your pooling region.")
    if item["valid_to"] is not None and item["valid_to"] < item["valid_from"]:
        return refuse("valid_to", "valid_to is on or after valid_from.")
    if (number, item["valid_from"]) in seen:  # two answers for one day: the same batch again would flip between them
        return refuse("valid_from", "This person's fact from this date is in the batch already.")
    seen.add((number, item["valid_from"]))
    return index, number, item


def _verify(resident: Resident, index: int, name: str | None, actor: Actor, report: EnrolmentReport) -> bool:
    """Verify an unverified record whose name is the one the bureau's enrolment data gives for its ID number (the
    issue's identity tie-in: the insurance master file holds the person; a name alone, or an ID number alone, proves
    nothing, and a name that differs verifies nobody). Whether it did."""
    if name is None or resident.verified:
        return False
    if nfkc(name) != resident.name:
        report.not_verified.append({"index": index, "field": "name",
                                    "why": "The name differs from the record's: the record stays unverified."})
        return False
    _verified_by_the_bureau(resident, actor.subject)
    report.verified += 1
    return True


def _verified_by_the_bureau(resident: Resident, reported_by: str) -> None:
    resident.verified_at, resident.verified_by = clock.now(), f"insurance:{reported_by}"


def report_enrolments(actor: Actor, *, items: list[dict]) -> EnrolmentReport:
    """Record a batch of the bureau's insured-person facts for people of its region (idempotent)."""
    report = EnrolmentReport()
    _apply(actor, list(enumerate(items)), report, set())
    return report


def _apply(actor: Actor, items: list[tuple[int, dict]], report: EnrolmentReport, seen: set[tuple[str, date]]) -> None:
    """Record (index, item) pairs in one transaction; `seen` holds the (ID number, valid_from) pairs of the batch so far."""
    today = clock.today()
    regions = set(region_and_descendants(actor.region_code or "")) & set(
        db.session.scalars(select(Region.code).where(Region.code.in_({item["region_code"] for _, item in items}))))
    checked = [found for index, item in items if (found := _checked(index, item, regions, today, report, seen))]
    hashes = {crypto.lookup_hash(number): number for _, number, _ in checked}
    people = {r.id_number_hash: r for r in db.session.scalars(select(Resident).where(Resident.id_number_hash.in_(hashes)))}
    with db.transaction():
        held = {(fact.resident_id, fact.valid_from): fact for fact in db.session.scalars(
            select(InsuranceFact).where(InsuranceFact.resident_id.in_([p.id for p in people.values()])))}
        touched: dict[int, Resident] = {}
        verified: list[Resident] = []
        unmatched = []
        for index, number, item in checked:
            resident = people.get(crypto.lookup_hash(number))
            if resident is None:
                report.unmatched.append({"index": index, "id_number": mask_id_number(number)})
                unmatched.append(item | {"id_number": number})
                continue
            if _verify(resident, index, item.get("name"), actor, report):
                verified.append(resident)
            key = (resident.id, item["valid_from"])
            if not _reported(held, key, _fact_values(item), actor,
                             InsuranceFact, resident_id=resident.id, valid_from=item["valid_from"]):
                report.unchanged += 1
                continue
            report.applied += 1
            touched[resident.id] = resident
        _hold(actor, unmatched)
        db.session.flush()
        _refresh(list(touched.values()), today)
        for resident in verified:
            events.identity_verified.send(None, resident=resident)
    for resident in verified:
        audit.record("identity.verify", "resident", resident.id, proof="insurance_enrolment")


def _hold(actor: Actor, items: list[dict]) -> None:
    """Hold the facts of people nobody has registered yet (by keyed hashes: neither ID number nor name is kept) until a
    record with that ID number appears (`claim_held`); the same fact again changes nothing, a new answer for the same
    person and day replaces the held one."""
    hashes = {crypto.lookup_hash(item["id_number"]) for item in items}
    held = {(fact.id_number_hash, fact.valid_from): fact for fact in db.session.scalars(
        select(HeldEnrolment).where(HeldEnrolment.id_number_hash.in_(hashes)))} if hashes else {}
    for item in items:
        key = (crypto.lookup_hash(item["id_number"]), item["valid_from"])
        values = _fact_values(item)
        if item.get("name"):
            values["name_hash"] = crypto.lookup_hash(nfkc(item["name"]))
        _reported(held, key, values, actor, HeldEnrolment, id_number_hash=key[0], valid_from=key[1])


def _fact_values(item: dict) -> dict:
    return dict(scheme=item["scheme"], region_code=item["region_code"], valid_to=item["valid_to"])


def _reported(held: dict, key: tuple, values: dict, actor: Actor, model: type[InsuranceFact | HeldEnrolment],
              **identity) -> bool:
    """Write what the bureau reported onto the fact held under `key` (a new `model(**identity)` when there is none),
    as reported by `actor` now; False when the fact already says so (the same batch again changes nothing)."""
    fact = held.get(key)
    if fact is not None and all(getattr(fact, name) == value for name, value in values.items()):
        return False
    if fact is None:
        fact = held[key] = model(**identity)
        db.session.add(fact)
    for name, value in values.items():
        setattr(fact, name, value)
    fact.reported_by, fact.reported_at = actor.subject, clock.now()
    return True


def claim_held(_sender=None, *, resident_ids: list[int]) -> None:
    """The bureau's facts held for these residents' ID numbers become theirs, in the transaction that gave them the
    number (receiver of events.id_number_registered): their insurance follows from each fact's date as a pushed fact's
    would, and a name the bureau gave that matches the record's verifies an unverified record, as a push does."""
    matches = db.session.execute(select(HeldEnrolment, Resident).join(
        Resident, Resident.id_number_hash == HeldEnrolment.id_number_hash).where(
        imports.among(Resident.id, resident_ids))).all()
    if not matches:
        return
    for held, resident in matches:
        db.session.add(InsuranceFact(resident_id=resident.id, scheme=held.scheme, region_code=held.region_code,
                                     valid_from=held.valid_from, valid_to=held.valid_to, reported_by=held.reported_by,
                                     reported_at=held.reported_at))
        if (held.name_hash is not None and not resident.verified
                and held.name_hash == crypto.lookup_hash(nfkc(resident.name))):
            _verified_by_the_bureau(resident, held.reported_by)
            events.identity_verified.send(None, resident=resident)
            audit.record_with_the_write("identity.verify", "resident", resident.id, proof="insurance_enrolment")
        db.session.delete(held)
    db.session.flush()
    _refresh(list({resident.id: resident for _, resident in matches}.values()), clock.today())


def subscribe() -> None:
    events.id_number_registered.connect(claim_held)


def apply_due(today: date) -> int:
    """Bring residents whose facts began or ended lately to the fact in force today; how many were looked at."""
    ids = set(db.session.scalars(select(InsuranceFact.resident_id).where(or_(
        InsuranceFact.valid_from.between(today - CATCH_UP, today),
        InsuranceFact.valid_to.between(today - CATCH_UP - timedelta(days=1), today - timedelta(days=1))))))
    with db.transaction():
        _refresh(list(db.session.scalars(select(Resident).where(Resident.id.in_(ids)))), today)
    return len(ids)


# The bureau's file of insured-person facts (CSV in UTF-8 or GBK/GB18030, or XLSX, read as the registry's imports
# read a county export): the same facts as a pushed batch, one a row.
FILE_HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名"),
    "id_number": ("id_number", "身份证号", "身份证号码", "公民身份号码", "证件号码"),
    "scheme": ("scheme", "险种类型", "参保类型", "险种"),
    "region_code": ("region_code", "参保地", "参保地编码", "统筹区编码", "参保区划"),
    "valid_from": ("valid_from", "开始日期", "参保开始日期", "生效日期", "有效期起"),
    "valid_to": ("valid_to", "终止日期", "参保终止日期", "失效日期", "有效期止"),
}
# Read through imports.open_source only: not a kind of centre import (never registered in imports.KINDS).
FILE_KIND = imports.Kind("enrolments", FILE_HEADERS, ("id_number", "scheme", "region_code", "valid_from"),
                         prepare=lambda centre: None, write_batch=lambda *args: None)
FILE_CHUNK = 1000  # rows of the bureau's file recorded a transaction (as many as a pushed batch may hold)
INSURED = {name: scheme for name, scheme in imports.SCHEMES.items() if scheme is not InsuranceScheme.UNINSURED}


def _file_item(values: dict, today: date, problems: list) -> dict | None:
    """A row of the bureau's file as a pushed item (the API's shape), or the problems (column, why) that refuse it."""
    parsed = imports.id_number_of(values, today, problems)
    scheme = INSURED.get(imports.cell_text(values.get("scheme")).lower())
    if scheme is None:
        problems.append(("scheme", "Not a scheme: 城乡居民 or 职工."))
    region_code = imports.cell_text(values.get("region_code"))
    if not (region_code.isascii() and region_code.isdigit() and len(region_code) == 6):
        problems.append(("region_code", "An insurance region is a 6-digit GB/T 2260 code."))
    dates = {}
    for column in ("valid_from", "valid_to"):
        try:
            dates[column] = imports.cell_date(values[column]) if imports.cell_text(values.get(column)) else None
        except ValueError:
            problems.append((column, "A date is written YYYY-MM-DD."))
    if "valid_from" in dates and dates["valid_from"] is None:
        problems.append(("valid_from", "The day insurance begins is needed."))
    elif dates.get("valid_from") and dates.get("valid_to") and dates["valid_to"] < dates["valid_from"]:
        problems.append(("valid_to", "valid_to is on or after valid_from."))  # with the row's other problems
    if problems:
        return None
    return dict(id_number=parsed.value, scheme=scheme, region_code=region_code, name=imports.cell_text(values.get("name"))
                or None, **dates)


def report_enrolment_file(actor: Actor, *, content: bytes, filename: str) -> EnrolmentReport:
    """Record the bureau's file of insured-person facts as one batch; the report's `index` is the row in the file,
    its `field` the file's column header (a file without a required column is a 422 naming it)."""
    source = imports.open_source(content, filename, FILE_KIND)
    today, problems, items, rows = clock.today(), [], [], []
    for number, values in source.rows():
        found: list[tuple[str, str]] = []
        item = _file_item(values, today, found)
        problems += [{"index": number, "field": column, "why": why} for column, why in found]
        if item is not None:
            items.append(item)
            rows.append(number)
    report, seen = EnrolmentReport(), set()
    for start in range(0, len(items), FILE_CHUNK):  # a statement takes at most 65,535 parameters (PostgreSQL)
        _apply(actor, list(zip(rows[start:start + FILE_CHUNK], items[start:start + FILE_CHUNK], strict=True)),
               report, seen)
    report.refused = sorted([*problems, *report.refused], key=lambda entry: entry["index"])
    for entry in (*report.refused, *report.not_verified):
        entry["field"] = source.headers.get(entry["field"], entry["field"])
    return report
