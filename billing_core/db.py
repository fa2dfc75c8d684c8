"""Database plumbing: the declarative Base with a naming convention (so Alembic names every
constraint the same way on SQLite and PostgreSQL), exact money columns, UTC timestamps, the
engine and session factory, and the flush guard that keeps money rows append-only."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    MetaData,
    Numeric,
    Select,
    bindparam,
    create_engine,
    event,
    insert,
    type_coerce,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import NullType, TypeDecorator

from billing_core.errors import ImmutableRecord
from billing_core.money import D, cents

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Money(TypeDecorator):
    """An exact decimal column. PostgreSQL stores NUMERIC(precision, scale); SQLite, which has
    no exact decimal type, stores a scaled integer (cents for scale 2) so no float is involved.
    Values are quantized half-up to `scale` places on the way in."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 12, scale: int = 2):
        super().__init__(precision=precision, scale=scale)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        amount = D(value) if not isinstance(value, Decimal) else value
        if self.scale == 2:
            amount = cents(amount)
        else:
            amount = amount.quantize(self._quantum)
        if dialect.name == "sqlite":
            return int(amount.scaleb(self.scale))
        return amount

    def result_processor(self, dialect, coltype):
        """One closure per dialect (not a dialect check per value): reads of hundreds of
        thousands of amounts (a billing run, a census diff) spend their time here."""
        quantum, scale = self._quantum, -self.scale
        if dialect.name == "sqlite":

            def from_scaled_integer(value):
                # An integer scaled by 10**-scale has exactly `scale` places already.
                return None if value is None else Decimal(int(value)).scaleb(scale)

            return from_scaled_integer

        def from_numeric(value):
            if value is None:
                return None
            return (value if type(value) is Decimal else Decimal(value)).quantize(quantum)

        return from_numeric

    def process_literal_param(self, value, dialect):
        return str(self.process_bind_param(value, dialect))


def Rate() -> Money:
    """Rates carry more places than amounts (e.g. 0.225 per $10 of weekly benefit)."""
    return Money(precision=14, scale=6)


class UTCDateTime(TypeDecorator):
    """Timestamps stored as UTC and always returned timezone-aware (SQLite forgets the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_type(enum_class: type[enum.Enum], name: str) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint listing the values."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


# SQLite waits this long (seconds) for another connection's write lock before "database is
# locked": long enough for any bounded write (a job's stage, a priced upload), short enough
# that a request does not hang. SQLITE_BUSY_TIMEOUT sets it for the app and its jobs.
DEFAULT_BUSY_TIMEOUT = 15.0
# Execution options for a session (or one transaction) that will write: on SQLite its
# transactions begin by taking the write lock (BEGIN IMMEDIATE), waiting up to the busy timeout
# for it. A transaction that reads first and writes later cannot wait: in WAL mode, once
# another connection has committed since its first read, its first write fails at once with
# "database is locked" (SQLite cannot move its snapshot forward). Other databases ignore it.
WRITES = {"sqlite_begin": "IMMEDIATE"}


def make_engine(url: str, *, busy_timeout: float | None = None, **kwargs) -> Engine:
    """An engine for `url`. SQLite gets its folder created, foreign keys on, a busy timeout
    (`busy_timeout` seconds, default DEFAULT_BUSY_TIMEOUT) and, for a database file, WAL mode,
    where readers and one writer do not block each other, so other users are served while a
    job writes; a session opened with `execution_options=WRITES` begins IMMEDIATE."""
    if url.startswith("sqlite"):
        timeout = DEFAULT_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        kwargs.setdefault("connect_args", {"timeout": timeout})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        file_database = bool(engine.url.database) and engine.url.database != ":memory:"
        if file_database:
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # Let SQLAlchemy, not pysqlite, open transactions, so SAVEPOINTs and transactional
            # DDL work (the recipe from SQLAlchemy's SQLite dialect notes).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if file_database:
                # Kept in the file once set; asking again on every connection is a no-op.
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            mode = connection.get_execution_options().get("sqlite_begin")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


def begin_writing(session: Session) -> None:
    """Commit what the session holds (its reads; its changes, which should be none) and begin
    its next transaction with the write lock (WRITES): the way for a long job, which reads for
    a while and then records something, to write without "database is locked". A session
    joined to an outer transaction (the tests') only moves on to a new savepoint."""
    session.commit()
    session.connection(execution_options=WRITES)


def make_session_factory(engine_or_connection) -> sessionmaker[Session]:
    return sessionmaker(bind=engine_or_connection, expire_on_commit=False)


def built_once(build: Callable) -> Callable:
    """A statement builder run once per distinct arguments, its statement kept for the
    process. The reads every page makes (the user, the group, its balances) take their values
    as named `bindparam`s at execution instead of being built around them: SQLAlchemy
    memoizes a statement's cache key on the object, so a kept statement skips both building
    and keying, which cost more than running it (a small select here: 0.38 ms of CPU built
    per request, 0.10 ms kept). The arguments may only switch the statement's shape (a scope
    limited to some locations or not), never carry values: each distinct one keeps a
    statement."""
    return functools.cache(build)


class AppendOnly:
    """Mixin for rows that are never updated or deleted (ledger, allocations, audit).
    A correction is a new row that reverses the old one."""

    def guard_update(self, changed: set[str]) -> None:
        raise ImmutableRecord(
            f"{type(self).__name__} rows are append-only; post a reversal instead"
        )

    def guard_delete(self) -> None:
        raise ImmutableRecord(
            f"{type(self).__name__} rows are never deleted; post a reversal instead"
        )


def _changed_attributes(session: Session, obj) -> set[str]:
    from sqlalchemy import inspect

    state = inspect(obj)
    return {attr.key for attr in state.attrs if attr.history.has_changes()}


@event.listens_for(Session, "before_flush")
def _guard_immutable_rows(session: Session, _context, _instances) -> None:
    """Refuse updates/deletes that a model's guard forbids, before anything reaches the DB."""
    for obj in list(session.dirty):
        guard = getattr(obj, "guard_update", None)
        if guard is None:
            continue
        changed = _changed_attributes(session, obj)
        if changed:
            guard(changed)
    for obj in list(session.deleted):
        guard = getattr(obj, "guard_delete", None)
        if guard is not None:
            guard()
    for obj in list(session.new):
        guard = getattr(obj, "guard_insert", None)
        if guard is not None:
            guard()


# --------------------------------------------------------------------------- bulk reads

IN_LIST_SIZE = 10_000


def id_chunks(ids: Sequence[int], size: int = IN_LIST_SIZE) -> Iterator[Sequence[int]]:
    """`ids` in slices of at most `size`: one query per slice keeps an IN list bounded."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def in_ids(column, ids):
    """`column IN (...)` for a list of integer ids written into the SQL text rather than bound
    one parameter per id: for the thousands of ids of a billing run, handing each to the
    driver cost more than the query. `ids` may also be a SELECT of the ids (`column IN
    (SELECT ...)`): a page that reads a thousand groups' figures in several queries names
    them once in SQL instead of writing the thousand ids into each query's text."""
    if isinstance(ids, Select):
        return column.in_(ids)
    return column.in_(bindparam(None, [int(i) for i in ids], expanding=True, literal_execute=True))


def copy_rows(session: Session, table, columns: dict[str, str], rows: Iterable[Sequence]) -> None:
    """Insert `rows` (tuples in the order of `columns`, a column name -> its PostgreSQL type)
    into `table`: PostgreSQL's COPY, several times faster than INSERTs for the hundreds of
    thousands of rows of a billing run, told each column's type so it need not work one out
    per value; a Core executemany elsewhere (the values go through the columns' types, so a
    Money amount is stored as SQLite keeps it). Values are exact: Decimal amounts, enums as
    their values."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        names = list(columns)
        values = [dict(zip(names, row, strict=True)) for row in rows]
        if values:
            session.execute(insert(table), values)
        return
    driver = connection.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        copy.set_types(list(columns.values()))
        for row in rows:
            copy.write_row(row)


class _Typed(dict):
    """Raw database value -> the typed value, each distinct value converted once (dates,
    tiers and amounts repeat across hundreds of thousands of rows)."""

    def __init__(self, process):
        super().__init__()
        self.process = process

    def __missing__(self, raw):
        value = self[raw] = self.process(raw)
        return value


def typed_rows(connection, statement: Select, columns: tuple) -> list[tuple]:
    """The rows of `statement` with `columns` selected, typed as SQLAlchemy would type them
    (Money as Decimal, enums, dates on SQLite), as plain tuples: fetched raw and converted
    once per distinct value. For reads of hundreds of thousands of rows (a census diff, a
    billing run), where building a Row and processing every value was most of the time."""
    raw = connection.execute(
        statement.with_only_columns(
            *(type_coerce(c, NullType()).label(f"c{i}") for i, c in enumerate(columns)),
            maintain_column_froms=True,
        )
    )
    dialect = connection.dialect
    processors = [
        column.type.dialect_impl(dialect).result_processor(dialect, described[1])
        for column, described in zip(columns, raw.cursor.description, strict=True)
    ]
    rows = raw.cursor.fetchall()  # the driver's tuples: no Row per row either
    raw.close()
    typed = [(i, _Typed(p).__getitem__) for i, p in enumerate(processors) if p is not None]
    if not rows or not typed:
        return rows
    if 2 * len(typed) > len(columns):
        # Mostly typed columns: convert column by column, then back into rows.
        values = list(zip(*rows, strict=True))
        for position, convert in typed:
            values[position] = map(convert, values[position])
        return list(zip(*values, strict=True))
    # A few typed columns in wide rows: rebuilding each row beats transposing them all.
    converted = []
    for row in rows:
        row = list(row)
        for position, convert in typed:
            row[position] = convert(row[position])
        converted.append(tuple(row))
    return converted


def stored_value(connection, column) -> Callable[[object], object]:
    """value -> the value as `column` stores it on this connection's database (a Money amount
    is a scaled integer on SQLite). To compare a typed value with what a query returns as
    stored (a census diff's coverage texts) without typing what it returns."""
    dialect = connection.dialect
    return column.type.dialect_impl(dialect).bind_processor(dialect) or _as_it_is


def _as_it_is(value):
    return value
