"""The migrations build exactly the schema the models describe, and the database itself backs
the append-only and money rules."""

from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import billing_core.models  # noqa: F401
from billing_core.db import Base
from billing_core.errors import ImmutableRecord
from billing_core.models import AuditLog, JournalEntry, LedgerAccount, Posting
from billing_core.models.enums import AccountKind

# SQLite only, on an expression (printf): SQLAlchemy cannot reflect it, so autogenerate
# cannot compare it; tests/unit/census/test_census_diff.py checks the census diff reads it.
SQLITE_EXPRESSION_INDEXES = {"ix_coverage_member_signature"}


@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index ix_coverage_member_signature",
    "ignore:autogenerate skipping metadata-specified expression-based index "
    "'ix_coverage_member_signature'",
)
def test_migrations_match_the_models(connection):
    def compared(item, name, type_, reflected, compare_to) -> bool:
        return not (type_ == "index" and name in SQLITE_EXPRESSION_INDEXES)

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": compared}
    )
    assert compare_metadata(context, Base.metadata) == []


def test_money_round_trips_exactly(session):
    account = LedgerAccount(number="1100-T", code="1100", name="AR", kind=AccountKind.ASSET)
    entry = JournalEntry(
        entry_date=__import__("datetime").date(2026, 1, 1), memo="t", source_type="test"
    )
    session.add_all([account, entry])
    session.flush()
    session.add(Posting(entry_id=entry.id, account_id=account.id, debit=Decimal("1234567.89")))
    session.flush()
    session.expire_all()
    posting = session.scalars(select(Posting)).one()
    assert posting.debit == Decimal("1234567.89")
    assert posting.credit == Decimal("0.00")


def test_posting_with_both_sides_is_refused_by_the_database(session):
    account = LedgerAccount(number="1100-U", code="1100", name="AR", kind=AccountKind.ASSET)
    entry = JournalEntry(
        entry_date=__import__("datetime").date(2026, 1, 1), memo="t", source_type="test"
    )
    session.add_all([account, entry])
    session.flush()
    session.add(
        Posting(entry_id=entry.id, account_id=account.id, debit=Decimal("1"), credit=Decimal("1"))
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_audit_rows_cannot_be_changed_or_deleted(session):
    row = AuditLog(action="test.done", detail={})
    session.add(row)
    session.flush()
    row.action = "test.rewritten"
    with pytest.raises(ImmutableRecord):
        session.flush()
    session.rollback()
    session.add(row2 := AuditLog(action="test.done", detail={}))
    session.flush()
    session.delete(row2)
    with pytest.raises(ImmutableRecord):
        session.flush()


def test_postgresql_itself_refuses_to_rewrite_the_audit_log(connection, session):
    if connection.dialect.name != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only; the ORM guard covers SQLite")
    from sqlalchemy.exc import DBAPIError

    session.add(AuditLog(action="test.done", detail={}))
    session.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        with connection.begin_nested():
            connection.exec_driver_sql("UPDATE audit_log SET action = 'rewritten'")


@pytest.mark.parametrize("column", ["invoice_id", "member_id", "plan_id", "rate_version_id"])
def test_an_invoice_line_must_refer_to_rows_that_exist(connection, session, column):
    """No foreign keys on invoice_line (a billing run would spend most of its time checking
    them row by row): a trigger checks each statement's references instead, on both databases."""
    from sqlalchemy import insert
    from sqlalchemy.exc import DBAPIError

    from billing_core.models import InvoiceLine
    from tests.factories import scenario

    scenario(session)  # issues January's invoices
    line = session.scalars(
        select(InvoiceLine).where(InvoiceLine.rate_version_id.is_not(None))
    ).first()
    row = {
        c: getattr(line, c)
        for c in ("invoice_id", "section", "member_id", "plan_id", "rate_version_id", "amount")
    }
    row |= {"line_number": 9999, "description": "copy"}
    with connection.begin_nested():
        session.execute(insert(InvoiceLine.__table__), [row])  # every reference exists
    with pytest.raises(DBAPIError, match="does not exist"):
        with connection.begin_nested():
            session.execute(insert(InvoiceLine.__table__), [row | {column: 987654}])


@pytest.mark.parametrize(
    "values",
    [
        {"child_rate": Decimal("-1")},
        {"child_rate": Decimal("180"), "child_rate_max_age": 0},
        {"child_rate": Decimal("180"), "max_charged_children": 0},
        {"child_rate_max_age": 21},  # the child rule's limits only beside a child rate
        {"max_charged_children": 3},
    ],
)
def test_a_bad_child_rule_is_refused_in_python_and_by_the_database(connection, session, values):
    from sqlalchemy import update

    from billing_core.errors import ValidationFailed
    from billing_core.models import RateVersion
    from tests.factories import make_age_banded_plan, make_group

    plan = make_age_banded_plan(session, make_group(session), [(0, 120, "300.00")])
    version = plan.rate_versions[0]
    for name, value in values.items():
        setattr(version, name, value)
    with pytest.raises(ValidationFailed):
        session.flush()
    session.rollback()

    plan = make_age_banded_plan(session, make_group(session), [(0, 120, "300.00")])
    table = RateVersion.__table__
    with pytest.raises(IntegrityError):
        with connection.begin_nested():
            session.execute(
                update(table).where(table.c.id == plan.rate_versions[0].id).values(**values)
            )
