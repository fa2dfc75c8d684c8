"""a first bill's adds are read from its own premium lines (issue 19, item 3): the bridge rows
kept for them before are deleted

A first bill's bridge has one "adds" row per member and product, the same as its premium
lines: the billing run wrote every line twice. `bill_bridge.kept_rows` now reads those rows
from the invoice's lines (the step totals stay kept), and ignores any kept "adds" row of a
first bill, so the rows kept before are deleted here to give their space back. Nothing else
changes; downgrade computes nothing back (the rows were a copy: `flask billing keep-bridges`
does not need them either).

Revision ID: 9b6e0a7c4d26
Revises: 9b5e0a7c4d25
Create Date: 2026-12-07 03:20:00
"""

from alembic import op

revision = "9b6e0a7c4d26"
down_revision = "9b5e0a7c4d25"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM invoice_bridge_row WHERE step = 'adds' AND bridge_id IN "
        "(SELECT id FROM invoice_bridge WHERE prior_invoice_id IS NULL)"
    )


def downgrade() -> None:
    pass
