"""reserved for collections: the contact log and promises to pay (issue 20, item 5)

Revision ID: 9b7e0a7c4d27
Revises: 9b6e0a7c4d26
Create Date: 2026-12-07 04:40:00
"""

revision = "9b7e0a7c4d27"
down_revision = "9b6e0a7c4d26"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
