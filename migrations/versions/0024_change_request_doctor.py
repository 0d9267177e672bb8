"""a change request may name the family doctor the resident wants at the new centre

`change_requests.doctor_id`: a doctor of the chosen team of the new centre (signing.doctors), carried
into the next cycle's agreement by the roll-over while they are still an active doctor of that team.
A nullable foreign key added by plain ADD COLUMN, as 0019 adds `agreements.doctor_id`.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: Union[str, Sequence[str], None] = '0023'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

DOCTOR_FK = "fk_change_requests_doctor_id_team_members"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE change_requests ADD COLUMN doctor_id INTEGER CONSTRAINT {DOCTOR_FK} "
                   "REFERENCES team_members (id)")
    else:
        op.add_column("change_requests", sa.Column("doctor_id", sa.Integer(), nullable=True))
        op.create_foreign_key(DOCTOR_FK, "change_requests", "team_members", ["doctor_id"], ["id"])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("change_requests", schema=None) as batch_op:
        if not sqlite:  # SQLite does not reflect a column constraint's name; the rebuild drops it with the column
            batch_op.drop_constraint(DOCTOR_FK, type_="foreignkey")
        batch_op.drop_column("doctor_id")
