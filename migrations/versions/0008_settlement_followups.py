"""settlement follow-ups: actual costs kept with history; frozen snapshots refused UPDATE and DELETE

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FROZEN_TABLES = ("settlement_snapshots", "settlement_snapshot_lines")
FROZEN = "settlement snapshots are frozen"
PG_FUNCTION = f"""
CREATE FUNCTION settlement_snapshots_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{FROZEN}' USING ERRCODE = 'insufficient_privilege';
END $$
"""


def _frozen() -> None:
    """Refuse UPDATE and DELETE on snapshots in the database itself, on both dialects, as 0007 does for the audit log."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in FROZEN_TABLES:
            op.execute(f"CREATE TRIGGER {table}_frozen BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION settlement_snapshots_frozen()")
    else:
        for table in FROZEN_TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END")


def _thawed() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in FROZEN_TABLES:
            op.execute(f"DROP TRIGGER {table}_frozen ON {table}")
        op.execute("DROP FUNCTION settlement_snapshots_frozen()")
    else:
        for table in FROZEN_TABLES:
            for operation in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{operation}")


def upgrade() -> None:
    op.create_table('settlement_actual_cost_filings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('filed_by', sa.String(length=120), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_settlement_actual_cost_filings_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_actual_cost_filings'))
    )
    with op.batch_alter_table('settlement_actual_cost_filings', schema=None) as batch_op:
        batch_op.create_index('ix_actual_cost_filings_region_month', ['region_code', 'month', 'id'], unique=False)

    op.create_table('settlement_actual_costs',
    sa.Column('filing_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('cost_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_settlement_actual_costs_centre_id_centres')),
    sa.ForeignKeyConstraint(['filing_id'], ['settlement_actual_cost_filings.id'], name=op.f('fk_settlement_actual_costs_filing_id_settlement_actual_cost_filings')),
    sa.PrimaryKeyConstraint('filing_id', 'centre_id', name=op.f('pk_settlement_actual_costs'))
    )
    _frozen()


def downgrade() -> None:
    _thawed()
    op.drop_table('settlement_actual_costs')
    with op.batch_alter_table('settlement_actual_cost_filings', schema=None) as batch_op:
        batch_op.drop_index('ix_actual_cost_filings_region_month')

    op.drop_table('settlement_actual_cost_filings')
