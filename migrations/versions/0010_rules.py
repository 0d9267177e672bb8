"""rules: profile data and facts the signing and care rules need (shared/POLICY.md "Signing rules", "Packages")

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

profiles = sa.table("policy_profiles", sa.column("code", sa.String), sa.column("requires_village_clinic", sa.Boolean))

visits = sa.table("visits", sa.column("programme", sa.String), sa.column("code", sa.String), sa.column("modes", sa.JSON))

# [003 §三] Zhanjiang: one centre and one village clinic integrated with it.
REQUIRE_VILLAGE_CLINIC = ("zhanjiang-2024",)
# [000 annex 1] Visits are completed face to face (clinic or home); home visits (80+, newborn, after birth) at home.
FACE_TO_FACE = sa.text("""'["clinic", "home"]'""")
HOME_VISITS = sa.or_(
    sa.and_(visits.c.programme.in_(("elderly-80", "postpartum")), visits.c.code.like("%home-visit")),
    sa.and_(visits.c.programme == "child", visits.c.code == "newborn-home"),
)


def upgrade() -> None:
    with op.batch_alter_table("policy_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requires_village_clinic", sa.Boolean(), server_default=sa.text("(false)"),
                                      nullable=False))
    op.execute(profiles.update().where(profiles.c.code.in_(REQUIRE_VILLAGE_CLINIC)).values(requires_village_clinic=True))
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index("ix_agreements_resident_cycle", ["resident_id", "cycle"], unique=False)
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("modes", sa.JSON(), server_default=FACE_TO_FACE, nullable=False))
    op.execute(visits.update().where(HOME_VISITS).values(modes=["home"]))
    with op.batch_alter_table("visit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completes", sa.Boolean(), server_default=sa.text("(true)"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("visit_records", schema=None) as batch_op:
        batch_op.drop_column("completes")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("modes")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index("ix_agreements_resident_cycle")
    with op.batch_alter_table("policy_profiles", schema=None) as batch_op:
        batch_op.drop_column("requires_village_clinic")
