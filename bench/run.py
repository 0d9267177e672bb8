"""`make bench`: fill a county, run each scenario, print our figure beside a limit measured in the same run.

    python -m bench.run [--residents 1000000] [--database-url URL] [--keep] [--only NAME ...]

Without --database-url it creates (and afterwards drops) the PostgreSQL database `jiayi_bench` on
127.0.0.1:5432. Everything it starts listens on 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import argparse
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


def render(rows: list[Row]) -> str:
    lines = ["| scenario | ours | limit (same run) | ours / limit | target | met |", "|---|---|---|---|---|---|"]
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        met = {True: "yes", False: "**no**", None: "—"}[row.met]
        lines.append(f"| {row.scenario} | {row.ours} | {row.limit} | {ratio} | {row.target} | {met}"
                     f"{' — ' + row.note if row.note else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)

    url, drop = _prepare_database(args.database_url)
    settings = Settings().replace(DATABASE_URL=url, SECRET_KEY="bench-secret-" + "x" * 32, FIELD_KEY="22" * 32)
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
                print(f"running {name} …", flush=True)
                SCENARIOS[name](run)
                db.session.remove()
        finally:
            table = render(run.rows)
            OUT.mkdir(exist_ok=True)
            (OUT / "latest.md").write_text(table + "\n")
            print(table)
            app.extensions["engine"].dispose()
            if not args.keep:
                drop()


if __name__ == "__main__":
    main()
