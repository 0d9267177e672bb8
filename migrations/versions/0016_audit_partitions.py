"""audit log partitioned by month on PostgreSQL, so that whole months past retention drop cheaply; request ids

Each event gains `request_id` (the request's X-Request-Id), to find the request's log lines.

The table is rebuilt as `PARTITION BY RANGE (at)` with one partition per month (bounds at midnight,
Asia/Shanghai) from the oldest event's month to three months ahead, plus `audit_events_default` for an
event outside every month created so far; every existing row is carried over, ids keep their
sequence. The primary key becomes (id, at), as PostgreSQL requires of a partitioned table.

Append-only stays in the database: 0005's statement trigger stays on the table, for statements on
it; a row trigger for UPDATE and DELETE is added, which PostgreSQL clones onto every partition,
present and future, for statements aimed at a partition; and each partition gets a TRUNCATE guard
(`flask db audit-partitions` adds it to the months it creates). Dropping a month is DROP TABLE of its partition, which needs the owner (README "Deploying").

SQLite keeps its single table and 0005's triggers; it only gains the column (ADD COLUMN, no rebuild).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = """
    id integer NOT NULL DEFAULT nextval('audit_events_id_seq'),
    at timestamp with time zone NOT NULL,
    actor varchar(120) NOT NULL,
    action varchar(60) NOT NULL,
    target_type varchar(40) NOT NULL,
    target_id varchar(60),
    ip varchar(45),
    outcome varchar(20) NOT NULL,
    request_id varchar(64),
    detail json
"""
# 0005's trigger, as it was: it guards statements on the table itself.
STATEMENT_GUARD = ("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()")
OLD_COLUMNS = "id, at, actor, action, target_type, target_id, ip, outcome, detail"
NO_TRUNCATE = ("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON {table} "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()")
# One partition per month from the oldest event's month (or this one) to three months ahead.
MONTHS = """
DO $$
DECLARE
    month date;
    last date := (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') + interval '3 months')::date;
    name text;
BEGIN
    SELECT date_trunc('month', coalesce(min(at), now()) AT TIME ZONE 'Asia/Shanghai')::date INTO month
    FROM audit_events_unpartitioned;
    WHILE month <= last LOOP
        name := 'audit_events_' || to_char(month, 'YYYY_MM');
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)', name,
                       to_char(month, 'YYYY-MM-DD') || ' 00:00:00+08',
                       to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+08');
        EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()', name);
        month := (month + interval '1 month')::date;
    END LOOP;
END $$
"""


def _set_aside(new_name: str) -> None:
    """Rename the table and the names PostgreSQL keeps per schema, freeing them for the new table."""
    op.execute(f"ALTER TABLE audit_events RENAME TO {new_name}")
    op.execute(f"ALTER TABLE {new_name} RENAME CONSTRAINT pk_audit_events TO pk_{new_name}")
    op.execute(f"ALTER INDEX ix_audit_events_at RENAME TO ix_{new_name}_at")
    op.execute(f"ALTER INDEX ix_audit_events_target RENAME TO ix_{new_name}_target")


def _indexes() -> None:
    op.execute("CREATE INDEX ix_audit_events_at ON audit_events (at)")
    op.execute("CREATE INDEX ix_audit_events_target ON audit_events (target_type, target_id)")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("ALTER TABLE audit_events ADD COLUMN request_id VARCHAR(64)")
        return
    _set_aside("audit_events_unpartitioned")
    op.execute(f"CREATE TABLE audit_events ({COLUMNS}, CONSTRAINT pk_audit_events PRIMARY KEY (id, at)) "
               "PARTITION BY RANGE (at)")
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id")
    _indexes()
    op.execute(STATEMENT_GUARD)
    op.execute("CREATE TRIGGER audit_events_append_only_rows BEFORE UPDATE OR DELETE ON audit_events "
               "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
    op.execute("CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT")
    op.execute(NO_TRUNCATE.format(table="audit_events_default"))
    op.execute(MONTHS)
    op.execute(f"INSERT INTO audit_events ({OLD_COLUMNS}) SELECT {OLD_COLUMNS} FROM audit_events_unpartitioned")
    op.execute("DROP TABLE audit_events_unpartitioned")  # a drop, not a DELETE: its trigger lets it go


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("ALTER TABLE audit_events DROP COLUMN request_id")
        return
    _set_aside("audit_events_partitioned")
    before = COLUMNS.replace("    request_id varchar(64),\n", "")
    op.execute(f"CREATE TABLE audit_events ({before}, CONSTRAINT pk_audit_events PRIMARY KEY (id))")
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id")
    _indexes()
    op.execute(f"INSERT INTO audit_events ({OLD_COLUMNS}) SELECT {OLD_COLUMNS} FROM audit_events_partitioned")
    op.execute("DROP TABLE audit_events_partitioned")
    op.execute(STATEMENT_GUARD)
