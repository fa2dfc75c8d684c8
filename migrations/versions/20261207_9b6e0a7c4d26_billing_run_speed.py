"""reserved for the billing run's set-based kept bridge (issue 19, item 3)

Revision ID: 9b6e0a7c4d26
Revises: 9b5e0a7c4d25
Create Date: 2026-12-07 03:20:00
"""

revision = "9b6e0a7c4d26"
down_revision = "9b5e0a7c4d25"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
