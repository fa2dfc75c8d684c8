"""coverage: SQLite index of each member's coverages with the census diff's text of each

The census diff reads, per member of the group, its coverages in force as one text of
"plan:tier:volume" parts (census.diff.enrollment._held_signature). On SQLite that aggregate
formatted every coverage with printf on each read: 600,000 for the 100,000-member bench group,
about half of the statement. An index on (member_id, effective_from, effective_to, the printf
expression) keeps the text, and SQLite reads it from the index instead: the statement 0.41 ->
0.23 s CPU on the bench group. SQLite only (PostgreSQL has no printf, and did not use a
covering index for this read: see 9c5e0a7c4d35).

Revision ID: 9c8e0a7c4d38
Revises: 9c7e0a7c4d37
Create Date: 2026-12-07 19:50:00
"""

from alembic import op

revision = "9c8e0a7c4d38"
down_revision = "9c7e0a7c4d37"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE INDEX ix_coverage_member_signature ON coverage (member_id, effective_from, "
            "effective_to, printf('%d:%s:%s', plan_id, tier, elected_volume))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX ix_coverage_member_signature")
