"""reserved for the Today page and staff worklist indexes (issue 19, item 2)

Revision ID: 9b4e0a7c4d24
Revises: 9b3e0a7c4d23
Create Date: 2026-12-07 03:20:00
"""

revision = "9b4e0a7c4d24"
down_revision = "9b3e0a7c4d23"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
