"""`flask db upgrade|check`: migrations from the command line."""

import click
from flask import current_app
from flask.cli import AppGroup

from core import migrate

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    migrate.upgrade(current_app.config["SETTINGS"].DATABASE_URL, revision)


@db_cli.command("check")
def check() -> None:
    """Fail when the models have changes no migration holds."""
    migrate.check(current_app.config["SETTINGS"].DATABASE_URL)
