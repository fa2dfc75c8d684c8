"""CSV and XLSX census and change files: the checks a file must pass before anything reads it
(size, type, encoding, zip bombs), and `read_tabular`, which turns one into the normalised
`CensusFile` of `rows.py`. The header and value vocabulary is in `vocabulary.py` (re-exported
here: `FIELDS`, `suggest_mapping`, `missing_fields`), the cell parsers in `values.py`, wide
layouts (one row per family) in `wide.py`.

Every cell is read as text (pandas `dtype=str` for CSV; python-calamine's cells turned into the
text Excel shows, for XLSX), so ids, SSNs and ZIP codes keep their leading zeros. Cleaning runs
once per distinct value of a column (pandas factorize), never once per cell.

Rules a reader of a file can rely on:

* The header is the first row naming three known fields (title rows above it are skipped); a
  second header row under it (a template's human labels under its machine keys, or a row of
  Required/Optional) is skipped too. Row numbers are the spreadsheet's. Headers match
  forgivingly (case, spaces, punctuation, a qualifier such as 'Employee', a trailing digit, a
  label's explanation after a line break or in parentheses). Of two columns naming one field
  the more direct name is read, else the first, with a warning; so is the first of a repeated
  header.
* One row per person: a subscriber (employee, COBRA participant, retiree) unless the
  relationship says spouse, domestic partner or child (blank: subscriber). A wide layout (one
  row per family with repeated dependent columns) is folded into that shape first.
* A subscriber is keyed by its employee id; a file without one by the SSN, else by name and
  date of birth (the diff matches the enrolled member the same way). A subscriber row with none
  of these is an error. An exact repeat of a row is read once (a warning); two different rows
  with one key are an error.
* Families: a dependent row joins the subscriber row with its employee id, else its family id,
  else its subscriber SSN, wherever that row is; with none of these it joins the nearest
  subscriber row above it (the "row order" layout of many HRIS exports). A dependent with
  nothing to join is an error naming its row. A blank dependent last name is the subscriber's.
* Tier of a medical/dental/vision line, first that applies: the line's tier column
  (`medical_tier`), the row's tier column (`tier`), spouse Y/N plus child count (a row error if
  given with a tier that disagrees). A plan column whose values are all tiers (a "Medical"
  column of EE/FAM) is the line's tier column. A file with no tier anywhere but a relationship
  column gets the tier of the dependent rows (spouse/partner ES, children EC, both FAM, none
  EE) on snapshot rows and adds; otherwise None (not stated). A bare tier in a file with no
  line columns applies to `tier_lines`.
* A dependent is on the subscriber's tiered lines whose tier covers it (spouse or domestic
  partner: ES, FAM; child: EC, FAM), never on life or disability lines; its coverage ends when
  the subscriber's does unless its own row ends it sooner.
* Dates: see `values.py`. Day and month: month first unless the first number cannot be a month
  (18/10/1980); when a column's dates are day first wherever they say, the ambiguous ones are
  read day first too (a warning says so). Two-digit years: a birth date takes the latest year
  not after the reference date (max of `as_of` and today: 1/15/24 is 2024, 7/4/51 is 1951);
  any other date the year nearest `as_of` (3/1/98 -> 1998). Windows: birth 1900..reference;
  hire 1940..as_of+1y; termination, and an effective date in a change file, as_of-2y..as_of+1y;
  coverage start 1950..as_of+1y.
* Errors and warnings: a value the row depends on that cannot be read (relationship, date of
  birth, tier, plan, action, effective or termination date, salary, election) is an error; an
  optional one (gender, hire date, ZIP, SSN, status) is a warning and is left blank. An SSN
  never issued and a foreign postcode are read as written with a warning. `nil`/`NULL` cells
  are blank. Warnings repeated over many rows for one value are listed once with the rows.
* A termination date is every coverage's last day (`effective_to`); in a change file it also
  makes the row a TERM (maintenance_date: termination date, else effective date).
* Kind guess when the caller gives none: an action column holding a value, or any termination
  date, makes a CHANGE file; otherwise a SNAPSHOT. `kind` stays None.
* ZIP codes of 3-4 digits are zero-padded (spreadsheets drop them); an SSN from a numeric Excel
  cell is zero-padded to nine digits (a number cannot hold them), never one from text. An SSN
  in an error or warning is masked to its last four.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from datetime import time as time_of_day
from itertools import repeat

import numpy as np
import pandas as pd
import python_calamine

from billing_core.census.rows import (
    TEXT_LIMITS,
    CensusCoverage,
    CensusDependent,
    CensusFile,
    CensusMember,
    Maintenance,
    clipped,
    collector_paused,
    length_problem,
)
from billing_core.census.values import (
    DAY_FIRST,
    EITHER,
    MONTH_FIRST,
    DateParser,
    Noted,
    century_latest,
    century_nearest,
    clean_texts,
    lookup,
    parse_hours,
    parse_money,
    parse_plan,
    parse_postal,
    parse_ssn,
    parse_text,
    parse_tier,
    parse_whole,
    tier_word,
    years_after,
)
from billing_core.census.vocabulary import (
    ACTIONS,
    ALTERNATIVES,
    EXACT,
    FIELDS,
    FLAG_LINES,
    FLAGS,
    GENDERS,
    PAY_PERIODS,
    RELATIONSHIPS,
    STATUSES,
    SUBSCRIBER,
    TIERED_LINES,
    WAIVE,
    CensusField,
    describe_missing,
    employer_headers,
    header_key,
    is_label_row,
    match_header,
    missing_fields,
    suggest_mapping,
)
from billing_core.census.wide import Group, find_groups, fold
from billing_core.errors import RowError
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Tier,
    UploadFormat,
    UploadKind,
)
from billing_core.money import cents
from billing_core.security import mask_ssn

__all__ = [
    "ALTERNATIVES",
    "FIELDS",
    "MAX_BYTES",
    "CensusField",
    "header_key",
    "missing_fields",
    "read_tabular",
    "suggest_mapping",
]

MAX_BYTES = 50 * 1024 * 1024
# An XLSX is a zip: its central directory is checked before any XML is inflated. A genuine
# 100,000-row census inflates to about 55 MB at a ratio near 10.
XLSX_MAX_UNCOMPRESSED = 512 * 1024 * 1024
XLSX_MAX_RATIO = 100  # per entry, for entries over XLSX_RATIO_FLOOR bytes
XLSX_RATIO_FLOOR = 1024 * 1024
XLSX_MAX_ENTRIES = 10_000
HEADER_SCAN_ROWS = 20  # a header may sit under a few title rows
LABEL_ROWS = 2  # second header rows under the header: labels, then Required/Optional
# A warning for one value on more rows than this is listed once, with its rows.
WARNING_ROWS_LISTED = 5

# Coverages are built positionally for speed; this fails at import if rows.py reorders them.
assert [f.name for f in fields(CensusCoverage)] == [
    "line",
    "plan_code",
    "tier",
    "elected_volume",
    "effective_from",
    "effective_to",
], "CensusCoverage fields changed: update read_tabular's coverage builder"

# Optional fields: a value that cannot be read is a warning and the field is left blank (what
# the row then reads as).
OPTIONAL_FIELDS = {
    "gender": "read as unknown",
    "hire_date": "left blank",
    "postal_code": "left blank",
    "ssn": "left blank",
    "subscriber_ssn": "left blank",
    "status": "read as active",
}


# ---------------------------------------------------------------------------------------------
# Bytes to a grid of cells, with the file-level checks.


class _FileProblem(Exception):
    """A file-level problem: the file cannot be read at all."""


class _Grid:
    """Cells as read. CSV keeps pandas' columns (no per-row lists); XLSX keeps calamine's rows."""

    def __init__(
        self,
        file_format: UploadFormat,
        detail: dict,
        *,
        rows: list[list] | None = None,
        frame: pd.DataFrame | None = None,
    ):
        self.file_format = file_format
        self.detail = detail
        self.rows = rows
        self.frame = frame
        self.matrix: np.ndarray | None = None
        self.height = len(frame) if frame is not None else len(rows or [])

    def head(self, count: int) -> list[list]:
        if self.frame is not None:
            return self.frame.iloc[:count].to_numpy(dtype=object).tolist()
        return (self.rows or [])[:count]

    def column(self, index: int, start: int) -> np.ndarray:
        if self.frame is not None:
            return self.frame.iloc[start:, index].to_numpy(dtype=object)
        if self.matrix is None:
            rows = self.rows or []
            widths = set(map(len, rows))
            if len(widths) > 1:  # ragged: the csv module's fallback
                width = max(widths)
                rows = [row + [""] * (width - len(row)) for row in rows]
            # One 2-D object array: far cheaper than a list per column out of 100,000 rows.
            self.matrix = np.array(rows, dtype=object) if rows else np.empty((0, 0), object)
        return self.matrix[start:, index]


_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", None),  # OLE2: handled below
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"{\\rtf", "a Rich Text document"),
)
_EXPECTED = "expected a CSV file or an Excel workbook (.xlsx); export the census as one of those"


def _load(data: bytes, file_format: UploadFormat | None, max_bytes: int) -> _Grid:
    if file_format is UploadFormat.X12_834:
        raise _FileProblem("this reader takes CSV and XLSX files; an 834 has its own reader")
    if len(data) > max_bytes:
        raise _FileProblem(
            f"the file is {_size(len(data))}; the limit is {_size(max_bytes)} (split it, or "
            "send a change file instead of a full census)"
        )
    if not data.strip(b" \t\r\n\x00") or data.strip() in (b"\xef\xbb\xbf",):
        raise _FileProblem("the file is empty; expected a header row and one row per person")
    head = data[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _load_xlsx(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise _FileProblem(
            "this is an Excel 97-2003 (.xls) workbook or a password-protected file; "
            "save it as an Excel Workbook (.xlsx) without a password, or as CSV"
        )
    for signature, what in _SIGNATURES:
        if what and head.startswith(signature):
            raise _FileProblem(f"this is {what}, not a census; {_EXPECTED}")
    return _load_csv(data)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / 1048576:,.1f} MB".replace(".0 MB", " MB")


def _check_zip(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _FileProblem(
            "this looks like an Excel workbook but it is damaged (not a readable zip); "
            "open it in Excel and save it again"
        ) from None
    with archive:
        entries = archive.infolist()
        names = {entry.filename for entry in entries}
        if len(entries) > XLSX_MAX_ENTRIES:
            raise _FileProblem(
                f"the workbook holds {len(entries):,} parts, more than a census needs "
                f"(at most {XLSX_MAX_ENTRIES:,}); it was refused unopened"
            )
        total = sum(entry.file_size for entry in entries)
        if total > XLSX_MAX_UNCOMPRESSED:
            raise _FileProblem(
                f"the workbook would expand to {_size(total)}, more than the "
                f"{_size(XLSX_MAX_UNCOMPRESSED)} a census may; it was refused unopened"
            )
        for entry in entries:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size > XLSX_RATIO_FLOOR and ratio > XLSX_MAX_RATIO:
                raise _FileProblem(
                    f"the workbook part {entry.filename} expands {ratio:,.0f} times (a zip bomb?); "
                    f"a genuine workbook expands at most {XLSX_MAX_RATIO} times; it was refused "
                    "unopened"
                )
            if entry.flag_bits & 0x1:
                raise _FileProblem("the workbook is encrypted; save it without a password")
    if "xl/workbook.xml" not in names:
        if "word/document.xml" in names:
            what = "a Word document"
        elif any(name.startswith("ppt/") for name in names):
            what = "a PowerPoint presentation"
        elif "content.xml" in names and "mimetype" in names:
            what = "an OpenDocument file (save it as .xlsx or CSV)"
        else:
            what = "a zip archive that is not an Excel workbook"
        raise _FileProblem(f"this is {what}; {_EXPECTED}")


def _load_xlsx(data: bytes) -> _Grid:
    _check_zip(data)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet_names = [
            meta.name
            for meta in workbook.sheets_metadata
            if meta.visible == python_calamine.SheetVisibleEnum.Visible
            and meta.typ == python_calamine.SheetTypeEnum.WorkSheet
        ] or list(workbook.sheet_names)
        for name in sheet_names:
            sheet = workbook.get_sheet_by_name(name)
            if sheet.start is None:  # no cell holds anything
                continue
            # skip_empty_area=False keeps row 1 as row 1, so row numbers match Excel's.
            rows = sheet.to_python(skip_empty_area=False)
            return _Grid(UploadFormat.XLSX, {"sheet": name}, rows=rows)
    except Exception as exc:  # calamine raises its own types, ValueError and zip errors
        raise _FileProblem(
            f"the Excel workbook could not be read ({type(exc).__name__}: {str(exc)[:120]}); "
            "open it in Excel and save it again as .xlsx"
        ) from None
    raise _FileProblem(
        "the workbook is empty (no sheet has rows); expected a header row and one row per person"
    )


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _FileProblem(
            "the file is UTF-16 text (Excel's 'Unicode Text'); expected UTF-8 or Windows-1252 "
            "text: save it as 'CSV UTF-8 (Comma delimited)'"
        )
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        if _UTF8_SEQUENCE.search(data):
            # Mostly UTF-8 (accented letters encoded as UTF-8) with a stray byte: reading it as
            # Windows-1252 would garble every accented name, so say where the bad byte is.
            line = data.count(b"\n", 0, exc.start) + 1
            raise _FileProblem(
                f"the file is UTF-8 text with a byte that is not UTF-8 on line {line} (mixed "
                "encodings); expected a CSV saved once as 'CSV UTF-8 (Comma delimited)'"
            ) from None
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise _FileProblem(
            "the file is not UTF-8 or Windows-1252 text (wrong encoding, or not a CSV at all); "
            "expected a CSV saved as 'CSV UTF-8 (Comma delimited)'"
        ) from None
    return text, "cp1252"


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _load_csv(data: bytes) -> _Grid:
    text, encoding = _decode(data)
    sample = text[:65536]
    if _CONTROL.search(sample):
        raise _FileProblem(f"this is a binary file, not a census; {_EXPECTED}")
    opening = sample.lstrip()[:200].lower()
    if opening.startswith(("<html", "<!doctype", "<table", "<?xml")):
        raise _FileProblem(f"this is an HTML or XML document, not a census; {_EXPECTED}")
    if opening.startswith("isa") and ("*" in opening[:10] or "|" in opening[:10]):
        raise _FileProblem("this is an X12 834 file; upload it as an 834, not as CSV/XLSX")
    delimiter = _sniff_delimiter(sample)
    detail = {"encoding": encoding, "delimiter": delimiter}
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=str,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        return _Grid(UploadFormat.CSV, detail, rows=[])
    except (pd.errors.ParserError, ValueError):
        # Rows with more cells than the first, or a stray quote: the csv module says where.
        return _Grid(UploadFormat.CSV, detail, rows=_csv_rows(text, delimiter))
    return _Grid(UploadFormat.CSV, detail, frame=frame)


def _csv_rows(text: str, delimiter: str) -> list[list]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    rows: list[list] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        raise _FileProblem(
            f"the CSV is malformed near line {reader.line_num} ({exc}); check for a quote "
            'character (") that is opened but never closed'
        ) from None
    return rows


def _sniff_delimiter(sample: str) -> str:
    """Comma, semicolon (European Excel), tab or pipe: the one a line of the first twenty
    non-blank lines uses most (a title line above the header may use none)."""
    lines = [line for line in sample.splitlines() if line.strip()][:HEADER_SCAN_ROWS]
    counts = {d: max((line.count(d) for line in lines), default=0) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell_text(value: object) -> str:
    """An XLSX cell as the text a person sees (dates as ISO dates, 123.0 as 123)."""
    if isinstance(value, str):
        return value
    if value is None or value != value:  # an empty cell (None) or NaN
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        value = round(value, 9)  # 0.1 + 0.2 style residue of spreadsheet formulas
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time_of_day(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------------------------
# Reading.


@dataclass
class _Column:
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


def read_tabular(
    data: bytes,
    source: str,
    *,
    file_format: UploadFormat | None = None,
    kind: UploadKind | None = None,
    mapping: dict[str, str | None] | None = None,
    as_of: date | None = None,
    max_bytes: int = MAX_BYTES,
    tier_lines: Iterable[LineOfCoverage] = (LineOfCoverage.MEDICAL,),
    max_rows: int | None = None,
) -> CensusFile:
    """Read a CSV or XLSX census (`kind` SNAPSHOT) or change file (CHANGE) into a CensusFile.

    `file_format` is what the upload claimed; the content decides (a CSV named .xlsx is read as
    CSV). `mapping` is header text -> field name (None: ignore the column) and, when given, is
    the whole mapping; without it `suggest_mapping` is used. `as_of` (default today) is the
    date the file describes: effective and termination dates must fall near it and two-digit
    years resolve around it. `tier_lines` are the lines a bare tier column applies to when the
    file has no medical/dental/vision plan or tier column (a one-line census).

    Never raises for bad input: every problem is a RowError in `errors` (the file cannot be
    applied) or `warnings` (read; a person should look), row None for the file as a whole,
    with the file name, the spreadsheet row (the header row is row 1 when it is the first
    row), the column's header text, the value (an SSN masked to its last 4) and what was
    expected. Salaries and volumes are Decimal dollars rounded half-up to the cent; coverage
    `effective_from` is the coverage effective date (else the effective date), `effective_to`
    the termination date (inclusive). With `max_rows`, a sheet of more rows with anything in
    them (the header aside) is refused once loaded (census.reader refuses a CSV, and an XLSX
    whose sheets record their size, before that)."""
    today = date.today()
    on = as_of or today
    census = CensusFile(
        source=source,
        file_format=file_format or _format_from_name(source),
        kind=kind,
        as_of=as_of,
    )
    with collector_paused():
        try:
            grid = _load(data, file_format, max_bytes)
        except _FileProblem as problem:
            census.errors.append(RowError(None, None, str(problem), source))
            return census
        census.file_format = grid.file_format
        census.detail.update(grid.detail)
        if max_rows is not None and grid.rows is not None:
            rows = sum(1 for row in grid.rows if any(_cell_text(cell).strip() for cell in row))
            if rows - 1 > max_rows:
                census.errors.append(
                    RowError(None, None, row_limit_message(source, rows - 1, max_rows), source)
                )
                return census
        _Reader(census, grid, mapping, on, max(on, today), tuple(tier_lines)).run()
    return census


def row_limit_message(source: str, rows: int, max_rows: int) -> str:
    """The refusal of a file of `rows` rows when at most `max_rows` are read."""
    return (
        f"{source} has {rows:,} rows; the portal reads at most {max_rows:,} rows per file. "
        f"Split it into files of at most {max_rows:,} rows, or send a change file with only "
        "what changed."
    )


def _format_from_name(source: str) -> UploadFormat:
    return UploadFormat.XLSX if source.lower().endswith((".xlsx", ".xlsm")) else UploadFormat.CSV


def _column_letter(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _listed(texts: list[str]) -> str:
    quoted = [repr(text) for text in texts]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(row) for row in rows[:WARNING_ROWS_LISTED])
    more = len(rows) - WARNING_ROWS_LISTED
    return f"rows {shown} and {more:,} more" if more > 0 else f"rows {shown}"


class _Reader:
    """One read of one file: header, mapping, columns, then members and their families."""

    def __init__(
        self,
        census: CensusFile,
        grid: _Grid,
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
        self.columns: dict[str, _Column] = {}
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
        found = RowError(_rows_text(numbers), header, message, self.source, value)
        self.warnings.append((row, group + 1, position, found))

    def bad(self, i: int, *names: str) -> bool:
        """Row i held an unreadable value in one of `names` (already reported)."""
        return any(i in self.unreadable.get(name, ()) for name in names)

    # -- header and mapping

    def find_header(self) -> tuple[int, list[str], dict[str, str | None], int] | None:
        """The first row that names at least three known fields (or, with a mapping given, any
        of its headers) among the first non-blank rows; else the one naming the most. With
        the number of second header rows under it (labels, Required/Optional)."""
        head = self.grid.head(HEADER_SCAN_ROWS * 5 + LABEL_ROWS)
        rows = [[_cell_text(cell).strip() for cell in row] for row in head]
        best = first = None
        scanned = 0
        found = None
        for position, cells in enumerate(rows[: HEADER_SCAN_ROWS * 5]):
            if not any(cells):
                continue
            scanned += 1
            first = first or cells
            if self.given_mapping is not None:
                if any(cell in self.given_mapping for cell in cells if cell):
                    found = position, cells, dict(self.given_mapping)
                    break
            else:
                mapping = suggest_mapping([cell for cell in cells if cell])
                known = sum(1 for name in mapping.values() if name)
                if known >= 3:
                    found = position, cells, mapping
                    break
                if known and (best is None or known > best[0]):
                    best = (known, position, cells, mapping)
            if scanned >= HEADER_SCAN_ROWS:
                break
        self.seen_anything = scanned > 0
        if found is None and best is not None:
            found = best[1:]
        if found is None:
            if first is not None:  # what a person mapping the columns by hand would start from
                self.census.detail["headers"] = [cell for cell in first if cell]
            return None
        position = found[0]
        labels = 0
        while labels < LABEL_ROWS and position + labels + 1 < len(rows):
            if not is_label_row(rows[position + labels + 1]):
                break
            labels += 1
        return (*found, labels)

    def run(self) -> None:
        found = self.find_header()
        if found is None:
            if not self.seen_anything:
                self.file_error("the file is empty; expected a header row and one row per person")
            elif self.given_mapping is not None:
                self.file_error(
                    "no row of the file has the column headers of the mapping given; expected "
                    "the header row the mapping was made from"
                )
            else:
                self.file_error(
                    "no header row: the first row should name the columns (e.g. Employee ID, "
                    "First Name, Last Name, Date of Birth, Relationship, Coverage Tier)"
                )
            return
        position, headers, mapping, labels = found
        self.first_data_row = position + 2 + labels
        self.census.detail["header_row"] = position + 1
        if labels:
            self.census.detail["label_rows"] = list(range(position + 2, position + 2 + labels))
        self.census.detail["headers"] = [header for header in headers if header]
        if not self.check_mapping(headers, mapping):
            return
        start = position + 1 + labels
        self.read_columns(start, max(self.grid.height - start, 0))
        if not self.n or self.all_blank.all():
            self.file_error(
                "the file has a header row but no member rows; expected one row per person"
            )
            return
        self.check_ragged(start, len(headers))
        self.build()
        for found_list, target in ((self.errors, self.census.errors),
                                   (self.warnings, self.census.warnings)):  # fmt: skip
            found_list.sort(key=lambda item: item[:3])
            target.extend(problem for *_, problem in found_list)

    def check_mapping(self, headers: list[str], mapping: dict[str, str | None]) -> bool:
        """Refuse unknown field names and missing required fields; of a repeated header, or of
        two headers naming one field, read the most direct (else the first) and warn. Keep
        (field -> header, position) for the fields read, and find a wide layout's dependent
        groups among the columns left."""
        ok = True
        positions: dict[str, list[int]] = {}
        for index, header in enumerate(headers):
            if header:
                positions.setdefault(header, []).append(index)
        named: dict[str, list[tuple[int, int, str]]] = {}
        for header, name in mapping.items():
            if not name or header not in positions:
                continue
            if name not in FIELDS:
                self.file_error(
                    f"{name!r} is not a census field; expected a field name such as "
                    "employee_id, birth_date or medical_tier",
                    header,
                )
                ok = False
                continue
            places = positions[header]
            if len(places) > 1:
                letters = ", ".join(_column_letter(p) for p in places)
                self.file_warning(
                    f"the header {header!r} appears {len(places)} times (columns {letters}); "
                    f"the first (column {_column_letter(places[0])}) was read as "
                    f"{FIELDS[name].label} and the others ignored",
                    header,
                )
            guess, how = match_header(header)
            named.setdefault(name, []).append((how if guess == name else EXACT, places[0], header))
        self.positions: dict[str, tuple[str, int]] = {}
        for name, found in named.items():
            found.sort()
            _, index, header = found[0]
            self.positions[name] = (header, index)
            if len(found) > 1:
                others = [other for _, _, other in found[1:]]
                self.file_warning(
                    f"columns {_listed([header, *others])} {'both' if len(found) == 2 else 'all'} "
                    f"name {FIELDS[name].label}; "
                    f"{header!r} was read and {_listed(others)} ignored (choose another column "
                    "for it if that one is meant)",
                    header,
                )
        self.census.column_mapping = {header: name for name, (header, _) in self.positions.items()}
        missing = missing_fields(self.census.column_mapping)
        people = {"first_name", "last_name", "birth_date", "age"} & set(self.positions)
        company = employer_headers([h for h in headers if h])
        if not people and len(company) >= 3:
            self.file_error(
                "this looks like an employer (group) application, not a member census: its "
                f"columns describe a company ({', '.join(repr(' '.join(h.split())) for h in company[:4])}) "
                "and none names a person; expected one row per employee and dependent with "
                "first name, last name and date of birth"
            )
            return False
        for name in missing:
            self.file_error(describe_missing(name))
            ok = False
        if ok:
            used = {index for _, index in self.positions.values()}
            free = {i for i in range(len(headers)) if i not in used}
            self.groups = find_groups(headers, free)
            if self.groups:
                self.census.detail["dependent_groups"] = {
                    group.label: [header for header, _ in group.columns.values()]
                    for group in self.groups
                }
        return ok

    def check_ragged(self, start: int, width: int) -> None:
        """Rows with more cells than the header (only the csv module's fallback keeps them)."""
        if self.grid.rows is None or self.grid.file_format is not UploadFormat.CSV:
            return
        for offset, row in enumerate(self.grid.rows[start:]):
            extra = [cell for cell in row[width:] if cell.strip()]
            if extra:
                number = start + offset + 1
                self.errors.append(
                    (
                        number,
                        0,
                        width,
                        RowError(
                            number,
                            None,
                            f"the row has {len(row)} values but the header names {width} "
                            "columns; expected no values beyond the last header",
                            self.source,
                            ",".join(extra),
                        ),
                    )
                )

    # -- columns

    def nonblank(self, raw: np.ndarray) -> np.ndarray:
        """Which cells hold something (once per distinct cell)."""
        codes, uniques = pd.factorize(raw)
        texts = [value if type(value) is str else _cell_text(value) for value in uniques]
        table = np.array([bool(text) for text in clean_texts(texts)] + [False], dtype=bool)
        return table[codes]  # code -1 (None/NaN) is the last entry: blank

    def read_columns(self, start: int, count: int) -> None:
        """The mapped columns' cells from data row `start` on (a wide layout folded into one row
        per person), each parsed."""
        raw = {name: self.grid.column(index, start) for name, (_, index) in self.positions.items()}
        if self.groups:
            group_raw = [
                {name: self.grid.column(index, start) for name, (_, index) in g.columns.items()}
                for g in self.groups
            ]
            folded = fold(raw, self.groups, group_raw, count, self.nonblank)
            raw = folded.raw
            self.row_no = self.first_data_row + folded.source
            self.row_group = folded.group
            self.defaulted = folded.defaulted
            for name in raw:  # a field only the dependents' columns have (or none: relationship)
                if name not in self.positions:
                    group = next((g for g in self.groups if name in g.columns), None)
                    self.positions[name] = (
                        group.columns[name] if group else (FIELDS[name].label, -1)
                    )
        else:
            self.row_no = self.first_data_row + np.arange(count)
        self.n = len(self.row_no)
        self.convert_columns(raw)
        if self.groups:
            self.warn_unstated_relationships()

    def convert_columns(self, raw: dict[str, np.ndarray]) -> None:
        on = self.as_of
        census = self.census
        xlsx = self.grid.file_format is UploadFormat.XLSX

        # The kind first: an effective date's window depends on it.
        def has_values(name: str) -> bool:
            return name in raw and any(clean_texts([_cell_text(v) for v in pd.unique(raw[name])]))

        if census.kind is None:
            census.kind_guess = (
                UploadKind.CHANGE
                if has_values("action") or has_values("termination_date")
                else UploadKind.SNAPSHOT
            )
        self.is_change = (census.kind or census.kind_guess) is UploadKind.CHANGE

        nearest = century_nearest(on)
        change_window = (years_after(on, -2), years_after(on, 1))
        flag = lookup(FLAGS, "expected Y or N")
        parsers: dict[str, Callable[[str], object]] = {
            "employee_id": parse_text,
            "family_id": parse_text,
            "member_key": parse_text,
            "first_name": parse_text,
            "last_name": parse_text,
            "subgroup_code": parse_text,
            "class_code": parse_text,
            "relationship": lookup(
                RELATIONSHIPS,
                "expected a relationship: EE/Self/Employee, SP/Spouse, CH/Child or "
                "DP/Domestic Partner",
            ),
            "birth_date": DateParser(
                "a date of birth",
                century_latest(self.birth_limit),
                date(1900, 1, 1),
                self.birth_limit,
            ),
            "age": parse_whole("an age", 0, 120),
            "gender": lookup(GENDERS, "expected a gender: M/Male, F/Female or U/Unknown"),
            "ssn": parse_ssn,
            "subscriber_ssn": parse_ssn,
            "hire_date": DateParser("a hire date", nearest, date(1940, 1, 1), years_after(on, 1)),
            "annual_salary": parse_money("an annual salary"),
            "pay_rate": parse_money("a pay rate", to_cent=False),
            "pay_frequency": lookup(
                PAY_PERIODS,
                "expected a pay frequency: weekly, bi-weekly, semi-monthly, monthly, annual "
                "or hourly",
            ),
            "hourly_rate": parse_money("an hourly rate", to_cent=False),
            "hours_per_week": parse_hours,
            "status": lookup(
                STATUSES, "expected a status: Active/A, COBRA/C, Retiree/R or Terminated/T"
            ),
            "postal_code": parse_postal,
            "action": lookup(ACTIONS, "expected an action: Add/A, Term/T, Change/C or Reinstate/R"),
            "effective_date": DateParser(
                "an effective date",
                nearest,
                *(change_window if self.is_change else (date(1950, 1, 1), years_after(on, 1))),
            ),
            "coverage_effective_date": DateParser(
                "a coverage effective date", nearest, date(1950, 1, 1), years_after(on, 1)
            ),
            "termination_date": DateParser("a termination date", nearest, *change_window),
            "tier": parse_tier,
            "spouse": flag,
            "child_count": parse_whole("a number of children", 0, 30),
            "life_volume": parse_money("a supplemental life amount"),
        }
        for _line, plan, tier in TIERED_LINES:
            parsers[plan] = parse_plan
            parsers[tier] = parse_tier
        for name in FLAG_LINES:
            parsers[name] = flag

        all_blank = np.ones(self.n, dtype=bool)
        for name, cells in raw.items():
            header, index = self.positions[name]
            all_blank &= self.convert(name, header, index, cells, parsers[name], xlsx).blank
        self.all_blank = all_blank
        for _line, plan, tier in TIERED_LINES:
            if plan in self.columns and tier not in self.columns:
                self.read_plan_as_tier(plan, tier)

    def convert(
        self,
        name: str,
        header: str,
        index: int,
        raw: np.ndarray,
        parse: Callable[[str], object],
        xlsx: bool,
    ) -> _Column:
        """Parse each distinct cell of a column once and spread the results back over the rows
        (factorize codes), reporting every row holding an unreadable value: an error, or for
        an optional field a warning (the value left blank)."""
        codes, uniques = pd.factorize(raw)
        if len(codes) and codes.min() < 0:  # None/NaN cells (code -1): one more, blank, value
            codes = np.where(codes < 0, len(uniques), codes)
            uniques = np.append(uniques.astype(object), "")
        if xlsx:
            texts = [value if type(value) is str else _cell_text(value) for value in uniques]
            if name in ("ssn", "subscriber_ssn"):
                # A numeric cell cannot hold leading zeros: Excel dropped them from the SSN.
                texts = [
                    text.zfill(9) if isinstance(value, int | float) and text.isdigit() else text
                    for value, text in zip(uniques, texts, strict=True)
                ]
        else:
            texts = uniques.tolist()
        cleaned = clean_texts(texts)
        parsed = np.empty(len(texts), dtype=object)
        problems: dict[int, str] = {}
        notes: dict[int, str] = {}
        too_long: dict[int, str] = {}
        if parse is parse_text:  # names and codes: nothing to check, so no loop with a try
            parsed[:] = [text or None for text in cleaned]
            blank_codes = [code for code, text in enumerate(cleaned) if not text]
            if name in TEXT_LIMITS:  # longer than the database keeps: a row error
                for code, text in enumerate(cleaned):
                    problem = length_problem(name, text)
                    if problem is not None:
                        too_long[code] = problem
                        parsed[code] = None
        else:
            blank_codes = []
            dates = parse if isinstance(parse, DateParser) else None
            orders: dict[str, int] = {}  # order seen -> the first code that showed it
            either: list[int] = []
            for code, text in enumerate(cleaned):
                if not text:
                    blank_codes.append(code)
                    continue
                try:
                    value = parse(text)
                except ValueError as exc:
                    problems[code] = str(exc)
                    value = None
                if type(value) is Noted:
                    notes[code] = value.note
                    value = value.value
                parsed[code] = value
                if dates is not None and dates.order_seen is not None:
                    if dates.order_seen is EITHER:
                        either.append(code)
                    else:
                        orders.setdefault(dates.order_seen, code)
            if either and DAY_FIRST in orders:
                self.settle_day_first(dates, header, cleaned, parsed, problems, orders, either)
        column = _Column(header, index, codes, parsed, texts, np.isin(codes, blank_codes))
        self.columns[name] = column
        masked = name in ("ssn", "subscriber_ssn")
        if too_long:
            rows = np.flatnonzero(np.isin(codes, list(too_long)))
            self.unreadable.setdefault(name, set()).update(rows.tolist())
            for i in rows.tolist():
                self.row_error(i, name, too_long[codes[i]], clipped(texts[codes[i]]))
        if problems:
            rows = np.flatnonzero(np.isin(codes, list(problems)))
            optional = OPTIONAL_FIELDS.get(name)
            if optional:
                self.warn_values(name, rows, codes, texts, problems, f"; {optional}", masked)
            else:
                self.unreadable[name] = set(rows.tolist())
                for i in rows.tolist():
                    text = texts[codes[i]]
                    shown = _mask(text) if masked else clipped(text)
                    self.row_error(i, name, problems[codes[i]], shown)
        if notes:
            self.noted[name] = list(notes)
            rows = np.flatnonzero(np.isin(codes, list(notes)))
            self.warn_values(name, rows, codes, texts, notes, "", masked)
        return column

    def settle_day_first(
        self,
        dates: DateParser,
        header: str,
        cleaned: list[str],
        parsed: np.ndarray,
        problems: dict[int, str],
        orders: dict[str, int],
        either: list[int],
    ) -> None:
        """A column with day-first dates (18/10/1980) and dates that could be either (05/04/1990):
        when none is month first, the column is day first and those are read again so; when
        some are, they stay month first. Either way a warning says what was done."""
        example, ambiguous = cleaned[orders[DAY_FIRST]], cleaned[either[0]]
        if MONTH_FIRST in orders:
            self.file_warning(
                f"the dates in this column are written day first ({example!r}) and month first "
                f"({cleaned[orders[MONTH_FIRST]]!r}); dates that could be either, such as "
                f"{ambiguous!r}, were read month first: check them",
                header,
            )
            return
        dates.day_first = True
        for code in either:
            problems.pop(code, None)
            try:
                parsed[code] = dates(cleaned[code])
            except ValueError as exc:
                parsed[code] = None
                problems[code] = str(exc)
        self.file_warning(
            f"the dates in this column are written day first (DD/MM/YYYY: {example!r}); dates "
            f"that could be either, such as {ambiguous!r}, were read day first too "
            f"({parsed[either[0]]} for {ambiguous!r})",
            header,
        )

    def warn_values(
        self,
        name: str,
        rows: np.ndarray,
        codes: np.ndarray,
        texts: list[str],
        messages: dict[int, str],
        suffix: str,
        masked: bool,
    ) -> None:
        by_code: dict[int, list[int]] = {}
        for i, code in zip(rows.tolist(), codes[rows].tolist(), strict=True):
            by_code.setdefault(code, []).append(i)
        for code, listed in by_code.items():
            text = texts[code]
            self.value_warning(
                listed, name, messages[code] + suffix, _mask(text) if masked else text
            )

    def warn_unstated_relationships(self) -> None:
        """Wide layouts: a Dependent N group says no relationship, so its people are read as
        children; a person should look when the file might hold a spouse among them."""
        has_partner_group = any(g.kind in ("spouse", "partner") for g in self.groups)
        silent = [
            g for g in self.groups if g.kind == "dependent" and "relationship" not in g.columns
        ]
        if silent and not has_partner_group:
            self.file_warning(
                f"the columns of {_listed([g.label for g in silent])} say no relationship: "
                "those dependents were read as children; a spouse or partner among them needs "
                "a relationship column"
            )
        stated = [i for i, g in enumerate(self.groups) if g.kind == "dependent" and g not in silent]
        if stated and self.row_group is not None:
            rows = np.flatnonzero(self.defaulted & np.isin(self.row_group, stated))
            for i in rows.tolist():
                self.row_warning(
                    i, "relationship", "the relationship is blank: read as a child", ""
                )

    def read_plan_as_tier(self, plan: str, tier: str) -> None:
        """A plan column holding nothing but coverage levels (a 'Medical' column of EE/FAM) is
        that line's tier column."""
        column = self.columns[plan]
        named = {v for v in column.parsed if isinstance(v, str)}
        tiers = {v: tier_word(v) for v in named}
        if not tiers or not all(isinstance(t, Tier) for t in tiers.values()):
            return
        parsed = np.empty(len(column.parsed), dtype=object)
        parsed[:] = [tiers.get(v, v) if isinstance(v, str) else v for v in column.parsed]
        del self.columns[plan]
        self.columns[tier] = _Column(
            column.header, column.index, column.codes, parsed, column.texts, column.blank
        )
        self.census.column_mapping[column.header] = tier
        self.census.detail.setdefault("plan_columns_read_as_tier", []).append(column.header)

    # -- vectorised helpers: one entry per data row

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

    # -- rows

    def build(self) -> None:
        n, columns, row_no = self.n, self.columns, self.row_no
        valid = ~self.all_blank & ~self.unreadable_mask("relationship", "action")
        is_subscriber = valid & self.mask("relationship", lambda v: v is None or v == SUBSCRIBER)
        is_dependent = valid & ~is_subscriber

        action = self.col("action")
        termination, effective = self.col("termination_date"), self.col("effective_date")
        coverage_from = self.col("coverage_effective_date")
        is_term = self.mask("action", lambda v: v is Maintenance.TERM)
        if self.is_change:
            # In a change file a termination date makes the row a termination.
            implied = pd.isna(action) & ~pd.isna(termination)
            if implied.any():
                action = action.copy()
                action[implied] = Maintenance.TERM
                is_term = is_term | implied
        last_day = np.where(pd.isna(termination), effective, termination)
        start = np.where(pd.isna(coverage_from), effective, coverage_from)
        maintenance_date = np.where(is_term, last_day, np.where(pd.isna(action), None, start))

        # Fields every row needs.
        self.report(valid & self.blank("first_name"), "first_name", "a first name is required", "")
        no_birth = valid & self.blank("birth_date") & self.blank("age") & ~is_term
        birth_column = "birth_date" if "birth_date" in columns else "age"
        self.report(no_birth, birth_column, "a date of birth is required (or an age)", "")
        if "member_key" in columns:
            self.report_duplicates(
                valid & ~self.blank("member_key"), "member_key", "this member id is also on row {}"
            )

        # Subscribers and their keys: the employee id, else the SSN, else name and birth date.
        has_id = is_subscriber & ~self.blank("employee_id")
        own_ssn, issued = self.own_ssns()
        by_ssn = is_subscriber & ~has_id & issued
        by_name = is_subscriber & ~has_id & ~by_ssn
        named = ~self.blank("first_name") & ~self.blank("last_name")
        born = ~pd.isna(self.col("birth_date"))
        keyless = by_name & named & ~born & ~no_birth & ~self.unreadable_mask("birth_date")
        self.report(
            keyless,
            birth_column,
            "an employee without an employee id or SSN is matched by name and date of birth; "
            "expected a date of birth (or the employee id or SSN)",
            "",
        )
        if has_id.any():
            for keyed, how in ((by_ssn, "SSN"), (by_name & named & born, "name and date of birth")):
                self.report(
                    keyed,
                    "employee_id",
                    f"no employee id: the employee is matched by {how}",
                    "",
                    warning=True,
                )

        # One row per employee: an exact repeat is read once; another row with the key, refused.
        repeat_of: dict[int, int] = {}  # an exact repeat -> the row it repeats
        refused = np.zeros(n, dtype=bool)
        employee_id = self.col("employee_id")
        for i, first in self.repeats(has_id, employee_id):
            if self.same_row(i, first):
                repeat_of[i] = first
            else:
                refused[i] = True
                self.row_error(
                    i,
                    "employee_id",
                    f"this employee id is also on row {row_no[first]}; expected one row per "
                    "employee",
                )
        kept = is_subscriber & ~refused
        kept[list(repeat_of)] = False
        self.check_other_keys(kept, own_ssn, issued, has_id, by_name & named & born, repeat_of)
        for i, first in repeat_of.items():
            self.row_warning(
                i, None, f"this row repeats row {row_no[first]} exactly; it was read once"
            )
        no_last_day = kept & is_term & pd.isna(last_day)
        no_last_day &= ~self.unreadable_mask("termination_date", "effective_date")
        self.report(kept & self.blank("last_name"), "last_name", "a last name is required", "")
        if "termination_date" in columns:
            self.report(
                no_last_day,
                "termination_date",
                "a termination needs the last day of coverage; expected a termination date",
                "",
            )
        else:
            self.report(
                no_last_day,
                "action",
                "a termination needs the last day of coverage; expected a termination date "
                "(or an effective date)",
            )
        accepted = np.flatnonzero(kept)

        def pick(name: str, default: object = None, values: np.ndarray | None = None) -> list:
            picked = (self.col(name) if values is None else values)[accepted]
            if default is not None:
                # Assigned, not np.where: np.where would turn an enum default into a plain str.
                picked[pd.isna(picked)] = default
            return picked.tolist()

        members = [
            CensusMember(
                source_row=row,
                employee_id=employee_id,
                first_name=first_name,
                last_name=last_name,
                birth_date=birth_date,
                ssn=ssn,
                gender=gender,
                hire_date=hire_date,
                annual_salary=salary,
                status=status,
                subgroup_code=subgroup,
                class_code=klass,
                postal_code=postal,
                maintenance=act,
                maintenance_date=when,
            )
            for (
                row,
                employee_id,
                first_name,
                last_name,
                birth_date,
                ssn,
                gender,
                hire_date,
                salary,
                status,
                subgroup,
                klass,
                postal,
                act,
                when,
            ) in zip(
                row_no[accepted].tolist(),
                pick("employee_id", ""),
                pick("first_name", ""),
                pick("last_name", ""),
                pick("birth_date"),
                pick("", values=own_ssn),
                pick("gender", Gender.UNKNOWN),
                pick("hire_date"),
                pick("", values=self.salaries(kept)),
                pick("status", MemberStatus.ACTIVE),
                pick("subgroup_code"),
                pick("class_code"),
                pick("postal_code"),
                pick("", values=action),
                pick("", values=maintenance_date),
                strict=True,
            )
        ]
        dependent_to = np.where(
            pd.isna(termination), np.where(is_term, effective, None), termination
        )
        self.dependent_action, self.dependent_action_date = action, maintenance_date
        self.link_dependents(
            is_subscriber, is_dependent, kept, accepted, members, repeat_of, own_ssn,
            start, dependent_to,
        )  # fmt: skip

        end = np.where(is_term, last_day, termination)
        coverages = self.coverages(accepted, members, start, end)
        lines_by_shape: dict[tuple[int, ...], dict[Relationship, frozenset[LineOfCoverage]]] = {}
        for member, listed, last in zip(members, coverages, end[accepted].tolist(), strict=True):
            member.coverages = listed
            if member.dependents:
                # A dependent is on the lines whose tier covers it, and ends with the subscriber.
                # (Members with the same coverages share the objects: one shape per set of ids.)
                shape_key = tuple(map(id, listed))
                lines = lines_by_shape.get(shape_key)
                if lines is None:
                    shape = [(c.line, c.tier) for c in listed if c.tier is not None]
                    lines = lines_by_shape[shape_key] = {
                        relationship: frozenset(line for line, tier in shape if tier in covered)
                        for relationship, covered in _COVERED_BY.items()
                    }
                for dependent in member.dependents:
                    dependent.lines = set(lines[dependent.relationship])
                    if dependent.effective_to is None:
                        dependent.effective_to = last

        self.census.members = members + self.dependents_only_members(start, dependent_to)
        ages = valid & pd.isna(self.col("birth_date")) & ~pd.isna(self.col("age"))
        if ages.any():
            self.census.detail["age_by_row"] = {
                self.row_key(i): self.col("age")[i] for i in np.flatnonzero(ages).tolist()
            }
        if "member_key" in columns:
            keys = valid & ~self.blank("member_key")
            self.census.detail["member_keys"] = {
                self.row_key(i): self.col("member_key")[i] for i in np.flatnonzero(keys).tolist()
            }

    def row_key(self, i: int) -> int | str:
        """Row i's spreadsheet row, or for a wide layout's dependent 'row (group)'."""
        if self.row_group is not None and self.row_group[i] >= 0:
            return f"{self.row_no[i]} ({self.groups[self.row_group[i]].label})"
        return int(self.row_no[i])

    def own_ssns(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's own SSN (the SSN column, else on a subscriber's row the subscriber SSN)
        and whether it is an issued number (only those match a member)."""
        ssn, issued = self.col("ssn"), self.issued("ssn")
        if "subscriber_ssn" not in self.columns:
            return ssn, issued
        fill = pd.isna(ssn) & self.mask("relationship", lambda v: v is None or v == SUBSCRIBER)
        ssn = np.where(fill, self.col("subscriber_ssn"), ssn)
        return ssn, np.where(fill, self.issued("subscriber_ssn"), issued)

    def issued(self, name: str) -> np.ndarray:
        """Rows whose SSN in column `name` was read and is an issued number (not noted)."""
        column = self.columns.get(name)
        if column is None:
            return np.zeros(self.n, dtype=bool)
        return ~pd.isna(column.values) & ~np.isin(column.codes, self.noted.get(name, []))

    def check_other_keys(
        self,
        kept: np.ndarray,
        own_ssn: np.ndarray,
        issued: np.ndarray,
        has_id: np.ndarray,
        by_name: np.ndarray,
        repeat_of: dict[int, int],
    ) -> None:
        """Among the employee rows kept: the same SSN twice (an error when one of them has no
        employee id, so is matched by it; else a warning), the same name and birth date twice
        with neither id nor SSN, and the same family id twice. An exact repeat is read once."""
        row_no = self.row_no

        def repeats(rows: np.ndarray, values: np.ndarray) -> list[tuple[int, int]]:
            found = []
            for i, first in self.repeats(rows & kept, values):
                if self.same_row(i, first):
                    repeat_of[i] = first
                    kept[i] = False
                else:
                    found.append((i, first))
            return found

        ssn_column = "ssn" if "ssn" in self.columns else "subscriber_ssn"
        for i, first in repeats(issued, own_ssn):
            shown = _mask(own_ssn[i])
            if has_id[i] and has_id[first]:
                self.row_warning(
                    i,
                    ssn_column,
                    f"the same SSN is on the employee row {row_no[first]}; expected each "
                    "employee's own SSN",
                    shown,
                )
            else:
                self.row_error(
                    i,
                    ssn_column,
                    f"the same SSN is on the employee row {row_no[first]}, and an employee "
                    "without an employee id is matched by SSN; expected each employee's own SSN",
                    shown,
                )
        if by_name.any():
            names = pd.Series(
                list(
                    zip(
                        self.col("first_name"),
                        self.col("last_name"),
                        self.col("birth_date"),
                        strict=True,
                    )
                )  # fmt: skip
            ).to_numpy()
            for i, first in repeats(by_name, names):
                self.row_error(
                    i,
                    "first_name",
                    f"the same name and date of birth are on the employee row {row_no[first]}, "
                    "and neither row has an employee id or SSN to tell them apart; expected one "
                    "row per employee",
                )
        if "family_id" in self.columns:
            for i, first in repeats(~self.blank("family_id"), self.col("family_id")):
                self.row_error(
                    i,
                    "family_id",
                    f"this family id is also on the employee row {row_no[first]}; expected one "
                    "employee row per family",
                )

    def repeats(self, rows: np.ndarray, values: np.ndarray) -> list[tuple[int, int]]:
        """(row, first row) for each row of mask `rows` whose value an earlier one has."""
        index = np.flatnonzero(rows)
        if not len(index):
            return []
        series = pd.Series(values[index])
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

    def link_dependents(
        self,
        is_subscriber: np.ndarray,
        is_dependent: np.ndarray,
        kept: np.ndarray,
        accepted: np.ndarray,
        members: list[CensusMember],
        repeat_of: dict[int, int],
        own_ssn: np.ndarray,
        start: np.ndarray,
        dependent_to: np.ndarray,
    ) -> None:
        """Each dependent row under its subscriber: by employee id, else family id, else
        subscriber SSN (wherever the subscriber's row is), else the nearest subscriber row
        above. A dependent with nothing to join is an error; an exact repeat is read once."""
        n = self.n
        dependents = np.flatnonzero(is_dependent)
        target = np.full(len(dependents), -1, dtype=np.int64)
        open_rows = np.ones(len(dependents), dtype=bool)  # no link column said anything yet
        links = (
            ("employee_id", self.col("employee_id"), "employee id"),
            ("family_id", self.col("family_id"), "family id"),
            ("subscriber_ssn", self.col("subscriber_ssn"), "subscriber SSN"),
        )
        for name, values, said in links:
            if name not in self.columns:
                continue
            if name == "subscriber_ssn":
                keys = own_ssn
            else:
                keys = values
            holders = kept & ~pd.isna(keys)
            holder_rows = np.flatnonzero(holders)
            index = pd.Index(keys[holder_rows])
            unique = ~index.duplicated(keep="first")
            index, holder_rows = index[unique], holder_rows[unique]
            asking = open_rows & ~pd.isna(values[dependents])
            if not asking.any():
                continue
            found = index.get_indexer(values[dependents[asking]])
            at = np.flatnonzero(asking)
            target[at[found >= 0]] = holder_rows[found[found >= 0]]
            open_rows[at] = False
            unlinked = dependents[at[found < 0]].tolist()
            if name == "employee_id" and self.is_change:
                # A change file may send only the dependent (a new baby, a spouse ending): it
                # is maintenance under the enrolled employee with that id, whom the diff
                # checks against enrollment (dependents_only_members).
                for i in unlinked:
                    self.unlinked_dependents.setdefault(values[i], []).append(i)
                unlinked = []
            for i in unlinked:
                shown = _mask(values[i]) if name == "subscriber_ssn" else None
                self.row_error(
                    i,
                    name,
                    f"no employee row in the file has this {said}; expected the employee's own "
                    "row (relationship EE) in the same file",
                    shown,
                )
        # Row order: the nearest subscriber row above (an exact repeat stands for its first).
        above = np.maximum.accumulate(np.where(is_subscriber, np.arange(n), -1))
        by_order = above[dependents[open_rows]]
        if repeat_of:
            by_order = np.array([repeat_of.get(r, r) for r in by_order.tolist()], dtype=np.int64)
        orphans = dependents[open_rows][by_order < 0]
        for i in orphans.tolist():
            group = -1 if self.row_group is None else int(self.row_group[i])
            own = group < 0 or "relationship" in self.groups[group].columns
            self.row_error(
                i,
                "relationship" if own else "first_name",
                "a dependent row needs its employee's id, family id or SSN, or must come under "
                "its employee's row; no employee row is above it",
            )
        target[open_rows] = by_order
        # A refused employee row (its error says why) takes no dependents.
        target[(target >= 0) & ~kept[np.maximum(target, 0)]] = -1

        placed = np.flatnonzero(target >= 0)
        rows, targets = dependents[placed], target[placed]
        drop = self.repeated_dependents(rows, targets)
        if drop:
            keep = ~np.isin(rows, list(drop))
            rows, targets = rows[keep], targets[keep]
        member_of = np.full(n, -1, dtype=np.int64)
        member_of[accepted] = np.arange(len(accepted))
        starts = start[rows]
        if self.row_group is not None:  # a wide row's dependents start with the family's row
            from_family = pd.isna(starts) & (self.row_group[rows] >= 0)
            starts[from_family] = start[targets[from_family]]

        def cells(name: str) -> list:
            return self.col(name)[rows].tolist()

        for subscriber, row, first, last, born, relationship, gender, ssn, since, until in zip(
            [members[m] for m in member_of[targets].tolist()],
            self.row_no[rows].tolist(),
            cells("first_name"),
            cells("last_name"),
            cells("birth_date"),
            cells("relationship"),
            cells("gender"),
            cells("ssn"),
            starts.tolist(),
            dependent_to[rows].tolist(),
            strict=True,
        ):
            subscriber.dependents.append(
                CensusDependent(
                    source_row=row,
                    first_name=first or "",
                    last_name=last or subscriber.last_name,
                    birth_date=born,
                    relationship=relationship,
                    gender=gender or Gender.UNKNOWN,
                    ssn=ssn,
                    effective_from=since,
                    effective_to=until,
                )
            )

    def dependents_only_members(
        self, start: np.ndarray, dependent_to: np.ndarray
    ) -> list[CensusMember]:
        """Per employee id named only by dependent rows of a change file: a row that carries
        those dependents' own maintenance (add, change, term) for the enrolled employee."""
        found = []
        for employee_id, rows in self.unlinked_dependents.items():
            member = CensusMember(
                source_row=int(self.row_no[rows[0]]),
                employee_id=str(employee_id),
                first_name="",
                last_name="",
                birth_date=None,
                dependents_only=True,
            )
            for i in rows:
                action = self.dependent_action[i]
                member.dependents.append(
                    CensusDependent(
                        source_row=int(self.row_no[i]),
                        first_name=self.col("first_name")[i] or "",
                        last_name=self.col("last_name")[i] or "",
                        birth_date=self.col("birth_date")[i],
                        relationship=self.col("relationship")[i],
                        gender=self.col("gender")[i] or Gender.UNKNOWN,
                        ssn=self.col("ssn")[i],
                        effective_from=start[i] if not pd.isna(start[i]) else None,
                        effective_to=dependent_to[i],
                        maintenance=None if pd.isna(action) else action,
                        maintenance_date=self.dependent_action_date[i],
                    )
                )
            found.append(member)
        return found

    def repeated_dependents(self, rows: np.ndarray, targets: np.ndarray) -> set[int]:
        """Dependent rows naming a person (first name, birth date, relationship) already under
        the same employee: an exact repeat is read once (a warning), another is an error."""
        if not len(rows):
            return set()

        def codes(name: str) -> np.ndarray:
            column = self.columns.get(name)
            return column.codes[rows] if column is not None else np.zeros(len(rows), np.int64)

        frame = pd.DataFrame(
            {
                "employee": targets,
                "first": codes("first_name"),
                "last": codes("last_name"),
                "born": codes("birth_date"),
                "relationship": codes("relationship"),
            }
        )
        again = frame.duplicated(keep="first").to_numpy()
        if not again.any():
            return set()
        first_seen: dict[tuple, int] = {}
        for i, key in zip(
            rows[~again].tolist(), frame[~again].itertuples(index=False), strict=True
        ):
            first_seen.setdefault(tuple(key), i)
        drop: set[int] = set()
        for i, key in zip(rows[again].tolist(), frame[again].itertuples(index=False), strict=True):
            first = first_seen[tuple(key)]
            drop.add(i)
            if self.same_row(i, first):
                self.row_warning(
                    i, None, f"this row repeats row {self.row_no[first]} exactly; it was read once"
                )
            else:
                self.row_error(
                    i,
                    "first_name",
                    f"the same dependent (name and date of birth) is on row {self.row_no[first]} "
                    "with other values; expected one row per person",
                )
        return drop

    def report_duplicates(
        self, rows: np.ndarray, name: str, message: str, *, masked: bool = False
    ) -> np.ndarray:
        """Rows (of mask `rows`) repeating a value of `name` seen on an earlier row; each is
        reported with the first row's number. Returns the mask of repeats."""
        index = np.flatnonzero(rows)
        values = pd.Series(self.col(name)[index])
        repeat = values.duplicated(keep="first").to_numpy()
        result = np.zeros(self.n, dtype=bool)
        if repeat.any():
            first = dict(zip(values[~repeat].tolist(), index[~repeat].tolist(), strict=True))
            for i, value in zip(index[repeat].tolist(), values[repeat].tolist(), strict=True):
                shown = _mask(value) if masked else None
                self.row_error(i, name, message.format(self.row_no[first[value]]), shown)
            result[index[repeat]] = True
        return result

    def salaries(self, rows: np.ndarray) -> np.ndarray:
        """Annual salary per row: the annual column, else pay rate x pay periods a year, else
        (hourly pay) rate x hours a week x 52; Decimal dollars rounded half-up to the cent."""
        annual = self.col("annual_salary")
        if "pay_rate" not in self.columns and "hourly_rate" not in self.columns:
            return annual
        result = annual.copy()
        pay_rate, frequency = self.col("pay_rate"), self.col("pay_frequency")
        hourly, hours = self.col("hourly_rate"), self.col("hours_per_week")
        wanted = rows & pd.isna(annual) & ~(pd.isna(pay_rate) & pd.isna(hourly))
        for i in np.flatnonzero(wanted).tolist():
            rate, periods, weekly = pay_rate[i], frequency[i], hours[i]
            if rate is not None and periods is None:
                if not self.bad(i, "pay_frequency"):
                    self.row_error(i, "pay_frequency", "a pay rate needs its pay frequency", "")
            elif rate is not None and periods:
                result[i] = cents(rate * periods)
            elif weekly is None:  # an hourly pay rate, or an hourly rate column
                if not self.bad(i, "hours_per_week"):
                    self.row_error(i, "hours_per_week", "an hourly rate needs hours per week", "")
            else:
                result[i] = cents((rate if rate is not None else hourly[i]) * weekly * 52)
        return result

    def row_tiers(self) -> np.ndarray:
        """The row's tier: the tier column, else spouse Y/N plus child count (and a row error
        where both are given and disagree)."""
        tier = self.col("tier")
        if "spouse" not in self.columns and "child_count" not in self.columns:
            return tier
        partner = self.mask("spouse", lambda v: v is True)
        child = self.mask("child_count", lambda v: bool(v))
        stated = ~pd.isna(self.col("spouse")) | ~pd.isna(self.col("child_count"))
        derived = np.array([Tier.EE, Tier.EC, Tier.ES, Tier.FAM], dtype=object)[partner * 2 + child]
        is_tier = self.mask("tier", lambda v: isinstance(v, Tier))
        for i in np.flatnonzero(stated & is_tier & (tier != derived)).tolist():
            self.row_error(
                i,
                "tier",
                f"the coverage level says {tier[i].value} but spouse/children say "
                f"{derived[i].value}; expected them to agree",
            )
        return np.where(stated & pd.isna(tier), derived, tier)

    def coverages(
        self,
        accepted: np.ndarray,
        members: list[CensusMember],
        start: np.ndarray,
        end: np.ndarray,
    ) -> list[list[CensusCoverage]]:
        """Each accepted subscriber's coverages, line by line (see the module docstring for the
        tier rules)."""
        columns = self.columns
        result: list[list[CensusCoverage]] = [[] for _ in members]
        starts, ends = start[accepted], end[accepted]
        bare = self.row_tiers()[accepted]
        tier_stated = any(
            name in columns
            for name in ("tier", "spouse", "child_count", *(t for _, _, t in TIERED_LINES))
        )
        fallback_column = next(
            (name for name in ("tier", "spouse", "child_count") if name in columns), "tier"
        )
        derive = "relationship" in columns and not tier_stated

        line_columns = [
            (line, plan, tier)
            for line, plan, tier in TIERED_LINES
            if plan in columns or tier in columns
        ]
        if line_columns:
            elections = []
            for line, plan_name, tier_name in line_columns:
                plan, own = self.col(plan_name)[accepted], self.col(tier_name)[accepted]
                waived = (
                    self.mask(plan_name, lambda v: v is WAIVE)
                    | self.mask(tier_name, lambda v: v is WAIVE)
                )[accepted]
                elected = ~waived & ~(pd.isna(plan) & pd.isna(own))
                tier = np.where(pd.isna(own), bare, own)
                column = tier_name if tier_name in columns else fallback_column
                elections.append((line, elected, plan, tier, column))
        else:
            elected = np.fromiter((isinstance(t, Tier) for t in bare), bool, len(bare))
            none = np.full(len(bare), None, dtype=object)
            elections = [(line, elected, none, bare, "tier") for line in self.tier_lines]

        def add(line, rows, plans=None, tiers=None, volumes=None) -> None:
            """Coverages of `line` for the members at positions `rows` (an index array). One
            object per distinct set of values, shared by the members who have it: a 100,000-row
            file has a few hundred, not 600,000 (and the diff checks each once). The field
            order of the positional arguments is checked at import."""
            count = len(rows)
            made: dict[tuple, CensusCoverage] = {}
            for j, values in zip(
                rows.tolist(),
                zip(
                    repeat(None, count) if plans is None else plans[rows].tolist(),
                    repeat(None, count) if tiers is None else tiers[rows].tolist(),
                    repeat(None, count) if volumes is None else volumes[rows].tolist(),
                    starts[rows].tolist(),
                    ends[rows].tolist(),
                    strict=True,
                ),
                strict=True,
            ):
                coverage = made.get(values)
                if coverage is None:
                    coverage = made[values] = CensusCoverage(line, *values)
                result[j].append(coverage)

        for line, elected, plan, tier, column in elections:
            rows = np.flatnonzero(elected)
            tier = tier.copy()
            for j in rows[[not isinstance(t, Tier) for t in tier[rows].tolist()]].tolist():
                tier[j] = self.missing_tier(members[j], accepted[j], line, tier[j], column, derive)
            add(line, rows, plans=plan, tiers=tier)
        for name, line in FLAG_LINES.items():
            if name in columns:
                add(line, np.flatnonzero(self.mask(name, lambda v: v is True)[accepted]))
        if "life_volume" in columns:
            volumes = self.col("life_volume")[accepted]
            elected = np.flatnonzero(self.mask("life_volume", bool)[accepted])
            add(LineOfCoverage.SUPPLEMENTAL_LIFE, elected, volumes=volumes)
        return result

    def missing_tier(
        self,
        member: CensusMember,
        i: int,
        line: LineOfCoverage,
        stated: object,
        column: str,
        derive: bool,
    ) -> Tier | None:
        """An elected line without a tier: derived from the dependent rows when the file states
        no tier anywhere (snapshot rows and adds only), else a row error."""
        if derive:
            if not self.is_change or member.maintenance in (Maintenance.ADD, Maintenance.REINSTATE):
                return _family_tier(member)
            return None
        if self.bad(i, column, "tier", "spouse", "child_count"):
            return None
        if column in self.columns:
            said = "says Waive" if stated is WAIVE else "is blank"
            self.row_error(
                i,
                column,
                f"{line.label} is elected but its coverage level {said}; expected EE, ES, EC "
                "or FAM",
                None if stated is WAIVE else "",
            )
        return None


_COVERED_BY = {
    Relationship.SPOUSE: {Tier.ES, Tier.FAM},
    Relationship.DOMESTIC_PARTNER: {Tier.ES, Tier.FAM},
    Relationship.CHILD: {Tier.EC, Tier.FAM},
}


def _tier_of(partner: bool, child: bool) -> Tier:
    if partner and child:
        return Tier.FAM
    if partner:
        return Tier.ES
    if child:
        return Tier.EC
    return Tier.EE


def _family_tier(member: CensusMember) -> Tier:
    """The tier the dependents listed under a subscriber imply."""
    partner = any(d.relationship is not Relationship.CHILD for d in member.dependents)
    child = any(d.relationship is Relationship.CHILD for d in member.dependents)
    return _tier_of(partner, child)


def _mask(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return mask_ssn(digits[-4:]) if len(digits) >= 4 else text
