"""upload.impact, upload.impact_basis: the premium impact as last priced and what it was priced from

Revision ID: a7b8c9d0e1f2
Revises: c3d4e5f6a7b8
Create Date: 2026-11-24 03:30:00
"""

from alembic import op
import sqlalchemy as sa

revision = "a7b8c9d0e1f2"
down_revision = "c3d4e5f6a7b8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.add_column(sa.Column("impact", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("impact_basis", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.drop_column("impact_basis")
        batch.drop_column("impact")
