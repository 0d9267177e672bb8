"""`flask signing roll-over` and `flask demo load`."""

from dataclasses import asdict

import click
from flask.cli import AppGroup

from core import clock
from signing import demo, rollover

signing_cli = AppGroup("signing", help="Signing cycles.")
demo_cli = AppGroup("demo", help="Demo data.")


@signing_cli.command("roll-over")
@click.option("--cycle", type=int, default=None, help="The cycle to roll into (default: next year's).")
def roll_over(cycle: int | None) -> None:
    """Renew agreements into CYCLE; safe to run twice."""
    report = rollover.roll_over(cycle=cycle or clock.today().year + 1)
    click.echo(asdict(report))


@demo_cli.command("load")
def load() -> None:
    """Load demo regions, centres, teams and logins (once)."""
    if demo.load():
        click.echo("Demo data loaded. Logins:")
        for role, (username, secret) in demo.LOGINS.items():
            click.echo(f"  {role:14} {username} / {secret}")
    else:
        click.echo("Demo data already present.")
