"""indexes for census intake (issue 19): measured, none added

A covering index on coverage (member_id, effective_from, effective_to, plan_id, tier,
elected_volume) for the diff's read of the enrollment (census.diff.enrollment: every member
with its coverages in force, aggregated) was tried on the 100,000-member bench group: SQLite
reads it (a covering index search instead of ix_coverage_member_id) and saves a few percent
of that statement's CPU, within the noise of a busy machine; PostgreSQL 15 does not use it at
all (a merge join over ix_coverage_member_id, also after VACUUM ANALYZE), so it would only
cost every coverage write. Not added; this revision is kept (empty) so the chain stays as
reserved.

Revision ID: 9c5e0a7c4d35
Revises: 9c4e0a7c4d34
Create Date: 2026-12-07 10:00:00
"""

revision = "9c5e0a7c4d35"
down_revision = "9c4e0a7c4d34"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
