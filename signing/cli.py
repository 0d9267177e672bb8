"""`flask signing roll-over`."""

from dataclasses import asdict

import click
from flask.cli import AppGroup

from core import clock
from signing import rollover

signing_cli = AppGroup("signing", help="Signing cycles.")


@signing_cli.command("roll-over")
@click.option("--cycle", type=int, default=None, help="The cycle to roll into (default: next year's).")
def roll_over(cycle: int | None) -> None:
    """Renew agreements into CYCLE; safe to run twice."""
    report = rollover.roll_over(cycle=cycle or clock.today().year + 1)
    click.echo(asdict(report))

