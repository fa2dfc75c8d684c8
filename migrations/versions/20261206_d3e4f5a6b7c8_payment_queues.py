"""payments and queues: the credit used on an invoice at issue (invoice.credit_applied), and
why a payment waits for reconciliation and how that ended (payment.review_cause,
payment.review_resolution)

On SQLite the columns are added in place (a batch copy of invoice would drop the table that
invoice_line's reference triggers name, which SQLite refuses). Payments already flagged as
short or over by the allocation policy get their cause from the reason it wrote, so their
reviews too can clear themselves.

Revision ID: d3e4f5a6b7c8
Revises: d2e3f4a5b6c7
Create Date: 2026-12-06 21:30:00
"""

from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "d3e4f5a6b7c8"
down_revision = "d2e3f4a5b6c7"
branch_labels = None
depends_on = None

CAUSES = ("short_payment", "over_payment")
CAUSE_CHECK = "review_cause IN ('short_payment', 'over_payment')"
# The reasons `allocation.apply_payment` writes: "Paid $X against $Y owed: short by $Z, ...".
BACKFILL = (
    ("short_payment", "Paid % owed: short by %"),
    ("over_payment", "Paid % owed: over by %"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE invoice ADD COLUMN credit_applied BIGINT DEFAULT '0' NOT NULL")
        op.execute(
            "ALTER TABLE payment ADD COLUMN review_cause VARCHAR(32) "
            f"CONSTRAINT ck_payment_review_cause CHECK ({CAUSE_CHECK})"
        )
        op.execute("ALTER TABLE payment ADD COLUMN review_resolution VARCHAR(300)")
    else:
        op.add_column(
            "invoice",
            sa.Column(
                "credit_applied", billing_core.db.Money(), nullable=False, server_default="0"
            ),
        )
        op.add_column("payment", sa.Column("review_cause", sa.String(length=32), nullable=True))
        op.create_check_constraint(op.f("ck_payment_review_cause"), "payment", CAUSE_CHECK)
        op.add_column(
            "payment", sa.Column("review_resolution", sa.String(length=300), nullable=True)
        )
    for cause, pattern in BACKFILL:
        op.execute(
            sa.text(
                "UPDATE payment SET review_cause = :cause "
                "WHERE review_reason LIKE :pattern AND review_cause IS NULL"
            ).bindparams(cause=cause, pattern=pattern)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE payment DROP COLUMN review_resolution")
        op.execute("ALTER TABLE payment DROP COLUMN review_cause")
        op.execute("ALTER TABLE invoice DROP COLUMN credit_applied")
        return
    op.drop_column("payment", "review_resolution")
    op.drop_constraint(op.f("ck_payment_review_cause"), "payment", type_="check")
    op.drop_column("payment", "review_cause")
    op.drop_column("invoice", "credit_applied")
