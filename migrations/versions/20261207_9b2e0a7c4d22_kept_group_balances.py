"""per-group balances kept by the postings that change them (issue 19, item 2)

Reserved in the chain so that parallel work keeps one head; filled by the slice that needs it.

Revision ID: 9b2e0a7c4d22
Revises: 9b1e0a7c4d21
Create Date: 2026-12-07 01:20:00
"""

revision = "9b2e0a7c4d22"
down_revision = "9b1e0a7c4d21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
