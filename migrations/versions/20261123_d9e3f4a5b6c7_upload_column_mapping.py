"""upload.column_mapping: the header mapping an upload was checked with

Revision ID: d9e3f4a5b6c7
Revises: b7c1d2e3f4a5
Create Date: 2026-11-23 21:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "d9e3f4a5b6c7"
down_revision = "b7c1d2e3f4a5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.add_column(sa.Column("column_mapping", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.drop_column("column_mapping")
