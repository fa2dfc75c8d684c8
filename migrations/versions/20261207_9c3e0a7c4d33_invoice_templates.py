"""invoice templates from the contract (issue 22, item 3)

Revision ID: 9c3e0a7c4d33
Revises: 9c2e0a7c4d32
Create Date: 2026-12-07 10:00:00
"""

revision = "9c3e0a7c4d33"
down_revision = "9c2e0a7c4d32"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
