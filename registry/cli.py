"""`flask registry load-profile FILE --effective-from YYYY-MM-DD`, `registry import FILE --centre ID --kind K` …
(`flask demo load` is demo/cli.py.)"""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from flask import g
from flask.cli import AppGroup

from core.auth import Actor, Role
from core.errors import DomainError
from registry import admin, imports, profiles

registry_cli = AppGroup("registry", help="The registry: policy profiles, imports.")


def as_operator() -> None:
    """The audit log names the operator at the server's shell for what the CLI changes."""
    g.actor = Actor(role=Role.ADMIN, subject=f"cli:{getpass.getuser()}")


def fail(error: DomainError) -> click.ClickException:
    """A refusal as the CLI says it: the message and every field with why."""
    fields = (error.body().get("errors") or {}).get(error.location, {})
    lines = [error.message, *(f"  {name}: {'; '.join(why)}" for name, why in fields.items())]
    return click.ClickException("\n".join(dict.fromkeys(lines)))


@registry_cli.command("load-profile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--effective-from", "effective_from", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="YYYY-MM-DD: the day the version takes effect.")
def load_profile(file: Path, effective_from) -> None:
    """Load a policy profile file (JSON) as a new version; a typo is refused naming the field."""
    as_operator()
    try:
        version, created = admin.load_profile(None, profile=profiles.read_file(file), effective_from=effective_from.date(),
                                              source=file.name)
    except DomainError as error:
        raise fail(error) from None
    what = "loaded" if created else "already loaded"
    click.echo(f"{version.code} version {version.version} {what}, effective from {version.effective_from.isoformat()}.")



@registry_cli.command("create-admin")
@click.argument("username")
@click.argument("name")
@click.option("--region", "region_code", required=True, help="GB/T 2260 code of the county (or city) administered.")
def create_admin(username: str, name: str, region_code: str) -> None:
    """Open a county administrator account; prints a one-time password the first login replaces."""
    as_operator()
    try:
        staff, password = admin.create_administrator(username=username, name=name, region_code=region_code)
    except DomainError as error:
        raise fail(error) from None
    click.echo(f"Administrator {staff.username} of {region_code} created. One-time password: {password}")


@registry_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--centre", "centre_id", required=True, type=int, help="Id of the centre the rows belong to.")
@click.option("--kind", default="residents", show_default=True,
              help="What the file holds: residents (with conditions, pregnancies, tags) or agreements.")
@click.option("--report", "report", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the refused rows (row, column, why) to this CSV file.")
def import_file(file: Path, centre_id: int, kind: str, report: Path | None = None) -> None:
    """Import a CSV or XLSX export (residents and households, or agreements), with a progress bar."""
    as_operator()
    try:
        source = imports.open_source(file.read_bytes(), file.name, kind)
        job = imports.begin(None, centre_id=centre_id, filename=file.name, source=source, started_by=g.actor.subject,
                            kind=kind)
    except DomainError as error:
        raise fail(error) from None
    with click.progressbar(length=source.total, label=f"Import {job.id}") as bar:
        job = imports.run(job.id, source, progress=bar.update)
    what = ("registered", "already registered") if kind == "residents" else ("recorded", "already recorded")
    click.echo(f"Import {job.id} {job.status.value}: {job.created} {what[0]}, {job.unchanged} {what[1]}, "
               f"{job.refused} refused.")
    if report is not None:
        with report.open("w", encoding="utf-8", newline="") as out:
            out.writelines(imports.report_csv(job))
        click.echo(f"Report of refused rows: {report}")
    elif job.refused:
        click.echo(f"Report: GET /api/v1/imports/{job.id}/report.csv (or --report FILE)")


@registry_cli.command("import-residents")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--centre", "centre_id", required=True, type=int, help="Id of the centre the residents belong to.")
@click.pass_context
def import_residents(context: click.Context, file: Path, centre_id: int) -> None:
    """Import residents and households from a CSV or XLSX export (`registry import --kind residents`)."""
    context.invoke(import_file, file=file, centre_id=centre_id, kind="residents")
