"""group addresses, contacts and the delinquency plan in set-up (issue 22, item 1)

employer_group gains its mailing/billing address (two lines, city, state, ZIP) and a billing
contact's name and phone (contact_email exists); group_setup_draft.edits_group_id marks a draft
that edits a live group (the staff group page's "Edit set-up") rather than setting up a new one.

Revision ID: 9c4e0a7c4d34
Revises: 9c3e0a7c4d33
Create Date: 2026-12-07 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9c4e0a7c4d34"
down_revision = "9c3e0a7c4d33"
branch_labels = None
depends_on = None

ADDRESS_COLUMNS = (
    ("address_line1", 200),
    ("address_line2", 200),
    ("city", 100),
    ("address_state", 2),
    ("zip_code", 10),
    ("contact_name", 200),
    ("contact_phone", 30),
)


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): every existing group stays as it is.
    for name, length in ADDRESS_COLUMNS:
        op.add_column("employer_group", sa.Column(name, sa.String(length=length), nullable=True))
    with op.batch_alter_table("group_setup_draft") as batch:
        batch.add_column(sa.Column("edits_group_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_group_setup_draft_edits_group_id_employer_group"),
            "employer_group",
            ["edits_group_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("group_setup_draft") as batch:
        batch.drop_constraint(
            op.f("fk_group_setup_draft_edits_group_id_employer_group"), type_="foreignkey"
        )
        batch.drop_column("edits_group_id")
    with op.batch_alter_table("employer_group") as batch:
        for name, _ in reversed(ADDRESS_COLUMNS):
            batch.drop_column(name)
