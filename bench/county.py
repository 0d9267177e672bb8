"""Fill a database with a realistic county: 1,000,000 residents, 30 centres, 300 village clinics,
700,000 agreements for the current cycle, each with the basic and value-added packages every signing gets.

Age shares follow China's 2020 census roughly (0–6: 7%, 65+: 14%, 80+: 2.5%); 92% are insured in
the resident scheme and 5% in the employee scheme, mostly in the county; 70% of residents are
signed; of those 35 and over, 25% have hypertension and 10% type-2 diabetes (managed cases). PostgreSQL is filled with COPY, SQLite with batched executemany.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, insert, select, text

from core import clock, crypto, db
from packages import catalogue
from registry.demo import REGIONS
from registry.idcard import check_character
from registry.models import (
    Centre,
    Condition,
    Household,
    MemberRole,
    Region,
    Resident,
    Team,
    TeamMember,
    Window,
)
from signing.models import Agreement, AgreementPackage

COUNTY = "430523"
BATCH = 20_000


@dataclass
class CountyShape:
    residents: int = 1_000_000
    centres: int = 30
    windows_per_centre: int = 10
    teams_per_centre: int = 4
    signed_share: float = 0.70
    seed: int = 2025


def _birth_date(rng: random.Random, today: date) -> date:
    roll = rng.random()
    if roll < 0.07:
        years = rng.uniform(0, 6.99)
    elif roll < 0.86:
        years = rng.uniform(7, 64.99)
    elif roll < 0.975:
        years = rng.uniform(65, 79.99)
    else:
        years = rng.uniform(80, 99)
    return today - timedelta(days=int(years * 365.25))


def _id_number(birth: date, serial: int) -> str:
    """A valid ID number, unique by serial (region prefix varies to make room for a million)."""
    region = f"43{(serial // 1000) % 10000:04d}"
    first17 = f"{region}{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_character(first17)


def _registry(shape: CountyShape) -> list[tuple[int, list[int], list[int]]]:
    """Regions, centres, windows, teams; returns (centre id, window ids, team ids)."""
    with db.transaction():
        for code, name, parent, profile in REGIONS:
            db.session.merge(Region(code=code, name=name, parent_code=parent, profile_code=profile))
        centres = []
        for c in range(shape.centres):
            centre = Centre(code=f"BENCH-{c:02d}", name=f"基准乡镇卫生院{c:02d}", region_code=COUNTY)
            centre.windows = [Window(code=f"BENCH-{c:02d}-{w:02d}", name=f"村卫生室{w:02d}") for w in range(shape.windows_per_centre)]
            centre.teams = [Team(name=f"团队{t}") for t in range(shape.teams_per_centre)]
            db.session.add(centre)
            centres.append(centre)
        db.session.flush()
        # Each team's family doctor: a signing names one (signing.doctors) and refuses a team without.
        db.session.add_all([TeamMember(team_id=team.id, role=MemberRole.DOCTOR, name=f"{team.name}医生", title="主治医师")
                            for centre in centres for team in centre.teams])
        db.session.flush()
        return [(c.id, [w.id for w in c.windows], [t.id for t in c.teams]) for c in centres]


def _copy_or_insert(table, columns: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        with connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    else:
        connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


def generate(shape: CountyShape) -> dict:
    """Generate the county; returns counts and seconds taken."""
    started = time.perf_counter()
    rng = random.Random(shape.seed)
    today, now = clock.today(), clock.now()
    places = _registry(shape)
    cycle_end = date(today.year, 12, 31)
    first_id = (db.session.scalar(select(func.max(Resident.id))) or 0) + 1
    first_household = (db.session.scalar(select(func.max(Household.id))) or 0) + 1
    next_agreement = (db.session.scalar(select(func.max(Agreement.id))) or 0) + 1
    mandatory = [p.code for p in catalogue.PACKAGES_2025 if p.tier in catalogue.MANDATORY_TIERS]
    resident_columns = ["id", "name", "id_number", "id_number_hash", "phone", "phone_hash", "birth_date", "sex",
                        "household_id", "insurance_scheme", "insurance_region_code", "has_health_record",
                        "in_insurance_master", "home_window_id", "created_at", "updated_at"]
    agreement_columns = ["id", "resident_id", "centre_id", "window_id", "team_id", "region_code", "cycle", "start_date",
                         "end_date", "term_years", "term_end_date", "status", "channel", "counts_for_capitation",
                         "signed_by", "created_at", "updated_at"]
    condition_columns = ["resident_id", "kind", "diagnosed_on", "recorded_on", "recorded_by"]
    package_columns = ["agreement_id", "edition", "package_code", "price_fen", "added_on", "added_by"]
    signed = 0
    for batch_start in range(0, shape.residents, BATCH):
        households, residents, agreements, conditions, packages = [], [], [], [], []
        for n in range(batch_start, min(batch_start + BATCH, shape.residents)):
            rid, hid = first_id + n, first_household + n // 3
            if n % 3 == 0:
                households.append((hid, now))
            birth = _birth_date(rng, today)
            number = _id_number(birth, n)
            phone = f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}"
            centre_id, windows, teams = places[rng.randrange(len(places))]
            window_id = rng.choice(windows)
            roll = rng.random()
            scheme, region = ("resident", COUNTY) if roll < 0.92 else ("employee", COUNTY) if roll < 0.97 else (
                ("resident", "430522") if roll < 0.99 else ("uninsured", None))
            residents.append((rid, f"居民{n}", crypto.encrypt(number, "residents.id_number"), crypto.lookup_hash(number), crypto.encrypt(phone, "residents.phone"),
                              crypto.lookup_hash(phone), birth, "M" if n % 2 else "F", hid, scheme, region,
                              rng.random() < 0.9, scheme != "uninsured", window_id, now, now))
            if birth <= today - timedelta(days=35 * 365):
                for kind, share in (("hypertension", 0.25), ("diabetes", 0.10)):
                    if rng.random() < share:
                        conditions.append((rid, kind, today - timedelta(days=rng.randrange(90, 3650)), today, "bench"))
            if rng.random() < shape.signed_share:
                signed += 1
                start = date(today.year, 1, 1) + timedelta(days=rng.randrange(max(1, (today - date(today.year, 1, 1)).days)))
                agreements.append((next_agreement, rid, centre_id, window_id, rng.choice(teams), COUNTY, today.year, start, cycle_end, 1,
                                   cycle_end, "active", "online" if rng.random() < 0.4 else "on_site",
                                   region == COUNTY and scheme != "uninsured", "bench", now, now))
                packages += [(next_agreement, catalogue.EDITION, code, 0, start, "bench") for code in mandatory]
                next_agreement += 1
        with db.transaction():
            _copy_or_insert(Household.__table__, ["id", "created_at"], households)
            _copy_or_insert(Resident.__table__, resident_columns, residents)
            _copy_or_insert(Agreement.__table__, agreement_columns, agreements)
            _copy_or_insert(Condition.__table__, condition_columns, conditions)
            _copy_or_insert(AgreementPackage.__table__, package_columns, packages)
    if db.session.get_bind().dialect.name == "postgresql":
        with db.transaction():
            for table in ("households", "residents", "agreements"):
                db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
            db.session.execute(text("ANALYZE"))
    return {"residents": shape.residents, "agreements": signed, "seconds": round(time.perf_counter() - started, 1)}
