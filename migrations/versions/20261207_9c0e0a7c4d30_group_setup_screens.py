"""set-up on screens (issue 22): drafts, renewals, invoice templates.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9c0e0a7c4d30
Revises: 9bfe0a7c4d2f
Create Date: 2026-12-07 07:20:00
"""

revision = "9c0e0a7c4d30"
down_revision = "9bfe0a7c4d2f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
