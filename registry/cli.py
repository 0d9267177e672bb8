"""`flask registry load-profile FILE --effective-from YYYY-MM-DD`, `registry import FILE --centre ID --kind K` …
(`flask demo load` is demo/cli.py.)"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click
import marshmallow as ma
from flask import g
from flask.cli import AppGroup

from core.auth import Actor, Role
from core.errors import DomainError
from registry import admin, imports, profiles
from registry import admin_schemas as s

registry_cli = AppGroup("registry", help="The registry: policy profiles, administration, imports.")


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
    """Load a policy profile file (JSON, or YAML as .yaml/.yml) as a new version; a typo is refused naming the field."""
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


# Administration from the server's shell: the API's request schemas and rules, acting as the administrator of a
# region (`--as-region`), audited as the operator. ACTION: (request schema or None, rule, the id it takes first or
# None, answer schema).
ADMIN_ACTIONS = {
    "region-add": (s.RegionInSchema, admin.create_region, None, s.RegionSchema),
    "region-set": (s.RegionUpdateSchema, admin.update_region, "code", s.RegionSchema),
    "centre-add": (s.CentreInSchema, admin.create_centre, None, s.AdminCentreSchema),
    "centre-set": (s.CentreUpdateSchema, admin.update_centre, "centre_id", s.AdminCentreSchema),
    "clinic-add": (s.WindowInSchema, admin.create_window, "centre_id", s.WindowSchema),
    "clinic-set": (s.WindowUpdateSchema, admin.update_window, "window_id", s.WindowSchema),
    "team-add": (s.TeamInSchema, admin.create_team, "centre_id", s.TeamSchema),
    "team-set": (s.TeamInSchema, admin.update_team, "team_id", s.TeamSchema),
    "member-add": (s.MemberInSchema, admin.add_member, "team_id", s.MemberSchema),
    "member-set": (s.MemberUpdateSchema, admin.update_member, "member_id", s.MemberSchema),
    "staff-add": (s.StaffInSchema, admin.create_staff, None, s.StaffSchema),
    "staff-set": (s.StaffUpdateSchema, admin.update_staff, "staff_id", s.StaffSchema),
    "client-add": (s.ClientInSchema, admin.create_client, None, s.ClientSchema),
    "client-set": (s.ClientUpdateSchema, admin.update_client, "client_id", s.ClientSchema),
    "client-rotate": (None, admin.rotate_secret, "client_id", s.ClientSchema),
}
# Ids the rules take by keyword (the rest take them as their second argument).
KEYWORD_IDS = {admin.create_window, admin.create_team, admin.add_member}
# What a rule answers beside its row, shown once: a one-time password or a client secret.
SHOWN_ONCE = {admin.create_staff: "one_time_password", admin.update_staff: "one_time_password",
              admin.create_client: "client_secret", admin.rotate_secret: "client_secret"}


def _fields(pairs: tuple[str, ...]) -> dict:
    """FIELD=VALUE pairs as a request body (`null` for none), for the schema to read as it reads JSON."""
    body = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"{pair!r} is not FIELD=VALUE.", param_hint="FIELDS")
        body[name] = None if value == "null" else value
    return body


def _run_admin(action: str, target: str | None, body: dict):
    schema, rule, id_name, _ = ADMIN_ACTIONS[action]
    key = None if id_name is None else target if id_name == "code" else _id(target)
    try:
        values = schema().load(body) if schema else {}
    except ma.ValidationError as error:
        lines = [f"  {name}: {'; '.join(why) if isinstance(why, list) else why}" for name, why in error.messages.items()]
        raise click.ClickException("\n".join(["The request is not valid:", *lines])) from None
    if id_name is None:
        return rule(g.actor, **values)
    return rule(g.actor, **{id_name: key}, **values) if rule in KEYWORD_IDS else rule(g.actor, key, **values)


def _id(target: str) -> int:
    if not target.isascii() or not target.isdigit():
        raise click.BadParameter(f"{target!r} is not an id.", param_hint="ID")
    return int(target)


@registry_cli.command("admin", context_settings={"ignore_unknown_options": True})
@click.argument("action", type=click.Choice(sorted(ADMIN_ACTIONS)))
@click.argument("args", nargs=-1)
@click.option("--as-region", "region_code", required=True,
              help="GB/T 2260 code of the region whose administrator the operator acts as (scope as in the API).")
def admin_command(action: str, args: tuple[str, ...], region_code: str) -> None:
    """Administer the registry as the API does: ACTION [ID] FIELD=VALUE …, e.g. `centre-add code=430523-XH
    name=下花桥镇卫生院 region_code=430523`, `staff-set 7 active=false`, `client-rotate 2` (audited)."""
    id_name = ADMIN_ACTIONS[action][2]
    if id_name is not None and not args:
        raise click.UsageError(f"{action} needs the {id_name} first.")
    target, pairs = (args[0], args[1:]) if id_name else (None, args)
    as_operator()
    g.actor = Actor(role=Role.ADMIN, subject=g.actor.subject, region_code=region_code)
    try:
        answer = _run_admin(action, target, _fields(pairs))
    except DomainError as error:
        raise fail(error) from None
    row, shown = answer if isinstance(answer, tuple) else (answer, None)
    click.echo(json.dumps(ADMIN_ACTIONS[action][3]().dump(row), ensure_ascii=False, default=str))
    if shown is not None:
        click.echo(f"{SHOWN_ONCE[ADMIN_ACTIONS[action][1]]} (shown once): {shown}")
