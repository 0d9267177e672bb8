"""partition visits on PostgreSQL by a hash of the resident (skipped on SQLite); what refers to a visit names its resident

A partitioned table's unique keys must hold the partition key. Visits had two that shared no column: the
primary key `id` (referenced by visit_records, bookings and referrals) and (resident_id, programme, code). So
first everything that refers to a visit names the resident too: visit_records gets `resident_id` (from its
visit), and the three foreign keys become (visit_id, resident_id) -> visits (id, resident_id). On PostgreSQL
visits then move into a table PARTITION BY HASH (resident_id) with the primary key (id, resident_id), which is
the key those foreign keys reference; on SQLite the table stays as it is with a UNIQUE (id, resident_id).

By region was weighed: visits carry their centre, not a region, a resident's visits move centre when they sign
elsewhere, and (resident_id, programme, code) would have to hold the region. A hash of the resident keeps every
visit of one person in one partition (and is the key a Citus distribution by resident would use).

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: Union[str, Sequence[str], None] = '0022'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PARTITIONS = 8
SCHEMA = "partitions"  # as 0021: the partitions are the parent's storage, not tables `alembic check` compares
REFERRERS = ("visit_records", "bookings", "referrals")
CONSTRAINTS = (
    "ADD CONSTRAINT uq_visits_resident_id_programme_code UNIQUE (resident_id, programme, code)",
    "ADD CONSTRAINT fk_visits_agreement_id_agreements FOREIGN KEY (agreement_id) REFERENCES agreements (id)",
    "ADD CONSTRAINT fk_visits_centre_id_centres FOREIGN KEY (centre_id) REFERENCES centres (id)",
    "ADD CONSTRAINT fk_visits_resident_id_residents FOREIGN KEY (resident_id) REFERENCES residents (id)",
    "ADD CONSTRAINT fk_visits_team_id_teams FOREIGN KEY (team_id) REFERENCES teams (id)",
)
INDEXES = (
    "CREATE INDEX ix_visits_centre_id ON visits (centre_id)",
    "CREATE INDEX ix_visits_centre_state_on_time_until ON visits (centre_id, state, on_time_until)",
    "CREATE INDEX ix_visits_state_due ON visits (state, due_date)",
    "CREATE INDEX ix_visits_team_state_due ON visits (team_id, state, due_date)",
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _rebuild(partitioned: bool) -> None:
    """Move visits into a new table of the same columns (partitioned or not), keeping ids, names and the sequence."""
    op.execute("ALTER TABLE visits RENAME TO visits_moving")
    op.execute("CREATE TABLE visits (LIKE visits_moving INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
               + (" PARTITION BY HASH (resident_id)" if partitioned else ""))
    if partitioned:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for remainder in range(PARTITIONS if partitioned else 0):
        op.execute(f"CREATE TABLE {SCHEMA}.visits_p{remainder} PARTITION OF visits "
                   f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})")
    op.execute("INSERT INTO visits SELECT * FROM visits_moving")
    op.execute("ALTER SEQUENCE visits_id_seq OWNED BY visits.id")
    op.execute("DROP TABLE visits_moving")
    key = "id, resident_id" if partitioned else "id"
    op.execute(f"ALTER TABLE visits ADD CONSTRAINT pk_visits PRIMARY KEY ({key}), " + ", ".join(CONSTRAINTS))
    for index in INDEXES:
        op.execute(index)


def _refer(columns: list[str], referred: list[str]) -> None:
    for table in REFERRERS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(f"fk_{table}_visit_id_visits", "visits", columns, referred)


def _unrefer() -> None:
    for table in REFERRERS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_visit_id_visits", type_="foreignkey")


def upgrade() -> None:
    with op.batch_alter_table("visit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resident_id", sa.Integer(), nullable=True))
    op.execute("UPDATE visit_records SET resident_id = "
               "(SELECT visits.resident_id FROM visits WHERE visits.id = visit_records.visit_id)")
    with op.batch_alter_table("visit_records", schema=None) as batch_op:
        batch_op.alter_column("resident_id", existing_type=sa.Integer(), nullable=False)
    _unrefer()
    if _postgresql():
        _rebuild(partitioned=True)
    else:
        with op.batch_alter_table("visits", schema=None) as batch_op:
            batch_op.create_unique_constraint("uq_visits_id_resident_id", ["id", "resident_id"])
    _refer(["visit_id", "resident_id"], ["id", "resident_id"])


def downgrade() -> None:
    _unrefer()
    if _postgresql():
        _rebuild(partitioned=False)
    else:
        with op.batch_alter_table("visits", schema=None) as batch_op:
            batch_op.drop_constraint("uq_visits_id_resident_id", type_="unique")
    _refer(["visit_id"], ["id"])
    with op.batch_alter_table("visit_records", schema=None) as batch_op:
        batch_op.drop_column("resident_id")
