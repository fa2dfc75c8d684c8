"""The enrolled members read as columns: each column of the group's members comes back as one
text, its values joined by a separator, and is split here (in C) into one array. A row per
member cost the driver a Python object per value and the interpreter a turn per row (100,000
members, sixteen values each: a quarter of a second); one text per column costs a split.

It also lets the read run beside other work: SQLite answers the whole statement in one step,
during which the interpreter is free (a read of rows takes it back for every row), and
PostgreSQL sends one row. `Enrollment` reads so while the file is read (`read_and_diff`).

The values come back as the driver would have returned them row by row (an integer as int,
a date on PostgreSQL as a date, a Money amount as a Decimal there and as the scaled integer
SQLite stores): everything after the read is the same. A value holding the separator, or
equal to the mark standing for NULL, is detected by counting, as is a value whose text does
not read as its column's type, and the caller then reads rows (`read_columns` returns None)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import Date, Integer, Numeric, Text, TypeDecorator, cast, func, select
from sqlalchemy.sql import ColumnElement

SEPARATOR = "\x1e"  # ASCII record separator: never in a name, code or date a person types
NULL_MARK = "\x1f"  # ASCII unit separator, alone: a NULL


def read_columns(
    connection, statement, columns: Sequence[ColumnElement]
) -> list[np.ndarray] | None:
    """`columns` of the rows `statement` selects from (its FROM and WHERE; its own columns and
    order are not used), one object array per column, the rows in one order for every column
    (the order the database aggregated them in: sort by an id column afterwards if order
    matters). None when a value could not be told apart from the separator or the NULL mark:
    read rows instead."""
    dialect = connection.dialect.name
    aggregate = func.group_concat if dialect == "sqlite" else func.string_agg
    rows = (
        statement.with_only_columns(
            *(column.label(f"c{i}") for i, column in enumerate(columns)),
            maintain_column_froms=True,
        )
        .order_by(None)
        .subquery()
    )
    selected = [func.count()]
    for i, column in enumerate(columns):
        value = rows.c[f"c{i}"]
        text = func.coalesce(_as_text(value, column, dialect), NULL_MARK)
        selected += [aggregate(text, SEPARATOR), func.count(value)]
    row = connection.execute(select(*selected).select_from(rows)).one()
    count = row[0]
    found = []
    for position, column in enumerate(columns):
        text, present = row[1 + 2 * position], row[2 + 2 * position]
        values = text.split(SEPARATOR) if count else []
        nulls = values.count(NULL_MARK)
        if len(values) != count or nulls != count - present:
            return None
        array = np.empty(count, dtype=object)
        array[:] = values
        missing = array == NULL_MARK if nulls else None
        if missing is not None:
            array[missing] = None
        try:
            found.append(_typed(array, missing, _from_text(column, dialect)))
        except (ValueError, ArithmeticError):  # a value stored otherwise than its type says
            return None
    return found


def _as_text(value, column, dialect: str):
    """`value` (of `column`'s type) as text in SQL: a date written ISO whatever the server's
    DateStyle."""
    if isinstance(column.type, Date) and dialect != "sqlite":
        return func.to_char(value, "YYYY-MM-DD")
    return cast(value, Text)


def _from_text(column, dialect: str) -> Callable[[str], object] | None:
    """The driver's value for the text of `column`'s value (None: the text itself)."""
    kind = column.type
    if isinstance(kind, Integer):
        return int
    if isinstance(kind, Date):
        return None if dialect == "sqlite" else date.fromisoformat
    impl = kind.impl if isinstance(kind, TypeDecorator) else kind
    if isinstance(impl, Numeric):
        # Money on SQLite is the scaled integer it stores; PostgreSQL's numeric a Decimal.
        return int if dialect == "sqlite" else Decimal
    return None


def _typed(array: np.ndarray, missing: np.ndarray | None, convert) -> np.ndarray:
    """`array`'s texts (None where `missing`) converted by `convert`: an integer each, any
    other type each distinct text once."""
    if convert is None:
        return array
    if convert is int and missing is None:
        array[:] = list(map(int, array.tolist()))
        return array
    present = slice(None) if missing is None else ~missing
    codes, uniques = pd.factorize(array[present])
    typed = np.empty(len(uniques), dtype=object)
    typed[:] = [convert(text) for text in uniques]
    array[present] = typed[codes]
    return array
