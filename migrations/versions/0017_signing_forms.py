"""signing forms [002 §(三)1, 3]: functional communities and their members (group signing), secondary and tertiary
hospitals chosen beside the centre ("1+1+1"); agreements numbered in commit order for rosters (change_seq)

change_seq: every write of an agreement gets a number from the database, and the number a row keeps is handed out in
commit order, so a roster client that has read up to a number never sees a smaller one appear later.
- PostgreSQL: a BEFORE trigger stamps each write with nextval (what the writing transaction itself sees); a deferred
  constraint trigger re-stamps the row at COMMIT after taking a transaction-level advisory lock, which is released
  only once the commit is visible. The next committer waits for it, so its numbers are larger.
- SQLite has one writer at a time, from its first write to its commit: max + 1 at write time is commit order.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# pg_advisory_xact_lock's key for "an agreement change is committing" (any fixed number, unique in this database).
COMMIT_LOCK = 20210021
HOSPITAL_FKS = {"secondary_hospital_id": "fk_agreements_secondary_hospital_id_hospitals",
                "tertiary_hospital_id": "fk_agreements_tertiary_hospital_id_hospitals"}

PG_UP = [
    "CREATE SEQUENCE agreements_change_seq",
    "UPDATE agreements SET change_seq = nextval('agreements_change_seq')",
    """CREATE FUNCTION agreements_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN NEW.change_seq := nextval('agreements_change_seq'); RETURN NEW; END $$""",
    f"""CREATE FUNCTION agreements_restamp_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM pg_advisory_xact_lock({COMMIT_LOCK});
         UPDATE agreements SET change_seq = NULL WHERE id = NEW.id;  -- agreements_stamp_change numbers it afresh
         RETURN NULL;
       END $$""",
    "CREATE TRIGGER agreements_stamp_change BEFORE INSERT OR UPDATE ON agreements "
    "FOR EACH ROW EXECUTE FUNCTION agreements_stamp_change()",
    # pg_trigger_depth() = 0: the re-stamp's own UPDATE queues nothing more.
    "CREATE CONSTRAINT TRIGGER agreements_restamp_at_commit AFTER INSERT OR UPDATE ON agreements "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (pg_trigger_depth() = 0) "
    "EXECUTE FUNCTION agreements_restamp_at_commit()",
]
PG_DOWN = [
    "DROP TRIGGER agreements_restamp_at_commit ON agreements",
    "DROP TRIGGER agreements_stamp_change ON agreements",
    "DROP FUNCTION agreements_restamp_at_commit()",
    "DROP FUNCTION agreements_stamp_change()",
    "DROP SEQUENCE agreements_change_seq",
]
_NEXT = "(SELECT coalesce(max(change_seq), 0) + 1 FROM agreements)"
SQLITE_UP = [
    "UPDATE agreements SET change_seq = id",
    f"CREATE TRIGGER agreements_stamp_insert AFTER INSERT ON agreements BEGIN "
    f"UPDATE agreements SET change_seq = {_NEXT} WHERE id = NEW.id; END",
    # The WHEN clause: the trigger's own UPDATE (which changes change_seq) does not fire it again.
    f"CREATE TRIGGER agreements_stamp_update AFTER UPDATE ON agreements WHEN NEW.change_seq IS OLD.change_seq BEGIN "
    f"UPDATE agreements SET change_seq = {_NEXT} WHERE id = NEW.id; END",
]
SQLITE_DOWN = ["DROP TRIGGER agreements_stamp_update", "DROP TRIGGER agreements_stamp_insert"]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # What a downgrade on SQLite leaves behind (the hospital columns and so their table): taken as they are.
    left = sa.inspect(op.get_bind())
    if not left.has_table('hospitals'):
        _create_hospitals()
    left_columns = {column['name'] for column in left.get_columns('agreements')}
    _create_communities()
    # Plain ADD COLUMN (REFERENCES inline on SQLite): no batch rebuild of the agreements table.
    for column, fk in HOSPITAL_FKS.items():
        if column in left_columns:
            continue
        if sqlite:
            op.execute(f"ALTER TABLE agreements ADD COLUMN {column} INTEGER CONSTRAINT {fk} REFERENCES hospitals (id)")
        else:
            op.add_column('agreements', sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(fk, 'agreements', 'hospitals', [column], ['id'])
    op.add_column('agreements', sa.Column('change_seq', sa.BigInteger(), nullable=True))
    op.drop_index('ix_agreements_roster', table_name='agreements')
    op.create_index('ix_agreements_roster', 'agreements', ['region_code', 'cycle', 'change_seq', 'id'], unique=False)
    for statement in SQLITE_UP if sqlite else PG_UP:
        op.execute(statement)


def _create_hospitals() -> None:
    op.create_table('hospitals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('grade', sa.Enum('secondary', 'tertiary', name='hospitalgrade', native_enum=False, length=32), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_hospitals_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hospitals')),
    sa.UniqueConstraint('code', name=op.f('uq_hospitals_code'))
    )
    op.create_index(op.f('ix_hospitals_region_code'), 'hospitals', ['region_code'], unique=False)


def _create_communities() -> None:
    op.create_table('communities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.Enum('government', 'employer', 'industrial_park', 'office_building', name='communitykind',
                              native_enum=False, length=32), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_communities_centre_id_centres')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_communities_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_communities'))
    )
    op.create_index(op.f('ix_communities_centre_id'), 'communities', ['centre_id'], unique=False)
    op.create_index(op.f('ix_communities_region_code'), 'communities', ['region_code'], unique=False)
    op.create_table('community_members',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('added_by', sa.String(length=120), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_community_members_community_id_communities')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_community_members_resident_id_residents')),
    sa.PrimaryKeyConstraint('community_id', 'resident_id', name=op.f('pk_community_members'))
    )
    op.create_index(op.f('ix_community_members_resident_id'), 'community_members', ['resident_id'], unique=False)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else PG_DOWN:
        op.execute(statement)
    op.drop_index('ix_agreements_roster', table_name='agreements')
    op.create_index('ix_agreements_roster', 'agreements', ['region_code', 'cycle', 'updated_at', 'id'], unique=False)
    if sqlite:  # SQLite refuses to DROP a column with a REFERENCES clause: the columns (and hospitals) stay, emptied
        op.execute("UPDATE agreements SET secondary_hospital_id = NULL, tertiary_hospital_id = NULL")
    else:
        for column, fk in HOSPITAL_FKS.items():
            op.drop_constraint(fk, 'agreements', type_='foreignkey')
            op.drop_column('agreements', column)
    op.drop_column('agreements', 'change_seq')
    op.drop_index(op.f('ix_community_members_resident_id'), table_name='community_members')
    op.drop_table('community_members')
    op.drop_index(op.f('ix_communities_region_code'), table_name='communities')
    op.drop_index(op.f('ix_communities_centre_id'), table_name='communities')
    op.drop_table('communities')
    if not sqlite:
        op.drop_index(op.f('ix_hospitals_region_code'), table_name='hospitals')
        op.drop_table('hospitals')
