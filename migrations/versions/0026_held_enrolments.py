"""the bureau's enrolment facts of people not yet registered are held until a record with their ID number appears

`held_enrolments`: keyed hashes of the ID number and name (neither kept in clear), the fact's scheme, region and
dates; unique per (ID-number hash, valid_from), as `insurance_facts` is per (resident, valid_from).

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-27
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: Union[str, Sequence[str], None] = '0025'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "held_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("name_hash", sa.String(length=64), nullable=True),
        sa.Column("scheme", sa.Enum("resident", "employee", "uninsured", name="insurancescheme", native_enum=False,
                                    length=32), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("reported_by", sa.String(length=120), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_held_enrolments_region_code_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_enrolments")),
        sa.UniqueConstraint("id_number_hash", "valid_from", name=op.f("uq_held_enrolments_id_number_hash_valid_from")),
    )


def downgrade() -> None:
    op.drop_table("held_enrolments")
