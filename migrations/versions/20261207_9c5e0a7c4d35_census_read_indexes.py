"""indexes for census intake (issue 19)

Revision ID: 9c5e0a7c4d35
Revises: 9c4e0a7c4d34
Create Date: 2026-12-07 10:00:00
"""

revision = "9c5e0a7c4d35"
down_revision = "9c4e0a7c4d34"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
