"""commissions (issue 21): schedules, earning, runs.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9bce0a7c4d2c
Revises: 9bbe0a7c4d2b
Create Date: 2026-12-07 07:00:00
"""

revision = "9bce0a7c4d2c"
down_revision = "9bbe0a7c4d2b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
