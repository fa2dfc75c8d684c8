"""server-side sessions and staff second factor (reserved for issue 17 items 6 and 7)

user_account.session_version ends every session of a user at logout; the TOTP secret
(encrypted), its confirmation, the last time step used and the recovery code digests; and
employer_group.require_second_factor.

Revision ID: e2f3a4b5c6d7
Revises: e1f2a3b4c5d6
Create Date: 2026-12-06 22:10:00
"""

from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "e2f3a4b5c6d7"
down_revision = "e1f2a3b4c5d6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("totp_secret_encrypted", sa.String(length=255)))
        batch_op.add_column(sa.Column("totp_confirmed_at", billing_core.db.UTCDateTime()))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer()))
        batch_op.add_column(sa.Column("recovery_code_hashes", sa.JSON()))
    with op.batch_alter_table("employer_group", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_second_factor", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("employer_group", schema=None) as batch_op:
        batch_op.drop_column("require_second_factor")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("recovery_code_hashes")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_confirmed_at")
        batch_op.drop_column("totp_secret_encrypted")
        batch_op.drop_column("session_version")
