"""`flask care rebuild-plans`: (re)build every agreement in force's follow-up plan, e.g. after roll-over."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from care import plans
from core import clock, db
from signing.models import Agreement, in_force_on

care_cli = AppGroup("care", help="Follow-up plans and visits.")


@care_cli.command("rebuild-plans")
def rebuild_plans() -> None:
    """Rebuild the plans of every resident with a agreement in force; safe to run again."""
    ids = list(db.session.scalars(select(Agreement.resident_id).where(in_force_on(clock.today()))))
    for start in range(0, len(ids), plans.BATCH):
        with db.transaction():
            plans.rebuild_plans(ids[start:start + plans.BATCH])
    click.echo(f"Plans rebuilt for {len(ids)} residents.")
