"""Reads kept per process while what they read has not changed (issue 19): a staff page that
ranks or sums a thousand groups' kept figures on every view (the collections worklist, the
aging report) asks instead one small indexed statement, the marker of the tables it reads, and
reuses its last answer while the marker reads the same.

A marker (`Marker`) is the highest id of each table the answer depends on that grows by inserts
(a journal entry for every posting, an audit row for every audited change, a transition for
every move of a delinquency state, ...) and any count that an in-place update the answer
depends on changes (how many installments are still open). While none of them changes, nothing
the answer read has changed: the caller's docstring names its tables and why they suffice.

Ids are handed out in order but committed in any order: a marker read while a transaction that
took a lower id is still running would not change when that transaction commits. So on
PostgreSQL the marker's statement also reads the writing transactions in progress in its
snapshot (those of other databases left out), and a kept answer serves only while every one of
them that was running when it was computed still runs: one that has finished since may have
committed what the answer did not see. (Left out: a transaction whose first write is a row of
one of these tables, caught between taking that row's id and writing it, inside one INSERT, at
the instant a later id commits and the marker is read.) SQLite has one writer at a time, so
there ids become visible in the order they are taken.

An answer is kept per database (the session's bind: the engine, or a test's connection), per
question (the caller's key: the day, the filters) and per marker; the last `size` answers are
kept. Callers must not change what they are given: it is shared by every later view."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Select, func, literal_column, select
from sqlalchemy.orm import Session

# The writing transactions of a snapshot (xids, 64-bit: never reused), less those a backend of
# another database runs (a transaction whose database is not known, a prepared one, stays).
RUNNING_WRITERS = literal_column(
    "ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x"
    " WHERE xid(x) NOT IN (SELECT a.backend_xid FROM pg_stat_get_activity(NULL) AS a"
    " WHERE a.backend_xid IS NOT NULL AND a.datid <>"
    " (SELECT oid FROM pg_database WHERE datname = current_database())))",
    ARRAY(BigInteger()),
)


class Marker:
    """The statement reading a marker: each of `columns` (scalar subqueries, e.g.
    `select(func.max(JournalEntry.id)).scalar_subquery()`) and, on PostgreSQL, the writing
    transactions in progress. Built once per dialect. Each column reads 0 for none unless
    `coalesce` is False (a column that is not a number, e.g. the oldest date of a queue, whose
    none is NULL); values a column binds by name are given to `read` as `params`."""

    def __init__(self, columns: Callable[[], Sequence[Any]], *, coalesce: bool = True):
        self._columns = columns
        self._coalesce = coalesce
        self._statements: dict[bool, Select] = {}

    def statement(self, postgres: bool) -> Select:
        found = self._statements.get(postgres)
        if found is None:
            columns = list(self._columns())
            if self._coalesce:
                columns = [func.coalesce(c, 0) for c in columns]
            if postgres:
                columns.append(RUNNING_WRITERS)
            found = self._statements[postgres] = select(*columns)
        return found

    def read(
        self, session: Session, params: Mapping[str, Any] | None = None
    ) -> tuple[tuple, frozenset[int]]:
        """(the marker's figures, the writing transactions in progress), in one statement."""
        postgres = session.get_bind().dialect.name == "postgresql"
        row = tuple(session.execute(self.statement(postgres), params).one())
        if postgres:
            return row[:-1], frozenset(row[-1] or ())
        return row, frozenset()


@dataclass(frozen=True)
class _Kept:
    bind: Any  # held, so that its id is not reused while the answer is kept
    marker: tuple
    running: frozenset[int]
    value: Any


class KeptReads:
    """Answers kept under a `Marker` (see the module docstring)."""

    def __init__(self, marker: Marker, size: int = 64):
        self.marker = marker
        self.size = size
        self._kept: OrderedDict[tuple, _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        session: Session,
        key: Hashable,
        compute: Callable[[], Any],
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """The answer to `key`: kept while the marker reads the same and every writing
        transaction running when it was computed still runs, else `compute()` (after the
        marker is read, so it sees at least what the marker saw) and kept. `params`: the
        values the marker's columns bind (they must follow from `key`)."""
        bind = session.get_bind()
        marker, running = self.marker.read(session, params)
        where = (id(bind), key)
        with self._lock:
            kept = self._kept.get(where)
            if kept is not None:
                self._kept.move_to_end(where)
        if (
            kept is not None
            and kept.bind is bind
            and kept.marker == marker
            and kept.running <= running
        ):
            return kept.value
        value = compute()
        with self._lock:
            self._kept[where] = _Kept(bind, marker, running, value)
            self._kept.move_to_end(where)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
