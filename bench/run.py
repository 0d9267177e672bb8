"""`make bench`: fill a county, run each scenario, print our figure beside a limit measured in the same run.

    python -m bench.run [--residents 1000000] [--database-url URL] [--keep] [--only NAME ...]

Without --database-url it creates (and afterwards drops) the PostgreSQL database `jiayi_bench` on
127.0.0.1:5432. Everything it starts listens on 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from typing import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import bench.scenarios  # noqa: F401  (registers the scenarios)
from app import create_app
from bench.county import CountyShape, generate
from bench.harness import SCENARIOS, Bench, Row
from core import clock, db, migrate
from core.config import ROOT, Settings

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DB = "jiayi_bench"
OUT = ROOT / "bench" / "out"
# The residents' access tokens are made once, before the scenarios: long enough for the whole run (the default 900 s
# would expire during a full run).
TOKEN_SECONDS = 12 * 3600


def _prepare_database(url: str | None) -> tuple[str, Callable[[], None]]:
    if url:
        return url, lambda: None
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{BENCH_DB}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))

    return make_url(ADMIN_URL).set(database=BENCH_DB).render_as_string(hide_password=False), drop


def _figure(value: float | None, unit: str, detail: str) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f} {unit}" + (f" ({detail})" if detail else "")


def render(rows: list[Row], notes: list[str]) -> str:
    lines = ["| scenario | ours | limit (same run) | ours / limit | target | met |", "|---|---|---|---|---|---|"]
    for row in rows:
        ratio = f"{row.ratio:.3f}" if row.ratio is not None else "—"
        met = {True: "yes", False: "**no**", None: "n/a"}[row.met]
        lines.append(f"| {row.scenario} | {_figure(row.ours, row.unit, row.ours_detail)} | "
                     f"{_figure(row.limit, row.unit, row.limit_detail)} | {ratio} | {row.target} | {met}"
                     f"{' — ' + row.note if row.note else ''} |")
    return "\n".join(lines + [""] + [f"- {note}" for note in notes])


def write(rows: list[Row], notes: list[str], seconds: float) -> str:
    """Print-ready table; also bench/out/latest.md and, for programs, bench/out/latest.json."""
    table = render(rows, notes + [f"The run took {seconds / 60:,.1f} min."])
    OUT.mkdir(exist_ok=True)
    (OUT / "latest.md").write_text(table + "\n")
    (OUT / "latest.json").write_text(json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=1) + "\n")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)

    started = time.monotonic()
    url, drop = _prepare_database(args.database_url)
    settings = Settings().replace(DATABASE_URL=url, SECRET_KEY="bench-secret-" + "x" * 32, FIELD_KEY="22" * 32,
                                  ACCESS_TOKEN_SECONDS=TOKEN_SECONDS)
    migrate.upgrade(url)
    app = create_app(settings)
    shape = CountyShape(residents=args.residents)
    with app.app_context():
        clock.set_now(None)
        print(f"generating a county of {shape.residents:,} residents …", flush=True)
        print(generate(shape), flush=True)
        run = Bench(settings=settings, app=app, shape=shape)
        try:
            for name in args.only or list(SCENARIOS):
                print(f"running {name} … ({(time.monotonic() - started) / 60:.1f} min in)", flush=True)
                try:
                    SCENARIOS[name](run)
                except Exception as error:  # noqa: BLE001  a broken scenario is a row saying why; the others still run
                    traceback.print_exc()
                    run.rows.append(Row(name, None, None, "", "—", False,
                                        note=f"the scenario failed: {type(error).__name__}: {str(error)[:200]}"))
                db.session.remove()
        finally:
            print(write(run.rows, list(run.notes.values()), time.monotonic() - started))
            app.extensions["engine"].dispose()
            if not args.keep:
                drop()


if __name__ == "__main__":
    main()
