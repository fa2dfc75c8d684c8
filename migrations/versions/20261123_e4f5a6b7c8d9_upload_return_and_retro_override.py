"""upload: the reason a review returned it to the employer, and a supervisor's retro override

Revision ID: e4f5a6b7c8d9
Revises: d9e3f4a5b6c7
Create Date: 2026-11-23 22:00:00
"""
from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "e4f5a6b7c8d9"
down_revision = "d9e3f4a5b6c7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.add_column(sa.Column("return_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("retro_override_by_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("retro_override_at", billing_core.db.UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("retro_override_reason", sa.Text(), nullable=True))
        batch.create_foreign_key(
            "fk_upload_retro_override_by_id_user_account",
            "user_account",
            ["retro_override_by_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.drop_constraint("fk_upload_retro_override_by_id_user_account", type_="foreignkey")
        batch.drop_column("retro_override_reason")
        batch.drop_column("retro_override_at")
        batch.drop_column("retro_override_by_id")
        batch.drop_column("return_reason")
