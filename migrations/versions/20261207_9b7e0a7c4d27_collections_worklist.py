"""collections (issue 20, item 5): the collector's contact log (append-only) and promises to
pay. No rows are written here.

Revision ID: 9b7e0a7c4d27
Revises: 9b6e0a7c4d26
Create Date: 2026-12-07 04:40:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import Money, UTCDateTime

revision = "9b7e0a7c4d27"
down_revision = "9b6e0a7c4d26"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("call", "email", "letter", "meeting", name="collection_contact_kind",
                    native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("by", sa.String(length=254), nullable=False),
        sa.Column("outcome", sa.String(length=1000), nullable=False),
        sa.Column("next_follow_up_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["user_account.id"],
                                name=op.f("fk_collection_contact_by_id_user_account")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_collection_contact_group_id_employer_group")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_contact")),
    )  # fmt: skip
    op.create_index("ix_collection_contact_group", "collection_contact", ["group_id", "id"])
    op.create_table(
        "promise_to_pay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column("taken_by_id", sa.Integer(), nullable=True),
        sa.Column("taken_by", sa.String(length=254), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "kept", "broken", "cancelled", name="promise_status",
                    native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column("checked_on", sa.Date(), nullable=True),
        sa.Column("paid", Money(precision=12, scale=2), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_promise_to_pay_amount")),
        sa.CheckConstraint("promised_on >= taken_on", name=op.f("ck_promise_to_pay_dates")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_promise_to_pay_group_id_employer_group")),
        sa.ForeignKeyConstraint(["taken_by_id"], ["user_account.id"],
                                name=op.f("fk_promise_to_pay_taken_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promise_to_pay")),
    )  # fmt: skip
    op.create_index("ix_promise_to_pay_group", "promise_to_pay", ["group_id", "id"])
    op.create_index("ix_promise_to_pay_status", "promise_to_pay", ["status"])


def downgrade() -> None:
    op.drop_index("ix_promise_to_pay_status", table_name="promise_to_pay")
    op.drop_index("ix_promise_to_pay_group", table_name="promise_to_pay")
    op.drop_table("promise_to_pay")
    op.drop_index("ix_collection_contact_group", table_name="collection_contact")
    op.drop_table("collection_contact")
