"""collections (issue 20, item 10): the credit-control watchlist. No rows are written here.

Revision ID: 9bbe0a7c4d2b
Revises: 9bae0a7c4d2a
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import UTCDateTime

revision = "9bbe0a7c4d2b"
down_revision = "9bae0a7c4d2a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watchlist_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tax_id", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_by", sa.String(length=254), nullable=False),
        sa.Column("added_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("removed_by_id", sa.Integer(), nullable=True),
        sa.Column("removed_by", sa.String(length=254), nullable=True),
        sa.Column("removed_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("length(tax_id) = 9", name=op.f("ck_watchlist_entry_tax_id")),
        sa.CheckConstraint("expires_on IS NULL OR expires_on >= added_on",
                           name=op.f("ck_watchlist_entry_expiry")),
        sa.CheckConstraint("removed_on IS NULL OR removed_on >= added_on",
                           name=op.f("ck_watchlist_entry_removal")),
        sa.ForeignKeyConstraint(["added_by_id"], ["user_account.id"],
                                name=op.f("fk_watchlist_entry_added_by_id_user_account")),
        sa.ForeignKeyConstraint(["removed_by_id"], ["user_account.id"],
                                name=op.f("fk_watchlist_entry_removed_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_entry")),
    )  # fmt: skip
    op.create_index(op.f("ix_watchlist_entry_tax_id"), "watchlist_entry", ["tax_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_watchlist_entry_tax_id"), table_name="watchlist_entry")
    op.drop_table("watchlist_entry")
