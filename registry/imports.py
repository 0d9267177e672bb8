"""Bulk import of residents and households from a county system's export (CSV or XLSX).

What such exports look like: UTF-8 with or without a BOM, or GBK/GB18030; Chinese column headers
(姓名, 身份证号, 性别, 出生日期, 联系电话, 户号, 参保类型, 参保地, 村卫生室, 健康档案编号) or English ones; old 15-digit
ID numbers beside 18-digit ones; many more columns than we need (ignored). Chronic conditions
(慢病, with 确诊日期) are recorded too, so follow-up programmes start as they do for one recorded by hand.

Each row is checked with the API's rules (registry.idcard, the schemas' name and phone rules); a bad
row is refused whole and reported (row, column, why) — never half-written. A resident already
registered (same ID-number lookup hash, same name) is left as they are, so running the same file
again changes nothing; the same household number (户号) is the same household.

Speed (a county holds 1M people): rows go in batches of 5,000, each its own transaction; per batch one SELECT of
the hashes already there and one of the households (`= ANY(array)` on PostgreSQL), and the rows go in by one COPY
per table on PostgreSQL (households and residents with ids drawn from their sequences, so a new resident's
conditions need no lookup; values through their column types, so encrypted as the ORM would), one INSERT
elsewhere. A large file runs in a background thread; its `imports` row tells progress (rows done / total).
`make bench` compares it with a bare COPY of the same file, and measures the floor no import can go under
(encryption and hashes, the rows' COPY into tables with their indexes and foreign keys).

Pregnancies (末次月经 or 预产期) and recorded key-population tags (重点人群) come in the resident file too, checked
as the API checks them. Other kinds of file (a county's existing agreements: signing.imports) plug in through
`KINDS`: a domain to the right registers its kind at app wiring, so this module never imports it.
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Iterator

from flask import Flask, current_app
from sqlalchemy import any_, bindparam, delete, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from core import audit, clock, crypto, db
from core.auth import Actor
from core.errors import Invalid, NotFound
from core.exports import CsvWriter
from core.observability import carry_request_id, current_request_id
from core.schemas import INVISIBLE_NAME, nfkc, visible
from registry import events
from registry.admin import administered_centre
from registry.health import GESTATION, LONGEST_PREGNANCY
from registry.idcard import IdNumber, InvalidIdNumber, check_character, parse_id_number
from registry.models import (
    Centre,
    Condition,
    ConditionKind,
    Household,
    Import,
    ImportFile,
    ImportProblem,
    ImportStatus,
    InsuranceScheme,
    PopulationTag,
    Pregnancy,
    RecordedTag,
    Region,
    Resident,
    Sex,
    Window,
)

log = logging.getLogger(__name__)
BATCH = 5000  # rows a transaction; each batch costs a dozen statements and a care-plan pass, whatever its size
BACKGROUND_ROWS = 2000  # larger files run in a background thread; smaller ones before the response
# How long a runner holds an import without committing a batch (a batch takes well under a second) before the
# scheduler may resume it elsewhere.
LEASE = timedelta(minutes=2)
SEALED_FILE = "import_files.content"
FILE_NOT_KEPT = "Interrupted, and its file was not kept: import the file again (rows already in are left as they are)."

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
    "last_menstrual_period": ("last_menstrual_period", "末次月经", "末次月经日期"),
    "expected_delivery": ("expected_delivery", "预产期"),
    "tags": ("tags", "key_populations", "重点人群", "人群分类", "特殊人群"),
    # A resident with an electronic health record (居民健康档案) has its number in the export: effective signing needs one.
    "health_record": ("health_record", "健康档案编号", "健康档案号", "居民健康档案编号", "档案编号"),
}
# What county systems call the conditions that start follow-up programmes (POLICY.md signing rule 8).
CONDITIONS = {"高血压": ConditionKind.HYPERTENSION, "糖尿病": ConditionKind.DIABETES, "2型糖尿病": ConditionKind.DIABETES,
              "慢阻肺": ConditionKind.COPD, "慢性阻塞性肺疾病": ConditionKind.COPD, "结核病": ConditionKind.TB,
              "肺结核": ConditionKind.TB, "严重精神障碍": ConditionKind.SEVERE_MENTAL, "肿瘤": ConditionKind.TUMOUR,
              "脑卒中": ConditionKind.STROKE, **{kind.value: kind for kind in ConditionKind}}
# Key populations that are recorded (POLICY.md signing rule 8), as exports name them.
TAGS = {"残疾人": RecordedTag.DISABLED, "残疾": RecordedTag.DISABLED, "脱贫人口": RecordedTag.POVERTY_ALLEVIATED,
        "脱贫户": RecordedTag.POVERTY_ALLEVIATED, "建档立卡贫困人口": RecordedTag.POVERTY_ALLEVIATED,
        "计划生育特殊家庭": RecordedTag.SPECIAL_FAMILY_PLANNING, "计生特殊家庭": RecordedTag.SPECIAL_FAMILY_PLANNING,
        **{tag.value: tag for tag in RecordedTag}}
# Key populations exports list that the record itself gives (age, conditions, pregnancy): read, not recorded.
DERIVED_TAGS = {"老年人", "65岁以上老年人", "80岁以上老年人", "儿童", "0-6岁儿童", "0~6岁儿童", "孕产妇", "高血压", "糖尿病",
                "慢病患者", "高血压患者", "2型糖尿病患者", "严重精神障碍患者", "肺结核患者", "普通人群", "一般人群"}
_LIST = re.compile(r"[;；,，、/\s]+")
REQUIRED = ("name", "id_number")
SEXES = {"男": Sex.MALE, "女": Sex.FEMALE, "m": Sex.MALE, "f": Sex.FEMALE, "male": Sex.MALE, "female": Sex.FEMALE,
         "1": Sex.MALE, "2": Sex.FEMALE}  # GB/T 2261.1: 1 male, 2 female
SCHEMES = {"城乡居民": InsuranceScheme.RESIDENT, "居民医保": InsuranceScheme.RESIDENT, "城乡居民医保": InsuranceScheme.RESIDENT,
           "居民": InsuranceScheme.RESIDENT, "职工": InsuranceScheme.EMPLOYEE, "职工医保": InsuranceScheme.EMPLOYEE,
           "城镇职工": InsuranceScheme.EMPLOYEE, "未参保": InsuranceScheme.UNINSURED, "无": InsuranceScheme.UNINSURED,
           **{scheme.value: scheme for scheme in InsuranceScheme}}
# ="…" or a leading apostrophe: how exports keep Excel from turning a long number into 4.30523E+17.
_TEXT_GUARD = re.compile(r"""^(?:="(.*)"|'(.*))$""")
_PHONE = re.compile(r"^1[0-9]{10}$")
_PHONE_SEPARATORS = re.compile(r"[\s-]")
# A date, as exports write it; a time of day after it (签约时间, a database's datetime) is passed over.
_DATE = re.compile(r"^([0-9]{4})[-/.年]?([0-9]{1,2})[-/.月]?([0-9]{1,2})日?(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?$")


def eighteen_digits(raw: str) -> str:
    """An old 15-digit ID number (GB 11643-1989) as today's 18: '19' before the 2-digit year, MOD 11-2 check added."""
    if len(raw) == 15 and raw.isdigit():
        first17 = f"{raw[:6]}19{raw[6:]}"
        return first17 + check_character(first17)
    return raw


def decode(content: bytes) -> str:
    """UTF-8 (a BOM is dropped), else GB18030, which reads GBK and GB2312 too; anything else is a 422."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("gb18030")
    except UnicodeDecodeError:
        raise Invalid("Not a text file in UTF-8 or GBK/GB18030: save it from the spreadsheet as CSV or XLSX.",
                      field="file", location="files") from None


def _records(text: str) -> int:
    """How many records csv.reader reads from `text` (blank lines too; a line ends in CRLF, LF or a lone CR, as old
    Mac exports write). Without a quote no cell can hold a line break, so the records are the lines, counted without
    parsing: parsing a 1M-row file to count it took seconds."""
    if '"' in text:
        return sum(1 for _ in csv.reader(io.StringIO(text, newline="")))
    ends = text.count("\n") + text.count("\r") - text.count("\r\n")
    return ends + (0 if not text or text.endswith(("\n", "\r")) else 1)


def _header_key(text: object) -> str:
    return re.sub(r"\s+", "", str(text or "")).lstrip("\ufeff").lower()


@dataclass(frozen=True)
class Kind:
    """A kind of file the import machinery takes: its columns, and how a batch of its rows is checked and written.

    `prepare(centre)` fetches what rows are checked against, once per import; `write_batch(job, batch, prepared,
    source, tally)` checks and writes one batch inside the batch's transaction, refusing a bad row whole (problems
    go to `import_problems`); `check_centre(centre)` may refuse the centre before anything is written (a 422).
    """

    name: str
    headers: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    prepare: Callable[[Centre], object]
    write_batch: Callable[..., None]
    check_centre: Callable[[Centre], None] = lambda centre: None

    @property
    def aliases(self) -> dict[str, str]:
        return {_header_key(alias): column for column, aliases in self.headers.items() for alias in aliases}


# The kinds of file there are, by name. Residents are registered below; a domain to the right (signing's agreements)
# registers its own at app wiring (app._connect_events), so the registry never imports it.
KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    KINDS[kind.name] = kind


def kind_named(name: str) -> Kind:
    if name not in KINDS:
        raise Invalid(f"Not a kind of import: {name!r} (one of {', '.join(sorted(KINDS))}).", field="kind",
                      location="form")
    return KINDS[name]


@dataclass
class Source:
    """A file's rows as (row number in the file, values by canonical column), and how they were headed."""

    headers: dict[str, str]  # canonical column -> the header the file used
    positions: dict[str, int]
    total: int
    _rows: Callable[[], Iterator[tuple[int, list]]]
    content: bytes  # the file as it came, kept (sealed) while the import runs
    skipped: int = 0  # blank rows passed over so far (they count as done: a finished import has done its total)

    def rows(self, done: int = 0) -> Iterator[tuple[int, dict[str, object]]]:
        """The rows after the header and the first `done` (blank ones among them: rows_done counts every row)."""
        columns, indexes = list(self.positions), list(self.positions.values())
        width = max(indexes) + 1
        for number, cells in itertools.islice(self._rows(), done, None):
            if len(cells) < width:
                cells = [*cells, *[None] * (width - len(cells))]
            values = dict(zip(columns, [cells[index] for index in indexes], strict=True))
            if any(value not in (None, "") for value in values.values()):
                yield number, values
            else:
                self.skipped += 1

    def take_skipped(self) -> int:
        """The blank rows passed over since the last call."""
        skipped, self.skipped = self.skipped, 0
        return skipped


HEADER_SEARCH = 5  # the rows a title (and blank lines) may take above the header, as county exports put them


def open_source(content: bytes, filename: str, kind: Kind | str = "residents") -> Source:
    """Read a CSV or XLSX export's header and count its rows; a missing required column is a 422 naming it.

    The header is the first of the file's first rows that has every required column (a title row above it is passed
    over); rows keep their numbers in the file."""
    kind = kind_named(kind) if isinstance(kind, str) else kind
    first, lines, rows_after = _read(content, filename)
    if not any(str(cell or "").strip() for cells in first for cell in cells):
        raise Invalid("The file is empty: its first row is the header (姓名, 身份证号 …).", field="file", location="files")
    found = [_columns(kind, cells) for cells in first]
    at = max(range(len(found)), key=lambda i: (not _missing(kind, found[i][0]), len(found[i][0])))
    positions, headers = found[at]
    missing = _missing(kind, positions)
    if missing:
        names = " / ".join(kind.headers[missing[0]][:2])
        raise Invalid(f"The file has no {names} column.", field="file", location="files", missing=missing)
    total = max(lines - at - 1, 0)
    if total == 0:
        raise Invalid("The file has its header and no rows.", field="file", location="files")
    return Source(headers=headers, positions=positions, total=total, _rows=lambda: rows_after(at + 1), content=content)


def _columns(kind: Kind, header: list) -> tuple[dict[str, int], dict[str, str]]:
    """The kind's columns a header row names: their positions, and the headers the file used."""
    aliases, positions, headers = kind.aliases, {}, {}
    for index, title in enumerate(header):
        column = aliases.get(_header_key(title))
        if column and column not in positions:
            positions[column], headers[column] = index, str(title).strip().lstrip("\ufeff")
    return positions, headers


def _missing(kind: Kind, positions: dict[str, int]) -> list[str]:
    return [column for column in kind.required if column not in positions]


def _read(content: bytes, filename: str) -> tuple[list[list], int, Callable[[int], Iterator[tuple[int, list]]]]:
    """A CSV or XLSX file's first HEADER_SEARCH rows, how many rows it has, and its rows after the first n (numbered
    from 1 as in the file)."""
    if filename.lower().endswith(".xlsx"):
        import openpyxl

        try:
            sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
            first = [list(cells) for cells in sheet.iter_rows(max_row=HEADER_SEARCH, values_only=True)]
        except Exception:  # noqa: BLE001 - any unreadable workbook is the same refusal
            raise Invalid("Not an XLSX workbook that can be read.", field="file", location="files") from None

        def sheet_rows(skip: int) -> Iterator[tuple[int, list]]:
            for number, cells in enumerate(sheet.iter_rows(min_row=skip + 1, values_only=True), start=skip + 1):
                yield number, list(cells)

        return first, sheet.max_row or len(first), sheet_rows
    if filename.lower().endswith((".csv", ".txt")):
        text = decode(content)
        try:  # a quoted file is parsed to count it: a row the csv module cannot read is found before anything is written
            first = list(itertools.islice(csv.reader(io.StringIO(text, newline="")), HEADER_SEARCH))
            lines = _records(text)
        except csv.Error as error:
            raise Invalid(f"Not a CSV file that can be read: {error}.", field="file", location="files") from None

        def text_rows(skip: int) -> Iterator[tuple[int, list]]:
            reader = csv.reader(io.StringIO(text, newline=""))
            for number, cells in enumerate(itertools.islice(reader, skip, None), start=skip + 1):
                yield number, [cell.strip() for cell in cells]

        return first, lines, text_rows
    raise Invalid("Import a CSV or XLSX file.", field="file", location="files")


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


def cell_text(value: object) -> str:
    """A cell as text, NFKC-normalised: full-width digits typed in Excel become ASCII, like the API's.
    ASCII text is its own NFKC form: it is only stripped (most cells of a file, checked a dozen times a row)."""
    if value.__class__ is str and value.isascii():
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return nfkc(str(value)).strip()


def cell_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.match(cell_text(value))
    if not match:
        raise ValueError
    return date(int(match[1]), int(match[2]), int(match[3]))


def id_number_of(values: dict, today: date, problems: list) -> IdNumber | None:
    """The row's ID number (an old 15-digit one as 18 digits), checked as the API checks it; else a problem."""
    raw_id = values.get("id_number")
    if isinstance(raw_id, (int, float)) and not _fifteen_digits(raw_id):  # Excel keeps 15 digits, not 18
        problems.append(("id_number", "Stored as a number, which loses digits: format the column as text."))
        return None
    try:
        return parse_id_number(eighteen_digits(_TEXT_GUARD.sub(r"\1\2", cell_text(raw_id)).upper()), today=today)
    except InvalidIdNumber as error:
        problems.append(("id_number", str(error)))
        return None


def _fifteen_digits(number: int | float) -> bool:
    """An old 15-digit ID number a spreadsheet stored as a number: it never starts with 0, and loses no digit."""
    return float(number).is_integer() and 10**14 <= number < 10**15


def check_row(values: dict[str, object], place: Place) -> tuple[dict | None, list[tuple[str, str]]]:
    """A row's resident fields, or the problems (column, why) that refuse it — the API's rules."""
    problems: list[tuple[str, str]] = []
    name = cell_text(values.get("name"))
    if not 1 <= len(name) <= 80:
        problems.append(("name", "A name has 1 to 80 characters."))
    elif not visible(name):
        problems.append(("name", INVISIBLE_NAME))
    parsed = id_number_of(values, place.today, problems)
    fields: dict = {}
    sex = cell_text(values.get("sex")).lower()
    if sex:
        if sex not in SEXES:
            problems.append(("sex", "Sex is 男 or 女 (M or F)."))
        elif parsed and SEXES[sex] is not parsed.sex:
            problems.append(("sex", "Does not match the ID number."))
    birth_date = cell_text(values.get("birth_date"))
    if birth_date and not (parsed and birth_date == parsed.birth_date.isoformat()):  # most files write it so
        try:
            if parsed and cell_date(values["birth_date"]) != parsed.birth_date:
                problems.append(("birth_date", "Does not match the ID number."))
        except ValueError:
            problems.append(("birth_date", "A date is written YYYY-MM-DD."))
    phone = cell_text(values.get("phone"))
    phone = phone if phone.isdigit() else _PHONE_SEPARATORS.sub("", phone)
    if phone and not _PHONE.match(phone):
        problems.append(("phone", "A mainland mobile number has 11 digits and starts with 1."))
    scheme = cell_text(values.get("insurance_scheme"))
    if scheme and scheme.lower() not in SCHEMES:
        problems.append(("insurance_scheme", "Not a scheme: 城乡居民, 职工 or 未参保."))
    region = cell_text(values.get("insurance_region"))
    region_code = region if region in place.region_codes else place.region_names.get(region)
    if region and region_code is None:
        problems.append(("insurance_region", "Not a known region (a GB/T 2260 code or its exact name)."))
    window = cell_text(values.get("window"))
    if window and window not in place.windows:
        problems.append(("window", "Not a village clinic of this centre."))
    household = cell_text(values.get("household"))
    if len(household) > 40:
        problems.append(("household", "A household number has at most 40 characters."))
    conditions, diagnosed_on = _conditions(values, parsed, place.today, problems)
    pregnancy = _pregnancy(values, parsed, place.today, problems)
    tags = _tags(values, problems)
    if problems:
        return None, problems
    fields.update(
        name=name, id_number=parsed.value, id_number_hash=crypto.lookup_hash(parsed.value), birth_date=parsed.birth_date,
        sex=parsed.sex, phone=phone or None, phone_hash=crypto.lookup_hash(phone) if phone else None,
        insurance_scheme=SCHEMES[scheme.lower()] if scheme else (InsuranceScheme.RESIDENT if region_code else InsuranceScheme.UNINSURED),
        insurance_region_code=region_code, home_window_id=place.windows.get(window),
        registered_by_centre_id=place.centre.id,
        household_ref=f"{place.centre.region_code}:{household}" if household else None,
        has_health_record=bool(cell_text(values.get("health_record"))),
        conditions=conditions, diagnosed_on=diagnosed_on, pregnancy=pregnancy, tags=tags,
    )
    return fields, []


def _conditions(values: dict, parsed, today: date, problems: list) -> tuple[list[ConditionKind], date | None]:
    """The chronic conditions a row lists, with the diagnosis date they need (as recording one by hand does)."""
    written = cell_text(values.get("conditions"))
    if not written:
        return [], None
    names = [name for name in _LIST.split(written) if name]
    kinds = [CONDITIONS.get(name.lower()) for name in names]
    if None in kinds:
        problems.append(("conditions", f"Not a condition: {names[kinds.index(None)]} (高血压, 糖尿病, 慢阻肺, 肺结核, "
                                       "严重精神障碍, 肿瘤, 脑卒中)."))
        return [], None
    if not kinds:
        return [], None
    try:
        diagnosed_on = cell_date(values.get("diagnosed_on")) if cell_text(values.get("diagnosed_on")) else None
    except ValueError:
        diagnosed_on = None
    if diagnosed_on is None:
        problems.append(("diagnosed_on", "A condition needs its diagnosis date, written YYYY-MM-DD."))
    elif parsed and not parsed.birth_date <= diagnosed_on <= today:
        problems.append(("diagnosed_on", "The diagnosis date lies between birth and today."))
    return list(dict.fromkeys(kinds)), diagnosed_on


def _pregnancy(values: dict, parsed, today: date, problems: list) -> date | None:
    """The last menstrual period of an ongoing pregnancy the row gives (or from its expected delivery), as
    registry.health.register_pregnancy checks it: a woman's, within the last 44 weeks; both dates must agree."""
    given = {}
    for column in ("last_menstrual_period", "expected_delivery"):
        if cell_text(values.get(column)):
            try:
                given[column] = cell_date(values[column])
            except ValueError:
                problems.append((column, "A date is written YYYY-MM-DD."))
                return None
    if not given:
        return None
    lmp = given.get("last_menstrual_period") or given["expected_delivery"] - GESTATION
    column = "last_menstrual_period" if "last_menstrual_period" in given else "expected_delivery"
    if parsed and parsed.sex is not Sex.FEMALE:
        problems.append((column, "Only a woman can have a pregnancy registered."))
    elif not today - LONGEST_PREGNANCY <= lmp <= today:
        problems.append((column, "The last menstrual period lies within the last 44 weeks."))
    elif len(given) == 2 and given["expected_delivery"] != lmp + GESTATION:
        problems.append(("expected_delivery", "The expected delivery is the last menstrual period + 280 days."))
    else:
        return lmp
    return None


def _tags(values: dict, problems: list) -> list[RecordedTag]:
    """The recorded key-population tags a row lists; those the record gives by itself (老年人, 孕产妇 …) are passed over."""
    written = cell_text(values.get("tags"))
    names = [name for name in _LIST.split(written) if name and name not in DERIVED_TAGS] if written else []
    tags = [TAGS.get(name.lower()) for name in names]
    if None in tags:
        problems.append(("tags", f"Not a key population that is recorded: {names[tags.index(None)]} (残疾人, 脱贫人口, "
                                 "计划生育特殊家庭)."))
        return []
    return list(dict.fromkeys(tags))


# Batches -------------------------------------------------------------------------------------------

@dataclass
class Tally:
    created: int = 0
    unchanged: int = 0
    refused: int = 0


def bulk_insert(table, rows: list[dict]) -> None:
    """Insert plain parameter rows (all with the same keys) in the caller's transaction: on PostgreSQL one COPY,
    each value through its column type's bind processing (so encrypted columns are encrypted as the ORM would);
    elsewhere one executemany."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    # The columns' Python-side defaults (an INSERT applies them; COPY leaves them to the server, which has none).
    defaults = {column.name: column.default.arg if column.default.is_scalar else column.default.arg(None)
                for column in table.c if column.name not in rows[0] and column.default is not None
                and not column.default.is_sequence}
    columns = [*rows[0], *defaults]
    db.forget_held(db.session)  # a COPY passes no statement events: drop what the transaction held (health facts …)
    processors = [(position, process) for position, name in enumerate(columns)
                  if (process := table.c[name].type.bind_processor(connection.dialect))]
    given, added = list(rows[0]), list(defaults.values())
    with connection.connection.cursor() as cursor:
        quote = connection.dialect.identifier_preparer.quote  # import_problems has a column named "column"
        with cursor.copy(f"COPY {quote(table.name)} ({', '.join(map(quote, columns))}) FROM STDIN") as copy:
            for row in rows:
                values = [*[row[name] for name in given], *added]
                for position, process in processors:
                    if values[position] is not None:
                        values[position] = process(values[position])
                copy.write_row(values)


def among(column, values) -> object:
    """`column IN values` for a batch: on PostgreSQL `= ANY(array)`, one parameter instead of a thousand."""
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def insert_with_ids(table, rows: list[dict]) -> list[int]:
    """Insert rows (as `bulk_insert` takes them) and return their ids in order: on PostgreSQL drawn from the table's
    sequence first, so the rows can be COPYed with them; elsewhere an INSERT … RETURNING."""
    if not rows:
        return []
    if db.session.get_bind().dialect.name != "postgresql":
        return list(db.session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))
    ids = list(db.session.scalars(text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                                       "FROM generate_series(1, :count)"), {"count": len(rows)}))
    bulk_insert(table, [dict(row, id=row_id) for row, row_id in zip(rows, ids, strict=True)])
    return ids


def _households(refs: list[str | None]) -> list[int]:
    """A household id per ref: the existing one for a known 户号, a new household otherwise (one per None)."""
    known = set(ref for ref in refs if ref)
    found = dict(db.session.execute(select(Household.external_ref, Household.id).where(among(Household.external_ref, known))).all()) \
        if known else {}
    new_refs = [ref for ref in dict.fromkeys(ref for ref in refs if ref) if ref not in found]
    loose = [ref for ref in refs if not ref]
    wanted = [*new_refs, *([None] * len(loose))]
    now = clock.now()
    ids = insert_with_ids(Household.__table__, [{"external_ref": ref, "created_at": now} for ref in wanted])
    found.update(zip(new_refs, ids[:len(new_refs)], strict=True))
    singles = iter(ids[len(new_refs):])
    return [found[ref] if ref else next(singles) for ref in refs]


def write_batch(job: Import, batch: list[tuple[int, dict]], place: Place, source: Source, tally: Tally) -> None:
    """Check and write one batch in one transaction: new residents and households, their health facts, problems,
    progress. A row refused for any reason writes nothing: no resident, condition, pregnancy or tag."""
    problems, fresh = [], []

    def refuse(number: int, column: str, why: str) -> None:
        problems.append(dict(import_id=job.id, row=number, column=source.headers.get(column, column), why=why))

    for number, values in batch:
        fields, refused = check_row(values, place)
        if refused:
            for column, why in refused:
                refuse(number, column, why)
            tally.refused += 1
        else:
            fresh.append((number, fields))
    known = {key: (resident_id, name) for key, resident_id, name in db.session.execute(
        select(Resident.id_number_hash, Resident.id, Resident.name).where(
            among(Resident.id_number_hash, [fields["id_number_hash"] for _, fields in fresh])))} if fresh else {}
    ongoing = dict(db.session.execute(select(Pregnancy.resident_id, Pregnancy.last_menstrual_period).where(
        Pregnancy.resident_id.in_([known[fields["id_number_hash"]][0] for _, fields in fresh
                                   if fields["pregnancy"] and fields["id_number_hash"] in known]),
        Pregnancy.delivered_on.is_(None))).all()) if known else {}
    rows, facts, pending, with_record = [], {}, {}, set()
    for number, fields in fresh:
        key = fields["id_number_hash"]
        held = known.get(key)
        if held is not None and held[1] != fields["name"]:
            refuse(number, "name", "The name does not match the record held for this ID number.")
            tally.refused += 1
            continue
        # A person may have a row per condition: each row's facts are kept, a second pregnancy is refused as the API does.
        earlier = (ongoing.get(held[0]) if held is not None else None) or pending.get(key)
        if fields["pregnancy"] and earlier not in (None, fields["pregnancy"]):
            refuse(number, "last_menstrual_period", "An ongoing pregnancy is already registered "
                                                    f"(last menstrual period {earlier.isoformat()}).")
            tally.refused += 1
            continue
        fact = {name: fields.pop(name) for name in ("conditions", "diagnosed_on", "pregnancy", "tags")}
        facts.setdefault(key, []).append(fact)
        if fact["pregnancy"]:
            pending[key] = fact["pregnancy"]
        if held is None:
            known[key] = (None, fields["name"])
            rows.append(fields)
        else:
            tally.unchanged += 1
            if fields["has_health_record"]:
                with_record.add(key)
    registered = _register(rows)
    tally.created += len(rows)
    if registered:
        events.id_number_registered.send(None, resident_ids=list(registered.values()))
    _record_health_records([known[key][0] or registered[key] for key in with_record])
    _record_facts({known[key][0] or registered[key]: given for key, given in facts.items()
                   if any(fact["conditions"] or fact["pregnancy"] or fact["tags"] for fact in given)},
                  set(registered.values()), job.started_by, place.today)
    bulk_insert(ImportProblem.__table__, problems)
    job.rows_done += len(batch)
    job.created, job.unchanged, job.refused = tally.created, tally.unchanged, tally.refused


def _register(rows: list[dict]) -> dict[str, int]:
    """Insert new residents (with their households): their ids by ID-number lookup hash."""
    if not rows:
        return {}
    now = clock.now()
    household_ids = _households([row.pop("household_ref") for row in rows])
    # The table's rows, not the ORM's bulk path: one COPY (PostgreSQL) or one INSERT … RETURNING of plain rows.
    ids = insert_with_ids(Resident.__table__, [dict(row, household_id=household_id, created_at=now, updated_at=now)
                                               for row, household_id in zip(rows, household_ids, strict=True)])
    return {row["id_number_hash"]: resident_id for row, resident_id in zip(rows, ids, strict=True)}


def _record_health_records(resident_ids: list[int]) -> None:
    """Residents already registered whose row gives a health record number now have one on file (a new resident's
    row says so as it is inserted)."""
    if resident_ids:
        db.session.execute(update(Resident).where(among(Resident.id, resident_ids), Resident.has_health_record.is_(False))
                           .values(has_health_record=True, updated_at=clock.now())
                           .execution_options(synchronize_session=False))


def _record_facts(facts: dict[int, list[dict]], new: set[int], recorded_by: str, today: date) -> None:
    """Record the conditions, ongoing pregnancies and tags the rows give (by resident id, a list of rows' facts each)
    that the residents do not have yet — residents `new` in this batch have none —; their plans follow
    (registry.events), as when each is recorded by hand."""
    if not facts:
        return
    residents = [resident_id for resident_id in facts if resident_id not in new]
    held_conditions = set(db.session.execute(select(Condition.resident_id, Condition.kind).where(
        among(Condition.resident_id, residents)))) if residents else set()
    held_tags = set(db.session.execute(select(PopulationTag.resident_id, PopulationTag.tag).where(
        among(PopulationTag.resident_id, residents)))) if residents else set()
    pregnant = set(db.session.scalars(select(Pregnancy.resident_id).where(
        among(Pregnancy.resident_id, residents), Pregnancy.delivered_on.is_(None)))) if residents else set()
    conditions, pregnancies, tags = [], [], []
    for rid, fact in ((rid, fact) for rid, given in facts.items() for fact in given):
        for kind in fact["conditions"]:
            if (rid, kind) not in held_conditions:
                held_conditions.add((rid, kind))
                conditions.append(dict(resident_id=rid, kind=kind, diagnosed_on=fact["diagnosed_on"], recorded_on=today,
                                       recorded_by=recorded_by))
        for tag in fact["tags"]:
            if (rid, tag) not in held_tags:
                held_tags.add((rid, tag))
                tags.append(dict(resident_id=rid, tag=tag, recorded_on=today, recorded_by=recorded_by))
        if fact["pregnancy"] and rid not in pregnant:
            pregnant.add(rid)
            pregnancies.append(dict(resident_id=rid, last_menstrual_period=fact["pregnancy"],
                                    expected_delivery=fact["pregnancy"] + GESTATION, registered_on=today,
                                    recorded_by=recorded_by))
    for table, written in ((Condition, conditions), (Pregnancy, pregnancies), (PopulationTag, tags)):
        bulk_insert(table.__table__, written)
    changed = sorted({row["resident_id"] for row in (*conditions, *pregnancies, *tags)})
    if changed:
        events.health_facts_changed.send(None, resident_ids=changed)


class LostLease(Exception):
    """Another runner took the import over (this one's lease ran out): this runner's batch is rolled back."""


def run(job_id: int, source: Source, *, progress: Callable[[int], None] | None = None) -> Import:
    """Import every row of `source` for the job, batch by batch (each its own transaction), to the end — from the
    row after the last batch committed, when the import is being resumed. An import another live runner holds, or
    one that has ended, is left as it is."""
    runner = str(uuid.uuid4())
    if not _claim(job_id, runner):
        return db.session.get(Import, job_id, populate_existing=True)
    job = db.session.get(Import, job_id, populate_existing=True)
    kind = kind_named(job.kind)
    prepared = kind.prepare(db.session.get(Centre, job.centre_id))
    tally, batch = Tally(job.created, job.unchanged, job.refused), []
    if progress and job.rows_done:
        progress(job.rows_done)
    # The process's long-lived objects (the app, the models' metadata …) are left out of the collections the import's
    # many short-lived rows trigger: each would scan them all again (a third of a large import's time). Only speed:
    # a concurrent import's unfreeze just lets them be scanned again.
    gc.collect()
    gc.freeze()
    try:
        for row in source.rows(done=job.rows_done):
            batch.append(row)
            if len(batch) == BATCH:
                _commit_batch(kind, job, batch, prepared, source, tally, progress, runner)
                batch = []
        if batch or source.skipped:  # the last rows, or blank ones after them: done too
            _commit_batch(kind, job, batch, prepared, source, tally, progress, runner)
        _end(job, runner, ImportStatus.DONE)
    except LostLease:
        log.warning("import %s: taken over by another runner after row %s", job_id, job.rows_done)
    except Exception as error:
        db.session.rollback()
        log.exception("import %s failed", job_id)
        _end(job, runner, ImportStatus.FAILED, failure=type(error).__name__)
    finally:
        gc.unfreeze()
    return db.session.get(Import, job_id, populate_existing=True)


def _claim(job_id: int, runner: str) -> bool:
    """Take the import for `runner`: one not yet started by anyone, or one whose runner's lease ran out."""
    now = clock.now()
    with db.transaction():
        return db.session.execute(update(Import).where(
            Import.id == job_id, Import.status.in_([ImportStatus.QUEUED, ImportStatus.RUNNING]),
            or_(Import.claimed_by.is_(None), Import.lease_until < now),
        ).values(status=ImportStatus.RUNNING, claimed_by=runner, lease_until=now + LEASE)).rowcount == 1


def _hold(job: Import, runner: str) -> None:
    """Renew the runner's lease, as the first statement of a batch's transaction (it locks the import's row), if the
    runner still holds it and nobody has written a batch since its own last one; else LostLease."""
    renewed = db.session.execute(update(Import).where(
        Import.id == job.id, Import.claimed_by == runner, Import.rows_done == job.rows_done,
    ).values(lease_until=clock.now() + LEASE)).rowcount
    if renewed != 1:
        raise LostLease


# pg_advisory_xact_lock's key for "an import batch is writing" (any fixed number, unique in this database).
BATCH_LOCK = 0x1A7B0011


def _commit_batch(kind, job, batch, prepared, source, tally, progress, runner) -> None:
    with db.transaction():
        _hold(job, runner)
        # One batch writes at a time (PostgreSQL; SQLite's write transactions are one at a time already): a batch
        # then sees who another import registered, so the same file twice at once changes nothing either.
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BATCH_LOCK})
        if batch:
            kind.write_batch(job, batch, prepared, source, tally)
        skipped = source.take_skipped()
        job.rows_done += skipped
    if progress:
        progress(len(batch) + skipped)


def _end(job: Import, runner: str, status: ImportStatus, failure: str | None = None) -> None:
    """The import is done (or failed): its sealed file is deleted, if this runner still holds it."""
    with db.transaction():
        ended = db.session.execute(update(Import).where(Import.id == job.id, Import.claimed_by == runner).values(
            status=status, finished_at=clock.now(), failure=failure, claimed_by=None, lease_until=None)).rowcount
        if ended:
            db.session.execute(delete(ImportFile).where(ImportFile.import_id == job.id))


def resume_abandoned() -> list[int]:
    """Resume the imports whose runner died (its process ended, or a web worker was recycled) after their lease ran
    out, each from the row after the last batch it committed (the scheduler's `imports` job). One whose file was not
    kept (started before files were kept) fails, saying so."""
    resumed = []
    waiting = db.session.scalars(select(Import.id).where(
        Import.status.in_([ImportStatus.QUEUED, ImportStatus.RUNNING]),
        or_(Import.lease_until.is_(None), Import.lease_until < clock.now())).order_by(Import.id)).all()
    for job_id in waiting:
        job = db.session.get(Import, job_id)
        stored = db.session.get(ImportFile, job_id)
        if stored is None:
            with db.transaction():
                db.session.execute(update(Import).where(Import.id == job_id, Import.lease_until.is_(None)).values(
                    status=ImportStatus.FAILED, finished_at=clock.now(), failure=FILE_NOT_KEPT))
            continue
        log.info("import %s: resuming after row %s", job_id, job.rows_done)
        run(job_id, open_source(crypto.unseal(stored.content, SEALED_FILE), job.filename, job.kind))
        resumed.append(job_id)
    return resumed


def begin(actor: Actor | None, *, centre_id: int, filename: str, source: Source, started_by: str,
          kind: str = "residents") -> Import:
    """Record an import of `source` for a centre (status queued), with its file sealed so that another process can
    resume it. `actor` None is the server's operator (CLI); otherwise the centre must be one the actor administers.
    The kind may refuse the centre (422, nothing written)."""
    if actor is not None:
        administered_centre(actor, centre_id)
    centre = db.session.get(Centre, centre_id)
    if centre is None:
        raise Invalid("No such centre.", field="centre_id", location="form")
    kind_named(kind).check_centre(centre)
    # Its own runner claims it at once (claimed_by is empty); the lease keeps the scheduler off it until then.
    job = Import(centre_id=centre_id, kind=kind, filename=filename[:200], total_rows=source.total, started_by=started_by,
                 lease_until=clock.now() + LEASE)
    with db.transaction():
        db.session.add(job)
        db.session.flush()
        db.session.add(ImportFile(import_id=job.id, content=crypto.seal(source.content, SEALED_FILE)))
    audit.record("import.start", "import", job.id, centre_id=centre_id, kind=kind, rows=source.total)
    return job


def start(actor: Actor, *, centre_id: int, filename: str, content: bytes, started_by: str,
          kind: str = "residents") -> Import:
    """Check the file's header and import it for a centre; a large file continues in a background thread."""
    if actor is not None:
        administered_centre(actor, centre_id)
    source = open_source(content, filename, kind)
    job = begin(actor, centre_id=centre_id, filename=filename, source=source, started_by=started_by, kind=kind)
    if source.total > BACKGROUND_ROWS:
        app = current_app._get_current_object()
        threading.Thread(target=_in_background, args=(app, job.id, source, current_request_id()),
                         daemon=True, name=f"import-{job.id}").start()
        return job
    return run(job.id, source)


def _in_background(app: Flask, job_id: int, source: Source, request_id: str | None) -> None:
    with app.app_context(), carry_request_id(request_id):  # its log lines name the request that started it
        try:
            run(job_id, source)
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
    writer = CsvWriter(buffer)
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


register(Kind("residents", HEADERS, REQUIRED, _place, write_batch))
