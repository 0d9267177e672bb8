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


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            render_item=render_item,
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
