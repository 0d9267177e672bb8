"""`flask demo load`: the demo county (registry.demo imports its files, demo.story makes it live)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core import clock
from demo import story
from registry import demo

demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("load")
def load() -> None:
    """Load demo regions, centres, teams, logins and the county's files, then make it live (once)."""
    if clock.today() != demo.DEMO_DATE:
        click.echo(f"Note: the demo files are dated for {demo.DEMO_DATE.isoformat()}; today's business date is "
                   f"{clock.today().isoformat()} (make run sets it with JIAYI_CLOCK_SHIFT).")
    if not demo.load():
        click.echo("Demo data already present.")
        return
    done = story.live()
    click.echo(f"Demo county loaded: {done['visits_done']} visits served, {done['lectures']} lectures announced, "
               f"{done['reminders']} visit reminders in the outbox, {done['frozen']} months frozen. Logins:")
    for role, (username, secret) in demo.LOGINS.items():
        click.echo(f"  {role:14} {username} / {secret}")
