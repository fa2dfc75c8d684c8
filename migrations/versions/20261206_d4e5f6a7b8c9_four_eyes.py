"""four eyes per decision and source (reserved for the authority-limit work of issues 16 and 17)

Revision ID: d4e5f6a7b8c9
Revises: d3e4f5a6b7c8
Create Date: 2026-12-06 21:30:00
"""

revision = "d4e5f6a7b8c9"
down_revision = "d3e4f5a6b7c8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
