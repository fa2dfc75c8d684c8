"""collections (issue 20, item 7): cancellation for non-payment and reinstatement.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9b9e0a7c4d29
Revises: 9b8e0a7c4d28
Create Date: 2026-12-07 07:00:00
"""

revision = "9b9e0a7c4d29"
down_revision = "9b8e0a7c4d28"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
