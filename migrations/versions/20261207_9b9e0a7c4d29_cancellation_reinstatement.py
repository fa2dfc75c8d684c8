"""collections (issue 20, item 7): cancellation for non-payment and reinstatement.

Each cancellation (group, episode: dates, the cure amount then, who; its reinstatement and the
last day billed for it) and the coverages it ended with their last covered day before. No rows
are written here.

Revision ID: 9b9e0a7c4d29
Revises: 9b8e0a7c4d28
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import Money, UTCDateTime

revision = "9b9e0a7c4d29"
down_revision = "9b8e0a7c4d28"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_cancellation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("cancelled_on", sa.Date(), nullable=False),
        sa.Column("coverage_ends_on", sa.Date(), nullable=False),
        sa.Column("reinstate_until", sa.Date(), nullable=False),
        sa.Column("overdue", Money(precision=12, scale=2), nullable=False),
        sa.Column("cancelled_by_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=254), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("reinstated_on", sa.Date(), nullable=True),
        sa.Column("reinstated_by", sa.String(length=254), nullable=True),
        sa.Column("billed_through", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("reinstate_until >= cancelled_on",
                           name=op.f("ck_group_cancellation_window")),
        sa.CheckConstraint("reinstated_on IS NULL OR reinstated_on >= cancelled_on",
                           name=op.f("ck_group_cancellation_reinstated_on")),
        sa.ForeignKeyConstraint(["cancelled_by_id"], ["user_account.id"],
                                name=op.f("fk_group_cancellation_cancelled_by_id_user_account")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_group_cancellation_group_id_employer_group")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_cancellation")),
        sa.UniqueConstraint("group_id", "episode",
                            name=op.f("uq_group_cancellation_group_id_episode")),
    )  # fmt: skip
    op.create_index(op.f("ix_group_cancellation_group_id"), "group_cancellation", ["group_id"])
    op.create_table(
        "cancelled_coverage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cancellation_id", sa.Integer(), nullable=False),
        sa.Column("coverage_id", sa.Integer(), nullable=False),
        sa.Column("effective_to_before", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cancellation_id"], ["group_cancellation.id"],
            name=op.f("fk_cancelled_coverage_cancellation_id_group_cancellation"),
        ),
        sa.ForeignKeyConstraint(["coverage_id"], ["coverage.id"],
                                name=op.f("fk_cancelled_coverage_coverage_id_coverage")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancelled_coverage")),
        sa.UniqueConstraint("cancellation_id", "coverage_id",
                            name=op.f("uq_cancelled_coverage_cancellation_id_coverage_id")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_cancelled_coverage_coverage_id"), "cancelled_coverage", ["coverage_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cancelled_coverage_coverage_id"), table_name="cancelled_coverage")
    op.drop_table("cancelled_coverage")
    op.drop_index(op.f("ix_group_cancellation_group_id"), table_name="group_cancellation")
    op.drop_table("group_cancellation")
