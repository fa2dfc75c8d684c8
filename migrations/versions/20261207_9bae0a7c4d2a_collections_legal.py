"""collections (issue 20, items 8-9): referrals to outside collections, recoveries, charge-off
requests and bankruptcy filings. No rows are written here.

Revision ID: 9bae0a7c4d2a
Revises: 9b9e0a7c4d29
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import Money, UTCDateTime

revision = "9bae0a7c4d2a"
down_revision = "9b9e0a7c4d29"
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "collection_referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(length=200), nullable=False),
        sa.Column("referred_on", sa.Date(), nullable=False),
        sa.Column("balance_referred", Money(precision=12, scale=2), nullable=False),
        sa.Column(
            "status",
            _enum("referral_status", "referred", "in_collection", "recovered", "closed",
                  "returned"),
            nullable=False,
        ),  # fmt: skip
        sa.Column("status_on", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("referred_by_id", sa.Integer(), nullable=True),
        sa.Column("referred_by", sa.String(length=254), nullable=False),
        sa.Column("suit_decided_on", sa.Date(), nullable=True),
        sa.Column("suit_decided_by", sa.String(length=254), nullable=True),
        sa.Column("suit_note", sa.String(length=1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("balance_referred >= 0", name=op.f("ck_collection_referral_balance")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_collection_referral_group_id_employer_group")),
        sa.ForeignKeyConstraint(["referred_by_id"], ["user_account.id"],
                                name=op.f("fk_collection_referral_referred_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_referral")),
    )  # fmt: skip
    op.create_index("ix_collection_referral_group", "collection_referral", ["group_id", "id"])
    op.create_table(
        "collection_recovery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("fee", Money(precision=12, scale=2), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("after_charge_off", sa.Boolean(), nullable=False),
        sa.Column("journal_entry_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_collection_recovery_amount")),
        sa.CheckConstraint("fee >= 0 AND fee <= amount", name=op.f("ck_collection_recovery_fee")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_collection_recovery_group_id_employer_group")),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["collection_referral.id"],
            name=op.f("fk_collection_recovery_referral_id_collection_referral")),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"],
                                name=op.f("fk_collection_recovery_payment_id_payment")),
        sa.ForeignKeyConstraint(
            ["journal_entry_id"], ["journal_entry.id"],
            name=op.f("fk_collection_recovery_journal_entry_id_journal_entry")),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["user_account.id"],
                                name=op.f("fk_collection_recovery_recorded_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_recovery")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_collection_recovery_payment_id")),
    )  # fmt: skip
    op.create_index("ix_collection_recovery_group", "collection_recovery", ["group_id", "id"])
    op.create_table(
        "charge_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", _enum("charge_off_status", "requested", "approved", "rejected"),
                  nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("charged_off_on", sa.Date(), nullable=True),
        sa.Column("journal_entry_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_charge_off_amount")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_charge_off_group_id_employer_group")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["user_account.id"],
                                name=op.f("fk_charge_off_requested_by_id_user_account")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"],
                                name=op.f("fk_charge_off_decided_by_id_user_account")),
        sa.ForeignKeyConstraint(["journal_entry_id"], ["journal_entry.id"],
                                name=op.f("fk_charge_off_journal_entry_id_journal_entry")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_off")),
        sa.UniqueConstraint("journal_entry_id", name=op.f("uq_charge_off_journal_entry_id")),
    )  # fmt: skip
    op.create_index("ix_charge_off_group", "charge_off", ["group_id", "id"])
    op.create_table(
        "bankruptcy_filing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("chapter", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.String(length=60), nullable=False),
        sa.Column("court", sa.String(length=200), nullable=False),
        sa.Column("status", _enum("bankruptcy_status", "filed", "dismissed", "discharged"),
                  nullable=False),
        sa.Column("status_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("chapter IN (7, 11, 13)", name=op.f("ck_bankruptcy_filing_chapter")),
        sa.CheckConstraint("status_on IS NULL OR status_on >= filed_on",
                           name=op.f("ck_bankruptcy_filing_dates")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_bankruptcy_filing_group_id_employer_group")),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["user_account.id"],
                                name=op.f("fk_bankruptcy_filing_recorded_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bankruptcy_filing")),
    )  # fmt: skip
    op.create_index("ix_bankruptcy_filing_group", "bankruptcy_filing", ["group_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_bankruptcy_filing_group", table_name="bankruptcy_filing")
    op.drop_table("bankruptcy_filing")
    op.drop_index("ix_charge_off_group", table_name="charge_off")
    op.drop_table("charge_off")
    op.drop_index("ix_collection_recovery_group", table_name="collection_recovery")
    op.drop_table("collection_recovery")
    op.drop_index("ix_collection_referral_group", table_name="collection_referral")
    op.drop_table("collection_referral")
