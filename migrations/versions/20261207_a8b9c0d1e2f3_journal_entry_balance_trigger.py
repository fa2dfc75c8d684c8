"""journal entries balance in the database too: on PostgreSQL a deferred constraint trigger
refuses, at commit, a journal entry whose postings do not sum to zero (as django-hordak does)

The Python check in billing_core.ledger refuses an unbalanced entry before flush on every
database; this backs it on PostgreSQL against a raw insert or a bug. The trigger is DEFERRABLE
INITIALLY DEFERRED so the postings of one entry may be inserted one by one: it runs at COMMIT
(or at SET CONSTRAINTS ... IMMEDIATE) once per posting written, and looks at the whole entry.
SQLite has no deferred triggers; it keeps the Python check only.

Revision ID: a8b9c0d1e2f3
Revises: f7e6d5c4b3a2
Create Date: 2026-12-07 10:00:00
"""

from alembic import op

revision = "a8b9c0d1e2f3"
down_revision = "f7e6d5c4b3a2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION check_journal_entry_balance() RETURNS trigger AS $$
        DECLARE
            checked_entry_id integer;
            difference numeric;
        BEGIN
            IF TG_OP = 'DELETE' THEN
                checked_entry_id := OLD.entry_id;
            ELSE
                checked_entry_id := NEW.entry_id;
            END IF;
            SELECT COALESCE(SUM(debit), 0) - COALESCE(SUM(credit), 0) INTO difference
              FROM posting WHERE entry_id = checked_entry_id;
            IF difference <> 0 THEN
                RAISE EXCEPTION 'journal entry % does not balance: debits and credits differ by %',
                    checked_entry_id, difference
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF TG_OP = 'UPDATE' AND OLD.entry_id <> NEW.entry_id THEN
                SELECT COALESCE(SUM(debit), 0) - COALESCE(SUM(credit), 0) INTO difference
                  FROM posting WHERE entry_id = OLD.entry_id;
                IF difference <> 0 THEN
                    RAISE EXCEPTION
                        'journal entry % does not balance: debits and credits differ by %',
                        OLD.entry_id, difference
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
            END IF;
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER posting_entry_balances AFTER INSERT OR UPDATE OR DELETE "
        "ON posting DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION check_journal_entry_balance()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER posting_entry_balances ON posting")
    op.execute("DROP FUNCTION check_journal_entry_balance()")
