"""care bookings: appointment slots and bookings (the place counter checked in the database), vaccination doses, referrals

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('slots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('window_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('booked >= 0 AND booked <= capacity', name=op.f('ck_slots_booked_within_capacity')),
    sa.CheckConstraint('capacity > 0', name=op.f('ck_slots_capacity_positive')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_slots_ends_after_start')),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_slots_centre_id_centres')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_slots_staff_id_staff')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_slots_team_id_teams')),
    sa.ForeignKeyConstraint(['window_id'], ['windows.id'], name=op.f('fk_slots_window_id_windows')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slots'))
    )
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.create_index('ix_slots_centre_starts', ['centre_id', 'starts_at'], unique=False)

    op.create_table('bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('booked', 'cancelled', 'moved', 'attended', 'no_show', name='bookingstate', native_enum=False, length=32), nullable=False),
    sa.Column('booked_by', sa.String(length=120), nullable=False),
    sa.Column('moved_from_id', sa.Integer(), nullable=True),
    sa.Column('ended_by', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['moved_from_id'], ['bookings.id'], name=op.f('fk_bookings_moved_from_id_bookings')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_bookings_resident_id_residents')),
    sa.ForeignKeyConstraint(['slot_id'], ['slots.id'], name=op.f('fk_bookings_slot_id_slots')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_bookings_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bookings'))
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bookings_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bookings_slot_id'), ['slot_id'], unique=False)
        batch_op.create_index('uq_bookings_one_live_per_slot', ['slot_id', 'resident_id'], unique=True, sqlite_where=sa.text("state = 'booked'"), postgresql_where=sa.text("state = 'booked'"))
        batch_op.create_index('uq_bookings_one_live_per_visit', ['visit_id'], unique=True, sqlite_where=sa.text("state = 'booked'"), postgresql_where=sa.text("state = 'booked'"))


    op.create_table('vaccination_doses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('vaccine', sa.String(length=20), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('given_on', sa.Date(), nullable=False),
    sa.Column('place', sa.String(length=120), nullable=False),
    sa.Column('batch', sa.String(length=40), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by', sa.String(length=120), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_vaccination_doses_centre_id_centres')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_vaccination_doses_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vaccination_doses')),
    sa.UniqueConstraint('resident_id', 'vaccine', 'number', name=op.f('uq_vaccination_doses_resident_id_vaccine_number'))
    )

    op.create_table('referrals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('referred_by', sa.String(length=120), nullable=False),
    sa.Column('hospital', sa.String(length=120), nullable=False),
    sa.Column('department', sa.String(length=60), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('urgency', sa.Enum('routine', 'urgent', 'emergency', name='urgency', native_enum=False, length=32), nullable=False),
    sa.Column('state', sa.Enum('sent', 'accepted', 'seen', 'returned', 'cancelled', name='referralstate', native_enum=False, length=32), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.Column('expected_by', sa.Date(), nullable=False),
    sa.Column('accepted_on', sa.Date(), nullable=True),
    sa.Column('seen_on', sa.Date(), nullable=True),
    sa.Column('returned_on', sa.Date(), nullable=True),
    sa.Column('cancelled_on', sa.Date(), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_referrals_centre_id_centres')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_referrals_resident_id_residents')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_referrals_team_id_teams')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_referrals_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_centre_state_expected', ['centre_id', 'state', 'expected_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_resident_id'), ['resident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_resident_id'))
        batch_op.drop_index('ix_referrals_centre_state_expected')

    op.drop_table('referrals')
    op.drop_table('vaccination_doses')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index('uq_bookings_one_live_per_visit', sqlite_where=sa.text("state = 'booked'"), postgresql_where=sa.text("state = 'booked'"))
        batch_op.drop_index('uq_bookings_one_live_per_slot', sqlite_where=sa.text("state = 'booked'"), postgresql_where=sa.text("state = 'booked'"))
        batch_op.drop_index(batch_op.f('ix_bookings_slot_id'))
        batch_op.drop_index(batch_op.f('ix_bookings_resident_id'))

    op.drop_table('bookings')
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.drop_index('ix_slots_centre_starts')

    op.drop_table('slots')
