"""users on screens (issue 22, item 5): invitations by e-mail (a set-password link kept only as
its token's digest, good once, expiring) and the employer users who administer their group's
users in the portal.

Revision ID: 9c1e0a7c4d31
Revises: 9c0e0a7c4d30
Create Date: 2026-12-07 07:20:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import UTCDateTime

revision = "9c1e0a7c4d31"
down_revision = "9c0e0a7c4d30"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "used_at IS NULL OR revoked_at IS NULL",
            name=op.f("ck_user_invitation_used_or_revoked"),
        ),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_user_invitation_expires_after_creation")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_user_invitation_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["user_account.id"],
            name=op.f("fk_user_invitation_invited_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_invitation")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_user_invitation_token_digest")),
    )
    op.create_index(
        op.f("ix_user_invitation_user_id"), "user_invitation", ["user_id"], unique=False
    )
    op.create_table(
        "group_administrator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_group_administrator_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["employer_group.id"],
            name=op.f("fk_group_administrator_group_id_employer_group"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_administrator")),
        sa.UniqueConstraint(
            "user_id", "group_id", name=op.f("uq_group_administrator_user_id_group_id")
        ),
    )
    op.create_index(
        op.f("ix_group_administrator_group_id"), "group_administrator", ["group_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_group_administrator_group_id"), table_name="group_administrator")
    op.drop_table("group_administrator")
    op.drop_index(op.f("ix_user_invitation_user_id"), table_name="user_invitation")
    op.drop_table("user_invitation")
