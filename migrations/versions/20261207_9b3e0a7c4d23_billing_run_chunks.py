"""a billing run in chunks of groups, each its own transaction (issue 19, item 3)

Reserved in the chain so that parallel work keeps one head; filled by the slice that needs it.

Revision ID: 9b3e0a7c4d23
Revises: 9b2e0a7c4d22
Create Date: 2026-12-07 01:20:00
"""

revision = "9b3e0a7c4d23"
down_revision = "9b2e0a7c4d22"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
