"""set-up on screens (issue 22, item 5): user invitations.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9c1e0a7c4d31
Revises: 9c0e0a7c4d30
Create Date: 2026-12-07 07:20:00
"""

revision = "9c1e0a7c4d31"
down_revision = "9c0e0a7c4d30"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
