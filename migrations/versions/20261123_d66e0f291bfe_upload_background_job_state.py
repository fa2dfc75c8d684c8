"""upload: the state of the background job reading a large file

Revision ID: d66e0f291bfe
Revises: e4f5a6b7c8d9
Create Date: 2026-11-23 21:24:52
"""
from alembic import op
import sqlalchemy as sa

revision = "d66e0f291bfe"
down_revision = "e4f5a6b7c8d9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.add_column(
            sa.Column(
                "job_status",
                sa.Enum(
                    "queued",
                    "running",
                    "done",
                    "failed",
                    name="job_status",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("job_progress", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("job_message", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("job_error", sa.Text(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_upload_job_progress_percent"), "job_progress BETWEEN 0 AND 100"
        )


def downgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.drop_constraint(op.f("ck_upload_job_progress_percent"), type_="check")
        batch.drop_constraint(op.f("ck_upload_job_status"), type_="check")
        batch.drop_column("job_error")
        batch.drop_column("job_message")
        batch.drop_column("job_progress")
        batch.drop_column("job_status")
