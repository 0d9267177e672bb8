"""rules: profile data and facts the signing and care rules need (shared/POLICY.md "Signing rules", "Packages")

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-25
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

profiles = sa.table("policy_profiles", sa.column("code", sa.String), sa.column("requires_village_clinic", sa.Boolean))

# [003 §三] Zhanjiang: one centre and one village clinic integrated with it.
REQUIRE_VILLAGE_CLINIC = ("zhanjiang-2024",)


def upgrade() -> None:
    with op.batch_alter_table("policy_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requires_village_clinic", sa.Boolean(), server_default=sa.text("(false)"),
                                      nullable=False))
    op.execute(profiles.update().where(profiles.c.code.in_(REQUIRE_VILLAGE_CLINIC)).values(requires_village_clinic=True))
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index("ix_agreements_resident_cycle", ["resident_id", "cycle"], unique=False)
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("died_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_column("died_on")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index("ix_agreements_resident_cycle")
    with op.batch_alter_table("policy_profiles", schema=None) as batch_op:
        batch_op.drop_column("requires_village_clinic")
