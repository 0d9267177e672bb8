"""Alembic environment: the URL comes from the caller (core.migrate) or DATABASE_URL."""

import re

from alembic import context

from app import import_models
from core.config import Settings
from core.db import Base, make_engine

import_models()
config = context.config
url = config.attributes.get("database_url") or Settings().DATABASE_URL


def render_item(type_, obj, autogen_context):
    """Render our column types as the plain SQL types they store."""
    if type_ == "type" and obj.__class__.__module__.startswith("core."):
        return f"sa.{obj.impl!r}"
    return False


# The audit log's monthly partitions (PostgreSQL, 0016) are made by `flask db audit-partitions`, not models.
AUDIT_PARTITION = re.compile(r"audit_events_(\d{4}_\d{2}|default)")


def include_name(name, type_, parent_names):
    return not (type_ == "table" and AUDIT_PARTITION.fullmatch(name or ""))


def include_object(obj, name, type_, reflected, compare_to):
    """What `alembic check` leaves out on PostgreSQL, where visits are partitioned (0023): the key the models name
    `uq_visits_id_resident_id`, which there is the primary key (id, resident_id) (a unique constraint beside it
    would be a second index of the same columns); and the per-partition copies PostgreSQL makes of a foreign key
    that references a partitioned table (they reference the partitions in the `partitions` schema)."""
    if type_ == "unique_constraint" and name == "uq_visits_id_resident_id":
        return context.get_bind().dialect.name != "postgresql"
    return not (type_ == "foreign_key_constraint" and reflected and obj.referred_table.schema == "partitions")


def _sqlite_foreign_keys_off(connection) -> None:
    """SQLite's batch mode rebuilds a table (copy, DROP, rename), and the DROP of a table whose rows other rows
    reference (a moved booking names the booking it replaced) fails while foreign keys are enforced. So they are
    off while migrations run (the pragma only changes outside a transaction) and checked before the commit."""
    connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")


def _sqlite_foreign_keys_checked(connection) -> None:
    """Refuse (roll back) migrations that left a row whose foreign key points nowhere."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"the migrations left rows whose foreign keys point nowhere: {broken[:5]}")


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys_off(connection)
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            render_item=render_item,
            compare_type=True,
            include_name=include_name,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                _sqlite_foreign_keys_checked(connection)
    engine.dispose()


run_migrations_online()
