"""billing_core.kept_reads: an answer is kept while its marker reads the same, computed again
when it changes, kept apart per database; on PostgreSQL a writer that took a lower id and
commits after the answer was kept (the marker's highest id unchanged) still makes it be
computed again."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import column, func, select, table, text
from sqlalchemy.orm import Session

from billing_core.kept_reads import KeptReads, Marker

PROBE = table("kept_reads_probe", column("id"))


@pytest.fixture
def probe(engine):
    """A table of its own, outside the tests' rolled-back transaction: rows committed by
    several connections at once."""
    serial = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS kept_reads_probe"))
        connection.execute(text(f"CREATE TABLE kept_reads_probe (id {serial} PRIMARY KEY)"))
    yield engine
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE kept_reads_probe"))


def probe_reads() -> tuple[KeptReads, list, Callable]:
    """A KeptReads over the probe's highest id, and the list of answers it computed."""
    computed = []
    reads = KeptReads(Marker(lambda: [select(func.max(PROBE.c.id)).scalar_subquery()]))

    def answer(session: Session):
        value = session.scalar(select(func.count()).select_from(PROBE))
        computed.append(value)
        return value

    return reads, computed, answer


def add_row(connection) -> None:
    connection.execute(text("INSERT INTO kept_reads_probe DEFAULT VALUES"))


def test_kept_while_the_marker_reads_the_same(probe):
    reads, computed, answer = probe_reads()
    with probe.begin() as connection:
        add_row(connection)
    with Session(probe) as session:
        assert reads.get(session, "rows", lambda: answer(session)) == 1
        assert reads.get(session, "rows", lambda: answer(session)) == 1
        assert computed == [1]
        assert reads.get(session, "other question", lambda: answer(session)) == 1
        assert computed == [1, 1]
    with probe.begin() as connection:
        add_row(connection)
    with Session(probe) as session:
        assert reads.get(session, "rows", lambda: answer(session)) == 2
    assert computed == [1, 1, 2]


def test_kept_apart_per_database(probe):
    reads, computed, answer = probe_reads()
    with probe.connect() as one, probe.connect() as other:
        for connection in (one, other):
            with Session(connection) as session:
                assert reads.get(session, "rows", lambda s=session: answer(s)) == 0
    assert computed == [0, 0]


def test_a_lower_id_committed_later_is_seen(probe):
    if probe.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its ids become visible in order")
    reads, computed, answer = probe_reads()
    slow, quick = probe.connect(), probe.connect()
    try:
        slow_work = slow.begin()
        add_row(slow)  # takes id 1, not committed yet
        with quick.begin():
            add_row(quick)  # id 2, committed
        with Session(probe) as session:
            assert reads.get(session, "rows", lambda: answer(session)) == 1
        slow_work.commit()  # the highest id is still 2
        with Session(probe) as session:
            assert reads.get(session, "rows", lambda: answer(session)) == 2
        with Session(probe) as session:
            assert reads.get(session, "rows", lambda: answer(session)) == 2
        assert computed == [1, 2]
    finally:
        slow.close()
        quick.close()
