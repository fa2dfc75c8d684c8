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


def test_migrations_match_the_models(connection):
    context = MigrationContext.configure(connection, opts={"compare_type": True})
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
