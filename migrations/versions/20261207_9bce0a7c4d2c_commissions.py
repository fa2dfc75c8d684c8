"""commissions (issue 21): schedules per product line and agency with their rates, the monthly
commission run and its append-only lines. No rows are written here.

Revision ID: 9bce0a7c4d2c
Revises: 9bbe0a7c4d2b
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import Money, UTCDateTime

revision = "9bce0a7c4d2c"
down_revision = "9bbe0a7c4d2b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commission_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "approved",
                name="commission_run_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("run_by", sa.String(length=254), nullable=False),
        sa.Column("run_by_ids", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status <> 'approved' OR approved_at IS NOT NULL",
            name=op.f("ck_commission_run_approved_has_time"),
        ),
        sa.CheckConstraint("as_of >= month", name=op.f("ck_commission_run_as_of")),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["user_account.id"],
            name=op.f("fk_commission_run_approved_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_run")),
        sa.UniqueConstraint("month", name=op.f("uq_commission_run_month")),
    )
    op.create_table(
        "commission_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column(
            "line_of_coverage",
            sa.Enum(
                "medical",
                "dental",
                "vision",
                "basic_life",
                "supplemental_life",
                "add",
                "std",
                "ltd",
                name="line_of_coverage",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "flat",
                "graded",
                "per_employee",
                name="commission_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "basis",
            sa.Enum(
                "collected",
                "billed",
                name="commission_basis",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from",
            name=op.f("ck_commission_schedule_effective_range"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["broker_agency.id"],
            name=op.f("fk_commission_schedule_agency_id_broker_agency"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_commission_schedule_created_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_schedule")),
    )
    op.create_index(
        "ix_commission_schedule_line",
        "commission_schedule",
        ["line_of_coverage", "agency_id", "effective_from"],
        unique=False,
    )
    op.create_table(
        "commission_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("run_pass", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("broker_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("coverage_month", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "earned",
                "adjustment",
                "chargeback",
                "hold",
                "release",
                name="commission_line_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("premium_basis", Money(precision=12, scale=2), nullable=False),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("rate", Money(precision=14, scale=6), nullable=True),
        sa.Column("split_percent", Money(precision=6, scale=2), nullable=False),
        sa.Column("amount", Money(precision=12, scale=2), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("journal_entry_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_commission_line_non_zero")),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["broker_agency.id"],
            name=op.f("fk_commission_line_agency_id_broker_agency"),
        ),
        sa.ForeignKeyConstraint(
            ["broker_id"], ["broker.id"], name=op.f("fk_commission_line_broker_id_broker")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["employer_group.id"],
            name=op.f("fk_commission_line_group_id_employer_group"),
        ),
        sa.ForeignKeyConstraint(
            ["journal_entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_commission_line_journal_entry_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_commission_line_product_id_product")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["commission_run.id"], name=op.f("fk_commission_line_run_id_commission_run")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["commission_schedule.id"],
            name=op.f("fk_commission_line_schedule_id_commission_schedule"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_line")),
    )
    op.create_index(
        op.f("ix_commission_line_agency_id"), "commission_line", ["agency_id"], unique=False
    )
    op.create_index(
        "ix_commission_line_key",
        "commission_line",
        ["group_id", "product_id", "coverage_month"],
        unique=False,
    )
    op.create_index(
        "ix_commission_line_run_agency", "commission_line", ["run_id", "agency_id"], unique=False
    )
    op.create_table(
        "commission_rate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column(
            "policy_year",
            sa.Enum(
                "first_year",
                "renewal",
                name="policy_year",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("band_floor", Money(precision=12, scale=2), nullable=False),
        sa.Column("rate", Money(precision=14, scale=6), nullable=False),
        sa.CheckConstraint("band_floor >= 0", name=op.f("ck_commission_rate_band_floor")),
        sa.CheckConstraint("rate >= 0", name=op.f("ck_commission_rate_rate")),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["commission_schedule.id"],
            name=op.f("fk_commission_rate_schedule_id_commission_schedule"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_rate")),
        sa.UniqueConstraint(
            "schedule_id",
            "policy_year",
            "band_floor",
            name=op.f("uq_commission_rate_schedule_id_policy_year_band_floor"),
        ),
    )
    op.create_index(
        op.f("ix_commission_rate_schedule_id"), "commission_rate", ["schedule_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_commission_rate_schedule_id"), table_name="commission_rate")
    op.drop_table("commission_rate")
    op.drop_index("ix_commission_line_run_agency", table_name="commission_line")
    op.drop_index("ix_commission_line_key", table_name="commission_line")
    op.drop_index(op.f("ix_commission_line_agency_id"), table_name="commission_line")
    op.drop_table("commission_line")
    op.drop_index("ix_commission_schedule_line", table_name="commission_schedule")
    op.drop_table("commission_schedule")
    op.drop_table("commission_run")
