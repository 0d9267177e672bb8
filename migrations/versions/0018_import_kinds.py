"""imports say what kind of file they read (residents, agreements …)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no table rebuild on SQLite.
    op.add_column("imports", sa.Column("kind", sa.String(20), nullable=False, server_default=sa.text("'residents'")))


def downgrade() -> None:
    op.drop_column("imports", "kind")
