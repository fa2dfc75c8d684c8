"""collections (issue 20, item 10): the credit-control watchlist.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9bbe0a7c4d2b
Revises: 9bae0a7c4d2a
Create Date: 2026-12-07 07:00:00
"""

revision = "9bbe0a7c4d2b"
down_revision = "9bae0a7c4d2a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
