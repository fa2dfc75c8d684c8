"""The database backs the ledger's balance rule on PostgreSQL (migration a8b9c0d1e2f3): a raw
insert of a journal entry whose postings do not sum to zero is refused at COMMIT, and a
balanced one commits. SQLite keeps the Python check only (billing_core.ledger)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError


@pytest.fixture
def pg_engine(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip(
            "the balance trigger exists on PostgreSQL only (run with TEST_DATABASE_URL set to "
            "PostgreSQL, e.g. make test-pg); SQLite keeps the Python check"
        )
    return engine


def _insert_entry(connection, suffix: str, legs: list[tuple[str, Decimal, Decimal]]) -> int:
    """A journal entry with one posting per (account number, debit, credit), written raw."""
    entry_id = connection.execute(
        text(
            "INSERT INTO journal_entry (entry_date, memo, source_type, posted_at) "
            "VALUES ('2026-01-01', :memo, 'test', now()) RETURNING id"
        ),
        {"memo": f"balance trigger {suffix}"},
    ).scalar_one()
    for number, debit, credit in legs:
        account_id = connection.execute(
            text(
                "INSERT INTO ledger_account (number, code, name, kind) "
                "VALUES (:number, '9999', 'test', 'asset') RETURNING id"
            ),
            {"number": f"{number}-{suffix}"},
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO posting (entry_id, account_id, debit, credit) "
                "VALUES (:entry, :account, :debit, :credit)"
            ),
            {"entry": entry_id, "account": account_id, "debit": debit, "credit": credit},
        )
    return entry_id


def _remove_committed(engine, suffix: str) -> None:
    """Delete what a committed test entry left, bypassing the append-only triggers (the test
    database is shared by the whole run; superuser only, as CI's postgres user is)."""
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        ids = connection.execute(
            text("SELECT id FROM journal_entry WHERE memo = :memo"),
            {"memo": f"balance trigger {suffix}"},
        ).scalars()
        for entry_id in list(ids):
            connection.execute(text("DELETE FROM posting WHERE entry_id = :e"), {"e": entry_id})
            connection.execute(text("DELETE FROM journal_entry WHERE id = :e"), {"e": entry_id})
        connection.execute(
            text("DELETE FROM ledger_account WHERE number LIKE :pattern"),
            {"pattern": f"%-{suffix}"},
        )


def test_an_unbalanced_entry_is_refused_at_commit(pg_engine):
    try:
        with pg_engine.connect() as connection:
            transaction = connection.begin()
            # The inserts themselves pass: the check is deferred to the commit.
            _insert_entry(
                connection,
                "unbalanced",
                [
                    ("1100", Decimal("100.00"), Decimal("0")),
                    ("4000", Decimal("0"), Decimal("99.99")),
                ],
            )
            with pytest.raises(IntegrityError, match="does not balance.*0.01"):
                transaction.commit()
    finally:
        _remove_committed(pg_engine, "unbalanced")  # nothing to remove unless the trigger failed


def test_a_balanced_entry_commits(pg_engine):
    try:
        with pg_engine.connect() as connection:
            with connection.begin():
                entry_id = _insert_entry(
                    connection,
                    "balanced",
                    [
                        ("1100", Decimal("100.00"), Decimal("0")),
                        ("4000", Decimal("0"), Decimal("60.00")),
                        ("4100", Decimal("0"), Decimal("40.00")),
                    ],
                )
            postings = connection.execute(
                text("SELECT count(*) FROM posting WHERE entry_id = :e"), {"e": entry_id}
            ).scalar_one()
        assert postings == 3
    finally:
        _remove_committed(pg_engine, "balanced")
