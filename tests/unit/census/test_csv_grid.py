"""A census CSV's cells read by Arrow's parser (`census.tabular.files._arrow_columns`) are the
cells pandas' parser reads, for every CSV the project keeps (the intake corpus, the real
senders' files) and for generated text full of what breaks parsers (quotes, doubled quotes,
delimiters and line breaks inside quotes, CRLF, blanks, accents, rows of other widths); a file
Arrow would read otherwise is left to pandas. And a column's codes (`Grid.factorized`) are
pandas.factorize's of its cells below the header."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_core.census.tabular import files
from billing_core.census.tabular.files import Grid, _arrow_columns, _pandas_grid, load_grid

TESTS = Path(__file__).resolve().parents[2]
REAL = Path(__file__).resolve().parents[4] / "shared" / "real-files" / "census"
if not REAL.is_dir():  # the working tree may sit elsewhere: the machine's shared folder
    REAL = Path("/work/shared/real-files/census")
KEPT = sorted((TESTS / "data").rglob("*.csv")) + sorted(REAL.glob("*.csv"))


def _cells(grid: Grid) -> list[list]:
    """The cells as the reader sees them (files.cell_text): a blank line is a row of NaN to
    pandas and of empty texts to Arrow, blank either way."""
    return [[files.cell_text(cell) for cell in row] for row in grid.head(grid.height)]


def _both(data: bytes) -> tuple[Grid | None, Grid]:
    """The grid Arrow reads (None where it leaves the file to pandas) and pandas' grid."""
    text, _ = files._decode(data)
    sample = text[:65536]
    delimiter = files._sniff_delimiter(sample)
    encoded = text.encode("utf-8")
    columns = _arrow_columns(encoded, delimiter, sample)
    arrow = None if columns is None else Grid(files.UploadFormat.CSV, {}, encoded=columns)
    return arrow, _pandas_grid(encoded, text, delimiter, {})


@pytest.mark.parametrize("path", KEPT, ids=lambda path: path.name)
def test_every_kept_csv_reads_the_same_cells(path):
    arrow, pandas = _both(path.read_bytes())
    if arrow is not None:
        assert _cells(arrow) == _cells(pandas)


def test_most_kept_csvs_are_read_by_arrow():
    """The fast read is the usual one: a kept file it leaves to pandas has rows of other
    widths (a title row, a blank line, a ragged export)."""
    read = [path.name for path in KEPT if _both(path.read_bytes())[0] is not None]
    assert len(KEPT) >= 20 and len(read) >= len(KEPT) // 2, read


def test_a_large_census_is_read_by_arrow_and_its_codes_are_pandas_factorize():
    lines = ["Employee ID,First Name,Last Name,DOB,Tier"]
    lines += [
        f'E{i % 700},Ann{i % 13},"Lee, {i % 5}",1980-01-{1 + i % 28:02d},EE' for i in range(3000)
    ]
    lines.insert(1, "Employee ID,,Last Name,,")  # a header cell below the header: ordered below
    data = ("\r\n".join(lines) + "\r\n").encode()
    grid = load_grid(data, None, files.MAX_BYTES)
    assert grid.encoded is not None and grid.height == 3002
    for index in range(5):
        for start in (0, 1, 2):
            codes, uniques = grid.factorized(index, start)
            expected_codes, expected_uniques = pd.factorize(grid.column(index, start))
            assert codes.tolist() == expected_codes.tolist()
            assert uniques.tolist() == list(expected_uniques)
    assert grid.column(2, 2)[0] == "Lee, 0"


_CELL = st.text(
    alphabet=st.sampled_from(list('ab ,;"\r\n\tZé0-') + ["\u00e9", "\u4e2d"]), max_size=6
)


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


@st.composite
def _csv(draw) -> bytes:
    width = draw(st.integers(min_value=1, max_value=4))
    rows = draw(st.lists(st.lists(_CELL, min_size=1, max_size=5), min_size=1, max_size=6))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    out = []
    for row in rows:
        if draw(st.booleans()):  # most rows as wide as the first
            row = (row + [""] * width)[:width]
        cells = []
        for cell in row:
            plain = not any(ch in cell for ch in f'"{delimiter}\r\n') and draw(st.booleans())
            cells.append(cell if plain else _quoted(cell))
        out.append(delimiter.join(cells))
    trailing = draw(st.sampled_from(["", ending]))
    return (ending.join(out) + trailing).encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_csv())
def test_generated_csvs_read_the_same_cells_or_are_left_to_pandas(data):
    try:
        arrow, pandas = _both(data)
    except files.CensusFileUnreadable:
        return
    if arrow is not None:
        assert _cells(arrow) == _cells(pandas)


def test_a_blank_line_is_a_blank_row_to_both():
    data = b"A,B\n1,2\n\n3,4\n"
    arrow, pandas = _both(data)
    assert arrow is not None
    assert _cells(arrow) == _cells(pandas) == [["A", "B"], ["1", "2"], ["", ""], ["3", "4"]]


def test_rows_of_other_widths_and_single_columns_are_left_to_pandas():
    for text in ("Title\nA,B\n1,2\n", "A,B,C\n1,2\n", "A,B\n1,2,3\n", "A\n1\n"):
        columns = _arrow_columns(text.encode(), ",", text)
        assert columns is None, text
        grid = load_grid(text.encode(), None, files.MAX_BYTES)
        assert grid.encoded is None


def test_an_empty_column_and_quoted_line_breaks_keep_their_cells():
    data = b'A,B,C\r\n1,"two\r\nlines",\r\n2,"say ""hi""",x\r\n'
    grid = load_grid(data, None, files.MAX_BYTES)
    assert grid.encoded is not None
    assert _cells(grid) == [["A", "B", "C"], ["1", "two\r\nlines", ""], ["2", 'say "hi"', "x"]]
    assert np.asarray(grid.column(2, 1)).tolist() == ["", "x"]


def test_pandas_reads_the_same_file_the_same_way():
    """The reference itself: pandas over the same bytes, as _pandas_grid reads them."""
    data = b"A,B\n1,02\n"
    frame = pd.read_csv(io.BytesIO(data), header=None, dtype=object, na_filter=False)
    assert frame.to_numpy().tolist() == _cells(load_grid(data, None, files.MAX_BYTES))
