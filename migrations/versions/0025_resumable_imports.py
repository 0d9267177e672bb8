"""an import outlives the process that started it: its sealed file and its runner's lease

`import_files` keeps the file of an import that has not ended (sealed with the field key: it holds ID
numbers), so the scheduler can resume an import whose process died after the last batch it committed;
`imports.claimed_by` and `imports.lease_until` say who runs it and until when (renewed with each batch).

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0025'
down_revision: Union[str, Sequence[str], None] = '0024'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "import_files",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], name=op.f("fk_import_files_import_id_imports")),
        sa.PrimaryKeyConstraint("import_id", name=op.f("pk_import_files")),
    )
    if op.get_bind().dialect.name == "postgresql":  # ciphertext does not compress: don't try, store it out of line
        op.execute("ALTER TABLE import_files ALTER COLUMN content SET STORAGE EXTERNAL")
    op.add_column("imports", sa.Column("claimed_by", sa.String(length=36), nullable=True))
    op.add_column("imports", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("imports", "lease_until")
    op.drop_column("imports", "claimed_by")
    op.drop_table("import_files")
