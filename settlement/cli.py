"""`flask settlement snapshot --month YYYY-MM`: freeze a month's counts by hand (safe to run twice)."""

import click
from flask.cli import AppGroup

from core import clock
from core.errors import DomainError
from settlement import service as settlement

settlement_cli = AppGroup("settlement", help="Settlement: monthly snapshots.")


@settlement_cli.command("snapshot")
@click.option("--month", default=None, help="YYYY-MM (default: the current month).")
def snapshot(month: str | None) -> None:
    """Freeze every pooling region's counts for MONTH; regions already frozen are left alone."""
    try:
        made = settlement.freeze_month(month or clock.today().strftime("%Y-%m"))
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{len(made)} snapshot(s) made: {', '.join(s.region_code for s in made) or 'none (already frozen)'}")
