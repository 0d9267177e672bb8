"""name what `window` used to mean: a visit's on-time range and a profile's change period

`window` is kept for village clinics (POLICY.md glossary). A visit's and a visit record's
`window_start/window_end` become `on_time_from/on_time_until`; a policy profile's
`change_window_start/end` become `change_period_start/end`, in its row and in every stored version.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

VISIT_COLUMNS = {"window_start": "on_time_from", "window_end": "on_time_until"}
PROFILE_COLUMNS = {"change_window_start": "change_period_start", "change_window_end": "change_period_end"}


def _rename_columns(table: str, names: dict[str, str]) -> None:
    """ALTER TABLE … RENAME COLUMN on both databases (SQLite ≥ 3.25 and PostgreSQL alike), so no table is rebuilt and no trigger lost."""
    for old, new in names.items():
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")


def _rename_keys_in_versions(names: dict[str, str]) -> None:
    versions = sa.table("policy_profile_versions", sa.column("id", sa.Integer), sa.column("body", sa.JSON))
    bind = op.get_bind()
    for row in bind.execute(sa.select(versions)).mappings().all():
        body = {names.get(key, key): value for key, value in row["body"].items()}
        bind.execute(versions.update().where(versions.c.id == row["id"]).values(body=body))


def _rename(visit_columns: dict[str, str], profile_columns: dict[str, str], index: tuple[str, str, str]) -> None:
    old_index, new_index, last_column = index
    op.drop_index(old_index, table_name="visits")
    for table in ("visits", "visit_records"):
        _rename_columns(table, visit_columns)
    op.create_index(new_index, "visits", ["centre_id", "state", last_column])
    _rename_columns("policy_profiles", profile_columns)
    _rename_keys_in_versions(profile_columns)


def upgrade() -> None:
    _rename(VISIT_COLUMNS, PROFILE_COLUMNS,
            ("ix_visits_centre_state_window_end", "ix_visits_centre_state_on_time_until", "on_time_until"))


def downgrade() -> None:
    _rename({new: old for old, new in VISIT_COLUMNS.items()}, {new: old for old, new in PROFILE_COLUMNS.items()},
            ("ix_visits_centre_state_on_time_until", "ix_visits_centre_state_window_end", "window_end"))
