"""A CSV or XLSX file's bytes to a grid of cells, with the checks a file must pass before
anything reads it: size, type (a PDF, an old .xls, an 834 sent as CSV), encoding, zip bombs and
damaged or encrypted workbooks. Each refusal is a `CensusFileUnreadable` whose message says
what to send instead; `read_tabular` turns it into one file-level error.

Every cell is kept as the file has it, as text (so ids, SSNs and ZIP codes keep their leading
zeros): for a CSV each column's distinct cells and a code per row (Arrow's parser, see
`_arrow_columns`), else pandas' columns of text; python-calamine's rows for an XLSX
(`cell_text` gives the text Excel shows).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime
from datetime import time as time_of_day

import numpy as np
import pandas as pd
import pyarrow as pa
import python_calamine
from pyarrow import csv as arrow_csv

from billing_core.errors import CensusFileUnreadable
from billing_core.models.enums import UploadFormat

MAX_BYTES = 50 * 1024 * 1024
# An XLSX is a zip: its central directory is checked before any XML is inflated. A genuine
# 100,000-row census inflates to about 55 MB at a ratio near 10.
XLSX_MAX_UNCOMPRESSED = 512 * 1024 * 1024
XLSX_MAX_RATIO = 100  # per entry, for entries over XLSX_RATIO_FLOOR bytes
XLSX_RATIO_FLOOR = 1024 * 1024
XLSX_MAX_ENTRIES = 10_000
HEADER_SCAN_ROWS = 20  # a header may sit under a few title rows


class Grid:
    """A file's cells as read. A CSV keeps its columns (no per-row lists): each as its
    distinct cells and a code per row (`encoded`, Arrow's read) or as pandas' column of text
    (`frame`); an XLSX keeps calamine's rows."""

    def __init__(
        self,
        file_format: UploadFormat,
        detail: dict,
        *,
        rows: list[list] | None = None,
        frame: pd.DataFrame | None = None,
        encoded: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ):
        self.file_format = file_format
        self.detail = detail
        self.rows = rows
        self.frame = frame
        self.encoded = encoded
        self.matrix: np.ndarray | None = None
        if encoded is not None:
            self.height = len(encoded[0][0]) if encoded else 0
        else:
            self.height = len(frame) if frame is not None else len(rows or [])

    def head(self, count: int) -> list[list]:
        if self.encoded is not None:
            return [
                [uniques[codes[i]] for codes, uniques in self.encoded]
                for i in range(min(count, self.height))
            ]
        if self.frame is not None:
            return self.frame.iloc[:count].to_numpy(dtype=object).tolist()
        return (self.rows or [])[:count]

    def column(self, index: int, start: int) -> np.ndarray:
        if self.encoded is not None:
            codes, uniques = self.encoded[index]
            return uniques[codes[start:]]
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

    def factorized(self, index: int, start: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The column's cells from row `start` on as `pandas.factorize` gives them (a code
        per row, the distinct cells in the order they first appear), when the read kept the
        column so; else None. Only the cells of those rows: a title or header cell is not
        among them (a parser would judge it, and a plan column of nothing but tiers would
        no longer be one)."""
        if self.encoded is None:
            return None
        codes, uniques = self.encoded[index]
        codes = codes[start:]
        if not len(codes):
            return codes.astype(np.intp), uniques[:0]
        used = np.bincount(codes, minlength=len(uniques)) > 0
        if start and used[self.encoded[index][0][:start]].any():
            # A cell above `start` also below it: the order of first appearance below.
            order = pd.unique(codes)
        else:
            order = np.flatnonzero(used)
            if len(order) and order[-1] - order[0] + 1 == len(order) == len(uniques) - order[0]:
                # The usual column: only the header's cells (the first codes) are unused.
                return codes.astype(np.intp) - order[0], uniques[order[0] :]
        renumbered = np.empty(len(uniques), dtype=np.intp)
        renumbered[order] = np.arange(len(order))
        return renumbered[codes], uniques[order]


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


def load_grid(data: bytes, file_format: UploadFormat | None, max_bytes: int) -> Grid:
    """The cells of a CSV or XLSX file (its content decides which, not its name); raises
    CensusFileUnreadable for a file that is not one, or not one that may be opened."""
    if file_format is UploadFormat.X12_834:
        raise CensusFileUnreadable(
            "this reader takes CSV and XLSX files; an 834 has its own reader"
        )
    if len(data) > max_bytes:
        raise CensusFileUnreadable(
            f"the file is {_size(len(data))}; the limit is {_size(max_bytes)} (split it, or "
            "send a change file instead of a full census)"
        )
    if not data.strip(b" \t\r\n\x00") or data.strip() in (b"\xef\xbb\xbf",):
        raise CensusFileUnreadable(
            "the file is empty; expected a header row and one row per person"
        )
    head = data[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _load_xlsx(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise CensusFileUnreadable(
            "this is an Excel 97-2003 (.xls) workbook or a password-protected file; "
            "save it as an Excel Workbook (.xlsx) without a password, or as CSV"
        )
    for signature, what in _SIGNATURES:
        if what and head.startswith(signature):
            raise CensusFileUnreadable(f"this is {what}, not a census; {_EXPECTED}")
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
        raise CensusFileUnreadable(
            "this looks like an Excel workbook but it is damaged (not a readable zip); "
            "open it in Excel and save it again"
        ) from None
    with archive:
        entries = archive.infolist()
        names = {entry.filename for entry in entries}
        if len(entries) > XLSX_MAX_ENTRIES:
            raise CensusFileUnreadable(
                f"the workbook holds {len(entries):,} parts, more than a census needs "
                f"(at most {XLSX_MAX_ENTRIES:,}); it was refused unopened"
            )
        total = sum(entry.file_size for entry in entries)
        if total > XLSX_MAX_UNCOMPRESSED:
            raise CensusFileUnreadable(
                f"the workbook would expand to {_size(total)}, more than the "
                f"{_size(XLSX_MAX_UNCOMPRESSED)} a census may; it was refused unopened"
            )
        for entry in entries:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size > XLSX_RATIO_FLOOR and ratio > XLSX_MAX_RATIO:
                raise CensusFileUnreadable(
                    f"the workbook part {entry.filename} expands {ratio:,.0f} times (a zip bomb?); "
                    f"a genuine workbook expands at most {XLSX_MAX_RATIO} times; it was refused "
                    "unopened"
                )
            if entry.flag_bits & 0x1:
                raise CensusFileUnreadable("the workbook is encrypted; save it without a password")
    if "xl/workbook.xml" not in names:
        if "word/document.xml" in names:
            what = "a Word document"
        elif any(name.startswith("ppt/") for name in names):
            what = "a PowerPoint presentation"
        elif "content.xml" in names and "mimetype" in names:
            what = "an OpenDocument file (save it as .xlsx or CSV)"
        else:
            what = "a zip archive that is not an Excel workbook"
        raise CensusFileUnreadable(f"this is {what}; {_EXPECTED}")


def _load_xlsx(data: bytes) -> Grid:
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
            return Grid(UploadFormat.XLSX, {"sheet": name}, rows=rows)
    except Exception as exc:  # calamine raises its own types, ValueError and zip errors
        raise CensusFileUnreadable(
            f"the Excel workbook could not be read ({type(exc).__name__}: {str(exc)[:120]}); "
            "open it in Excel and save it again as .xlsx"
        ) from None
    raise CensusFileUnreadable(
        "the workbook is empty (no sheet has rows); expected a header row and one row per person"
    )


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CensusFileUnreadable(
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
            raise CensusFileUnreadable(
                f"the file is UTF-8 text with a byte that is not UTF-8 on line {line} (mixed "
                "encodings); expected a CSV saved once as 'CSV UTF-8 (Comma delimited)'"
            ) from None
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise CensusFileUnreadable(
            "the file is not UTF-8 or Windows-1252 text (wrong encoding, or not a CSV at all); "
            "expected a CSV saved as 'CSV UTF-8 (Comma delimited)'"
        ) from None
    return text, "cp1252"


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _load_csv(data: bytes) -> Grid:
    text, encoding = _decode(data)
    sample = text[:65536]
    if _CONTROL.search(sample):
        raise CensusFileUnreadable(f"this is a binary file, not a census; {_EXPECTED}")
    opening = sample.lstrip()[:200].lower()
    if opening.startswith(("<html", "<!doctype", "<table", "<?xml")):
        raise CensusFileUnreadable(f"this is an HTML or XML document, not a census; {_EXPECTED}")
    if opening.startswith("isa") and ("*" in opening[:10] or "|" in opening[:10]):
        raise CensusFileUnreadable("this is an X12 834 file; upload it as an 834, not as CSV/XLSX")
    delimiter = _sniff_delimiter(sample)
    detail = {"encoding": encoding, "delimiter": delimiter}
    # The decoded text handed over as UTF-8 bytes (the parsers read bytes directly; a
    # StringIO is read through Python and encoded again): the file's own bytes when they
    # are UTF-8 already.
    if encoding == "utf-8":
        encoded = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    else:
        encoded = text.encode("utf-8")
    columns = _arrow_columns(encoded, delimiter, sample)
    if columns is not None:
        return Grid(UploadFormat.CSV, detail, encoded=columns)
    return _pandas_grid(encoded, text, delimiter, detail)


def _pandas_grid(encoded: bytes, text: str, delimiter: str, detail: dict) -> Grid:
    """The CSV read by pandas' parser (rows of different widths padded), or by the csv module
    where pandas refuses it (a row wider than the first, a stray quote)."""
    try:
        # Cells as plain Python strings (object): pandas' own string dtype (dtype=str)
        # checks every cell again after parsing, a fifth of read_csv, for the same texts.
        frame = pd.read_csv(
            io.BytesIO(encoded),
            encoding="utf-8",
            sep=delimiter,
            header=None,
            dtype=object,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        return Grid(UploadFormat.CSV, detail, rows=[])
    except (pd.errors.ParserError, ValueError):
        # Rows with more cells than the first, or a stray quote: the csv module says where.
        return Grid(UploadFormat.CSV, detail, rows=_csv_rows(text, delimiter))
    return Grid(UploadFormat.CSV, detail, frame=frame)


_DISTINCT_TEXTS = pa.dictionary(pa.int32(), pa.string())


def _arrow_columns(
    encoded: bytes, delimiter: str, sample: str
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Each column of a rectangular CSV as its distinct cells (in the order they first
    appear) and a code per row, read by Arrow's parser on every core, each column
    dictionary-encoded as it is parsed: a third of the time of pandas' read_csv and then a
    factorize per column, with the same cells (a blank line is a row of empty texts where
    pandas has NaN: blank to the reader either way; tests/unit/census/test_csv_grid.py).
    None for a file Arrow would read otherwise than pandas, which is then read by pandas
    (or the csv module) as before: rows of different widths (a title row above the
    header), a single column, or anything Arrow refuses."""
    try:
        width = len(next(csv.reader(io.StringIO(sample), delimiter=delimiter), []))
    except csv.Error:
        return None
    if width < 2:
        return None
    names = [str(i) for i in range(width)]
    try:
        table = arrow_csv.read_csv(
            io.BytesIO(encoded),
            read_options=arrow_csv.ReadOptions(column_names=names),
            parse_options=arrow_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=arrow_csv.ConvertOptions(
                column_types=dict.fromkeys(names, _DISTINCT_TEXTS),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    columns = []
    for column in table.itercolumns():
        chunks = column.unify_dictionaries().chunks
        if not chunks:
            columns.append((np.zeros(0, dtype=np.intp), np.zeros(0, dtype=object)))
            continue
        codes = np.concatenate([chunk.indices.to_numpy() for chunk in chunks])
        uniques = chunks[0].dictionary.to_numpy(zero_copy_only=False).astype(object, copy=False)
        columns.append((codes, uniques))
    return columns


def _csv_rows(text: str, delimiter: str) -> list[list]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    rows: list[list] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        raise CensusFileUnreadable(
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


def cell_text(value: object) -> str:
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
