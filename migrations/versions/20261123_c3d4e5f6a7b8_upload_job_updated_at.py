"""upload.job_updated_at: when the background job last recorded anything, for the stuck-job sweep

Revision ID: c3d4e5f6a7b8
Revises: b2c3d4e5f6a7
Create Date: 2026-11-23 23:45:00
"""
from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "c3d4e5f6a7b8"
down_revision = "b2c3d4e5f6a7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.add_column(sa.Column("job_updated_at", billing_core.db.UTCDateTime(), nullable=True))
    # Jobs from before: judged from when the upload was received.
    op.execute("UPDATE upload SET job_updated_at = created_at WHERE job_status IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.drop_column("job_updated_at")
