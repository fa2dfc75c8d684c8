"""upload keeps the staff review's reconciliation with the bill (issue 19)

upload gains `reconciliation` (the reconciliation for the review's default period and pay
dates, as census.reconciliation.Reconciliation.as_kept writes it) and `reconciliation_basis`
(the digest of what it was computed from), so the staff review page reads it instead of rating
the group's whole period on every view. Both NULL for existing uploads: their first review
computes and keeps it.

Revision ID: 9c6e0a7c4d36
Revises: 9c5e0a7c4d35
Create Date: 2026-12-07 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9c6e0a7c4d36"
down_revision = "9c5e0a7c4d35"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): no upload is rewritten.
    op.add_column("upload", sa.Column("reconciliation", sa.JSON(), nullable=True))
    op.add_column("upload", sa.Column("reconciliation_basis", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.drop_column("reconciliation_basis")
        batch.drop_column("reconciliation")
