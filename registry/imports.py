"""Bulk import of residents and households from a county system's export (CSV or XLSX).

What such exports look like: UTF-8 with or without a BOM, or GBK/GB18030; Chinese column headers
(姓名, 身份证号, 性别, 出生日期, 联系电话, 户号, 参保类型, 参保地, 村卫生室) or English ones; old 15-digit
ID numbers beside 18-digit ones; many more columns than we need (ignored). Chronic conditions
(慢病, with 确诊日期) are recorded too, so follow-up programmes start as they do for one recorded by hand.

Each row is checked with the API's rules (registry.idcard, the schemas' name and phone rules); a bad
row is refused whole and reported (row, column, why) — never half-written. A resident already
registered (same ID-number lookup hash, same name) is left as they are, so running the same file
again changes nothing; the same household number (户号) is the same household.

Speed (a county holds 1M people): rows go in batches; per batch one SELECT of the hashes already
there, one of the households, and one multi-row INSERT each for households, residents and problems.
A large file runs in a background thread; its `imports` row tells progress (rows done / total).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterator

from flask import Flask, current_app
from sqlalchemy import insert, select, update

from core import audit, clock, crypto, db
from core.auth import Actor
from core.errors import Invalid, NotFound
from core.observability import carry_request_id, current_request_id
from core.schemas import nfkc
from registry import events
from registry.admin import administered_centre
from registry.idcard import InvalidIdNumber, check_character, parse_id_number
from registry.models import (
    Centre,
    Condition,
    ConditionKind,
    Household,
    Import,
    ImportProblem,
    ImportStatus,
    InsuranceScheme,
    Region,
    Resident,
    Sex,
    Window,
)

log = logging.getLogger(__name__)
BATCH = 1000
BACKGROUND_ROWS = 2000  # larger files run in a background thread; smaller ones before the response

# Canonical column -> the headers county systems use for it (compared without spaces, case-insensitively).
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名"),
    "id_number": ("id_number", "身份证号", "身份证号码", "公民身份号码", "证件号码"),
    "sex": ("sex", "性别"),
    "birth_date": ("birth_date", "出生日期"),
    "phone": ("phone", "联系电话", "手机号码", "手机号", "电话"),
    "household": ("household", "户号", "家庭编号"),
    "insurance_scheme": ("insurance_scheme", "参保类型", "险种类型"),
    "insurance_region": ("insurance_region", "insurance_region_code", "参保地", "参保地编码"),
    "window": ("window", "村卫生室", "村卫生室编码"),
    "conditions": ("conditions", "慢病", "疾病", "慢病类型"),
    "diagnosed_on": ("diagnosed_on", "确诊日期"),
}
# What county systems call the conditions that start follow-up programmes (POLICY.md signing rule 8).
CONDITIONS = {"高血压": ConditionKind.HYPERTENSION, "糖尿病": ConditionKind.DIABETES, "2型糖尿病": ConditionKind.DIABETES,
              "慢阻肺": ConditionKind.COPD, "慢性阻塞性肺疾病": ConditionKind.COPD, "结核病": ConditionKind.TB,
              "肺结核": ConditionKind.TB, "严重精神障碍": ConditionKind.SEVERE_MENTAL, "肿瘤": ConditionKind.TUMOUR,
              "脑卒中": ConditionKind.STROKE, **{kind.value: kind for kind in ConditionKind}}
_LIST = re.compile(r"[;；,，、/\s]+")
REQUIRED = ("name", "id_number")
SEXES = {"男": Sex.MALE, "女": Sex.FEMALE, "m": Sex.MALE, "f": Sex.FEMALE, "male": Sex.MALE, "female": Sex.FEMALE,
         "1": Sex.MALE, "2": Sex.FEMALE}  # GB/T 2261.1: 1 male, 2 female
SCHEMES = {"城乡居民": InsuranceScheme.RESIDENT, "居民医保": InsuranceScheme.RESIDENT, "城乡居民医保": InsuranceScheme.RESIDENT,
           "居民": InsuranceScheme.RESIDENT, "职工": InsuranceScheme.EMPLOYEE, "职工医保": InsuranceScheme.EMPLOYEE,
           "城镇职工": InsuranceScheme.EMPLOYEE, "未参保": InsuranceScheme.UNINSURED, "无": InsuranceScheme.UNINSURED,
           **{scheme.value: scheme for scheme in InsuranceScheme}}
_PHONE = re.compile(r"^1[0-9]{10}$")
_DATE = re.compile(r"^([0-9]{4})[-/.年]?([0-9]{1,2})[-/.月]?([0-9]{1,2})日?$")


def eighteen_digits(raw: str) -> str:
    """An old 15-digit ID number (GB 11643-1989) as today's 18: '19' before the 2-digit year, MOD 11-2 check added."""
    if len(raw) == 15 and raw.isdigit():
        first17 = f"{raw[:6]}19{raw[6:]}"
        return first17 + check_character(first17)
    return raw


def decode(content: bytes) -> str:
    """UTF-8 (a BOM is dropped), else GB18030, which reads GBK and GB2312 too."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("gb18030")


def _header_key(text: object) -> str:
    return re.sub(r"\s+", "", str(text or "")).lstrip("\ufeff").lower()


_ALIASES = {_header_key(alias): column for column, aliases in HEADERS.items() for alias in aliases}


@dataclass
class Source:
    """A file's rows as (row number in the file, values by canonical column), and how they were headed."""

    headers: dict[str, str]  # canonical column -> the header the file used
    positions: dict[str, int]
    total: int
    _rows: Callable[[], Iterator[tuple[int, list]]]

    def rows(self) -> Iterator[tuple[int, dict[str, object]]]:
        for number, cells in self._rows():
            values = {column: cells[index] if index < len(cells) else None for column, index in self.positions.items()}
            if any(value not in (None, "") for value in values.values()):
                yield number, values


def open_source(content: bytes, filename: str) -> Source:
    """Read a CSV or XLSX export's header and count its rows; a missing required column is a 422 naming it."""
    if filename.lower().endswith(".xlsx"):
        import openpyxl

        try:
            sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
            header = next(sheet.iter_rows(max_row=1, values_only=True), ())
        except Exception:  # noqa: BLE001 - any unreadable workbook is the same refusal
            raise Invalid("Not an XLSX workbook that can be read.", field="file") from None

        def rows():
            for number, cells in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=2):
                yield number, list(cells)

        total = max((sheet.max_row or 1) - 1, 0)
    elif filename.lower().endswith((".csv", ".txt")):
        text = decode(content)
        header = next(csv.reader(io.StringIO(text)), [])

        def rows():
            reader = csv.reader(io.StringIO(text))
            next(reader, None)
            for number, cells in enumerate(reader, start=2):
                yield number, [cell.strip() for cell in cells]

        total = sum(1 for _ in rows())
    else:
        raise Invalid("Import a CSV or XLSX file.", field="file")
    positions, headers = {}, {}
    for index, title in enumerate(header):
        column = _ALIASES.get(_header_key(title))
        if column and column not in positions:
            positions[column], headers[column] = index, str(title).strip().lstrip("\ufeff")
    missing = [column for column in REQUIRED if column not in positions]
    if missing:
        names = " / ".join(HEADERS[missing[0]][:2])
        raise Invalid(f"The file has no {names} column.", field="file", missing=missing)
    return Source(headers=headers, positions=positions, total=total, _rows=rows)


# Rows ----------------------------------------------------------------------------------------------

@dataclass
class Place:
    """What rows are checked against, fetched once per import."""

    centre: Centre
    today: date
    region_codes: set[str]
    region_names: dict[str, str | None]  # name -> code; None when two regions share the name
    windows: dict[str, int]  # code or name -> id, of the importing centre's village clinics


def _place(centre: Centre) -> Place:
    names: dict[str, str | None] = {}
    codes = set()
    for code, name in db.session.execute(select(Region.code, Region.name)):
        codes.add(code)
        names[name] = None if name in names else code
    windows = {}
    for window in db.session.scalars(select(Window).where(Window.centre_id == centre.id)):
        windows[window.code] = windows[window.name] = window.id
    return Place(centre, clock.today(), codes, names, windows)


def _text(value: object) -> str:
    """A cell as text, NFKC-normalised: full-width digits typed in Excel become ASCII, like the API's."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return nfkc(str(value)).strip()


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.match(_text(value))
    if not match:
        raise ValueError
    return date(int(match[1]), int(match[2]), int(match[3]))


def check_row(values: dict[str, object], place: Place) -> tuple[dict | None, list[tuple[str, str]]]:
    """A row's resident fields, or the problems (column, why) that refuse it — the API's rules."""
    problems: list[tuple[str, str]] = []
    name = _text(values.get("name"))
    if not 1 <= len(name) <= 80:
        problems.append(("name", "A name has 1 to 80 characters."))
    parsed = None
    raw_id = values.get("id_number")
    if isinstance(raw_id, (int, float)):
        problems.append(("id_number", "Stored as a number, which loses digits: format the column as text."))
    else:
        try:
            parsed = parse_id_number(eighteen_digits(_text(raw_id).upper()), today=place.today)
        except InvalidIdNumber as error:
            problems.append(("id_number", str(error)))
    fields: dict = {}
    sex = _text(values.get("sex")).lower()
    if sex:
        if sex not in SEXES:
            problems.append(("sex", "Sex is 男 or 女 (M or F)."))
        elif parsed and SEXES[sex] is not parsed.sex:
            problems.append(("sex", "Does not match the ID number."))
    if _text(values.get("birth_date")):
        try:
            if parsed and _date(values["birth_date"]) != parsed.birth_date:
                problems.append(("birth_date", "Does not match the ID number."))
        except ValueError:
            problems.append(("birth_date", "A date is written YYYY-MM-DD."))
    phone = re.sub(r"[\s-]", "", _text(values.get("phone")))
    if phone and not _PHONE.match(phone):
        problems.append(("phone", "A mainland mobile number has 11 digits and starts with 1."))
    scheme = _text(values.get("insurance_scheme"))
    if scheme and scheme.lower() not in SCHEMES:
        problems.append(("insurance_scheme", "Not a scheme: 城乡居民, 职工 or 未参保."))
    region = _text(values.get("insurance_region"))
    region_code = region if region in place.region_codes else place.region_names.get(region)
    if region and region_code is None:
        problems.append(("insurance_region", "Not a known region (a GB/T 2260 code or its exact name)."))
    window = _text(values.get("window"))
    if window and window not in place.windows:
        problems.append(("window", "Not a village clinic of this centre."))
    household = _text(values.get("household"))
    if len(household) > 40:
        problems.append(("household", "A household number has at most 40 characters."))
    conditions, diagnosed_on = _conditions(values, parsed, place.today, problems)
    if problems:
        return None, problems
    fields.update(
        name=name, id_number=parsed.value, id_number_hash=crypto.lookup_hash(parsed.value), birth_date=parsed.birth_date,
        sex=parsed.sex, phone=phone or None, phone_hash=crypto.lookup_hash(phone) if phone else None,
        insurance_scheme=SCHEMES[scheme.lower()] if scheme else (InsuranceScheme.RESIDENT if region_code else InsuranceScheme.UNINSURED),
        insurance_region_code=region_code, home_window_id=place.windows.get(window),
        registered_by_centre_id=place.centre.id,
        household_ref=f"{place.centre.region_code}:{household}" if household else None,
        conditions=conditions, diagnosed_on=diagnosed_on,
    )
    return fields, []


def _conditions(values: dict, parsed, today: date, problems: list) -> tuple[list[ConditionKind], date | None]:
    """The chronic conditions a row lists, with the diagnosis date they need (as recording one by hand does)."""
    names = [name for name in _LIST.split(_text(values.get("conditions"))) if name]
    kinds = [CONDITIONS.get(name.lower()) for name in names]
    if None in kinds:
        problems.append(("conditions", f"Not a condition: {names[kinds.index(None)]} (高血压, 糖尿病, 慢阻肺, 肺结核, "
                                       "严重精神障碍, 肿瘤, 脑卒中)."))
        return [], None
    if not kinds:
        return [], None
    try:
        diagnosed_on = _date(values.get("diagnosed_on")) if _text(values.get("diagnosed_on")) else None
    except ValueError:
        diagnosed_on = None
    if diagnosed_on is None:
        problems.append(("diagnosed_on", "A condition needs its diagnosis date, written YYYY-MM-DD."))
    elif parsed and not parsed.birth_date <= diagnosed_on <= today:
        problems.append(("diagnosed_on", "The diagnosis date lies between birth and today."))
    return list(dict.fromkeys(kinds)), diagnosed_on


# Batches -------------------------------------------------------------------------------------------

@dataclass
class Tally:
    created: int = 0
    unchanged: int = 0
    refused: int = 0


def _households(refs: list[str | None]) -> list[int]:
    """A household id per ref: the existing one for a known 户号, a new household otherwise (one per None)."""
    known = set(ref for ref in refs if ref)
    found = dict(db.session.execute(select(Household.external_ref, Household.id).where(Household.external_ref.in_(known))).all()) \
        if known else {}
    new_refs = [ref for ref in dict.fromkeys(ref for ref in refs if ref) if ref not in found]
    now = clock.now()
    if new_refs:
        made = db.session.execute(insert(Household).returning(Household.id, Household.external_ref, sort_by_parameter_order=True),
                                  [{"external_ref": ref, "created_at": now} for ref in new_refs])
        found.update({ref: household_id for household_id, ref in made})
    loose = [ref for ref in refs if not ref]
    singles = iter(db.session.scalars(insert(Household).returning(Household.id, sort_by_parameter_order=True),
                                      [{"created_at": now} for _ in loose]).all()) if loose else iter(())
    return [found[ref] if ref else next(singles) for ref in refs]


def write_batch(job: Import, batch: list[tuple[int, dict]], place: Place, source: Source, tally: Tally) -> None:
    """Check and write one batch in one transaction: new residents and households, problems, progress."""
    problems, fresh = [], []
    for number, values in batch:
        fields, refused = check_row(values, place)
        if refused:
            problems += [dict(import_id=job.id, row=number, column=source.headers.get(column, column), why=why)
                         for column, why in refused]
            tally.refused += 1
        else:
            fresh.append((number, fields))
    diagnoses = {fields["id_number_hash"]: (fields.pop("conditions"), fields.pop("diagnosed_on")) for _, fields in fresh}
    known = dict(db.session.execute(select(Resident.id_number_hash, Resident.name).where(
        Resident.id_number_hash.in_([fields["id_number_hash"] for _, fields in fresh]))).all()) if fresh else {}
    rows = []
    for number, fields in fresh:
        held = known.get(fields["id_number_hash"])
        if held is None:
            known[fields["id_number_hash"]] = fields["name"]
            rows.append(fields)
        elif held == fields["name"]:
            tally.unchanged += 1
        else:
            problems.append(dict(import_id=job.id, row=number, column=source.headers["name"],
                                 why="The name does not match the record held for this ID number."))
            tally.refused += 1
            diagnoses.pop(fields["id_number_hash"])
    if rows:
        now = clock.now()
        household_ids = _households([row.pop("household_ref") for row in rows])
        # The table's INSERT, not the ORM's bulk path: one executemany of plain parameter rows.
        db.session.execute(Resident.__table__.insert(), [dict(row, household_id=household_id, created_at=now, updated_at=now)
                                                         for row, household_id in zip(rows, household_ids, strict=True)])
        tally.created += len(rows)
    _record_conditions({key: value for key, value in diagnoses.items() if value[0]}, job.started_by, place.today)
    if problems:
        db.session.execute(ImportProblem.__table__.insert(), problems)
    job.rows_done += len(batch)
    job.created, job.unchanged, job.refused = tally.created, tally.unchanged, tally.refused


def _record_conditions(diagnoses: dict[str, tuple[list[ConditionKind], date]], recorded_by: str, today: date) -> None:
    """Record the conditions the rows list that the residents do not have yet; their plans follow (registry.events)."""
    if not diagnoses:
        return
    ids = dict(db.session.execute(select(Resident.id_number_hash, Resident.id).where(Resident.id_number_hash.in_(diagnoses))).all())
    held = set(db.session.execute(select(Condition.resident_id, Condition.kind).where(Condition.resident_id.in_(ids.values()))).all())
    rows = [dict(resident_id=ids[key], kind=kind, diagnosed_on=diagnosed_on, recorded_on=today, recorded_by=recorded_by)
            for key, (kinds, diagnosed_on) in diagnoses.items() for kind in kinds if (ids[key], kind) not in held]
    if rows:
        db.session.execute(Condition.__table__.insert(), rows)
        events.health_facts_changed.send(None, resident_ids=sorted({row["resident_id"] for row in rows}))


def run(job_id: int, source: Source, *, progress: Callable[[int], None] | None = None) -> Import:
    """Import every row of `source` for the job, batch by batch (each its own transaction), to the end."""
    job = db.session.get(Import, job_id)
    place = _place(db.session.get(Centre, job.centre_id))
    with db.transaction():
        job.status = ImportStatus.RUNNING
    tally, batch = Tally(), []
    try:
        for row in source.rows():
            batch.append(row)
            if len(batch) == BATCH:
                _commit_batch(job, batch, place, source, tally, progress)
                batch = []
        if batch:
            _commit_batch(job, batch, place, source, tally, progress)
        with db.transaction():
            job.status, job.finished_at = ImportStatus.DONE, clock.now()
    except Exception as error:
        db.session.rollback()
        log.exception("import %s failed", job_id)
        with db.transaction():
            db.session.execute(update(Import).where(Import.id == job_id).values(
                status=ImportStatus.FAILED, finished_at=clock.now(), failure=type(error).__name__))
        db.session.refresh(job)
    return job


def _commit_batch(job, batch, place, source, tally, progress) -> None:
    with db.transaction():
        write_batch(job, batch, place, source, tally)
    if progress:
        progress(len(batch))


def begin(actor: Actor | None, *, centre_id: int, filename: str, source: Source, started_by: str) -> Import:
    """Record an import of `source` for a centre (status queued). `actor` None is the server's operator (CLI);
    otherwise the centre must be one the actor administers."""
    if actor is not None:
        administered_centre(actor, centre_id)
    elif db.session.get(Centre, centre_id) is None:
        raise Invalid("No such centre.", field="centre_id")
    job = Import(centre_id=centre_id, filename=filename[:200], total_rows=source.total, started_by=started_by)
    with db.transaction():
        db.session.add(job)
    audit.record("import.start", "import", job.id, centre_id=centre_id, rows=source.total)
    return job


def start(actor: Actor, *, centre_id: int, filename: str, content: bytes, started_by: str) -> Import:
    """Check the file's header and import it for a centre; a large file continues in a background thread."""
    if actor is not None:
        administered_centre(actor, centre_id)
    source = open_source(content, filename)
    job = begin(actor, centre_id=centre_id, filename=filename, source=source, started_by=started_by)
    if source.total > BACKGROUND_ROWS:
        app = current_app._get_current_object()
        threading.Thread(target=_in_background, args=(app, job.id, content, filename, current_request_id()),
                         daemon=True, name=f"import-{job.id}").start()
        return job
    return run(job.id, source)


def _in_background(app: Flask, job_id: int, content: bytes, filename: str, request_id: str | None) -> None:
    with app.app_context(), carry_request_id(request_id):  # its log lines name the request that started it
        try:
            run(job_id, open_source(content, filename))
        finally:
            db.session.remove()


def get_import(actor: Actor, import_id: int) -> Import:
    job = db.session.get(Import, import_id, populate_existing=True)  # progress moves under a background thread
    if job is None:
        raise NotFound("No such import.")
    administered_centre(actor, job.centre_id)
    return job


REPORT_HEADER = ("行号 row", "列 column", "原因 why")


def report_csv(job: Import) -> Iterator[str]:
    """The refused rows as CSV (with a BOM, so spreadsheet programs read the Chinese): row, column, why."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(REPORT_HEADER)
    for problem in db.session.scalars(select(ImportProblem).where(ImportProblem.import_id == job.id)
                                      .order_by(ImportProblem.row, ImportProblem.id)).yield_per(1000):
        writer.writerow((problem.row, problem.column, problem.why))
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
