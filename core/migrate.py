"""Alembic, driven from code: the schema is only ever built by migrations."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from core.config import ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(toml_file=str(ROOT / "pyproject.toml"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Fail when the models differ from what the migrations built."""
    command.check(alembic_config(database_url))
