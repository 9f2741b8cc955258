"""assessment: Quality Development Tool cycles, answers, priorities; language preference

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:59:16.858192
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_service.db

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('user_preference',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('updated_at', lti_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['lti_user.id'], name=op.f('fk_user_preference_user_id_lti_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_preference'))
    )
    op.create_table('assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('context_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('framework_key', sa.String(length=32), nullable=False),
    sa.Column('framework_version', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', lti_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', lti_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', lti_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_at', lti_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['context_id'], ['lti_context.id'], name=op.f('fk_assessment_context_id_lti_context'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_assessment_registration_id_registration'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['lti_user.id'], name=op.f('fk_assessment_user_id_lti_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment')),
    sa.UniqueConstraint('context_id', 'user_id', 'framework_key', 'cycle', name=op.f('uq_assessment_context_id_user_id_framework_key_cycle'))
    )
    with op.batch_alter_table('assessment', schema=None) as batch_op:
        batch_op.create_index('ix_assessment_cohort', ['context_id', 'framework_key', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessment_user_id'), ['user_id'], unique=False)

    op.create_table('assessment_priority',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assessment_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('criterion_id', sa.String(length=32), nullable=False),
    sa.Column('area_id', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', lti_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessment.id'], name=op.f('fk_assessment_priority_assessment_id_assessment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_priority')),
    sa.UniqueConstraint('assessment_id', 'criterion_id', name=op.f('uq_assessment_priority_assessment_id_criterion_id')),
    sa.UniqueConstraint('assessment_id', 'rank', name=op.f('uq_assessment_priority_assessment_id_rank'))
    )
    op.create_table('criterion_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assessment_id', sa.Integer(), nullable=False),
    sa.Column('criterion_id', sa.String(length=32), nullable=False),
    sa.Column('area_id', sa.String(length=32), nullable=False),
    sa.Column('level', sa.Integer(), nullable=True),
    sa.Column('not_applicable', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('want_to_learn', sa.Boolean(), nullable=False),
    sa.Column('can_share', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', lti_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessment.id'], name=op.f('fk_criterion_answer_assessment_id_assessment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_criterion_answer')),
    sa.UniqueConstraint('assessment_id', 'criterion_id', name=op.f('uq_criterion_answer_assessment_id_criterion_id'))
    )


def downgrade() -> None:
    op.drop_table('criterion_answer')
    op.drop_table('assessment_priority')
    with op.batch_alter_table('assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_user_id'))
        batch_op.drop_index('ix_assessment_cohort')

    op.drop_table('assessment')
    op.drop_table('user_preference')
