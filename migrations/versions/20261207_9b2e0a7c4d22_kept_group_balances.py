"""per-group balances kept by the postings that change them (issue 19, item 2): kept_balance
(each per-group account's debits - credits) and kept_open_item (each invoice's non-zero
receivable balance and its due date), created and filled from the existing postings here;
from then on `billing_core.ledger.post_entries` keeps them in the same transaction as the
postings. Plain SQL over the tables (no model imports); on SQLite money columns are scaled
integers, and sums of them stay so, so the same statements fill both databases.

Revision ID: 9b2e0a7c4d22
Revises: 9b1e0a7c4d21
Create Date: 2026-12-07 01:20:00
"""

from alembic import op
import sqlalchemy as sa

from billing_core.db import Money

revision = "9b2e0a7c4d22"
down_revision = "9b1e0a7c4d21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_balance",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("balance", Money(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_account.id"],
            name=op.f("fk_kept_balance_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["employer_group.id"], name=op.f("fk_kept_balance_group_id_employer_group")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_kept_balance")),
    )
    op.create_index(op.f("ix_kept_balance_group_id"), "kept_balance", ["group_id"], unique=False)
    op.create_table(
        "kept_open_item",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("open_amount", Money(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_kept_open_item_invoice_id_invoice")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["employer_group.id"],
            name=op.f("fk_kept_open_item_group_id_employer_group"),
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_kept_open_item")),
    )
    op.create_index(
        op.f("ix_kept_open_item_group_id"), "kept_open_item", ["group_id"], unique=False
    )
    op.execute(
        """
        INSERT INTO kept_balance (account_id, group_id, code, balance)
        SELECT p.account_id, a.group_id, a.code, SUM(p.debit - p.credit)
          FROM posting p JOIN ledger_account a ON a.id = p.account_id
         WHERE a.group_id IS NOT NULL
         GROUP BY p.account_id, a.group_id, a.code
        """
    )
    op.execute(
        """
        INSERT INTO kept_open_item (invoice_id, group_id, due_on, open_amount)
        SELECT p.invoice_id, a.group_id, i.due_on, SUM(p.debit - p.credit)
          FROM posting p
          JOIN ledger_account a ON a.id = p.account_id
          JOIN invoice i ON i.id = p.invoice_id
         WHERE a.code = '1100' AND a.group_id IS NOT NULL
         GROUP BY p.invoice_id, a.group_id, i.due_on
        HAVING SUM(p.debit - p.credit) <> 0
        """
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_kept_open_item_group_id"), table_name="kept_open_item")
    op.drop_table("kept_open_item")
    op.drop_index(op.f("ix_kept_balance_group_id"), table_name="kept_balance")
    op.drop_table("kept_balance")
