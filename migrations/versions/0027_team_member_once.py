"""a staff member is on a team once: unique (team_id, staff_id) on team_members

Members without a login (staff_id null) stay as many as a team has. A login linked twice to one team before this
keeps its first member row; the later rows keep their card (name, title, contact) and lose the link.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-27
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0027'
down_revision: Union[str, Sequence[str], None] = '0026'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAME = "uq_team_members_team_id_staff_id"


def upgrade() -> None:
    op.execute("UPDATE team_members SET staff_id = NULL WHERE staff_id IS NOT NULL AND id > "
               "(SELECT min(first.id) FROM team_members AS first "
               "WHERE first.team_id = team_members.team_id AND first.staff_id = team_members.staff_id)")
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_unique_constraint(NAME, ["team_id", "staff_id"])


def downgrade() -> None:
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_constraint(NAME, type_="unique")
