"""Today page indexes (issue 19, item 2): the payments waiting for reconciliation (a partial
index over the few flagged and not yet reviewed, instead of reading every payment of the book
on each view of Today and the reconciliation queue), Stripe events by when they came in (Today
reads the last 30 days'), and the kept open items that are credits (Today asks whether any is
past due before it sums past-due items the quick way).

Revision ID: 9b4e0a7c4d24
Revises: 9b3e0a7c4d23
Create Date: 2026-12-07 03:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9b4e0a7c4d24"
down_revision = "9b3e0a7c4d23"
branch_labels = None
depends_on = None

TO_REVIEW = "review_reason IS NOT NULL AND reviewed_at IS NULL"
KEPT_CREDIT = "open_amount < 0"


def upgrade() -> None:
    op.create_index(
        "ix_payment_to_review",
        "payment",
        ["received_on", "id"],
        sqlite_where=sa.text(TO_REVIEW),
        postgresql_where=sa.text(TO_REVIEW),
    )
    op.create_index("ix_webhook_event_received_at", "webhook_event", ["received_at"])
    op.create_index(
        "ix_kept_open_item_credit",
        "kept_open_item",
        ["due_on"],
        sqlite_where=sa.text(KEPT_CREDIT),
        postgresql_where=sa.text(KEPT_CREDIT),
    )


def downgrade() -> None:
    op.drop_index("ix_kept_open_item_credit", table_name="kept_open_item")
    op.drop_index("ix_webhook_event_received_at", table_name="webhook_event")
    op.drop_index("ix_payment_to_review", table_name="payment")
