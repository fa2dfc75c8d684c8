"""a billing run in chunks of groups, each its own transaction (issue 19, item 3): billing_run
(the run asked for) and billing_run_chunk (its chunks, status, counts, attempts, last error)

New tables only: nothing to backfill (runs before this revision were one transaction each).

Revision ID: 9b3e0a7c4d23
Revises: 9b2e0a7c4d22
Create Date: 2026-12-07 01:20:00
"""

from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "9b3e0a7c4d23"
down_revision = "9b2e0a7c4d22"
branch_labels = None
depends_on = None


def _status(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "billing_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=True),
        sa.Column("group_numbers", sa.JSON(), nullable=True),
        sa.Column("chunk_groups", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            _status("billing_run_status", "running", "done", "failed"),
            nullable=False,
        ),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("started_by_email", sa.String(length=255), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("created_at", billing_core.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", billing_core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["started_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_billing_run_period", "billing_run", ["period"])
    op.create_table(
        "billing_run_chunk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("group_numbers", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            _status("billing_run_chunk_status", "pending", "running", "done", "failed"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("issued_count", sa.Integer(), nullable=False),
        sa.Column("already_issued_count", sa.Integer(), nullable=False),
        sa.Column("held_count", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("new_charges", billing_core.db.Money(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=160), nullable=True),
        sa.Column("started_at", billing_core.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", billing_core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["billing_run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "number", name="uq_billing_run_chunk_number"),
    )
    op.create_index("ix_billing_run_chunk_run_id", "billing_run_chunk", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_billing_run_chunk_run_id", table_name="billing_run_chunk")
    op.drop_table("billing_run_chunk")
    op.drop_index("ix_billing_run_period", table_name="billing_run")
    op.drop_table("billing_run")
