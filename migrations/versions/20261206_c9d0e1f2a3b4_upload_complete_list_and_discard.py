"""upload: whether the portal guessed the file's kind, the sender's confirmation that a full file is their complete list, and discarding a
refused upload; census_column_mapping.plan_aliases: a group's own names for its plans

Revision ID: c9d0e1f2a3b4
Revises: b8c9d0e1f2a3
Create Date: 2026-12-06 22:00:00
"""

from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "c9d0e1f2a3b4"
down_revision = "b8c9d0e1f2a3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.add_column(
            sa.Column(
                "file_kind_guessed", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("complete_list_confirmed_by_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("complete_list_confirmed_at", billing_core.db.UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("discarded_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("discarded_at", billing_core.db.UTCDateTime(), nullable=True))
        batch.create_foreign_key(
            "fk_upload_complete_list_confirmed_by_id_user_account",
            "user_account",
            ["complete_list_confirmed_by_id"],
            ["id"],
        )
        batch.create_foreign_key(
            "fk_upload_discarded_by_id_user_account", "user_account", ["discarded_by_id"], ["id"]
        )
    with op.batch_alter_table("census_column_mapping") as batch:
        batch.add_column(sa.Column("plan_aliases", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("census_column_mapping") as batch:
        batch.drop_column("plan_aliases")
    with op.batch_alter_table("upload") as batch:
        batch.drop_constraint("fk_upload_discarded_by_id_user_account", type_="foreignkey")
        batch.drop_constraint(
            "fk_upload_complete_list_confirmed_by_id_user_account", type_="foreignkey"
        )
        batch.drop_column("discarded_at")
        batch.drop_column("discarded_by_id")
        batch.drop_column("complete_list_confirmed_at")
        batch.drop_column("complete_list_confirmed_by_id")
        batch.drop_column("file_kind_guessed")
