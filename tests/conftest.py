"""Shared fixtures. The database is SQLite in a temp file unless TEST_DATABASE_URL names another
(CI sets it to PostgreSQL). Each test runs inside an outer transaction that is rolled back, so
code under test may commit freely (commits release savepoints only).

Under pytest-xdist (`make test` runs `-n`) every worker is a process of its own with its own
database: its SQLite temp file lies in the worker's own temp folder, and on PostgreSQL each
worker uses `<base>_<worker id>` (`test_gw0`, `test_gw1`, ...), created on demand through a
connection to the base database that TEST_DATABASE_URL names, since the run drops and recreates
the `public` schema of the database it uses. Without xdist the base database itself is used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.orm import Session

from billing_core import migrate
from billing_core.db import make_engine

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


def _worker_database(url: str) -> str:
    """The database this process uses: `url` itself, or under an xdist worker (gw0, gw1, ...)
    a database of that worker's own, so that no two workers drop each other's schema or see
    each other's rows. On PostgreSQL it is `<base>_<worker>`, created when missing (CREATE
    DATABASE cannot run in a transaction, hence AUTOCOMMIT); a SQLite file gets the worker's
    name beside its own. A schema per worker would need every connection's search_path set and
    migrations that never name `public`; a database per worker needs nothing of the code."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    if base.get_backend_name() == "sqlite":
        if not base.database or base.database == ":memory:":
            return url
        path = Path(base.database)
        name = str(path.with_name(f"{path.stem}_{worker}{path.suffix}"))
        return base.set(database=name).render_as_string(hide_password=False)
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            found = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not found:
                quoted = connection.dialect.identifier_preparer.quote(name)
                connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    url = _database_url(tmp_path_factory)
    try:
        url = _worker_database(url)
        engine = make_engine(url)
        with engine.connect():
            pass
    except Exception as exc:  # pragma: no cover - depends on the machine
        if IN_CI:
            raise
        pytest.skip(f"database {url} unreachable: {exc}")
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine):
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def session_factory(connection):
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def session(session_factory) -> Session:
    with session_factory() as session:
        yield session


@pytest.fixture
def statements(connection):
    """The SQL statements run on the test's connection while it runs (a query-count test
    clears it between requests)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    yield seen
    event.remove(connection, "before_cursor_execute", count)
