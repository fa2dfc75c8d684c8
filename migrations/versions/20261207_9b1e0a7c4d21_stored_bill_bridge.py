"""issued invoices keep their bill bridge (issue 19, item 1)

Reserved in the chain so that parallel work keeps one head; filled by the slice that needs it.

Revision ID: 9b1e0a7c4d21
Revises: a8b9c0d1e2f3
Create Date: 2026-12-07 01:20:00
"""

revision = "9b1e0a7c4d21"
down_revision = "a8b9c0d1e2f3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
