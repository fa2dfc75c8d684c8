"""renewals and rate corrections on screens (issue 22, item 2)

Revision ID: 9c2e0a7c4d32
Revises: 9c1e0a7c4d31
Create Date: 2026-12-07 10:00:00
"""

revision = "9c2e0a7c4d32"
down_revision = "9c1e0a7c4d31"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
