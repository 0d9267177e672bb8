"""`make bench` scenario county_import: a county's resident file (as many rows as the bench county has residents:
1,000,000, or 50,000 with BENCH_ARGS="--residents 50000") imported through the import path, against a bare COPY
of the same file into a scratch table, in the same run (issue 11: within 3×)."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta

from sqlalchemy import select, text

from bench.harness import Bench, Row, ratio_of, scenario, timed
from core import clock, db
from registry import imports
from registry.idcard import check_character
from registry.models import Centre, Import, ImportStatus

HEADER = ["序号", "姓名", "身份证号", "性别", "出生日期", "联系电话", "户号", "参保类型", "参保地", "村卫生室", "慢病", "确诊日期"]
SCRATCH_COLUMNS = ["seq", "name", "id_number", "sex", "birth_date", "phone", "household", "scheme", "region", "clinic",
                   "conditions", "diagnosed_on"]
TARGET = 3.0


def resident_file(rows: int, windows: list[str], seed: int = 11, prefix: str = "44") -> bytes:
    """A county export of `rows` residents nobody has registered yet (ID numbers of Guangdong prefixes, so they miss
    the bench county's): households of three, a phone for most, village clinics, a quarter of the 35+ hypertensive."""
    rng = random.Random(seed)
    today = clock.today()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for n in range(rows):
        birth = today - timedelta(days=rng.randrange(1, 95 * 365))
        male = n % 2 == 1
        first17 = f"{prefix}{(n // 500) % 10000:04d}{birth:%Y%m%d}{(n % 500) * 2 + male:03d}"
        chronic = birth < today - timedelta(days=35 * 365) and rng.random() < 0.25
        writer.writerow([n + 1, f"导入居民{n}", first17 + check_character(first17), "男" if male else "女", birth.isoformat(),
                         f"13{rng.randrange(10**9):09d}" if rng.random() < 0.8 else "", f"BENCH-IMPORT-{n // 3}",
                         "城乡居民", "430523", rng.choice(windows), "高血压" if chronic else "",
                         (today - timedelta(days=rng.randrange(90, 3000))).isoformat() if chronic else ""])
    return buffer.getvalue().encode("utf-8-sig")


def _copy_into_scratch(bench: Bench, content: bytes) -> float:
    """The limit: COPY the same file (CSV, header) into a scratch table of text columns; seconds."""
    with bench.engine.connect() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_import_scratch"))
        connection.execute(text(f"CREATE TABLE bench_import_scratch ({', '.join(f'{c} text' for c in SCRATCH_COLUMNS)})"))
        connection.commit()
        with timed() as took:
            with connection.connection.cursor() as cursor:
                with cursor.copy("COPY bench_import_scratch FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
                    for start in range(0, len(content), 1 << 20):
                        copy.write(content[start:start + (1 << 20)])
            connection.connection.commit()
        copied = connection.execute(text("SELECT count(*) FROM bench_import_scratch")).scalar()
        connection.execute(text("DROP TABLE bench_import_scratch"))
        connection.commit()
    assert copied == content.count(b"\n") - 1, copied
    return took[0]


@scenario
def county_import(bench: Bench) -> None:
    rows = bench.shape.residents
    centre = db.session.scalar(select(Centre).where(Centre.code == "BENCH-00"))
    content = resident_file(rows, [window.name for window in centre.windows])
    db.session.remove()
    limit = _copy_into_scratch(bench, content)
    with timed() as took:
        source = imports.open_source(content, "county-residents.csv", "residents")
        job = imports.begin(None, centre_id=centre.id, filename="county-residents.csv", source=source,
                            started_by="bench", kind="residents")
        job = imports.run(job.id, source)
    ours = took[0]
    job = db.session.get(Import, job.id, populate_existing=True)
    done = job.status is ImportStatus.DONE and job.created == rows and job.refused == 0
    bench.rows.append(Row(
        "county import of a resident file vs bare COPY of the same rows (s)", ours, limit, "s", f"≤ {TARGET:g}",
        done and ratio_of(ours, limit) <= TARGET,
        note=f"{rows:,} rows ({len(content) / 1e6:,.1f} MB CSV, households, phones, village clinics, "
             f"{_conditions(content):,} chronic conditions); ours: read, check every row with the API's rules, "
             f"encrypt, insert residents, households and conditions, {rows / ours:,.0f} rows/s; import {job.status.value}, "
             f"{job.created:,} registered, {job.refused:,} refused; COPY into a table of text columns, no checks"
             + ("" if rows >= 1_000_000 else "; fewer rows than the 1M-row file the target is about")))


def _conditions(content: bytes) -> int:
    return content.count("高血压".encode())

