"""care fulfilment and field surveys: item deliveries, lecture attendance, calls, messages with the team, surveys

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('lecture_attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lecture_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('lecture_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=120), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_lecture_attendance_centre_id_centres')),
    sa.ForeignKeyConstraint(['lecture_id'], ['lectures.id'], name=op.f('fk_lecture_attendance_lecture_id_lectures')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_lecture_attendance_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lecture_attendance')),
    sa.UniqueConstraint('lecture_id', 'resident_id', name=op.f('uq_lecture_attendance_lecture_id_resident_id'))
    )
    with op.batch_alter_table('lecture_attendance', schema=None) as batch_op:
        batch_op.create_index('ix_lecture_attendance_resident_day', ['resident_id', 'lecture_on'], unique=False)

    op.create_table('item_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('edition', sa.String(length=10), nullable=False),
    sa.Column('package_code', sa.String(length=40), nullable=False),
    sa.Column('item_code', sa.String(length=40), nullable=False),
    sa.Column('delivered_on', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_item_deliveries_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_item_deliveries_centre_id_centres')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_item_deliveries_resident_id_residents')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_item_deliveries_staff_id_staff')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_item_deliveries_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_deliveries'))
    )
    with op.batch_alter_table('item_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_item_deliveries_agreement_item', ['agreement_id', 'package_code', 'item_code'], unique=False)
        batch_op.create_index('ix_item_deliveries_resident_day', ['resident_id', 'delivered_on'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('called_on', sa.Date(), nullable=False),
    sa.Column('outcome', sa.Enum('reached_will_come', 'no_answer', 'wrong_number', 'moved_away', 'died', 'refused', name='calloutcome', native_enum=False, length=32), nullable=False),
    sa.Column('reason', sa.Enum('feels_well', 'no_time', 'cared_for_elsewhere', 'cost', 'cannot_travel', 'distrusts_service', 'other', name='refusalreason', native_enum=False, length=32), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_calls_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_calls_centre_id_centres')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_calls_resident_id_residents')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_calls_staff_id_staff')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_calls_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_centre_day', ['centre_id', 'called_on'], unique=False)
        batch_op.create_index('ix_calls_resident_day', ['resident_id', 'called_on'], unique=False)

    op.create_table('conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_conversations_centre_id_centres')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_conversations_resident_id_residents')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_conversations_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('resident_id', 'centre_id', name=op.f('uq_conversations_resident_id_centre_id'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_inbox', ['centre_id', 'waiting_since', 'id'], unique=False)

    op.create_table('conversation_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.Enum('resident', 'staff', name='author', native_enum=False, length=32), nullable=False),
    sa.Column('resident_author_id', sa.Integer(), nullable=True),
    sa.Column('staff_author_id', sa.Integer(), nullable=True),
    sa.Column('content', sa.String(length=500), nullable=False),
    sa.Column('text_check', sa.String(length=10), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_messages_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['resident_author_id'], ['residents.id'], name=op.f('fk_conversation_messages_resident_author_id_residents')),
    sa.ForeignKeyConstraint(['staff_author_id'], ['staff.id'], name=op.f('fk_conversation_messages_staff_author_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_messages'))
    )
    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_messages_thread', ['conversation_id', 'id'], unique=False)

    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('policy_awareness', 'satisfaction', name='surveykind', native_enum=False, length=32), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('sample_size', sa.Integer(), nullable=False),
    sa.Column('closes_on', sa.Date(), nullable=False),
    sa.Column('published_by', sa.String(length=120), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_surveys_centre_id_centres')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_surveys_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys'))
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_index('ix_surveys_region_cycle', ['region_code', 'cycle'], unique=False)

    op.create_table('survey_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('invited_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_survey_invitations_centre_id_centres')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_survey_invitations_resident_id_residents')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_invitations_survey_id_surveys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_invitations')),
    sa.UniqueConstraint('survey_id', 'resident_id', name=op.f('uq_survey_invitations_survey_id_resident_id'))
    )
    with op.batch_alter_table('survey_invitations', schema=None) as batch_op:
        batch_op.create_index('ix_survey_invitations_resident', ['resident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('survey_invitations', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_invitations_resident')

    op.drop_table('survey_invitations')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index('ix_surveys_region_cycle')

    op.drop_table('surveys')

    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_messages_thread')

    op.drop_table('conversation_messages')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_inbox')

    op.drop_table('conversations')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_resident_day')
        batch_op.drop_index('ix_calls_centre_day')

    op.drop_table('calls')

    with op.batch_alter_table('item_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_item_deliveries_resident_day')
        batch_op.drop_index('ix_item_deliveries_agreement_item')

    op.drop_table('item_deliveries')
    with op.batch_alter_table('lecture_attendance', schema=None) as batch_op:
        batch_op.drop_index('ix_lecture_attendance_resident_day')

    op.drop_table('lecture_attendance')
