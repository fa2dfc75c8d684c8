"""upload.kept_problems: a purged file's problems (kind, row, column, message; no values), kept
when its bytes are deleted

Revision ID: f7e6d5c4b3a2
Revises: e3f4a5b6c7d8
Create Date: 2026-12-06 23:10:00
"""

from alembic import op
import sqlalchemy as sa

revision = "f7e6d5c4b3a2"
down_revision = "e3f4a5b6c7d8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: the upload table is rebuilt by no batch here (its content is large).
    op.add_column("upload", sa.Column("kept_problems", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.drop_column("kept_problems")
