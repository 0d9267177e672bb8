"""`flask packages rebuild-plans`: (re)build every running agreement's follow-up plan, e.g. after roll-over."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from core import clock, db
from packages import service
from signing.models import Agreement

packages_cli = AppGroup("packages", help="Service packages and follow-up plans.")


@packages_cli.command("rebuild-plans")
def rebuild_plans() -> None:
    """Rebuild the plans of every resident with a running agreement; safe to run again."""
    today = clock.today()
    ids = list(db.session.scalars(select(Agreement.resident_id).where(
        Agreement.status.in_(service.RUNNING), Agreement.start_date <= today, Agreement.end_date >= today)))
    for start in range(0, len(ids), service.BATCH):
        with db.transaction():
            service.rebuild_plans(ids[start:start + service.BATCH])
    click.echo(f"Plans rebuilt for {len(ids)} residents.")
