"""`flask notifications dispatch`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from notifications import outbox

notifications_cli = AppGroup("notifications", help="The outbox.")


@notifications_cli.command("dispatch")
def dispatch() -> None:
    """Send every due message once, then exit."""
    click.echo(outbox.dispatch())
