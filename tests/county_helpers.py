"""Builders for the county tests: administrators' tokens, counting rows to show nothing was written."""

from __future__ import annotations

from sqlalchemy import func, select

from core import db as core_db
from core.auth import Actor, Role
from tests import factories as f


def as_admin(region: str = "430523", staff_id: int = 900_001) -> dict[str, str]:
    """A county administrator of `region` (Role.ADMIN scoped to it)."""
    return f.bearer(Actor(role=Role.ADMIN, subject=f"staff:{staff_id}", region_code=region))


def count(model, *where) -> int:
    return core_db.session.scalar(select(func.count()).select_from(model).where(*where))
