"""partition the outbox on PostgreSQL by a hash of its dedupe key (skipped on SQLite)

A partitioned table's unique constraints must contain the partition key. The outbox's dedupe key is
unique — it is what makes a repeated scan create nothing — so it is the key: PARTITION BY HASH
(dedupe_key) into PARTITIONS tables keeps UNIQUE (dedupe_key) a constraint of the database. The
primary key becomes (id, dedupe_key); ids still come from one sequence. By month (created_at) was
refused: UNIQUE (dedupe_key, created_at) would let a scan in the next month write a reminder again
(a visit due on the 2nd is in its 3-day stage on the 30th and on the 1st).

Visits are not partitioned here: their unique constraints, the primary key (id, referenced by
visit_records, bookings and referrals) and (resident_id, programme, code), share no column, so no
partition key can be in both (README "Scaling out" says what partitioning them takes).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0021'
down_revision: Union[str, Sequence[str], None] = '0020'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PARTITIONS = 8
# The partitions live in their own schema: the app's tables (and what `alembic check` compares with the
# models) are public's; a partition is the parent's storage, not a table of its own.
SCHEMA = "partitions"
CONSTRAINTS = (
    "ADD CONSTRAINT fk_outbox_messages_centre_id_centres FOREIGN KEY (centre_id) REFERENCES centres (id)",
    "ADD CONSTRAINT fk_outbox_messages_resident_id_residents FOREIGN KEY (resident_id) REFERENCES residents (id)",
    "ADD CONSTRAINT fk_outbox_messages_staff_id_staff FOREIGN KEY (staff_id) REFERENCES staff (id)",
)
INDEXES = (
    "CREATE INDEX ix_outbox_messages_centre_state ON outbox_messages (centre_id, state)",
    "CREATE INDEX ix_outbox_messages_due ON outbox_messages (state, next_attempt_at)",
    "CREATE INDEX ix_outbox_messages_resident_id ON outbox_messages (resident_id)",
    "CREATE INDEX ix_outbox_messages_staff_id ON outbox_messages (staff_id)",
)


def _rebuild(partitioned: bool) -> None:
    """Move the outbox into a new table of the same columns (partitioned or not), keeping ids, names and the sequence."""
    op.execute("ALTER TABLE outbox_messages RENAME TO outbox_messages_moving")
    op.execute("CREATE TABLE outbox_messages (LIKE outbox_messages_moving INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
               + (" PARTITION BY HASH (dedupe_key)" if partitioned else ""))
    if partitioned:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for remainder in range(PARTITIONS if partitioned else 0):
        op.execute(f"CREATE TABLE {SCHEMA}.outbox_messages_p{remainder} PARTITION OF outbox_messages "
                   f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})")
    op.execute("INSERT INTO outbox_messages SELECT * FROM outbox_messages_moving")
    op.execute("ALTER SEQUENCE outbox_messages_id_seq OWNED BY outbox_messages.id")
    op.execute("DROP TABLE outbox_messages_moving")
    key = "id, dedupe_key" if partitioned else "id"
    op.execute(f"ALTER TABLE outbox_messages ADD CONSTRAINT pk_outbox_messages PRIMARY KEY ({key}), "
               "ADD CONSTRAINT uq_outbox_messages_dedupe_key UNIQUE (dedupe_key), " + ", ".join(CONSTRAINTS))
    for index in INDEXES:
        op.execute(index)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(partitioned=False)
