"""upload limits and load safety (reserved for issue 17 item 5)

upload.job_args keeps what a background read is run with (so a runner in any process can run it
from the row), upload.job_worker who claimed it and upload.job_attempts how often it started (a
read whose process died is queued again once). One read at a time per group: a partial unique
index over the uploads waiting or being read; any group holding more than one now keeps its
newest and the others are failed with a message their senders read.

Revision ID: e3f4a5b6c7d8
Revises: e2f3a4b5c6d7
Create Date: 2026-12-06 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e3f4a5b6c7d8"
down_revision = "e2f3a4b5c6d7"
branch_labels = None
depends_on = None

PENDING = "job_status IN ('queued', 'running')"
SUPERSEDED = (
    "Reading this file stopped before it finished (the service was upgraded). Nothing from it "
    "was applied; upload it again to retry."
)


def upgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.add_column(sa.Column("job_args", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("job_worker", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("job_attempts", sa.Integer(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE upload SET job_status = 'failed', job_message = :message, "
            "job_error = 'another read of the group was pending at the upgrade' "
            f"WHERE {PENDING} AND id NOT IN "
            f"(SELECT max(id) FROM upload WHERE {PENDING} GROUP BY group_id)"
        ).bindparams(message=SUPERSEDED)
    )
    op.create_index(
        "uq_upload_one_read_per_group",
        "upload",
        ["group_id"],
        unique=True,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("uq_upload_one_read_per_group", table_name="upload")
    with op.batch_alter_table("upload") as batch:
        batch.drop_column("job_attempts")
        batch.drop_column("job_worker")
        batch.drop_column("job_args")
