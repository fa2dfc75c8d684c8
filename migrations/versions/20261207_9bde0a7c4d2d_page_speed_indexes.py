"""performance (issue 19, item 6): indexes for the load test's pages.

- coverage(plan_id, effective_from) INCLUDE (member_id, effective_to): the employer's
  dashboard counts each plan's enrolled members on a day from the index alone (about 11,000
  coverages for a 2,000-member group), instead of fetching each coverage row;
- posting(account_id, invoice_id) INCLUDE (entry_id, debit, credit): the statement's and the
  dashboard's billed-vs-paid months sum a group's postings per invoice from the index alone;
- journal_entry(source_type, source_id): whether each of a group's invoices was voided by a
  date (the same pages), instead of a scan of every journal entry.

INCLUDE is PostgreSQL's; SQLite gets the same indexes without the included columns.

Revision ID: 9bde0a7c4d2d
Revises: 9bce0a7c4d2c
Create Date: 2026-12-07 07:00:00
"""

from alembic import op

revision = "9bde0a7c4d2d"
down_revision = "9bce0a7c4d2c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_coverage_plan_in_force",
        "coverage",
        ["plan_id", "effective_from"],
        postgresql_include=["member_id", "effective_to"],
    )
    op.create_index(
        "ix_posting_account_invoice",
        "posting",
        ["account_id", "invoice_id"],
        postgresql_include=["entry_id", "debit", "credit"],
    )
    op.create_index("ix_journal_entry_source", "journal_entry", ["source_type", "source_id"])


def downgrade() -> None:
    op.drop_index("ix_journal_entry_source", table_name="journal_entry")
    op.drop_index("ix_posting_account_invoice", table_name="posting")
    op.drop_index("ix_coverage_plan_in_force", table_name="coverage")
