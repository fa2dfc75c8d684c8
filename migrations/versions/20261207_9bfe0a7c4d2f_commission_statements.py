"""commissions (issue 21, items 3, 5, 7): statements, the broker's book and disclosures.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9bfe0a7c4d2f
Revises: 9bee0a7c4d2e
Create Date: 2026-12-07 07:20:00
"""

revision = "9bfe0a7c4d2f"
down_revision = "9bee0a7c4d2e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
