"""CSV and XLSX census and change files: `read_tabular` turns one into the normalised
`CensusFile` of census.rows. The package, in the order a read goes:

* `files`: bytes to a grid of cells, and the checks a file must pass before anything reads it
  (size, type, encoding, zip bombs);
* `sheet`: the state of one read and how its problems are recorded;
* `header`: the header row and the column mapping (`vocabulary`: the fields, the header texts
  that name them and the words cells use; `wide`: one-row-per-family layouts);
* `columns`: each column parsed once per distinct cell (`values`: the cell parsers);
* `subscribers`, `families`, `coverages`: the members, their dependents, their lines.

The vocabulary's public names (`FIELDS`, `ALTERNATIVES`, `suggest_mapping`, `missing_fields`)
are importable from here: the column-mapping page uses them with the reader.

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
* Dates: see `values`. Day and month: month first unless the first number cannot be a month
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

from collections.abc import Iterable
from datetime import date

from billing_core.census.rows import CensusFile, collector_paused
from billing_core.census.tabular.columns import read_columns
from billing_core.census.tabular.files import MAX_BYTES, cell_text, load_grid
from billing_core.census.tabular.header import check_mapping, check_ragged, find_header
from billing_core.census.tabular.sheet import Sheet
from billing_core.census.tabular.subscribers import read_members
from billing_core.census.tabular.vocabulary import (
    ALTERNATIVES,
    FIELDS,
    CensusField,
    header_key,
    missing_fields,
    suggest_mapping,
)
from billing_core.errors import CensusFileUnreadable, RowError
from billing_core.models.enums import LineOfCoverage, UploadFormat, UploadKind

__all__ = [
    "ALTERNATIVES",
    "FIELDS",
    "MAX_BYTES",
    "CensusField",
    "header_key",
    "missing_fields",
    "read_tabular",
    "row_limit_message",
    "suggest_mapping",
]


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
            grid = load_grid(data, file_format, max_bytes)
        except CensusFileUnreadable as problem:
            census.errors.append(RowError(None, None, str(problem), source))
            return census
        census.file_format = grid.file_format
        census.detail.update(grid.detail)
        if max_rows is not None and grid.rows is not None:
            rows = sum(1 for row in grid.rows if any(cell_text(cell).strip() for cell in row))
            if rows - 1 > max_rows:
                census.errors.append(
                    RowError(None, None, row_limit_message(source, rows - 1, max_rows), source)
                )
                return census
        read_sheet(Sheet(census, grid, mapping, on, max(on, today), tuple(tier_lines)))
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


def read_sheet(sheet: Sheet) -> None:
    """The stages of one read in order: the header and its mapping, the columns, then the
    members; the problems found, sorted by row, column and dependent group, handed to the
    census."""
    found = find_header(sheet)
    if found is None:
        if not sheet.seen_anything:
            sheet.file_error("the file is empty; expected a header row and one row per person")
        elif sheet.given_mapping is not None:
            sheet.file_error(
                "no row of the file has the column headers of the mapping given; expected "
                "the header row the mapping was made from"
            )
        else:
            sheet.file_error(
                "no header row: the first row should name the columns (e.g. Employee ID, "
                "First Name, Last Name, Date of Birth, Relationship, Coverage Tier)"
            )
        return
    position, headers, mapping, labels = found
    sheet.first_data_row = position + 2 + labels
    sheet.census.detail["header_row"] = position + 1
    if labels:
        sheet.census.detail["label_rows"] = list(range(position + 2, position + 2 + labels))
    sheet.census.detail["headers"] = [header for header in headers if header]
    if not check_mapping(sheet, headers, mapping):
        return
    start = position + 1 + labels
    read_columns(sheet, start, max(sheet.grid.height - start, 0))
    if not sheet.n or sheet.all_blank.all():
        sheet.file_error(
            "the file has a header row but no member rows; expected one row per person"
        )
        return
    check_ragged(sheet, start, len(headers))
    read_members(sheet)
    for found_list, target in ((sheet.errors, sheet.census.errors),
                               (sheet.warnings, sheet.census.warnings)):  # fmt: skip
        found_list.sort(key=lambda item: item[:3])
        target.extend(problem for *_, problem in found_list)
