"""invoice_line: references checked by a trigger instead of five foreign keys

A billing run writes hundreds of thousands of invoice lines in one statement. Row-by-row
foreign-key checks (each locking the referenced row) took about three times as long as
writing the lines on PostgreSQL. PostgreSQL now checks each statement's new rows in one
set-based query per referenced table (a statement trigger with a transition table); SQLite
checks each row (cheap in-process). Lines are never updated (the ORM refuses), but an
UPDATE is checked the same way.

Revision ID: b2c3d4e5f6a7
Revises: f1a2b3c4d5e6
Create Date: 2026-11-23 23:10:00
"""

from alembic import op

revision = "b2c3d4e5f6a7"
down_revision = "f1a2b3c4d5e6"
branch_labels = None
depends_on = None

# (column, referenced table, how the message names it)
REFERENCES = (
    ("invoice_id", "invoice", "invoice"),
    ("member_id", "member", "member"),
    ("plan_id", "plan", "plan"),
    ("rate_version_id", "rate_version", "rate version"),
    ("adjustment_id", "adjustment", "adjustment"),
)


def _fk_name(column: str, table: str) -> str:
    return f"fk_invoice_line_{column}_{table}"


def _postgresql_function() -> str:
    checks = "\n".join(
        f"""
    SELECT l.{column} INTO missing FROM new_lines l
     WHERE l.{column} IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.id = l.{column}) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invoice_line refers to {label} %, which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;"""
        for column, table, label in REFERENCES
    )
    return f"""
CREATE FUNCTION check_invoice_line_references() RETURNS trigger AS $$
DECLARE
    missing integer;
BEGIN{checks}
    RETURN NULL;
END;
$$ LANGUAGE plpgsql"""


def _sqlite_trigger(event: str) -> str:
    checks = "\n".join(
        f"    SELECT RAISE(ABORT, 'invoice_line refers to a {label} that does not exist')"
        f" WHERE NEW.{column} IS NOT NULL"
        f" AND NOT EXISTS (SELECT 1 FROM {table} WHERE id = NEW.{column});"
        for column, table, label in REFERENCES
    )
    return (
        f"CREATE TRIGGER invoice_line_references_{event.lower()} BEFORE {event} ON invoice_line"
        f"\nBEGIN\n{checks}\nEND"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("invoice_line") as batch:
        for column, table, _label in REFERENCES:
            batch.drop_constraint(_fk_name(column, table), type_="foreignkey")
    if dialect == "postgresql":
        op.execute(_postgresql_function())
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER invoice_line_references_{event.lower()} AFTER {event}"
                " ON invoice_line REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT"
                " EXECUTE FUNCTION check_invoice_line_references()"
            )
    else:
        for event in ("INSERT", "UPDATE"):
            op.execute(_sqlite_trigger(event))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for event in ("insert", "update"):
        op.execute(
            f"DROP TRIGGER invoice_line_references_{event}"
            + (" ON invoice_line" if dialect == "postgresql" else "")
        )
    if dialect == "postgresql":
        op.execute("DROP FUNCTION check_invoice_line_references()")
    with op.batch_alter_table("invoice_line") as batch:
        for column, table, _label in REFERENCES:
            batch.create_foreign_key(_fk_name(column, table), table, [column], ["id"])
