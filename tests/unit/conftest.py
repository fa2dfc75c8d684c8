"""Unit fixtures that need no migrations: a fresh in-memory SQLite database per test, and the
demo book with a short history loaded once for the whole run (its tests only read it)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session

import billing_core.models  # noqa: F401  (every table on Base.metadata)
from billing_core.db import Base, make_engine


@pytest.fixture
def unit_session():
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


DEMO_TODAY = date(2026, 5, 20)
DEMO_HISTORY_MONTHS = 2  # billing runs for Mar-Jun 2026


@pytest.fixture(scope="session")
def demo_book():
    """One load of the demo (about 20 s): shared by test_demo and test_statements, which only
    read it. `first` is load_demo's result; `empty_before` whether the database was empty."""
    from billing_core.demo import database_is_empty, load_demo

    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        empty_before = database_is_empty(session)
        first = load_demo(session, DEMO_TODAY, history_months=DEMO_HISTORY_MONTHS)
        session.commit()
        yield SimpleNamespace(session=session, first=first, empty_before=empty_before)
    engine.dispose()
