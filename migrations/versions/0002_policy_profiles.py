"""policy profiles of the pooling regions (shared/POLICY.md, seeds 000, 001, 003)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
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

PROFILES = [
    # Hunan 2025 [000 §二(一)3]: calendar-year cycle, auto-renewal, capitation at >= 85 yuan, 90% prepaid monthly.
    dict(code="hunan-2025", name="湖南省 2025 家庭医生签约服务改革", cycle_start_month=1, cycle_start_day=1,
         change_window_start="10-01", change_window_end="12-31", auto_renew=True, default_assignment=False,
         max_term_years=3, settlement={"rule": "hunan-2025", "base_fee_fen_per_year": 8500, "prepay_share": "0.90"}),
    # Shaoyang 2019 [001 四(三)1, 五(一)1]: unchosen residents go to their registration village; 20% risk reserve.
    dict(code="shaoyang-2019", name="邵阳市 2019 门诊统筹按人头付费", cycle_start_month=1, cycle_start_day=1,
         change_window_start="10-01", change_window_end="12-31", auto_renew=True, default_assignment=True,
         max_term_years=3, settlement={"rule": "shaoyang-2019", "fee_fen_per_year": 4000, "risk_reserve_share": "0.20"}),
    # Zhanjiang 2024 [003 §三, §六]: changes 1 Oct-31 Dec effective 1 Jan; 50 yuan a head; 95% paid, 5% deposit.
    dict(code="zhanjiang-2024", name="湛江市 2024 门诊统筹家庭医生签约", cycle_start_month=1, cycle_start_day=1,
         change_window_start="10-01", change_window_end="12-31", auto_renew=True, default_assignment=False,
         max_term_years=3, settlement={"rule": "zhanjiang-2024", "rate_fen_per_year": 5000, "pay_share": "0.95"}),
]


def upgrade() -> None:
    op.bulk_insert(profiles, PROFILES)


def downgrade() -> None:
    op.execute(profiles.delete().where(profiles.c.code.in_([p["code"] for p in PROFILES])))
