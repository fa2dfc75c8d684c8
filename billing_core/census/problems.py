"""A census file's problems as a sender reads them: every error and warning in one round
(what the reader found and what the rows find against enrollment), masked (SSNs to their last
4) for the page and the problems CSV, and the 999 acknowledgement answering an 834."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from billing_core.census.columns import ColumnMap, Columns, read_with_columns
from billing_core.census.diff import diff_census
from billing_core.census.reader import looks_like_834, read_census
from billing_core.census.rows import CensusFile
from billing_core.census.x12 import acknowledgement_999
from billing_core.errors import RowError
from billing_core.exports import Column, csv_bytes
from billing_core.models import EmployerGroup, Upload
from billing_core.security import mask_ssn


def every_problem(
    session: Session, group: EmployerGroup, census: CensusFile, as_of: date
) -> tuple[list[RowError], list[RowError]]:
    """Every error and warning of a file in one round: what the reader found, and what the
    rows that did read find against enrollment (unknown plans, subscribers not enrolled), so
    the sender fixes everything at once rather than one kind of problem per upload. Writes
    nothing."""
    if not census.members:
        return list(census.errors), list(census.warnings)
    diff = diff_census(session, group, census, as_of)
    return census.errors + diff.errors, census.warnings + diff.warnings


PROBLEM_COLUMNS = (
    Column("File"),
    Column("Kind"),
    Column("Row"),
    Column("Column"),
    Column("Value"),
    Column("What was expected"),
)


_SSN_LIKE = re.compile(r"\d{3}[-\s]?\d{2}[-\s]?\d{4}")


def shown_value(error: RowError, ssn_headers: frozenset[str] = frozenset()) -> str | None:
    """The problem's value as it may be shown: an SSN (a column read as SSN, or anything
    shaped like one, whatever column the sender mapped it to) masked to its last 4."""
    value = error.value
    if value is None:
        return None
    if error.column in ssn_headers or _SSN_LIKE.fullmatch(value.strip()):
        digits = re.sub(r"\D", "", value)
        return mask_ssn(digits[-4:]) if len(digits) >= 4 else value
    return value


def ssn_headers(columns: Columns | None) -> frozenset[str]:
    if columns is None:
        return frozenset()
    return frozenset(c.header for c in columns.choices if c.field == "ssn")


ERROR, WARNING = "Error", "Warning"


@dataclass(frozen=True)
class ProblemRow:
    source: str
    row: str  # "file" for the file as a whole
    column: str
    value: str | None  # SSNs masked
    message: str
    severity: str = ERROR  # ERROR: not applied as sent; WARNING: applied, worth a look


def problem_rows(
    errors: list[RowError],
    columns: Columns | None = None,
    warnings: list[RowError] = (),
) -> list[ProblemRow]:
    """The problems as they may be shown or downloaded, errors first: SSNs masked to their
    last 4."""
    masked = ssn_headers(columns)
    return [
        ProblemRow(
            problem.source or "",
            "file" if problem.row is None else str(problem.row),
            problem.column or "",
            shown_value(problem, masked),
            problem.message,
            severity,
        )
        for severity, problems in ((ERROR, errors), (WARNING, warnings))
        for problem in problems
    ]


def kept_problems_csv(upload: Upload) -> bytes:
    """A purged upload's problems as kept at the purge (no values), in the problems CSV's
    columns."""
    return csv_bytes(
        PROBLEM_COLUMNS,
        (
            (upload.original_filename, p["kind"], p["row"], p["column"], None, p["message"])
            for p in upload.kept_problems or []
        ),
    )


def problems_csv(
    errors: list[RowError], columns: Columns | None = None, warnings: list[RowError] = ()
) -> bytes:
    """File, kind (error or warning), row, column, value (SSNs masked) and what was
    expected, one line per problem, through exports.csv_bytes (formula-like cells
    neutralised)."""
    return csv_bytes(
        PROBLEM_COLUMNS,
        (
            (p.source, p.severity, p.row, p.column, p.value, p.message)
            for p in problem_rows(errors, columns, warnings)
        ),
    )


def acknowledgement_for(data: bytes, filename: str) -> str | None:
    """The 999 acknowledgment of an 834 (accepted and rejected transaction sets alike); None
    when `data` is not an 834. Raises ValidationFailed when the envelope cannot be answered."""
    if not looks_like_834(data):
        return None
    return acknowledgement_999(read_census(data, filename), data)


def upload_problems(
    session: Session, upload: Upload, *, as_of: date, chosen: ColumnMap | None = None
) -> tuple[list[RowError], Columns | None, list[RowError]]:
    """Every problem of a kept upload read with its own columns (or `chosen` over them), then
    against enrollment as of `as_of`: the errors, the columns, the warnings. Writes
    nothing."""
    census, columns = read_with_columns(
        upload.content,
        upload.original_filename,
        kind=upload.file_kind,
        as_of=as_of,
        chosen=chosen,
        saved=upload.column_mapping,
    )
    group = session.get(EmployerGroup, upload.group_id)
    errors, warnings = every_problem(session, group, census, as_of)
    return errors, columns, warnings
