"""issued invoices keep their bill bridge (issue 19, item 1): invoice_bridge, its steps and
the member rows behind each step

Decision: existing invoices are NOT filled here. The bridge's rules (which step a member x
product difference belongs to, and the words that explain it) live in Python
(`billing_core.billing.bill_bridge`); redoing them in plain SQL here would be a second copy of
the rules that could disagree with the first, and a migration imports no models. Instead
`bill_bridge.kept_bridge` computes the bridge of an invoice that has none (or whose prior
invoice has changed since, after a void) exactly as before this table existed, and keeps it
when the caller commits; `flask billing keep-bridges` fills every issued invoice once, in
batches, after this upgrade. Until then a page reads what it read before: nothing changes but
the speed.

Also: invoice_line's index by invoice becomes (invoice_id, section, line_number), so a page of an
invoice's lines is read in order from the index.

Revision ID: 9b1e0a7c4d21
Revises: a8b9c0d1e2f3
Create Date: 2026-12-07 01:20:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import Money, UTCDateTime

revision = "9b1e0a7c4d21"
down_revision = "a8b9c0d1e2f3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The invoice page reads a page of premium lines in line order from the index; the
    # composite index serves every lookup by invoice the old one did, so the billing run still
    # fills one index by invoice.
    op.create_index(
        "ix_invoice_line_invoice_section_line",
        "invoice_line",
        ["invoice_id", "section", "line_number"],
    )
    op.drop_index("ix_invoice_line_invoice_id", table_name="invoice_line")
    op.create_table(
        "invoice_bridge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("prior_invoice_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_invoice_bridge_invoice_id_invoice")
        ),
        sa.ForeignKeyConstraint(
            ["prior_invoice_id"],
            ["invoice.id"],
            name=op.f("fk_invoice_bridge_prior_invoice_id_invoice"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_bridge")),
    )
    op.create_index(
        "ix_invoice_bridge_invoice_prior", "invoice_bridge", ["invoice_id", "prior_invoice_id"]
    )
    op.create_table(
        "invoice_bridge_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bridge_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bridge_id"],
            ["invoice_bridge.id"],
            name=op.f("fk_invoice_bridge_step_bridge_id_invoice_bridge"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_bridge_step")),
    )
    op.create_index(op.f("ix_invoice_bridge_step_bridge_id"), "invoice_bridge_step", ["bridge_id"])
    op.create_table(
        "invoice_bridge_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bridge_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("prior_amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("current_amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bridge_id"],
            ["invoice_bridge.id"],
            name=op.f("fk_invoice_bridge_row_bridge_id_invoice_bridge"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_bridge_row")),
    )
    op.create_index(
        "ix_invoice_bridge_row_bridge_step",
        "invoice_bridge_row",
        ["bridge_id", "step", "position"],
    )


def downgrade() -> None:
    op.drop_index("ix_invoice_bridge_row_bridge_step", table_name="invoice_bridge_row")
    op.drop_table("invoice_bridge_row")
    op.drop_index(op.f("ix_invoice_bridge_step_bridge_id"), table_name="invoice_bridge_step")
    op.drop_table("invoice_bridge_step")
    op.drop_index("ix_invoice_bridge_invoice_prior", table_name="invoice_bridge")
    op.drop_table("invoice_bridge")
    op.create_index("ix_invoice_line_invoice_id", "invoice_line", ["invoice_id"])
    op.drop_index("ix_invoice_line_invoice_section_line", table_name="invoice_line")
