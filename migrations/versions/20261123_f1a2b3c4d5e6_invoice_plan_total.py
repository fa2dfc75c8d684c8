"""invoice_plan_total: each issued invoice's lines summed by section and plan

Revision ID: f1a2b3c4d5e6
Revises: d66e0f291bfe
Create Date: 2026-11-23 22:50:00
"""
from alembic import op
import sqlalchemy as sa

from billing_core.db import Money

revision = "f1a2b3c4d5e6"
down_revision = "d66e0f291bfe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_plan_total",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column(
            "section",
            sa.Enum(
                "premium",
                "retro",
                "fee",
                name="invoice_section",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_invoice_plan_total_invoice_id_invoice")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name=op.f("fk_invoice_plan_total_plan_id_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_plan_total")),
    )
    op.create_index(
        op.f("ix_invoice_plan_total_invoice_id"), "invoice_plan_total", ["invoice_id"]
    )
    # Invoices issued before this table existed: their totals from their lines.
    op.execute(
        "INSERT INTO invoice_plan_total"
        " (invoice_id, section, plan_id, amount, line_count, member_count)"
        " SELECT invoice_id, section, plan_id, SUM(amount), COUNT(*), COUNT(DISTINCT member_id)"
        " FROM invoice_line GROUP BY invoice_id, section, plan_id"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_invoice_plan_total_invoice_id"), table_name="invoice_plan_total")
    op.drop_table("invoice_plan_total")
