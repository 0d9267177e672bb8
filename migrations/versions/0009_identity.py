"""identity: on-site identity checks, one-time proof codes, verified residents, proven bindings and
household claims, residence and death, and the basis of each agreement (POLICY.md signing rule 10)

Existing rows, as far as the old rules let us know them:
- residents a centre registered on site are taken as verified (verified_by "migration:registered_on_site");
  self-registered ones are not, and their holding agreements stop counting for capitation (and are
  bumped, so incremental roster pulls carry the change) until an on-site check;
- every existing WeChat binding is unproven (an on-site check ends it unless the person shows
  their presence code);
- a resident without an account whom no centre registered and who shares a household was added
  online by a member: that membership is a claim;
- agreements signed online were signed by the resident (basis "self"), default assignments follow
  the village of household registration ("service_area"), renewals keep their agreement's basis;
  agreements staff signed on site before this rule have no basis and give the centre no reach.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""
from datetime import datetime, timezone
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('identity_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('document', sa.Enum('id_card', 'household_register', name='identitydocument', native_enum=False, length=32), nullable=False),
    sa.Column('checked_by', sa.String(length=120), nullable=False),
    sa.Column('checked_on', sa.Date(), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_identity_checks_centre_id_centres')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_identity_checks_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_checks'))
    )
    with op.batch_alter_table('identity_checks', schema=None) as batch_op:
        batch_op.create_index('ix_identity_checks_resident_centre_day', ['resident_id', 'centre_id', 'checked_on'], unique=False)

    op.create_table('identity_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Enum('presence', 'binding', 'join', 'invitation', name='codepurpose', native_enum=False, length=32), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('issued_by', sa.String(length=120), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_identity_codes_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_identity_codes_code_hash'))
    )
    with op.batch_alter_table('identity_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_codes_resident_id'), ['resident_id'], unique=False)

    op.add_column('agreements', sa.Column('basis', sa.Enum('self', 'service_area', 'presence_code', 'identity_check', name='signingbasis', native_enum=False, length=32), nullable=True))
    _add_reference('agreements', 'identity_check_id', 'identity_checks', 'fk_agreements_identity_check_id_identity_checks')

    _add_reference('residents', 'residence_window_id', 'windows', 'fk_residents_residence_window_id_windows')
    op.add_column('residents', sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('residents', sa.Column('verified_by', sa.String(length=120), nullable=True))
    op.add_column('residents', sa.Column('binding_proof', sa.Enum('wechat_phone', 'binding_code', 'presence_code', name='bindingproof', native_enum=False, length=32), nullable=True))
    op.add_column('residents', sa.Column('household_claimed', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('residents', sa.Column('died_on', sa.Date(), nullable=True))

    _backfill()


def _add_reference(table: str, column: str, target: str, name: str) -> None:
    """A nullable foreign-key column by plain ADD COLUMN. Not batch mode: on SQLite its table copy drops
    the old table, which the foreign keys of other tables' rows forbid once there is data."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES {target} (id)")
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(name, table, target, [column], ["id"])


HOLDING = ("pending", "active", "change_pending")
residents = sa.table("residents", sa.column("id", sa.Integer), sa.column("openid", sa.String),
                     sa.column("household_id", sa.Integer), sa.column("registered_by_centre_id", sa.Integer),
                     sa.column("created_at", sa.DateTime(timezone=True)), sa.column("verified_at", sa.DateTime(timezone=True)),
                     sa.column("verified_by", sa.String), sa.column("household_claimed", sa.Boolean))
agreements = sa.table("agreements", sa.column("id", sa.Integer), sa.column("resident_id", sa.Integer),
                      sa.column("channel", sa.String), sa.column("status", sa.String), sa.column("basis", sa.String),
                      sa.column("renewed_from_id", sa.Integer), sa.column("counts_for_capitation", sa.Boolean),
                      sa.column("updated_at", sa.DateTime(timezone=True)))


def _backfill() -> None:
    now = datetime.now(timezone.utc)
    op.execute(residents.update().where(residents.c.registered_by_centre_id.is_not(None))
               .values(verified_at=residents.c.created_at, verified_by="migration:registered_on_site"))
    other = residents.alias("other")
    op.execute(residents.update().where(
        residents.c.openid.is_(None), residents.c.registered_by_centre_id.is_(None),
        sa.exists(sa.select(other.c.id).where(other.c.household_id == residents.c.household_id, other.c.id != residents.c.id)),
    ).values(household_claimed=True))
    op.execute(agreements.update().where(
        agreements.c.status.in_(HOLDING), agreements.c.counts_for_capitation.is_(True),
        agreements.c.resident_id.in_(sa.select(residents.c.id).where(residents.c.verified_at.is_(None))),
    ).values(counts_for_capitation=False, updated_at=now))
    op.execute(agreements.update().where(agreements.c.channel == "online").values(basis="self"))
    op.execute(agreements.update().where(agreements.c.channel == "default").values(basis="service_area"))
    renewed = agreements.alias("renewed")
    parent_basis = sa.select(renewed.c.basis).where(renewed.c.id == agreements.c.renewed_from_id).scalar_subquery()
    while op.get_bind().execute(agreements.update().where(
        agreements.c.basis.is_(None), agreements.c.renewed_from_id.is_not(None), parent_basis.is_not(None),
    ).values(basis=parent_basis)).rowcount:
        pass  # one generation of renewals per pass


def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_residents_residence_window_id_windows'), type_='foreignkey')
        batch_op.drop_column('died_on')
        batch_op.drop_column('household_claimed')
        batch_op.drop_column('binding_proof')
        batch_op.drop_column('verified_by')
        batch_op.drop_column('verified_at')
        batch_op.drop_column('residence_window_id')

    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_agreements_identity_check_id_identity_checks'), type_='foreignkey')
        batch_op.drop_column('identity_check_id')
        batch_op.drop_column('basis')

    with op.batch_alter_table('identity_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_codes_resident_id'))

    op.drop_table('identity_codes')
    with op.batch_alter_table('identity_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_identity_checks_resident_centre_day')

    op.drop_table('identity_checks')
