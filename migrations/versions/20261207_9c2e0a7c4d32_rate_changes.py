"""renewals and rate corrections on screens (issue 22, item 2): rate changes and their plans'
proposed rates; rate_version.revision (a correction effective the day a billed version starts
supersedes it by the next revision); on PostgreSQL triggers refusing any change to a billed
rate version (but closing it and marking it billed) and to the rates under it, by any door

Revision ID: 9c2e0a7c4d32
Revises: 9c1e0a7c4d31
Create Date: 2026-12-07 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from billing_core.db import UTCDateTime

revision = "9c2e0a7c4d32"
down_revision = "9c1e0a7c4d31"
branch_labels = None
depends_on = None

RATE_CHILD_TABLES = ("rate_tier", "rate_age_band", "age_reduction")


def _sqlite_rebuild_rate_version(to_revision: bool) -> None:
    """SQLite cannot drop a table's unique key: rate_version is rebuilt (batch). Dropping the
    old table would delete its rates' parent (a foreign key failure at commit), so the rates
    (tiers, bands, reductions) wait in temporary tables meanwhile; legacy_alter_table keeps the
    rename from re-checking the invoice_line trigger that names rate_version."""
    for table in RATE_CHILD_TABLES:
        op.execute(f"CREATE TEMP TABLE _keep_{table} AS SELECT * FROM {table}")
        op.execute(f"DELETE FROM {table}")
    op.execute("PRAGMA legacy_alter_table=ON")
    with op.batch_alter_table("rate_version", recreate="always") as batch:
        if to_revision:
            batch.add_column(
                sa.Column("revision", sa.Integer(), nullable=False, server_default="0")
            )
            batch.drop_constraint("uq_rate_version_plan_id_effective_from", type_="unique")
            batch.create_unique_constraint(
                "uq_rate_version_plan_id_effective_from_revision",
                ["plan_id", "effective_from", "revision"],
            )
            batch.create_check_constraint("revision", "revision >= 0")
        else:
            batch.drop_constraint("revision", type_="check")
            batch.drop_constraint("uq_rate_version_plan_id_effective_from_revision", type_="unique")
            batch.create_unique_constraint(
                "uq_rate_version_plan_id_effective_from", ["plan_id", "effective_from"]
            )
            batch.drop_column("revision")
    op.execute("PRAGMA legacy_alter_table=OFF")
    for table in RATE_CHILD_TABLES:
        op.execute(f"INSERT INTO {table} SELECT * FROM _keep_{table}")
        op.execute(f"DROP TABLE _keep_{table}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild_rate_version(True)
    else:
        op.add_column(
            "rate_version",
            sa.Column("revision", sa.Integer(), nullable=False, server_default="0"),
        )
        op.drop_constraint("uq_rate_version_plan_id_effective_from", "rate_version", "unique")
        op.create_unique_constraint(
            "uq_rate_version_plan_id_effective_from_revision",
            "rate_version",
            ["plan_id", "effective_from", "revision"],
        )
        op.create_check_constraint("revision", "rate_version", "revision >= 0")
    op.create_table(
        "rate_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("renewal", "correction", name="rate_change_kind",
                                  native_enum=False, create_constraint=True, length=32),
                  nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.Enum("draft", "submitted", "approved", "withdrawn",
                                    name="rate_change_status", native_enum=False,
                                    create_constraint=True, length=32),
                  nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("kind <> 'correction' OR length(reason) > 0",
                           name=op.f("ck_rate_change_correction_needs_reason")),
        sa.CheckConstraint("status <> 'approved' OR (approved_by_id IS NOT NULL"
                           " AND approved_by_id <> proposed_by_id)",
                           name=op.f("ck_rate_change_approved_by_another")),
        sa.ForeignKeyConstraint(["group_id"], ["employer_group.id"],
                                name=op.f("fk_rate_change_group_id_employer_group")),
        sa.ForeignKeyConstraint(["proposed_by_id"], ["user_account.id"],
                                name=op.f("fk_rate_change_proposed_by_id_user_account")),
        sa.ForeignKeyConstraint(["approved_by_id"], ["user_account.id"],
                                name=op.f("fk_rate_change_approved_by_id_user_account")),
        sa.ForeignKeyConstraint(["withdrawn_by_id"], ["user_account.id"],
                                name=op.f("fk_rate_change_withdrawn_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_change")),
    )  # fmt: skip
    op.create_index(op.f("ix_rate_change_group_id"), "rate_change", ["group_id"])
    op.create_table(
        "rate_change_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_change_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("replaces_rate_version_id", sa.Integer(), nullable=True),
        sa.Column("rates", sa.JSON(), nullable=False),
        sa.Column("rate_version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["rate_change_id"], ["rate_change.id"],
                                name=op.f("fk_rate_change_plan_rate_change_id_rate_change")),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"],
                                name=op.f("fk_rate_change_plan_plan_id_plan")),
        sa.ForeignKeyConstraint(["replaces_rate_version_id"], ["rate_version.id"],
                                name=op.f("fk_rate_change_plan_replaces_rate_version_id_rate_version")),
        sa.ForeignKeyConstraint(["rate_version_id"], ["rate_version.id"],
                                name=op.f("fk_rate_change_plan_rate_version_id_rate_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_change_plan")),
        sa.UniqueConstraint("rate_change_id", "plan_id",
                            name=op.f("uq_rate_change_plan_rate_change_id_plan_id")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_rate_change_plan_rate_change_id"), "rate_change_plan", ["rate_change_id"]
    )
    op.create_index(op.f("ix_rate_change_plan_plan_id"), "rate_change_plan", ["plan_id"])

    if op.get_bind().dialect.name != "postgresql":
        return
    # A billed rate version (first_billed_on set) may only be closed (effective_to); an
    # unbilled one may be marked billed. Anything else, and deleting it, is refused.
    op.execute(
        """
        CREATE FUNCTION refuse_billed_rate_version_change() RETURNS trigger AS $$
        BEGIN
            IF OLD.first_billed_on IS NULL THEN
                IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
                RETURN NEW;
            END IF;
            IF TG_OP = 'UPDATE'
               AND (to_jsonb(NEW) - 'effective_to') = (to_jsonb(OLD) - 'effective_to') THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'rate version % was billed on %: its rates cannot be changed or '
                'deleted (only closed with effective_to); a new rate version is needed',
                OLD.id, OLD.first_billed_on
                USING ERRCODE = 'integrity_constraint_violation';
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER rate_version_billed_frozen BEFORE UPDATE OR DELETE ON rate_version "
        "FOR EACH ROW EXECUTE FUNCTION refuse_billed_rate_version_change()"
    )
    # The rates under a billed version (tiers, bands, reductions): no insert, update or delete.
    op.execute(
        """
        CREATE FUNCTION refuse_billed_rate_change() RETURNS trigger AS $$
        DECLARE
            billed date;
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                SELECT first_billed_on INTO billed FROM rate_version
                    WHERE id = OLD.rate_version_id;
            END IF;
            IF billed IS NULL AND TG_OP IN ('INSERT', 'UPDATE') THEN
                SELECT first_billed_on INTO billed FROM rate_version
                    WHERE id = NEW.rate_version_id;
            END IF;
            IF billed IS NOT NULL THEN
                RAISE EXCEPTION '% rows of a rate version billed on % cannot be changed: a new '
                    'rate version is needed', TG_TABLE_NAME, billed
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    for table in RATE_CHILD_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_billed_frozen BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_billed_rate_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in RATE_CHILD_TABLES:
            op.execute(f"DROP TRIGGER {table}_billed_frozen ON {table}")
        op.execute("DROP FUNCTION refuse_billed_rate_change()")
        op.execute("DROP TRIGGER rate_version_billed_frozen ON rate_version")
        op.execute("DROP FUNCTION refuse_billed_rate_version_change()")
    op.drop_index(op.f("ix_rate_change_plan_plan_id"), table_name="rate_change_plan")
    op.drop_index(op.f("ix_rate_change_plan_rate_change_id"), table_name="rate_change_plan")
    op.drop_table("rate_change_plan")
    op.drop_index(op.f("ix_rate_change_group_id"), table_name="rate_change")
    op.drop_table("rate_change")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild_rate_version(False)
        return
    op.drop_constraint("revision", "rate_version", "check")
    op.drop_constraint("uq_rate_version_plan_id_effective_from_revision", "rate_version", "unique")
    op.create_unique_constraint(
        "uq_rate_version_plan_id_effective_from", "rate_version", ["plan_id", "effective_from"]
    )
    op.drop_column("rate_version", "revision")
