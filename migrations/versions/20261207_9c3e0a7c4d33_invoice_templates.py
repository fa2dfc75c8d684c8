"""invoice templates from the contract (issue 22, item 3): a group's template, what an issued
invoice kept of it, and its subtotals kept at issue. No rows are written here: invoices issued
before have no template and print as they always did.

Revision ID: 9c3e0a7c4d33
Revises: 9c2e0a7c4d32
Create Date: 2026-12-07 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import Money, UTCDateTime

revision = "9c3e0a7c4d33"
down_revision = "9c2e0a7c4d32"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("subtotal_by", sa.String(length=20), nullable=True),
        sa.Column("subgroup_billing", sa.String(length=20), nullable=False),
        sa.Column("reference_fields", sa.JSON(), nullable=False),
        sa.Column("remit_to", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_invoice_template_group_id_employer_group")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"],
                                name=op.f("fk_invoice_template_updated_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_template")),
        sa.UniqueConstraint("group_id", name=op.f("uq_invoice_template_group_id")),
    )  # fmt: skip
    op.create_table(
        "invoice_print",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("subtotal_by", sa.String(length=20), nullable=True),
        sa.Column("reference_fields", sa.JSON(), nullable=False),
        sa.Column("remit_to", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"],
                                name=op.f("fk_invoice_print_invoice_id_invoice")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_print")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_invoice_print_invoice_id")),
    )  # fmt: skip
    op.create_table(
        "invoice_subtotal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"],
                                name=op.f("fk_invoice_subtotal_invoice_id_invoice")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_subtotal")),
    )  # fmt: skip
    op.create_index(op.f("ix_invoice_subtotal_invoice_id"), "invoice_subtotal", ["invoice_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_invoice_subtotal_invoice_id"), table_name="invoice_subtotal")
    op.drop_table("invoice_subtotal")
    op.drop_table("invoice_print")
    op.drop_table("invoice_template")
