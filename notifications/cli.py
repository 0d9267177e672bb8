"""`flask scheduler run` and `flask notifications dispatch`."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from notifications import outbox, scheduler

scheduler_cli = AppGroup("scheduler", help="The periodic jobs (run exactly one leader; more are safe).")
notifications_cli = AppGroup("notifications", help="The outbox.")


@scheduler_cli.command("run")
def run() -> None:
    """Run the scheduler until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.run(current_app._get_current_object(), stop)


@notifications_cli.command("dispatch")
def dispatch() -> None:
    """Send every due message once, then exit."""
    click.echo(outbox.dispatch())
