"""commissions (issue 21, item 6): agency payee bank details, ACH files, returns.

Reserved in the chain so work on it can go on in parallel; empty until that work fills it.

Revision ID: 9bee0a7c4d2e
Revises: 9bde0a7c4d2d
Create Date: 2026-12-07 07:20:00
"""

revision = "9bee0a7c4d2e"
down_revision = "9bde0a7c4d2d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
