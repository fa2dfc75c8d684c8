"""rate_version.child_rate, child_rate_max_age, max_charged_children: age-banded child rates

On SQLite the columns are added in place, each with its CHECK (SQLite accepts a CHECK on an
added column): a batch copy of rate_version would drop the table that invoice_line's
reference triggers name, which SQLite refuses.

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-11-25 09:00:00
"""

from alembic import op
import sqlalchemy as sa

import billing_core.db

revision = "b8c9d0e1f2a3"
down_revision = "a7b8c9d0e1f2"
branch_labels = None
depends_on = None

# (column, type on PostgreSQL, type on SQLite, constraint name, check)
COLUMNS = (
    (
        "child_rate",
        billing_core.db.Money(precision=14, scale=6),
        "BIGINT",  # Money on SQLite: an integer scaled by 10**6
        "ck_rate_version_child_rate",
        "child_rate IS NULL OR child_rate >= 0",
    ),
    (
        "child_rate_max_age",
        sa.Integer(),
        "INTEGER",
        "ck_rate_version_child_rate_max_age",
        "child_rate_max_age IS NULL OR child_rate_max_age > 0",
    ),
    (
        "max_charged_children",
        sa.Integer(),
        "INTEGER",
        "ck_rate_version_max_charged_children",
        "max_charged_children IS NULL OR max_charged_children > 0",
    ),
)
RULE_NEEDS_RATE = (
    "ck_rate_version_child_rule_needs_child_rate",
    "child_rate IS NOT NULL OR (child_rate_max_age IS NULL AND max_charged_children IS NULL)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for column, _, sqlite_type, name, check in COLUMNS:
            op.execute(
                f"ALTER TABLE rate_version ADD COLUMN {column} {sqlite_type} "
                f"CONSTRAINT {name} CHECK ({check})"
                + (
                    f" CONSTRAINT {RULE_NEEDS_RATE[0]} CHECK ({RULE_NEEDS_RATE[1]})"
                    if column == COLUMNS[-1][0]
                    else ""
                )
            )
        return
    for column, type_, _, name, check in COLUMNS:
        op.add_column("rate_version", sa.Column(column, type_, nullable=True))
        op.create_check_constraint(op.f(name), "rate_version", check)
    name, check = RULE_NEEDS_RATE
    op.create_check_constraint(op.f(name), "rate_version", check)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Last column first: each column's CHECKs go with it, and the rule check (on the last
        # column) names the other two.
        for column, *_ in reversed(COLUMNS):
            op.execute(f"ALTER TABLE rate_version DROP COLUMN {column}")
        return
    op.drop_constraint(op.f(RULE_NEEDS_RATE[0]), "rate_version", type_="check")
    for column, _, _, name, _ in reversed(COLUMNS):
        op.drop_constraint(op.f(name), "rate_version", type_="check")
        op.drop_column("rate_version", column)
