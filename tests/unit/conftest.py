"""Unit fixtures that need no migrations: a fresh in-memory SQLite database per test."""

from __future__ import annotations

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
