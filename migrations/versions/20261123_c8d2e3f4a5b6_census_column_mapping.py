"""census_column_mapping: the header mapping remembered per group

Revision ID: c8d2e3f4a5b6
Revises: 234f3fc22a1a
Create Date: 2026-11-23 20:00:00
"""
from alembic import op
import sqlalchemy as sa

from billing_core.db import UTCDateTime

revision = "c8d2e3f4a5b6"
down_revision = "234f3fc22a1a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "census_column_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["employer_group.id"],
            name=op.f("fk_census_column_mapping_group_id_employer_group"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user_account.id"],
            name=op.f("fk_census_column_mapping_updated_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_census_column_mapping")),
        sa.UniqueConstraint("group_id", name=op.f("uq_census_column_mapping_group_id")),
    )


def downgrade() -> None:
    op.drop_table("census_column_mapping")
