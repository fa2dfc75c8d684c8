"""the mail outbox delivered through SMTP (issue 16): each message's status, attempts, next
attempt, expiry, delivery claim, recipient user, group and link; mail_preference (which kinds
of message each user receives)

Messages written before this revision were never meant to be sent (the outbox was only a
table and a log): they are marked failed with a note saying so, so that configuring SMTP later
does not send stale password-reset links and old notices.

Revision ID: d2e3f4a5b6c7
Revises: d1e2f3a4b5c6
Create Date: 2026-12-06 21:30:00
"""

from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "d2e3f4a5b6c7"
down_revision = "d1e2f3a4b5c6"
branch_labels = None
depends_on = None

MAIL_STATUS = sa.Enum(
    "queued",
    "sending",
    "sent",
    "failed",
    name="mail_status",
    native_enum=False,
    create_constraint=True,
    length=32,
)


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(
            sa.Column("status", MAIL_STATUS, nullable=False, server_default="queued")
        )
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("link_path", sa.String(length=300), nullable=True))
        batch.add_column(
            sa.Column("next_attempt_at", billing_core.db.UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("expires_at", billing_core.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("claimed_at", billing_core.db.UTCDateTime(), nullable=True))
        batch.create_foreign_key(
            "fk_outbox_message_user_id_user_account",
            "user_account",
            ["user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_foreign_key(
            "fk_outbox_message_group_id_employer_group", "employer_group", ["group_id"], ["id"]
        )
        batch.create_index("ix_outbox_message_group_id", ["group_id"], unique=False)
        batch.create_index(
            "ix_outbox_message_status_next", ["status", "next_attempt_at"], unique=False
        )
    op.execute(
        "UPDATE outbox_message SET status = 'failed', "
        "last_error = 'written before the portal sent mail; never sent' "
        "WHERE sent_at IS NULL"
    )
    op.execute("UPDATE outbox_message SET status = 'sent' WHERE sent_at IS NOT NULL")
    op.create_table(
        "mail_preference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("receive", sa.Boolean(), nullable=False),
        sa.Column("updated_at", billing_core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name="fk_mail_preference_user_id_user_account",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name="pk_mail_preference"),
    )


def downgrade() -> None:
    op.drop_table("mail_preference")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_index("ix_outbox_message_status_next")
        batch.drop_index("ix_outbox_message_group_id")
        batch.drop_constraint("fk_outbox_message_group_id_employer_group", type_="foreignkey")
        batch.drop_constraint("fk_outbox_message_user_id_user_account", type_="foreignkey")
        batch.drop_constraint(op.f("ck_outbox_message_mail_status"), type_="check")
        batch.drop_column("claimed_at")
        batch.drop_column("claim_token")
        batch.drop_column("expires_at")
        batch.drop_column("next_attempt_at")
        batch.drop_column("link_path")
        batch.drop_column("group_id")
        batch.drop_column("user_id")
        batch.drop_column("status")
