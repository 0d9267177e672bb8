"""Policy profiles as versioned, validated data (POLICY.md: one profile per pooling region; a new region is
a new file under registry/profiles/, no code).

A profile file is parsed into the typed rules below. An unknown capitation rule, a missing or
out-of-range parameter or an unknown key (a typo) is refused when the file is loaded, naming the
field — never a 500 when a bureau later asks for capitation.

Every load is a new, immutable version with an effective-from date. The `policy_profiles` row holds
the version in force today (a load applies it at once when its day has come, the daily job
`registry.jobs.apply_profiles` when it comes); a frozen snapshot keeps the version it was computed
with (`version_on`), so a later version never reprices a frozen month.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from sqlalchemy import func, select

from core import clock, db
from core.errors import Forbidden, Invalid
from core.pagination import paginate
from registry.models import PolicyProfile, PolicyProfileVersion, Region

SHIPPED = Path(__file__).resolve().parent / "profiles"

# The capitation rules settlement knows (settlement.service.RULES; a test keeps the two equal) and the
# parameters each needs.
FEE = "fee_fen_per_year"
CAPITATION_RULES: dict[str, tuple[str, ...]] = {
    "prepay": (FEE, "pay_share"),  # [000 §二(一)3] prepay a share of the monthly fund, the rest at year end
    "reserve": (FEE, "reserve_share"),  # a fee per head with a share held as reserve (Shaoyang's first version)
    "cost-capped": (FEE, "pay_share"),  # [003 §六] pay a share of min(actual cost, monthly fund)
    # [001 五(一)1] the bureau files the year's outpatient fund; a share is held as risk reserve, the rest is
    # prepaid monthly per centre by head count and settled against actual costs, the surplus carried on.
    "outpatient-fund": ("reserve_share",),
}
SHARES = ("pay_share", "reserve_share")
# Switches of the capitation (default off), and the rules they go with.
SWITCHES: dict[str, tuple[str, ...]] = {
    # [000 §二(二)] employees are paid the same fee from the employee fund: each scheme's part shown and paid.
    "split_by_scheme": ("prepay",),
    # [000 §二(一)5, §二(二)] the year-end pool distributed by evaluation grade, and the employee formula.
    "secondary_distribution": ("prepay",),
}
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_GROUP = re.compile(r"^[0-9a-z+_-]{1,20}$")
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
MAX_AGE = 150


@dataclass(frozen=True)
class AgeGroup:
    """A capitation fee for people aged min_age..max_age (inclusive) [004 一]."""

    group: str
    fee_fen_per_year: int
    min_age: int | None = None
    max_age: int | None = None

    def span(self) -> tuple[int, int]:
        return (self.min_age or 0, MAX_AGE if self.max_age is None else self.max_age)


@dataclass(frozen=True)
class Capitation:
    """How a pooling region pays per head (POLICY.md "Settlement")."""

    rule: str
    fee_fen_per_year: int | None = None
    pay_share: Decimal | None = None
    reserve_share: Decimal | None = None
    age_groups: tuple[AgeGroup, ...] = ()
    split_by_scheme: bool = False
    secondary_distribution: bool = False


@dataclass(frozen=True)
class Profile:
    """A pooling region's signing and payment rules, as the `policy_profiles` row holds them."""

    code: str
    name: str
    cycle_start_month: int
    cycle_start_day: int
    change_period_start: str
    change_period_end: str
    auto_renew: bool
    default_assignment: bool
    max_term_years: int
    settlement: Capitation
    requires_village_clinic: bool = False  # signing names a village clinic of the centre too (Zhanjiang [003 §三])
    basis: str | None = None  # the policy documents the profile follows, for people
    evaluation: Evaluation | None = None  # annex 2 of 000 where the region evaluates its centres by it

    def as_json(self) -> dict:
        """The canonical JSON of the profile: what a version stores and settlement reads (shares as exact text)."""
        capitation = self.settlement
        settlement: dict = {"rule": capitation.rule}
        if capitation.fee_fen_per_year is not None:
            settlement[FEE] = capitation.fee_fen_per_year
        for name in SWITCHES:
            if getattr(capitation, name):
                settlement[name] = True
        for name in SHARES:
            if getattr(capitation, name) is not None:
                settlement[name] = str(getattr(capitation, name))
        if capitation.age_groups:
            settlement["age_groups"] = [
                {key: value for key, value in (("group", g.group), ("min_age", g.min_age), ("max_age", g.max_age),
                                               ("fee_fen_per_year", g.fee_fen_per_year)) if value is not None}
                for g in capitation.age_groups]
        body = {name: getattr(self, name) for name in ROW_FIELDS}
        body.update(code=self.code, settlement=settlement)
        if self.evaluation is not None:
            body["evaluation"] = self.evaluation.as_json()
        if self.basis:
            body["basis"] = self.basis
        return body


# The columns of `policy_profiles` a version sets (besides code and settlement).
ROW_FIELDS = ("name", "cycle_start_month", "cycle_start_day", "change_period_start", "change_period_end", "auto_renew",
              "default_assignment", "max_term_years", "requires_village_clinic")


class InvalidProfile(Invalid):
    """A profile that breaks its rules: every problem, by field path, in the one error shape."""

    def __init__(self, problems: dict[str, list[str]]):
        first = next(iter(problems))
        super().__init__(f"The policy profile is not valid: {first}: {problems[first][0]}", field=first)
        self.problems = problems

    def body(self) -> dict:
        body = super().body()
        body["errors"] = {self.location: self.problems}
        return body


@dataclass
class _Reader:
    """Reads typed values out of a JSON object, collecting a problem per bad field instead of stopping at one."""

    raw: dict
    path: str
    problems: dict[str, list[str]]
    seen: set[str] = field(default_factory=set)

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def problem(self, key: str, why: str) -> None:
        self.problems.setdefault(self._where(key), []).append(why)

    def take(self, key: str, kind: type | tuple, *, required: bool = True, check=None, why: str = ""):
        self.seen.add(key)
        if key not in self.raw or self.raw[key] is None:
            if required:
                self.problem(key, "Missing data for required field.")
            return None
        value = self.raw[key]
        # bool is an int in Python: a JSON true is no number of years.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.problem(key, f"Not a valid {names}.")
            return None
        if check is not None and not check(value):
            self.problem(key, why)
            return None
        return value

    def share(self, key: str) -> Decimal | None:
        """A share of money between 0 and 1, as exact decimal text ("0.90"); a float would round money."""
        raw = self.take(key, (str, int, float))
        if raw is None:
            return None
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            self.problem(key, "Not a decimal number.")
            return None
        if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
            self.problem(key, "A share lies between 0 and 1.")
            return None
        return value

    def refuse_unknown(self) -> None:
        for key in sorted(set(self.raw) - self.seen):
            self.problem(key, "Unknown field.")


def _positive(value: int) -> bool:
    return 0 < value <= 10_000_000


def _age(value: int) -> bool:
    return 0 <= value <= MAX_AGE


def _age_groups(raw: object, path: str, problems: dict[str, list[str]]) -> tuple[AgeGroup, ...]:
    if not isinstance(raw, list):
        problems.setdefault(path, []).append("Not a valid list.")
        return ()
    groups = []
    for index, item in enumerate(raw):
        where = f"{path}.{index}"
        if not isinstance(item, dict):
            problems.setdefault(where, []).append("Not a valid object.")
            continue
        reader = _Reader(item, where, problems)
        name = reader.take("group", str, check=_GROUP.match, why="A group name has 1-20 of 0-9 a-z + _ -.")
        fee = reader.take("fee_fen_per_year", int, check=_positive, why="A fee is a positive number of fen.")
        low = reader.take("min_age", int, required=False, check=_age, why=f"An age lies between 0 and {MAX_AGE}.")
        high = reader.take("max_age", int, required=False, check=_age, why=f"An age lies between 0 and {MAX_AGE}.")
        reader.refuse_unknown()
        if item.get("min_age") is None and item.get("max_age") is None:
            reader.problem("max_age", "An age group has a min_age, a max_age or both.")
        elif low is not None and high is not None and low > high:
            reader.problem("max_age", "max_age is at least min_age.")
        elif name is not None and fee is not None and (low is not None or high is not None):
            groups.append(AgeGroup(name, fee, low, high))
    names = [g.group for g in groups]
    for index, group in enumerate(groups):
        if names.count(group.group) > 1:
            problems.setdefault(f"{path}.{index}.group", []).append("Group names are unique.")
        for other in groups[:index]:
            if group.span()[0] <= other.span()[1] and other.span()[0] <= group.span()[1]:
                # Overlapping groups would count a person twice in the monthly fund.
                problems.setdefault(f"{path}.{index}", []).append(f"Overlaps the ages of group {other.group!r}.")
    return tuple(groups)


def _capitation(raw: object, path: str, problems: dict[str, list[str]]) -> Capitation | None:
    if not isinstance(raw, dict):
        problems.setdefault(path, []).append("Not a valid object.")
        return None
    reader = _Reader(raw, path, problems)
    rule = reader.take("rule", str, check=CAPITATION_RULES.__contains__,
                       why=f"Settlement knows the capitation rules {', '.join(sorted(CAPITATION_RULES))}.")
    wanted = CAPITATION_RULES.get(rule, ())
    values: dict = {}
    for name in wanted:
        values[name] = (reader.take(FEE, int, check=_positive, why="A fee is a positive number of fen.")
                        if name == FEE else reader.share(name))
    for name in (FEE, *SHARES):
        if rule is not None and name not in wanted and name in raw:
            reader.seen.add(name)
            reader.problem(name, f"Not a parameter of the rule {rule!r}.")
    switches = {}
    for name, rules in SWITCHES.items():
        if rule is not None and raw.get(name) is not None and rule not in rules:
            reader.seen.add(name)
            reader.problem(name, f"Not a parameter of the rule {rule!r}.")
        elif raw.get(name) is not None:
            switches[name] = reader.take(name, bool)
    groups = ()
    if raw.get("age_groups") is not None:
        if FEE not in wanted and rule is not None:
            reader.problem("age_groups", f"The rule {rule!r} has no fee per head to set by age.")
        elif switches.get("split_by_scheme"):
            reader.problem("age_groups", "Age groups are not split by scheme.")
        else:
            groups = _age_groups(raw["age_groups"], f"{path}.age_groups", problems)
    reader.seen.add("age_groups")
    reader.refuse_unknown()
    if rule is None or None in values.values() or None in switches.values():
        return None
    return Capitation(rule=rule, age_groups=groups, **values, **switches)


# Annex 2 of 000: the evaluation's scoring rules -----------------------------------------------------

# The relative indicators: scored against the county average of the signed insured [annex 2 items 1-3].
RELATIVE = ("personal_burden", "visit_rate", "effective_signing")
# Item 5: the five things a centre unifies for its village clinics.
INTEGRATION = ("drug_delivery", "supervision", "settlement", "fund_allocation", "agreement")
# Item 7: the levels of an award or a model site.
AWARD_LEVELS = ("national", "provincial", "city", "county", "other")


@dataclass(frozen=True)
class Relative:
    """Base points at the county average, one point per whole `step` better (up to `points`) or worse (down to 0)."""

    points: int
    base: int
    step: Decimal
    better: str  # "higher" or "lower"


@dataclass(frozen=True)
class Evaluation:
    """The scoring rules of annex 2 of 000, as a region evaluates its centres (every number is data)."""

    personal_burden: Relative
    visit_rate: Relative
    effective_signing: Relative
    drug_list_points: int  # item 4: all stocked
    drug_list_per_missing: int  # off per item missing, down to 0
    integration_points: int  # item 5: points per unified item
    survey_points: Decimal  # item 6: each questionnaire, at or above the target rate
    survey_target: Decimal
    survey_per_point: Decimal  # off per whole percentage point below the target
    award_points: dict[str, int]  # item 7, per award of a level
    bonus_max: int
    deduction_per_case: int  # item 8
    deduction_max: int

    def as_json(self) -> dict:
        return {
            **{name: {"points": r.points, "base": r.base, "step": str(r.step), "better": r.better}
               for name in RELATIVE for r in (getattr(self, name),)},
            "drug_list": {"points": self.drug_list_points, "per_missing": self.drug_list_per_missing},
            "integration": {"points_per_item": self.integration_points},
            "field_survey": {"points": str(self.survey_points), "target": str(self.survey_target),
                             "per_point": str(self.survey_per_point)},
            "bonus": {"max": self.bonus_max, **self.award_points},
            "deduction": {"max": self.deduction_max, "per_case": self.deduction_per_case},
        }


def _points(value: int) -> bool:
    return 0 <= value <= 100


def _section(raw: dict, key: str, reader: _Reader) -> _Reader | None:
    reader.seen.add(key)
    if not isinstance(raw.get(key), dict):
        reader.problem(key, "Missing data for required field." if raw.get(key) is None else "Not a valid object.")
        return None
    return _Reader(raw[key], reader._where(key), reader.problems)


def _evaluation(raw: object, path: str, problems: dict[str, list[str]]) -> Evaluation | None:
    if not isinstance(raw, dict):
        problems.setdefault(path, []).append("Not a valid object.")
        return None
    reader = _Reader(raw, path, problems)
    values: dict = {}
    for name in RELATIVE:
        if (part := _section(raw, name, reader)) is not None:
            points = part.take("points", int, check=_points, why="Points lie between 0 and 100.")
            base = part.take("base", int, check=_points, why="Points lie between 0 and 100.")
            step = part.share("step")
            better = part.take("better", str, check=("higher", "lower").__contains__, why="higher or lower.")
            part.refuse_unknown()
            if step == 0:
                part.problem("step", "A step is more than 0.")
            elif None not in (points, base, step, better):
                values[name] = Relative(points, base, step, better)
    if (part := _section(raw, "drug_list", reader)) is not None:
        values["drug_list_points"] = part.take("points", int, check=_points, why="Points lie between 0 and 100.")
        values["drug_list_per_missing"] = part.take("per_missing", int, check=_points, why="Points lie between 0 and 100.")
        part.refuse_unknown()
    if (part := _section(raw, "integration", reader)) is not None:
        values["integration_points"] = part.take("points_per_item", int, check=_points, why="Points lie between 0 and 100.")
        part.refuse_unknown()
    if (part := _section(raw, "field_survey", reader)) is not None:
        points = part.take("points", str, check=_decimal_points, why="Points are decimal text between 0 and 100.")
        values["survey_points"] = None if points is None else Decimal(points)
        values["survey_target"], values["survey_per_point"] = part.share("target"), part.share("per_point")
        part.refuse_unknown()
    if (part := _section(raw, "bonus", reader)) is not None:
        values["bonus_max"] = part.take("max", int, check=_points, why="Points lie between 0 and 100.")
        awards = {level: part.take(level, int, check=_points, why="Points lie between 0 and 100.") for level in AWARD_LEVELS}
        values["award_points"] = None if None in awards.values() else awards
        part.refuse_unknown()
    if (part := _section(raw, "deduction", reader)) is not None:
        values["deduction_max"] = part.take("max", int, check=_points, why="Points lie between 0 and 100.")
        values["deduction_per_case"] = part.take("per_case", int, check=_points, why="Points lie between 0 and 100.")
        part.refuse_unknown()
    reader.refuse_unknown()
    fields_ = Evaluation.__dataclass_fields__
    if set(values) != set(fields_) or None in values.values():
        return None
    return Evaluation(**values)


def _decimal_points(value: str) -> bool:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    return number.is_finite() and 0 <= number <= 100


def parse_profile(raw: object, *, path: str = "") -> Profile:
    """The typed profile of a profile file's JSON, or InvalidProfile naming every bad field."""
    problems: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        raise InvalidProfile({path or "profile": ["A profile is a JSON object."]})
    reader = _Reader(raw, path, problems)
    values = dict(
        code=reader.take("code", str, check=_CODE.match, why="A code has 1-40 of a-z 0-9 - and starts with a letter or digit."),
        name=reader.take("name", str, check=lambda v: 0 < len(v.strip()) <= 120, why="A name has 1-120 characters."),
        cycle_start_month=reader.take("cycle_start_month", int, check=lambda v: 1 <= v <= 12, why="A month is 1-12."),
        cycle_start_day=reader.take("cycle_start_day", int, check=lambda v: 1 <= v <= 31, why="A day is 1-31."),
        change_period_start=reader.take("change_period_start", str, check=_MONTH_DAY.match, why="A month-day is MM-DD."),
        change_period_end=reader.take("change_period_end", str, check=_MONTH_DAY.match, why="A month-day is MM-DD."),
        auto_renew=reader.take("auto_renew", bool),
        default_assignment=reader.take("default_assignment", bool),
        max_term_years=reader.take("max_term_years", int, check=lambda v: 1 <= v <= 3,
                                   why="An agreement runs 1 to 3 years [002 §(三)1]."),
    )
    values["requires_village_clinic"] = bool(reader.take("requires_village_clinic", bool, required=False))
    basis = reader.take("basis", str, required=False, check=lambda v: len(v) <= 500, why="At most 500 characters.")
    reader.seen.add("settlement")
    settlement = None
    if raw.get("settlement") is None:
        reader.problem("settlement", "Missing data for required field.")
    else:
        settlement = _capitation(raw["settlement"], reader._where("settlement"), problems)
    reader.seen.add("evaluation")
    evaluation = None
    if raw.get("evaluation") is not None:
        evaluation = _evaluation(raw["evaluation"], reader._where("evaluation"), problems)
    reader.refuse_unknown()
    if problems:
        raise InvalidProfile(problems)
    return Profile(settlement=settlement, basis=basis, evaluation=evaluation, **values)


def evaluation_rules(body: dict) -> Evaluation | None:
    """The typed annex-2 rules of a stored version's body (None: the region does not evaluate by annex 2)."""
    if body.get("evaluation") is None:
        return None
    return _evaluation(body["evaluation"], "evaluation", {})


YAML_SUFFIXES = (".yaml", ".yml")


def read_file(path: Path) -> dict:
    """A profile file on disk, as `parse_file` reads it."""
    return parse_file(path.read_bytes(), path.name)


def parse_file(content: bytes, filename: str) -> dict:
    """A profile file's JSON, or YAML for a .yaml/.yml file (UTF-8, with or without BOM), or InvalidProfile saying
    why it is not. YAML is read safely (no tags, no objects), and then validated exactly as JSON is."""
    yaml_file = Path(filename).suffix.lower() in YAML_SUFFIXES
    try:
        text = content.decode("utf-8-sig")
        read = yaml.safe_load(text) if yaml_file else json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as error:
        raise InvalidProfile({"file": [f"Not a {'YAML' if yaml_file else 'JSON'} file: {error}"]}) from None
    if not isinstance(read, dict):
        raise InvalidProfile({"file": [f"A profile file holds one {'mapping' if yaml_file else 'object'}."]})
    return read


# Versions ------------------------------------------------------------------------------------------

def version_on(code: str, day: date) -> PolicyProfileVersion | None:
    """The version of profile `code` in force on `day`: the latest effective by then (the last loaded of a day),
    or the first one when `day` precedes them all."""
    ordered = select(PolicyProfileVersion).where(PolicyProfileVersion.code == code)
    found = db.session.scalar(ordered.where(PolicyProfileVersion.effective_from <= day).order_by(
        PolicyProfileVersion.effective_from.desc(), PolicyProfileVersion.version.desc()).limit(1))
    return found or db.session.scalar(ordered.order_by(PolicyProfileVersion.version).limit(1))


def listed(*, cursor: str | None, limit: int) -> dict:
    """The policy profiles, each as its version in force today, a page at a time."""
    return paginate(select(PolicyProfile), key_columns=[PolicyProfile.code], cursor=cursor, limit=limit)


def versions(code: str, *, cursor: str | None, limit: int) -> dict:
    """Every loaded version of a profile, oldest first, a page at a time; 404 for a profile that does not exist."""
    db.get_or_404(PolicyProfile, code, "policy profile")
    return paginate(select(PolicyProfileVersion).where(PolicyProfileVersion.code == code),
                    key_columns=[PolicyProfileVersion.version], cursor=cursor, limit=limit)


def _apply(row: PolicyProfile, version: PolicyProfileVersion) -> None:
    for name in ROW_FIELDS:
        if name in version.body:  # a version loaded before profiles had the field leaves the row's value as it was
            setattr(row, name, version.body[name])
    row.settlement = version.body["settlement"]
    row.version = version.version


def check_users_administered(code: str, allowed_regions: list[str]) -> None:
    """Refuse (403) an administrator who does not administer every region settling under profile `code`: its
    versions are the affair of whoever administers all its regions."""
    users = set(db.session.scalars(select(Region.code).where(Region.profile_code == code)))
    if users - set(allowed_regions):
        raise Forbidden("This profile is used by regions you do not administer.", regions=sorted(users))


def load(raw: object, *, effective_from: date, loaded_by: str, source: str | None = None, path: str = "",
         allowed_regions: list[str] | None = None) -> tuple[PolicyProfileVersion, bool]:
    """Load a profile as a new version effective from `effective_from`; True when a version was created.

    Loading the same profile with the same date again changes nothing (the existing version comes back).
    `allowed_regions` (None: any) are the regions the loader administers: every region using an existing
    profile must be among them.
    """
    profile = parse_profile(raw, path=path)
    body = profile.as_json()
    with db.transaction():
        # A new profile exists at once, whatever its date: regions can be pointed at it. Of two first loads at once
        # the database lets one INSERT through; the other waits for it, then locks the row like any later load.
        db.insert_unless_exists(PolicyProfile, code=profile.code, name=profile.name, settlement=body["settlement"],
                                version=0)
        row = db.session.get(PolicyProfile, profile.code, with_for_update=True, populate_existing=True)
        if allowed_regions is not None:
            check_users_administered(profile.code, allowed_regions)
        same = db.session.scalar(select(PolicyProfileVersion).where(
            PolicyProfileVersion.code == profile.code, PolicyProfileVersion.effective_from == effective_from)
            .order_by(PolicyProfileVersion.version.desc()).limit(1))
        if same is not None and same.body == body:
            return same, False
        number = (db.session.scalar(select(func.max(PolicyProfileVersion.version))
                                    .where(PolicyProfileVersion.code == profile.code)) or 0) + 1
        version = PolicyProfileVersion(code=profile.code, version=number, effective_from=effective_from, body=body,
                                       loaded_by=loaded_by, source=source)
        db.session.add(version)
        db.session.flush()
        _apply(row, version_on(profile.code, clock.today()))
    return version, True


def apply_due(today: date) -> list[str]:
    """Bring every profile row to the version in force on `today`; the codes that changed (idempotent)."""
    changed = []
    with db.transaction():
        for row in db.session.scalars(select(PolicyProfile).order_by(PolicyProfile.code)):
            version = version_on(row.code, today)
            if version is not None and version.version != row.version:
                _apply(row, version)
                changed.append(row.code)
    return changed


def shipped_files() -> list[Path]:
    return sorted(SHIPPED.glob("*.json"))
