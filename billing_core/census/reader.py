"""One entry point for every census file: an X12 834 by its content (an ISA envelope), else
CSV or XLSX through the tabular reader."""

from __future__ import annotations

from datetime import date

from billing_core.census.rows import CensusFile
from billing_core.census.tabular import read_tabular
from billing_core.census.x12 import read_834
from billing_core.models.enums import UploadKind


def looks_like_834(data: bytes) -> bool:
    """An interchange starts with ISA (after an optional byte-order mark and white space)."""
    head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    return head[:3].upper() == b"ISA"


def read_census(
    data: bytes,
    source: str,
    *,
    kind: UploadKind | None = None,
    mapping: dict[str, str | None] | None = None,
    as_of: date | None = None,
) -> CensusFile:
    """Read `data` (named `source` in every message) into the normalised census. An 834 says
    its own kind (BGN08); for CSV/XLSX `kind` is the user's choice, or None for a guess."""
    if looks_like_834(data):
        return read_834(data, source)
    return read_tabular(data, source, kind=kind, mapping=mapping, as_of=as_of)
