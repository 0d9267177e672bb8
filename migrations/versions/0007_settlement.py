"""settlement: frozen monthly snapshots; capitation rules of the profiles as generic, parameterised data

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

profiles = sa.table(
    "policy_profiles",
    sa.column("code", sa.String), sa.column("name", sa.String),
    sa.column("cycle_start_month", sa.Integer), sa.column("cycle_start_day", sa.Integer),
    sa.column("change_window_start", sa.String), sa.column("change_window_end", sa.String),
    sa.column("auto_renew", sa.Boolean), sa.column("default_assignment", sa.Boolean),
    sa.column("max_term_years", sa.Integer), sa.column("settlement", sa.JSON),
)

# Rules are named by what they do, not by region, so a new region with a known rule is only data.
SETTLEMENT = {
    # [000 §二(一)3] budget = counted x base fee; budget / 12 x 90% prepaid monthly; the rest at year end.
    "hunan-2025": {"rule": "prepay", "fee_fen_per_year": 8500, "pay_share": "0.90"},
    # [001 五(一)1] 20% held as risk reserve, the rest prepaid monthly by head count.
    "shaoyang-2019": {"rule": "reserve", "fee_fen_per_year": 4000, "reserve_share": "0.20"},
    # [003 §六] monthly fund = counted x 50 yuan / 12; pay min(actual cost, fund) x 95%; 5% quality deposit.
    "zhanjiang-2024": {"rule": "cost-capped", "fee_fen_per_year": 5000, "pay_share": "0.95"},
}
PREVIOUS = {
    "hunan-2025": {"rule": "hunan-2025", "base_fee_fen_per_year": 8500, "prepay_share": "0.90"},
    "shaoyang-2019": {"rule": "shaoyang-2019", "fee_fen_per_year": 4000, "risk_reserve_share": "0.20"},
    "zhanjiang-2024": {"rule": "zhanjiang-2024", "rate_fen_per_year": 5000, "pay_share": "0.95"},
}
# [004 一] the capitation fee may differ by age group. The fees are examples: each city sets its own.
GUANGDONG = dict(
    code="guangdong-2025", name="广东省 2025 普通门诊按人头付费（按年龄分组）", cycle_start_month=1, cycle_start_day=1,
    change_window_start="10-01", change_window_end="12-31", auto_renew=True, default_assignment=False,
    max_term_years=3,
    settlement={"rule": "prepay", "pay_share": "1.00", "fee_fen_per_year": 6000, "age_groups": [
        {"group": "0-6", "max_age": 6, "fee_fen_per_year": 9000},
        {"group": "65+", "min_age": 65, "fee_fen_per_year": 10000},
    ]},
)


def _set_settlement(rules: dict) -> None:
    for code, settlement in rules.items():
        op.execute(profiles.update().where(profiles.c.code == code).values(settlement=settlement))


def upgrade() -> None:
    op.create_table(
        "settlement_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_settlement_snapshots_region_code_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_snapshots")),
        sa.UniqueConstraint("region_code", "month", name=op.f("uq_settlement_snapshots_region_code_month")),
    )
    op.create_table(
        "settlement_snapshot_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("count", "adjustment", name="linekind", native_enum=False, length=32), nullable=False),
        sa.Column("adjusts_month", sa.String(length=7), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["centre_id"], ["centres.id"], name=op.f("fk_settlement_snapshot_lines_centre_id_centres")),
        sa.ForeignKeyConstraint(["snapshot_id"], ["settlement_snapshots.id"],
                                name=op.f("fk_settlement_snapshot_lines_snapshot_id_settlement_snapshots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_snapshot_lines")),
    )
    with op.batch_alter_table("settlement_snapshot_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_snapshot_lines_snapshot_id"), ["snapshot_id"], unique=False)
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index("ix_agreements_roster", ["region_code", "cycle", "updated_at", "id"], unique=False)
    _set_settlement(SETTLEMENT)
    op.bulk_insert(profiles, [GUANGDONG])


def downgrade() -> None:
    op.execute(profiles.delete().where(profiles.c.code == GUANGDONG["code"]))
    _set_settlement(PREVIOUS)
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index("ix_agreements_roster")
    with op.batch_alter_table("settlement_snapshot_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_snapshot_lines_snapshot_id"))
    op.drop_table("settlement_snapshot_lines")
    op.drop_table("settlement_snapshots")
