"""Shared fixtures. The database is SQLite in a temp file unless TEST_DATABASE_URL names another
(CI sets it to PostgreSQL). Each test runs inside an outer transaction that is rolled back, so
code under test may commit freely (commits release savepoints only)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from billing_core import migrate
from billing_core.db import make_engine

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    url = _database_url(tmp_path_factory)
    engine = make_engine(url)
    try:
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
