"""collections (issue 20, item 6): payment plans and their installments.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9b8e0a7c4d28
Revises: 9b7e0a7c4d27
Create Date: 2026-12-07 07:00:00
"""

revision = "9b8e0a7c4d28"
down_revision = "9b7e0a7c4d27"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
