"""One read of one CSV or XLSX sheet: the state every stage of the tabular reader shares (the
mapped columns parsed once per distinct cell, each data row's spreadsheet row, the dependent
groups of a wide layout) and how a stage records a problem on a row, a column or the file.

The stages are functions over a `Sheet`, run in order by `read_sheet` (census.tabular): the
header and mapping (`header`), the columns (`columns`), the subscribers (`subscribers`), their
families (`families`) and their coverages (`coverages`). Arrays hold one entry per data row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from billing_core.census.rows import CensusFile
from billing_core.census.tabular.files import Grid
from billing_core.census.tabular.vocabulary import FIELDS
from billing_core.census.tabular.wide import Group
from billing_core.errors import RowError
from billing_core.models.enums import LineOfCoverage
from billing_core.security import mask_ssn

# A warning for one value on more rows than this is listed once, with its rows.
WARNING_ROWS_LISTED = 5


@dataclass
class Column:
    """A mapped column, parsed once per distinct cell: `codes[i]` indexes row i's cell in
    `parsed` (None when blank or unreadable) and `texts`."""

    header: str
    index: int  # position in the file, for ordering errors
    codes: np.ndarray
    parsed: np.ndarray
    texts: list[str]
    blank: np.ndarray  # bool per data row

    def __post_init__(self) -> None:
        self.values = self.parsed[self.codes]


class Sheet:
    """One read of one file: what the file says, what was read of it, and its problems."""

    def __init__(
        self,
        census: CensusFile,
        grid: Grid,
        mapping: dict[str, str | None] | None,
        as_of: date,
        birth_limit: date,
        tier_lines: tuple[LineOfCoverage, ...],
    ):
        self.census = census
        self.grid = grid
        self.source = census.source
        self.given_mapping = mapping
        self.as_of = as_of
        self.birth_limit = birth_limit
        self.tier_lines = tier_lines
        # (row, group rank, column position, problem): sorted before they are handed over.
        self.errors: list[tuple[int, int, int, RowError]] = []
        self.warnings: list[tuple[int, int, int, RowError]] = []
        self.columns: dict[str, Column] = {}
        self.unreadable: dict[str, set[int]] = {}  # field -> rows whose value was refused
        self.noted: dict[str, list[int]] = {}  # field -> codes of values read with a warning
        self.first_data_row = 2
        self.n = 0
        self.row_no = np.zeros(0, dtype=np.int64)  # spreadsheet row of each data row
        self.groups: list[Group] = []
        self.row_group: np.ndarray | None = None  # wide layouts: -1 family row, else group
        self.seen_anything = False
        # A change file's dependent rows whose employee id no employee row has: by that id.
        self.unlinked_dependents: dict[str, list[int]] = {}
        # Set by the stages, in order: the header's (field -> header, position) for the fields
        # read (header.check_mapping); whether the file is read as a change file, which rows
        # are blank and, in a wide layout, whose relationship was taken from the group's kind
        # (columns.read_columns); each row's action and its date (subscribers.read_members).
        self.positions: dict[str, tuple[str, int]] = {}
        self.is_change = False
        self.all_blank = np.zeros(0, dtype=bool)
        self.defaulted: np.ndarray | None = None
        self.dependent_action: np.ndarray | None = None
        self.dependent_action_date: np.ndarray | None = None

    # -- problems

    def file_error(self, message: str, column: str | None = None) -> None:
        self.census.errors.append(RowError(None, column, message, self.source))

    def file_warning(self, message: str, column: str | None = None) -> None:
        self.census.warnings.append(RowError(None, column, message, self.source))

    def where(self, i: int, name: str | None) -> tuple[int, int, str | None, int]:
        """Row i's spreadsheet row, group rank, and the header and position of field `name`'s
        column there (a wide layout's dependent rows have their group's columns)."""
        group = -1 if self.row_group is None else int(self.row_group[i])
        if name is None:  # the row as a whole
            return int(self.row_no[i]), group, None, -1
        column = self.columns.get(name)
        header, position = (column.header, column.index) if column else (FIELDS[name].label, -1)
        if group >= 0 and name in self.groups[group].columns:
            header, position = self.groups[group].columns[name]
        return int(self.row_no[i]), group, header, position

    def problem(
        self,
        i: int,
        name: str | None,
        message: str,
        value: str | None = None,
        *,
        warning: bool = False,
    ) -> None:
        """A problem on data row i (0-based) in field `name`'s column (None: the whole row);
        `value` defaults to the cell's text."""
        i = int(i)
        row, group, header, position = self.where(i, name)
        column = self.columns.get(name) if name else None
        if value is None and column is not None:
            value = column.texts[column.codes[i]]
        found = RowError(row, header, message, self.source, value)
        (self.warnings if warning else self.errors).append((row, group + 1, position, found))

    def row_error(self, i: int, name: str | None, message: str, value: str | None = None) -> None:
        self.problem(i, name, message, value)

    def row_warning(self, i: int, name: str | None, message: str, value: str | None = None) -> None:
        self.problem(i, name, message, value, warning=True)

    def value_warning(self, rows: list[int], name: str, message: str, value: str) -> None:
        """One warning for one value on `rows`: per row, or once with the rows when many."""
        if len(rows) <= WARNING_ROWS_LISTED:
            for i in rows:
                self.row_warning(i, name, message, value)
            return
        row, group, header, position = self.where(rows[0], name)
        numbers = sorted({int(self.row_no[i]) for i in rows})
        found = RowError(rows_text(numbers), header, message, self.source, value)
        self.warnings.append((row, group + 1, position, found))

    def bad(self, i: int, *names: str) -> bool:
        """Row i held an unreadable value in one of `names` (already reported)."""
        return any(i in self.unreadable.get(name, ()) for name in names)

    # -- columns: one entry per data row

    def col(self, name: str) -> np.ndarray:
        """Parsed values of a field (None where blank or unreadable, or the column is absent)."""
        column = self.columns.get(name)
        return column.values if column is not None else np.full(self.n, None, dtype=object)

    def blank(self, name: str) -> np.ndarray:
        column = self.columns.get(name)
        return column.blank if column is not None else np.ones(self.n, dtype=bool)

    def mask(self, name: str, predicate: Callable[[object], bool]) -> np.ndarray:
        """predicate(value) per row, evaluated once per distinct value."""
        column = self.columns.get(name)
        if column is None:
            return np.full(self.n, bool(predicate(None)))
        table = np.fromiter((bool(predicate(v)) for v in column.parsed), bool, len(column.parsed))
        return table[column.codes]

    def unreadable_mask(self, *names: str) -> np.ndarray:
        result = np.zeros(self.n, dtype=bool)
        for name in names:
            rows = self.unreadable.get(name)
            if rows:
                result[list(rows)] = True
        return result

    def report(
        self,
        rows: np.ndarray,
        name: str,
        message: str,
        value: str | None = None,
        *,
        warning: bool = False,
    ) -> None:
        """The same error (or warning) on every row of a boolean mask."""
        for i in np.flatnonzero(rows).tolist():
            self.problem(i, name, message, value, warning=warning)

    def row_key(self, i: int) -> int | str:
        """Row i's spreadsheet row, or for a wide layout's dependent 'row (group)'."""
        if self.row_group is not None and self.row_group[i] >= 0:
            return f"{self.row_no[i]} ({self.groups[self.row_group[i]].label})"
        return int(self.row_no[i])

    def repeats(self, rows: np.ndarray, values: np.ndarray) -> list[tuple[int, int]]:
        """(row, first row) for each row of mask `rows` whose value an earlier one has."""
        index = np.flatnonzero(rows)
        if not len(index):
            return []
        series = pd.Series(values[index], dtype=object)
        again = series.duplicated(keep="first").to_numpy()
        if not again.any():
            return []
        first: dict[object, int] = {}
        for i, value in zip(index[~again].tolist(), series[~again].tolist(), strict=True):
            first.setdefault(value, i)
        return [
            (i, first[value])
            for i, value in zip(index[again].tolist(), series[again].tolist(), strict=True)
        ]

    def same_row(self, i: int, j: int) -> bool:
        """Rows i and j hold the same text in every column read (an exact repeat)."""
        return all(column.codes[i] == column.codes[j] for column in self.columns.values())


def masked_ssn(text: str) -> str:
    """An SSN as a problem quotes it: its last four digits."""
    digits = re.sub(r"\D", "", text)
    return mask_ssn(digits[-4:]) if len(digits) >= 4 else text


def column_letter(position: int) -> str:
    """A spreadsheet column's letters (0 -> A, 26 -> AA)."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def listed(texts: list[str]) -> str:
    """'a', 'a' and 'b', 'a', 'b' and 'c': texts quoted, as a sentence lists them."""
    quoted = [repr(text) for text in texts]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(row) for row in rows[:WARNING_ROWS_LISTED])
    more = len(rows) - WARNING_ROWS_LISTED
    return f"rows {shown} and {more:,} more" if more > 0 else f"rows {shown}"
