"""append-only triggers: on PostgreSQL the database itself refuses UPDATE and DELETE on the
ledger, allocation and audit tables (the ORM guard refuses them first on every database)

Revision ID: a1f0c2d3e4b5
Revises: 6e52b887ec55
Create Date: 2026-11-23 14:45:00
"""
from alembic import op

revision = "a1f0c2d3e4b5"
down_revision = "6e52b887ec55"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("journal_entry", "posting", "payment_allocation", "audit_log")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION refuse_append_only_change() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '% rows are append-only: post a reversal instead', TG_TABLE_NAME
                USING ERRCODE = 'integrity_constraint_violation';
        END;
        $$ LANGUAGE plpgsql
        """
    )
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY_TABLES:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION refuse_append_only_change()")
