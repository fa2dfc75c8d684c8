"""One entry point for every census file: an X12 834 by its content (an ISA envelope), else
CSV or XLSX through the tabular reader. Before either reads a byte of it, a file of more rows
than the limit (CENSUS_MAX_ROWS) is refused from a cheap count (`count_rows`)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

from billing_core.census.rows import CensusFile
from billing_core.census.tabular import read_tabular, row_limit_message
from billing_core.census.x12 import read_834
from billing_core.errors import RowError
from billing_core.models.enums import UploadFormat, UploadKind

_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"[A-Z]*\d*:?[A-Z]*(\d+)\"")
_SHEET_PART = re.compile(r"xl/worksheets/sheet\d+\.xml")
SHEETS_LOOKED_AT = 50


def looks_like_834(data: bytes) -> bool:
    """An interchange starts with ISA (after an optional byte-order mark and white space)."""
    head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    return head[:3].upper() == b"ISA"


def count_rows(data: bytes) -> int | None:
    """How many rows a file holds, counted without reading it (milliseconds for 50 MB): an
    834's members (INS segments); a CSV's non-blank lines after the header (an upper bound: a
    quoted cell may span lines); an XLSX's rows after the header by the largest sheet's
    recorded dimension. None when it cannot be told cheaply (an XLSX without dimensions)."""
    if looks_like_834(data):
        return _834_members(data)
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _xlsx_rows(data)
    lines = sum(1 for line in data.splitlines() if line.strip())
    return max(lines - 1, 0)


def _834_members(data: bytes) -> int:
    """INS segments: one per member (subscriber or dependent). The element separator is the
    character after ISA; an INS that follows a letter, a digit, a space or that separator is
    inside a value, not a segment of its own."""
    head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    separator = re.escape(head[3:4] or b"*")
    segment = re.compile(rb"(?<![A-Za-z0-9 " + separator + rb"])INS" + separator)
    return len(segment.findall(data))


def _xlsx_rows(data: bytes) -> int | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        return None  # the reader says what is wrong with it
    heights = []
    with archive:
        parts = [i for i in archive.infolist() if _SHEET_PART.fullmatch(i.filename)]
        for info in parts[:SHEETS_LOOKED_AT]:
            try:
                with archive.open(info) as part:
                    head = part.read(4096)  # the dimension comes before any cell
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError):
                return None
            found = _DIMENSION.search(head)
            if found is None:
                return None
            heights.append(int(found.group(1)))
    return max(heights) - 1 if heights else None


def too_many_rows(data: bytes, source: str, max_rows: int) -> str | None:
    """The refusal of a file of more rows than `max_rows` (in words naming the limit), or
    None. Counted cheaply (`count_rows`); the tabular reader counts an XLSX it could not."""
    rows = count_rows(data)
    if rows is None or rows <= max_rows:
        return None
    if looks_like_834(data):
        return (
            f"{source} lists {rows:,} members; the portal reads at most {max_rows:,} members "
            "per file. Send the enrollment in several files, or a change file with only what "
            "changed."
        )
    return row_limit_message(source, rows, max_rows)


def read_census(
    data: bytes,
    source: str,
    *,
    kind: UploadKind | None = None,
    mapping: dict[str, str | None] | None = None,
    as_of: date | None = None,
    max_rows: int | None = None,
) -> CensusFile:
    """Read `data` (named `source` in every message) into the normalised census. An 834 says
    its own kind (BGN08); for CSV/XLSX `kind` is the user's choice, or None for a guess. With
    `max_rows`, a file of more rows (members, for an 834) is refused unread: one file-level
    error naming the limit."""
    if max_rows is not None and (refused := too_many_rows(data, source, max_rows)):
        census = CensusFile(
            source=source,
            file_format=UploadFormat.X12_834 if looks_like_834(data) else UploadFormat.CSV,
            kind=kind,
            as_of=as_of,
        )
        if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            census.file_format = UploadFormat.XLSX
        census.errors.append(RowError(None, None, refused, source))
        return census
    if looks_like_834(data):
        return read_834(data, source)
    return read_tabular(data, source, kind=kind, mapping=mapping, as_of=as_of, max_rows=max_rows)
