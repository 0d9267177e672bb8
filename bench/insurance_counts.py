"""Time settlement's signed-counts GROUP BY on PostgreSQL: counted and scheme day by day from the insurance facts
(settlement.service.measures_of) against the same 22 figures from the agreement's flag and the recorded scheme.

    JIAYI_ENV=development .venv/bin/python -m bench.insurance_counts 200000

Generates a county (bench.county), gives every resident an open insurance fact and a tenth a change of scheme
from 1 June, and prints the median of 5 runs of each statement, with PostgreSQL's JIT on (its default) and off.
Creates and drops the database jiayi_bench_insurance.
"""
import statistics
import sys
import time
from datetime import date

from sqlalchemy import and_, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from app import create_app
from bench.county import COUNTY, CountyShape, generate
from core import clock, db, migrate
from core.config import Settings
from registry.models import InsuranceFact, InsuranceScheme, Resident
from registry.populations import key_population_sql
from settlement import service as settlement
from signing.models import Agreement

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NAME = "jiayi_bench_insurance"


def main(residents: int) -> None:
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{NAME}"'))
    url = make_url(ADMIN).set(database=NAME).render_as_string(hide_password=False)
    try:
        settings = Settings().replace(DATABASE_URL=url, SECRET_KEY="bench-secret-" + "x" * 32, FIELD_KEY="22" * 32)
        migrate.upgrade(url)
        app = create_app(settings)
        with app.app_context():
            clock.set_now(None)
            print(generate(CountyShape(residents=residents)), flush=True)
            ids = db.session.scalars(select(Resident.id)).all()
            rows = [dict(resident_id=rid, scheme=InsuranceScheme.RESIDENT, region_code=COUNTY, valid_from=date(2020, 1, 1),
                         valid_to=date(2026, 5, 31) if n % 10 == 0 else None, reported_by="bench") for n, rid in enumerate(ids)]
            rows += [dict(resident_id=rid, scheme=InsuranceScheme.EMPLOYEE, region_code=COUNTY, valid_from=date(2026, 6, 1),
                          valid_to=None, reported_by="bench") for rid in ids[::10]]
            with db.transaction():
                for at in range(0, len(rows), 20_000):
                    db.session.execute(insert(InsuranceFact), rows[at:at + 20_000])
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            print(f"{len(ids):,} residents, {len(rows):,} insurance facts", flush=True)
            today = clock.today()
            by, joins = settlement.GROUPS["centre"]
            ours = settlement.tally_query(today, [COUNTY], settlement.measures_of(today, [], [COUNTY]), by=by, joins=joins)
            counted = Agreement.counts_for_capitation.is_(True)
            scheme = Resident.insurance_scheme
            old_measures = {  # main's measures_of: the flag and the resident's recorded scheme
                "signed": func.count(Agreement.id), "counted": db.count_where(counted), "not_counted": db.count_where(~counted),
                "effective": db.count_where(and_(counted, Resident.has_health_record.is_(True), Resident.in_insurance_master.is_(True))),
                **{f"{s.value}_scheme": db.count_where(scheme == s) for s in InsuranceScheme},
                **{f"counted_{s.value}": db.count_where(and_(counted, scheme == s)) for s in InsuranceScheme if s.value != "uninsured"},
                **{name: db.count_where(c) for name, c in key_population_sql(today).items()}}
            flag_only = (select(*by, *old_measures.values()).select_from(Agreement).join(Resident, Agreement.resident_id == Resident.id)
                         .outerjoin(*joins[0]).where(Agreement.region_code.in_([COUNTY]), settlement.in_force_on(today),
                                                     settlement.alive_on(today)).group_by(*by))
            if "--explain" in sys.argv:
                from sqlalchemy.dialects import postgresql
                compiled = ours.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
                for line in db.session.execute(text(f"EXPLAIN ANALYZE {compiled}")).scalars():
                    print(line)

            def median(statement) -> float:
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    db.session.execute(statement).all()
                    times.append(time.perf_counter() - started)
                return statistics.median(times)

            print(f"day-by-day ({len(settlement.measures_of(today, []))} figures): {median(ours):.3f} s; "
                  f"main's flag and recorded scheme ({len(old_measures)} figures): {median(flag_only):.3f} s", flush=True)
            db.session.execute(text("SET jit = off"))
            print(f"with jit off: day-by-day {median(ours):.3f} s; main's {median(flag_only):.3f} s", flush=True)
            app.extensions["engine"].dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
