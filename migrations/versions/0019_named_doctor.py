"""a named family doctor on each agreement, and the team that serves a village clinic

The basic package promises a named family doctor and a way to contact them (annex 1 of 000, basic
package item 2): `agreements.doctor_id` names the team member (a doctor of the agreement's team) the
resident is signed with. `windows.team_id` is the family-doctor team that serves a village clinic: a
resident who chooses no team is put with it. Agreements already holding a place with a team get the
team's first active doctor, where it has one.

Both are nullable foreign keys added by plain ADD COLUMN (as 0009 and 0011 do): on SQLite batch mode
would rebuild the tables, which the foreign keys of other tables' rows forbid once there is data.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: Union[str, Sequence[str], None] = '0018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

AGREEMENT_DOCTOR_FK = "fk_agreements_doctor_id_team_members"
WINDOW_TEAM_FK = "fk_windows_team_id_teams"


def _add_reference(table: str, column: str, target: str, name: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES {target} (id)")
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(name, table, target, [column], ["id"])


def upgrade() -> None:
    _add_reference("agreements", "doctor_id", "team_members", AGREEMENT_DOCTOR_FK)
    _add_reference("windows", "team_id", "teams", WINDOW_TEAM_FK)
    op.execute(
        "UPDATE agreements SET doctor_id = (SELECT min(m.id) FROM team_members m WHERE m.team_id = agreements.team_id "
        "AND m.role = 'doctor' AND m.active = true) "
        "WHERE doctor_id IS NULL AND team_id IS NOT NULL AND status IN ('pending', 'active', 'change_pending')")


def _sqlite_foreign_keys(on: bool) -> None:
    """Foreign keys off around SQLite's table rebuilds (as 0011 does): the DROP of the old table would trip them."""
    if op.get_bind().dialect.name == "sqlite":
        driver = op.get_bind().connection.driver_connection
        driver.execute("COMMIT")
        driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        driver.execute("BEGIN")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _sqlite_foreign_keys(False)
    for table, column, name in (("windows", "team_id", WINDOW_TEAM_FK), ("agreements", "doctor_id", AGREEMENT_DOCTOR_FK)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if not sqlite:  # SQLite does not reflect a column constraint's name; the rebuild drops it with the column
                batch_op.drop_constraint(name, type_='foreignkey')
            batch_op.drop_column(column)
    _sqlite_foreign_keys(True)
