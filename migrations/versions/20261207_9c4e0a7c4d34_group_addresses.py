"""group addresses, contacts and the delinquency plan in set-up (issue 22, item 1)

Revision ID: 9c4e0a7c4d34
Revises: 9c3e0a7c4d33
Create Date: 2026-12-07 10:00:00
"""

revision = "9c4e0a7c4d34"
down_revision = "9c3e0a7c4d33"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
