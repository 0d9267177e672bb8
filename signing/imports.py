"""Bulk import of the agreements a county already has (its current system's export, CSV or XLSX).

A file kind of the registry's import machinery (registry.imports.KINDS), registered at app wiring
(`register`, called by app._connect_events), so the registry never imports signing. The file is read as the
resident import reads it (UTF-8 ± BOM, GBK/GB18030, Chinese headers, 15-digit ID numbers); each row is one
agreement of a registered resident with the import's centre, with its real start date, cycle and channel
(现场签约, 线上签约, 默认签约, 续约), village clinic, team and packages.

Each row is checked with the signing rules (POLICY.md signing rules 2, 5, 6 and 10, as signing.service checks a
signing): the centre takes part, the village clinic and team are the centre's, the region's term and village-clinic
rule, one centre per cycle (another centre's agreement of the cycle, or a termination with another centre this
cycle, is the 409 a signing gets, here a refused row), nobody dead is signed, personalised packages are offered by
the centre and fit the resident. A bad row writes nothing. An agreement already recorded (same resident, cycle and
centre) is left as it is, so the same file twice changes nothing.

What is not known from an export is not invented: no consent row (the consent was given in the county's system),
and the agreement's signing basis is the service area when the resident lives there, the resident themself when
signed online, else none. An agreement of the current cycle starts the care plans as a signing does (the `signed`
signal); one of a past cycle is recorded as expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import insert, select

from core import clock, crypto, db
from packages import catalogue
from packages.models import PackageDef
from packages.service import _prices, is_eligible
from registry import imports, populations
from registry.imports import Source, Tally, cell_date, cell_text
from registry.models import Centre, Import, ImportProblem, PolicyProfile, Resident
from registry.service import profile_for, signable_place
from signing import cycles, events
from signing.models import Agreement, AgreementPackage, AgreementStatus, Channel, SigningBasis
from signing.service import counts_for_capitation

HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名"),
    "id_number": ("id_number", "身份证号", "身份证号码", "公民身份号码", "证件号码"),
    "start_date": ("start_date", "签约日期", "签约时间", "协议开始日期", "生效日期"),
    "cycle": ("cycle", "签约年度", "签约周期", "年度"),
    "channel": ("channel", "签约方式", "签约渠道", "签约类型"),
    "term_years": ("term_years", "签约年限", "协议期限"),
    "centre": ("centre", "签约机构", "服务机构", "机构编码"),
    "window": ("window", "村卫生室", "村卫生室编码"),
    "team": ("team", "签约团队", "团队"),
    "packages": ("packages", "服务包", "签约服务包"),
}
REQUIRED = ("id_number", "start_date")
CHANNELS = {"现场签约": Channel.ON_SITE, "现场": Channel.ON_SITE, "线下签约": Channel.ON_SITE, "线上签约": Channel.ONLINE,
            "线上": Channel.ONLINE, "网上签约": Channel.ONLINE, "小程序": Channel.ONLINE, "默认签约": Channel.DEFAULT,
            "默认": Channel.DEFAULT, "系统默认": Channel.DEFAULT, "续约": Channel.RENEWAL, "续签": Channel.RENEWAL,
            **{channel.value: channel for channel in Channel}}
PACKAGE_CODES = {**{p.title: p.code for p in catalogue.PACKAGES_2025}, **{p.code: p.code for p in catalogue.PACKAGES_2025}}
MANDATORY = [p.code for p in catalogue.PACKAGES_2025 if p.tier in catalogue.MANDATORY_TIERS]
PERSONALISED = {p.code for p in catalogue.PACKAGES_2025 if p.tier == catalogue.PERSONALISED}


@dataclass
class Place:
    """What agreement rows are checked against, fetched once per import."""

    centre: Centre
    profile: PolicyProfile
    today: date
    windows: dict[str, int]  # code or name -> id
    teams: dict[str, int]  # name or id -> id
    prices: dict[str, int]  # the centre's personalised packages and prices
    packages: dict[str, PackageDef]  # the catalogue's personalised packages (who they are for)


def _place(centre: Centre) -> Place:
    windows = {key: window.id for window in centre.windows for key in (window.code, window.name)}
    teams = {key: team.id for team in centre.teams for key in (team.name, str(team.id))}
    packages = {package.code: package for package in db.session.scalars(select(PackageDef).where(
        PackageDef.edition == catalogue.EDITION, PackageDef.code.in_(PERSONALISED)))}
    return Place(centre, profile_for(centre.region_code), clock.today(), windows, teams, _prices(centre.id), packages)


def _check_centre(centre: Centre) -> None:
    """The centre must take part and have a policy profile, as for a signing (422 before anything is written)."""
    signable_place(centre.id, None, None)
    profile_for(centre.region_code)


def check_row(values: dict, place: Place) -> tuple[dict | None, list[tuple[str, str]]]:
    """A row's agreement fields, or the problems (column, why) that refuse it — what a signing checks without the
    database's state (that comes per batch, in `write_batch`)."""
    problems: list[tuple[str, str]] = []
    parsed = imports.id_number_of(values, place.today, problems)
    start = cycle = None
    try:
        start = cell_date(values.get("start_date"))
    except (ValueError, TypeError):
        problems.append(("start_date", "A date is written YYYY-MM-DD."))
    if start is not None:
        cycle = cycles.cycle_of(place.profile, start)
        if start > place.today:
            problems.append(("start_date", "An agreement the county has is already signed: its start date is not in "
                                           "the future."))
        elif parsed and start < parsed.birth_date:
            problems.append(("start_date", "The start date lies after the birth date."))
        written_cycle = cell_text(values.get("cycle"))[:4]
        if written_cycle and written_cycle != str(cycle):
            problems.append(("cycle", f"The start date lies in cycle {cycle}, not {written_cycle}."))
    channel = cell_text(values.get("channel")).lower()
    if channel and channel not in CHANNELS:
        problems.append(("channel", "Not a channel: 现场签约, 线上签约, 默认签约 or 续约."))
    term_years = cell_text(values.get("term_years")).removesuffix("年") or "1"
    if not (term_years.isascii() and term_years.isdigit() and 1 <= int(term_years) <= place.profile.max_term_years):
        problems.append(("term_years", f"The term is 1 to {place.profile.max_term_years} years in this region."))
    centre = cell_text(values.get("centre"))
    if centre and centre not in (place.centre.code, place.centre.name, str(place.centre.id)):
        problems.append(("centre", "Not the centre of this import: import each centre's agreements for that centre."))
    window = cell_text(values.get("window"))
    if window and window not in place.windows:
        problems.append(("window", "This village clinic is not a window of the chosen centre."))
    elif not window and place.profile.requires_village_clinic:
        problems.append(("window", "In this region a resident signs with a centre and one village clinic integrated "
                                   "with it [003 §三]: name the village clinic."))
    team = cell_text(values.get("team"))
    if team and team not in place.teams:
        problems.append(("team", "This team does not belong to the chosen centre."))
    names = [name for name in imports._LIST.split(cell_text(values.get("packages"))) if name]
    codes = [PACKAGE_CODES.get(name) for name in names]
    if None in codes:
        problems.append(("packages", f"Unknown package {names[codes.index(None)]!r}."))
        codes = []
    personalised = [code for code in dict.fromkeys(codes) if code in PERSONALISED]
    for code in personalised:
        if code not in place.prices:
            problems.append(("packages", f"Package {code!r} is not offered by this centre."))
            break
    if problems:
        return None, problems
    _, cycle_end = cycles.cycle_bounds(place.profile, cycle)
    _, term_end = cycles.cycle_bounds(place.profile, cycle + int(term_years) - 1)
    return dict(id_number=parsed.value, name=cell_text(values.get("name")), start_date=start, cycle=cycle, end_date=cycle_end,
                term_years=int(term_years), term_end_date=term_end, channel=CHANNELS[channel] if channel else Channel.ON_SITE,
                window_id=place.windows.get(window), team_id=place.teams.get(team), packages=personalised), []


def write_batch(job: Import, batch: list[tuple[int, dict]], place: Place, source: Source, tally: Tally) -> None:
    """Check and write one batch in one transaction: the agreements, their packages, problems and progress; the
    current cycle's agreements start the residents' plans (signing's `signed` signal, as a signing sends it)."""
    problems, checked = [], []

    def refuse(number: int, column: str, why: str) -> None:
        # A column the file lacks (the centre of the import) is named as county exports head it.
        problems.append(dict(import_id=job.id, row=number, column=source.headers.get(column, HEADERS[column][1]), why=why))
        tally.refused += 1

    for number, values in batch:
        fields, refused = check_row(values, place)
        if refused:
            problems.extend(dict(import_id=job.id, row=number, column=source.headers.get(column, column), why=why)
                            for column, why in refused)
            tally.refused += 1
        else:
            checked.append((number, fields))
    people = {resident.id_number: resident for resident in db.session.scalars(select(Resident).where(
        Resident.id_number_hash.in_([crypto.lookup_hash(fields["id_number"]) for _, fields in checked])))} \
        if checked else {}
    held = {}  # (resident, cycle) -> the centre of an agreement holding the cycle, or of one terminated in it
    for agreement in db.session.scalars(select(Agreement).where(
            Agreement.resident_id.in_([resident.id for resident in people.values()])).order_by(Agreement.id)):
        if agreement.status is not AgreementStatus.TERMINATED:
            held[(agreement.resident_id, agreement.cycle)] = (agreement.centre_id, "holding")
        elif agreement.terminated_on > agreement.start_date:
            held.setdefault((agreement.resident_id, agreement.cycle), (agreement.centre_id, "ended"))
    tags = populations.key_populations_of(people.values(), place.today) if people else {}
    fresh: list[tuple[Agreement, list[str]]] = []
    for number, fields in checked:
        resident = people.get(fields["id_number"])
        if resident is None:
            refuse(number, "id_number", "No resident is registered with this ID number: import the residents first.")
            continue
        if fields["name"] and fields["name"] != resident.name:
            refuse(number, "name", "The name does not match the record held for this ID number.")
            continue
        if resident.died_on is not None and resident.died_on <= fields["end_date"]:
            refuse(number, "id_number", f"The resident's death was recorded ({resident.died_on.isoformat()}): "
                                        "nobody dead is signed.")
            continue
        there = held.get((resident.id, fields["cycle"]))
        if there is not None and there[0] != place.centre.id:
            refuse(number, "centre", "Already signed with another centre in this cycle; the centre can change from the "
                                     "next cycle." if there[1] == "holding" else
                   "The centre cannot change within a cycle [000 §二(三)]: after a termination this cycle's signing is "
                   "with the same centre again; another centre from the next cycle.")
            continue
        unfit = [code for code in fields["packages"] if not is_eligible(place.packages[code], tags[resident.id])]
        if unfit:
            refuse(number, "packages", f"Package {unfit[0]!r} is not for this resident "
                                       f"(for: {', '.join(place.packages[unfit[0]].eligible)}).")
            continue
        if there is not None and there[1] == "holding":
            tally.unchanged += 1
            continue
        held[(resident.id, fields["cycle"])] = (place.centre.id, "holding")
        expired = fields["end_date"] < place.today
        agreement = Agreement(
            resident=resident, centre=place.centre, window_id=fields["window_id"], team_id=fields["team_id"],
            region_code=place.centre.region_code, cycle=fields["cycle"], start_date=fields["start_date"],
            end_date=fields["end_date"], term_years=fields["term_years"], term_end_date=fields["term_end_date"],
            status=AgreementStatus.EXPIRED if expired else AgreementStatus.ACTIVE, channel=fields["channel"],
            counts_for_capitation=counts_for_capitation(resident, place.centre), signed_by=job.started_by,
            basis=_basis(resident, place, fields["channel"]))
        db.session.add(agreement)
        fresh.append((agreement, fields["packages"]))
    if fresh:
        db.session.flush()
        db.session.execute(insert(AgreementPackage), [
            dict(agreement_id=agreement.id, edition=catalogue.EDITION, package_code=code,
                 price_fen=place.prices.get(code, 0), added_on=agreement.start_date, added_by=job.started_by)
            for agreement, personalised in fresh for code in [*MANDATORY, *personalised]])
        tally.created += len(fresh)
        current = [agreement for agreement, _ in fresh if agreement.status is AgreementStatus.ACTIVE]
        if current:
            events.signed.send(None, agreements=current)
    if problems:
        db.session.execute(ImportProblem.__table__.insert(), problems)
    job.rows_done += len(batch)
    job.created, job.unchanged, job.refused = tally.created, tally.unchanged, tally.refused


def _basis(resident: Resident, place: Place, channel: Channel) -> SigningBasis | None:
    """How the centre knew the person was theirs to sign, as far as the record shows it (signing rule 10)."""
    if {resident.home_window_id, resident.residence_window_id} & set(place.windows.values()):
        return SigningBasis.SERVICE_AREA
    return SigningBasis.SELF if channel is Channel.ONLINE else None


KIND = imports.Kind("agreements", HEADERS, REQUIRED, _place, write_batch, _check_centre)


def register() -> None:
    """Make agreements a kind of file the registry's import takes (called by app wiring)."""
    imports.register(KIND)

