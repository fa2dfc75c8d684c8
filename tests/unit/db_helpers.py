"""Small helpers for unit tests that need a database."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.db import Base


def row_counts(session: Session) -> dict[str, int]:
    """Rows per table, to show that an operation wrote nothing (or nothing new)."""
    session.flush()
    return {
        table.name: session.scalar(select(func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
    }
