"""collections (issue 20): delinquency plans and their steps, a group's own plan, moratoriums,
amounts in open dispute, each group's delinquency state, every transition, and the sweep's
actions (notices, late fees, steps; unique per group, episode, kind and key). No rows are
written here: the default plan is made on first use (billing_core.collections.plans).

Revision ID: 9b5e0a7c4d25
Revises: 9b4e0a7c4d24
Create Date: 2026-12-07 03:20:00
"""

from alembic import op
import sqlalchemy as sa

from billing_core.db import Money, UTCDateTime

revision = "9b5e0a7c4d25"
down_revision = "9b4e0a7c4d24"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delinquency_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('jurisdiction', sa.String(length=2), nullable=True),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('grace_days', sa.Integer(), nullable=False),
    sa.Column('grace_day_kind', sa.Enum('calendar', 'business', name='grace_day_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('notice_day', sa.Integer(), nullable=False),
    sa.Column('notice_days_before_termination', sa.Integer(), nullable=False),
    sa.Column('threshold_amount', Money(precision=12, scale=2), nullable=True),
    sa.Column('late_fee_kind', sa.Enum('none', 'flat', 'percent', name='late_fee_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('late_fee_amount', Money(precision=12, scale=2), nullable=False),
    sa.Column('late_fee_percent', Money(precision=6, scale=2), nullable=False),
    sa.Column('late_fee_stages', sa.JSON(), nullable=False),
    sa.Column('reinstatement_days', sa.Integer(), nullable=False),
    sa.Column('coverage_end_rule', sa.Enum('last_paid_month', 'grace_end', name='coverage_end_rule', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('effective_to IS NULL OR effective_to >= effective_from', name=op.f('ck_delinquency_plan_effective_range')),
    sa.CheckConstraint('grace_days >= 0', name=op.f('ck_delinquency_plan_grace_days')),
    sa.CheckConstraint('late_fee_amount >= 0 AND late_fee_percent >= 0', name=op.f('ck_delinquency_plan_late_fee')),
    sa.CheckConstraint('notice_day >= 0', name=op.f('ck_delinquency_plan_notice_day')),
    sa.CheckConstraint('notice_days_before_termination >= 0', name=op.f('ck_delinquency_plan_notice_days')),
    sa.CheckConstraint('reinstatement_days >= 0', name=op.f('ck_delinquency_plan_reinstatement_days')),
    sa.CheckConstraint('threshold_amount IS NULL OR threshold_amount >= 0', name=op.f('ck_delinquency_plan_threshold')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_delinquency_plan_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delinquency_plan')),
    sa.UniqueConstraint('code', 'effective_from', name=op.f('uq_delinquency_plan_code_effective_from')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_delinquency_plan_code_version'))
    )
    op.create_index(op.f('ix_delinquency_plan_code'), 'delinquency_plan', ['code'], unique=False)
    op.create_index(op.f('ix_delinquency_plan_jurisdiction'), 'delinquency_plan', ['jurisdiction'], unique=False)
    op.create_table('delinquency_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('action', sa.Enum('email', 'letter', 'task', name='step_action', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.CheckConstraint('day >= 0', name=op.f('ck_delinquency_step_day')),
    sa.ForeignKeyConstraint(['plan_id'], ['delinquency_plan.id'], name=op.f('fk_delinquency_step_plan_id_delinquency_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delinquency_step')),
    sa.UniqueConstraint('plan_id', 'day', 'action', name=op.f('uq_delinquency_step_plan_id_day_action'))
    )
    op.create_index(op.f('ix_delinquency_step_plan_id'), 'delinquency_step', ['plan_id'], unique=False)
    op.create_table('group_delinquency_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('plan_code', sa.String(length=30), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('effective_to IS NULL OR effective_to >= effective_from', name=op.f('ck_group_delinquency_plan_effective_range')),
    sa.ForeignKeyConstraint(['group_id'], ['employer_group.id'], name=op.f('fk_group_delinquency_plan_group_id_employer_group')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_delinquency_plan')),
    sa.UniqueConstraint('group_id', 'effective_from', name=op.f('uq_group_delinquency_plan_group_id_effective_from'))
    )
    op.create_index(op.f('ix_group_delinquency_plan_group_id'), 'group_delinquency_plan', ['group_id'], unique=False)
    op.create_table('delinquency_transition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.Enum('current', 'past_due', 'in_grace', 'pending_cancellation', 'cancelled', 'reinstated', 'referred', 'charged_off', name='from_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('to_state', sa.Enum('current', 'past_due', 'in_grace', 'pending_cancellation', 'cancelled', 'reinstated', 'referred', 'charged_off', name='to_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_delinquency_transition_actor_id_user_account')),
    sa.ForeignKeyConstraint(['group_id'], ['employer_group.id'], name=op.f('fk_delinquency_transition_group_id_employer_group')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delinquency_transition'))
    )
    op.create_index('ix_delinquency_transition_group', 'delinquency_transition', ['group_id', 'id'], unique=False)
    op.create_table('moratorium',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction', sa.String(length=2), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_moratorium_dates')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_moratorium_created_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moratorium'))
    )
    op.create_index(op.f('ix_moratorium_jurisdiction'), 'moratorium', ['jurisdiction'], unique=False)
    op.create_table('delinquency_dispute',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('amount', Money(precision=12, scale=2), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('resolved_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_delinquency_dispute_amount')),
    sa.ForeignKeyConstraint(['group_id'], ['employer_group.id'], name=op.f('fk_delinquency_dispute_group_id_employer_group')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_delinquency_dispute_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delinquency_dispute'))
    )
    op.create_index(op.f('ix_delinquency_dispute_group_id'), 'delinquency_dispute', ['group_id'], unique=False)
    op.create_table('group_delinquency',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('current', 'past_due', 'in_grace', 'pending_cancellation', 'cancelled', 'reinstated', 'referred', 'charged_off', name='delinquency_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('grace_starts_on', sa.Date(), nullable=True),
    sa.Column('grace_ends_on', sa.Date(), nullable=True),
    sa.Column('notice_sent_on', sa.Date(), nullable=True),
    sa.Column('terminates_on', sa.Date(), nullable=True),
    sa.Column('cancelled_on', sa.Date(), nullable=True),
    sa.Column('coverage_ends_on', sa.Date(), nullable=True),
    sa.Column('reinstate_until', sa.Date(), nullable=True),
    sa.Column('held_by_moratorium_id', sa.Integer(), nullable=True),
    sa.Column('paused_reason', sa.String(length=30), nullable=True),
    sa.Column('paused_until', sa.Date(), nullable=True),
    sa.Column('overdue_amount', Money(precision=12, scale=2), nullable=False),
    sa.Column('last_swept_on', sa.Date(), nullable=True),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['employer_group.id'], name=op.f('fk_group_delinquency_group_id_employer_group')),
    sa.ForeignKeyConstraint(['held_by_moratorium_id'], ['moratorium.id'], name=op.f('fk_group_delinquency_held_by_moratorium_id_moratorium')),
    sa.ForeignKeyConstraint(['plan_id'], ['delinquency_plan.id'], name=op.f('fk_group_delinquency_plan_id_delinquency_plan')),
    sa.PrimaryKeyConstraint('group_id', name=op.f('pk_group_delinquency'))
    )
    op.create_table('delinquency_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('notice', 'late_fee', 'email', 'letter', 'task', 'hold', name='delinquency_action_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=False),
    sa.Column('amount', Money(precision=12, scale=2), nullable=True),
    sa.Column('adjustment_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['adjustment_id'], ['adjustment.id'], name=op.f('fk_delinquency_action_adjustment_id_adjustment')),
    sa.ForeignKeyConstraint(['group_id'], ['employer_group.id'], name=op.f('fk_delinquency_action_group_id_employer_group')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delinquency_action')),
    sa.UniqueConstraint('group_id', 'episode', 'kind', 'key', name=op.f('uq_delinquency_action_group_id_episode_kind_key'))
    )
    op.create_index(op.f('ix_delinquency_action_group_id'), 'delinquency_action', ['group_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_delinquency_action_group_id'), table_name='delinquency_action')
    op.drop_table('delinquency_action')
    op.drop_table('group_delinquency')
    op.drop_index(op.f('ix_delinquency_dispute_group_id'), table_name='delinquency_dispute')
    op.drop_table('delinquency_dispute')
    op.drop_index(op.f('ix_moratorium_jurisdiction'), table_name='moratorium')
    op.drop_table('moratorium')
    op.drop_index('ix_delinquency_transition_group', table_name='delinquency_transition')
    op.drop_table('delinquency_transition')
    op.drop_index(op.f('ix_group_delinquency_plan_group_id'), table_name='group_delinquency_plan')
    op.drop_table('group_delinquency_plan')
    op.drop_index(op.f('ix_delinquency_step_plan_id'), table_name='delinquency_step')
    op.drop_table('delinquency_step')
    op.drop_index(op.f('ix_delinquency_plan_jurisdiction'), table_name='delinquency_plan')
    op.drop_index(op.f('ix_delinquency_plan_code'), table_name='delinquency_plan')
    op.drop_table('delinquency_plan')
