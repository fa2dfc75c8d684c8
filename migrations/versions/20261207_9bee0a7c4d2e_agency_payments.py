"""commissions (issue 21, item 6): agency payee bank details (confirmed by a second person,
account numbers encrypted), ACH files and their entries. No rows are written here.

Revision ID: 9bee0a7c4d2e
Revises: 9bde0a7c4d2d
Create Date: 2026-12-07 07:20:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import Money, UTCDateTime

revision = "9bee0a7c4d2e"
down_revision = "9bde0a7c4d2d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ach_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_key", sa.String(length=64), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "made",
                "sent",
                name="ach_file_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("total_credit", Money(precision=12, scale=2), nullable=False),
        sa.Column("made_by_id", sa.Integer(), nullable=True),
        sa.Column("made_at", UTCDateTime(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=True),
        sa.Column("sent_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status <> 'sent' OR sent_on IS NOT NULL", name=op.f("ck_ach_file_sent_has_date")
        ),
        sa.ForeignKeyConstraint(
            ["made_by_id"], ["user_account.id"], name=op.f("fk_ach_file_made_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["sent_by_id"], ["user_account.id"], name=op.f("fk_ach_file_sent_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ach_file")),
        sa.UniqueConstraint("batch_key", name=op.f("uq_ach_file_batch_key")),
    )
    op.create_table(
        "payee_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column(
            "payee_kind",
            sa.Enum(
                "company",
                "person",
                name="payee_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name_on_account", sa.String(length=22), nullable=False),
        sa.Column("routing_number", sa.String(length=9), nullable=False),
        sa.Column("account_number_encrypted", sa.String(length=255), nullable=False),
        sa.Column("account_last4", sa.String(length=4), nullable=False),
        sa.Column(
            "account_type",
            sa.Enum(
                "checking",
                "savings",
                name="bank_account_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "active",
                "superseded",
                "rejected",
                name="payee_account_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("entered_by_id", sa.Integer(), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.String(length=300), nullable=True),
        sa.CheckConstraint(
            "decided_by_id IS NULL OR status = 'rejected' OR decided_by_id <> entered_by_id",
            name=op.f("ck_payee_account_second_person"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('active', 'superseded') OR decided_by_id IS NOT NULL",
            name=op.f("ck_payee_account_confirmed_has_decider"),
        ),
        sa.CheckConstraint(
            "(agency_id IS NULL) <> (group_id IS NULL)", name=op.f("ck_payee_account_one_payee")
        ),
        sa.CheckConstraint(
            "length(routing_number) = 9", name=op.f("ck_payee_account_routing_length")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["broker_agency.id"],
            name=op.f("fk_payee_account_agency_id_broker_agency"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user_account.id"],
            name=op.f("fk_payee_account_decided_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["entered_by_id"],
            ["user_account.id"],
            name=op.f("fk_payee_account_entered_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["employer_group.id"],
            name=op.f("fk_payee_account_group_id_employer_group"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payee_account")),
    )
    op.create_index(
        op.f("ix_payee_account_agency_id"), "payee_account", ["agency_id"], unique=False
    )
    op.create_index(op.f("ix_payee_account_group_id"), "payee_account", ["group_id"], unique=False)
    op.create_table(
        "ach_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("payee_account_id", sa.Integer(), nullable=False),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("trace_number", sa.String(length=15), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "in_file",
                "paid",
                "returned",
                name="ach_entry_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("paid_entry_id", sa.Integer(), nullable=True),
        sa.Column("return_code", sa.String(length=3), nullable=True),
        sa.Column("returned_on", sa.Date(), nullable=True),
        sa.Column("returned_by_id", sa.Integer(), nullable=True),
        sa.Column("return_entry_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status <> 'returned' OR return_code IS NOT NULL", name=op.f("ck_ach_entry_return_code")
        ),
        sa.CheckConstraint(
            "(agency_id IS NULL) <> (group_id IS NULL)", name=op.f("ck_ach_entry_one_payee")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ach_entry_positive_amount")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["broker_agency.id"], name=op.f("fk_ach_entry_agency_id_broker_agency")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["ach_file.id"], name=op.f("fk_ach_entry_file_id_ach_file")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["employer_group.id"], name=op.f("fk_ach_entry_group_id_employer_group")
        ),
        sa.ForeignKeyConstraint(
            ["paid_entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_ach_entry_paid_entry_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["payee_account_id"],
            ["payee_account.id"],
            name=op.f("fk_ach_entry_payee_account_id_payee_account"),
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refund.id"], name=op.f("fk_ach_entry_refund_id_refund")
        ),
        sa.ForeignKeyConstraint(
            ["return_entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_ach_entry_return_entry_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["returned_by_id"],
            ["user_account.id"],
            name=op.f("fk_ach_entry_returned_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ach_entry")),
        sa.UniqueConstraint("trace_number", name=op.f("uq_ach_entry_trace_number")),
    )
    op.create_index(op.f("ix_ach_entry_agency_id"), "ach_entry", ["agency_id"], unique=False)
    op.create_index(op.f("ix_ach_entry_file_id"), "ach_entry", ["file_id"], unique=False)
    op.create_index(op.f("ix_ach_entry_refund_id"), "ach_entry", ["refund_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ach_entry_refund_id"), table_name="ach_entry")
    op.drop_index(op.f("ix_ach_entry_file_id"), table_name="ach_entry")
    op.drop_index(op.f("ix_ach_entry_agency_id"), table_name="ach_entry")
    op.drop_table("ach_entry")
    op.drop_index(op.f("ix_payee_account_group_id"), table_name="payee_account")
    op.drop_index(op.f("ix_payee_account_agency_id"), table_name="payee_account")
    op.drop_table("payee_account")
    op.drop_table("ach_file")
