"""four eyes per decision and source: write-off requests above the requester's authority, and
refunds of cash held in suspense (refund.suspense_item_id; such a refund has no group)

Revision ID: d4e5f6a7b8c9
Revises: d3e4f5a6b7c8
Create Date: 2026-12-06 21:30:00
"""

from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "d4e5f6a7b8c9"
down_revision = "d3e4f5a6b7c8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_off_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("amount", billing_core.db.Money(precision=12, scale=2), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "approved",
                "rejected",
                name="write_off_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", billing_core.db.UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("journal_entry_id", sa.Integer(), nullable=True),
        sa.Column("created_at", billing_core.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_write_off_request_positive_amount")),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user_account.id"],
            name=op.f("fk_write_off_request_decided_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["employer_group.id"],
            name=op.f("fk_write_off_request_group_id_employer_group"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_write_off_request_invoice_id_invoice")
        ),
        sa.ForeignKeyConstraint(
            ["journal_entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_write_off_request_journal_entry_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_write_off_request_payment_id_payment")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["user_account.id"],
            name=op.f("fk_write_off_request_requested_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_off_request")),
        sa.UniqueConstraint("journal_entry_id", name=op.f("uq_write_off_request_journal_entry_id")),
    )
    with op.batch_alter_table("write_off_request") as batch:
        batch.create_index(batch.f("ix_write_off_request_group_id"), ["group_id"], unique=False)
        batch.create_index(batch.f("ix_write_off_request_invoice_id"), ["invoice_id"], unique=False)

    with op.batch_alter_table("refund") as batch:
        batch.alter_column("group_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("suspense_item_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_refund_suspense_item_id_suspense_item"),
            "suspense_item",
            ["suspense_item_id"],
            ["id"],
        )
        batch.create_index(batch.f("ix_refund_suspense_item_id"), ["suspense_item_id"])


def downgrade() -> None:
    with op.batch_alter_table("refund") as batch:
        batch.drop_index(batch.f("ix_refund_suspense_item_id"))
        batch.drop_constraint(batch.f("fk_refund_suspense_item_id_suspense_item"), "foreignkey")
        batch.drop_column("suspense_item_id")
        batch.alter_column("group_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("write_off_request") as batch:
        batch.drop_index(batch.f("ix_write_off_request_invoice_id"))
        batch.drop_index(batch.f("ix_write_off_request_group_id"))
    op.drop_table("write_off_request")
