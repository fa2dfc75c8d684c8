"""collections (issue 20, item 6): payment plans and their installments. No rows are written
here.

Revision ID: 9b8e0a7c4d28
Revises: 9b7e0a7c4d27
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import Money, UTCDateTime

revision = "9b8e0a7c4d28"
down_revision = "9b7e0a7c4d27"
branch_labels = None
depends_on = None

ONE_OPEN = "status = 'open'"


def upgrade() -> None:
    op.create_table(
        "payment_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("balance", Money(precision=12, scale=2), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "completed", "broken", "cancelled", name="payment_plan_status",
                    native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("made_by_id", sa.Integer(), nullable=True),
        sa.Column("made_by", sa.String(length=254), nullable=False),
        sa.Column("made_at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("closed_reason", sa.String(length=300), nullable=False),
        sa.CheckConstraint("balance > 0", name=op.f("ck_payment_plan_balance")),
        sa.CheckConstraint("grace_days >= 0", name=op.f("ck_payment_plan_grace_days")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_payment_plan_group_id_employer_group")),
        sa.ForeignKeyConstraint(["made_by_id"], ["user_account.id"],
                                name=op.f("fk_payment_plan_made_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_plan")),
    )  # fmt: skip
    op.create_index("ix_payment_plan_group", "payment_plan", ["group_id", "id"])
    op.create_index(
        "uq_payment_plan_one_open",
        "payment_plan",
        ["group_id"],
        unique=True,
        sqlite_where=sa.text(ONE_OPEN),
        postgresql_where=sa.text(ONE_OPEN),
    )
    op.create_table(
        "payment_plan_installment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("cumulative", Money(precision=12, scale=2), nullable=False),
        sa.Column("down_payment", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "met", "missed", name="installment_status",
                    native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("overdue_then", Money(precision=12, scale=2), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_plan_installment_amount")),
        sa.CheckConstraint("cumulative >= amount",
                           name=op.f("ck_payment_plan_installment_cumulative")),
        sa.ForeignKeyConstraint(["plan_id"], ["payment_plan.id"],
                                name=op.f("fk_payment_plan_installment_plan_id_payment_plan")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_plan_installment")),
        sa.UniqueConstraint("plan_id", "seq", name=op.f("uq_payment_plan_installment_plan_id_seq")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("payment_plan_installment")
    op.drop_index("uq_payment_plan_one_open", table_name="payment_plan")
    op.drop_index("ix_payment_plan_group", table_name="payment_plan")
    op.drop_table("payment_plan")
