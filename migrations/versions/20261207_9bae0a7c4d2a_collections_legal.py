"""collections (issue 20, items 8-9): referrals to outside collections, charge-off, recoveries, bankruptcy.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9bae0a7c4d2a
Revises: 9b9e0a7c4d29
Create Date: 2026-12-07 07:00:00
"""

revision = "9bae0a7c4d2a"
down_revision = "9b9e0a7c4d29"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
