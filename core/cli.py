"""`flask db upgrade|check|rotate-field-key|audit-partitions`: the schema, the keys of what it stores, the audit log's months."""

import click
from flask import current_app
from flask.cli import AppGroup

from core import crypto, db, migrate
from core import jobs as audit_jobs
from core.errors import DomainError

db_cli = AppGroup("db", help="Database schema (Alembic migrations) and field keys.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    migrate.upgrade(current_app.config["SETTINGS"].DATABASE_URL, revision)


@db_cli.command("check")
def check() -> None:
    """Fail when the models have changes no migration holds."""
    migrate.check(current_app.config["SETTINGS"].DATABASE_URL)


@db_cli.command("rotate-field-key")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def rotate_field_key(batch_size: int) -> None:
    """Re-encrypt every Encrypted column with the current FIELD_KEY (and bind it to its column).

    Run it after making a new key current (FIELD_KEY, FIELD_KEY_ID) with the old one kept in FIELD_OLD_KEYS;
    once it reports nothing left, the old key can go. Safe to stop and run again, and beside the running app.
    """
    # The app factory has imported every domain's models: Base.metadata holds every Encrypted column.
    columns = crypto.encrypted_columns(db.Base.metadata)
    click.echo(f"re-encrypting {', '.join(f'{t}.{c.name}' for t, cs in columns.items() for c in cs)} "
               f"with key {crypto.current_key_id()}")
    counts = crypto.reencrypt(db.session, db.Base.metadata, batch_size=batch_size)
    for name, count in counts.items():
        click.echo(f"{name}: {count} rewritten")


@db_cli.command("audit-partitions")
@click.option("--retention-days", type=int, default=None,
              help="Keep whole months until all their days are this old (default AUDIT_RETENTION_DAYS; at least 180).")
def audit_partitions(retention_days: int | None) -> None:
    """Create the audit log's partitions for this month and the next three; drop months past retention.

    PostgreSQL only (SQLite keeps one table). Run as the owner role: AUDIT_MAINTENANCE_DATABASE_URL if set.
    """
    settings = current_app.config["SETTINGS"]
    try:
        done = audit_jobs.maintain_audit_partitions(settings, retention_days=retention_days)
    except DomainError as refused:
        raise click.UsageError(refused.message) from None
    click.echo(f"created: {', '.join(done['created']) or 'none'}; dropped: {', '.join(done['dropped']) or 'none'}")
