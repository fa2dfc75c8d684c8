"""set-up on screens (issue 22, items 1 and 4): group set-up drafts and group terminations.

Revision ID: 9c0e0a7c4d30
Revises: 9bfe0a7c4d2f
Create Date: 2026-12-07 07:20:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import UTCDateTime

revision = "9c0e0a7c4d30"
down_revision = "9bfe0a7c4d2f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_setup_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("group_number", sa.String(length=20), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("went_live_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"],
                                name=op.f("fk_group_setup_draft_created_by_id_user_account")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_group_setup_draft_group_id_employer_group")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_setup_draft")),
    )  # fmt: skip
    op.create_table(
        "group_termination",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("terminated_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("coverages_ended", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user_account.id"],
                                name=op.f("fk_group_termination_actor_id_user_account")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_group_termination_group_id_employer_group")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_termination")),
    )  # fmt: skip
    op.create_index(op.f("ix_group_termination_group_id"), "group_termination", ["group_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_group_termination_group_id"), table_name="group_termination")
    op.drop_table("group_termination")
    op.drop_table("group_setup_draft")
