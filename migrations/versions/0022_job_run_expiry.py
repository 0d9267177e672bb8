"""a claimed job run expires with its runner's lease, so the next leader takes over a run whose leader died

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: Union[str, Sequence[str], None] = '0021'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no table rebuild. Runs claimed before it never expire (NULL).
    op.add_column('job_runs', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('job_runs', 'expires_at')
