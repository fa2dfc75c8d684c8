"""Small helpers for unit tests that need a database."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from billing_core import migrate
from billing_core.db import Base, make_engine


def row_counts(session: Session) -> dict[str, int]:
    """Rows per table, to show that an operation wrote nothing (or nothing new)."""
    session.flush()
    return {
        table.name: session.scalar(select(func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
    }


@contextmanager
def own_postgres_database(engine, suffix: str, pool_size: int):
    """A database of the test's own beside the suite's (for tests whose threads commit, which
    the suite's rolled-back session cannot hold), migrated, dropped afterwards. PostgreSQL only:
    SQLite skips with the reason (row locks are PostgreSQL's; SQLite has one writer)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite lets one writer in at a time anyway")
    url = engine.url
    name = f"{url.database}_{suffix}"
    server = make_engine(url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    own = make_engine(
        url.set(database=name).render_as_string(hide_password=False), pool_size=pool_size
    )
    migrate.upgrade(own)
    try:
        yield own
    finally:
        own.dispose()
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        server.dispose()
