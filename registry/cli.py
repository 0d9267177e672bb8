"""`flask demo load`."""

import click
from flask.cli import AppGroup

from registry import demo

demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("load")
def load() -> None:
    """Load demo regions, centres, teams and logins (once)."""
    if demo.load():
        click.echo("Demo data loaded. Logins:")
        for role, (username, secret) in demo.LOGINS.items():
            click.echo(f"  {role:14} {username} / {secret}")
    else:
        click.echo("Demo data already present.")
