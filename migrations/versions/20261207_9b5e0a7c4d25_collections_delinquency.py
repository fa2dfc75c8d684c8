"""reserved for collections: delinquency plans, moratoriums, group delinquency states and transitions (issue 20)

Revision ID: 9b5e0a7c4d25
Revises: 9b4e0a7c4d24
Create Date: 2026-12-07 03:20:00
"""

revision = "9b5e0a7c4d25"
down_revision = "9b4e0a7c4d24"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
