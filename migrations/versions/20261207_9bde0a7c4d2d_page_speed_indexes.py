"""performance (issue 19): indexes for the load test's pages.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9bde0a7c4d2d
Revises: 9bce0a7c4d2c
Create Date: 2026-12-07 07:00:00
"""

revision = "9bde0a7c4d2d"
down_revision = "9bce0a7c4d2c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
