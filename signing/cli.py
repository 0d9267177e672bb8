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
    """Renew agreements into CYCLE; safe to run twice. Exits 1 when a region or person failed (the rest is done)."""
    report = rollover.roll_over(cycle=cycle or clock.today().year + 1)
    click.echo(asdict(report))
    for failure in report.failures:
        who = f"resident {failure.resident_id}" if failure.resident_id is not None else "the whole region"
        click.echo(f"FAILED {failure.step} in region {failure.region} for {who}: {failure.error}", err=True)
    if report.failures:
        raise SystemExit(1)
