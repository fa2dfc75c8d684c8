"""billing_policy.credit_policy: a group's unapplied credit is used on its next invoice at issue,
or held for a refund

Revision ID: d1e2f3a4b5c6
Revises: c9d0e1f2a3b4
Create Date: 2026-12-06 21:30:00
"""

from alembic import op
import sqlalchemy as sa

revision = "d1e2f3a4b5c6"
down_revision = "c9d0e1f2a3b4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("billing_policy") as batch:
        batch.add_column(
            sa.Column(
                "credit_policy",
                sa.Enum(
                    "apply_to_next_bill",
                    "hold_for_refund",
                    name="credit_policy",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=False,
                server_default="apply_to_next_bill",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_policy") as batch:
        batch.drop_column("credit_policy")
