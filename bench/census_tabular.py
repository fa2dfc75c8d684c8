"""Benchmark: read and normalise a 100,000-row census, as CSV and as XLSX.

Generates (into a temporary directory, never committed) a census of about 45,000 families and
100,000 rows with the headers and shapes of a real HRIS export: `EE ID`, `DOB` as MM/DD/YYYY in
the CSV and as date cells in the XLSX, `$`-less salaries, SSNs with dashes, medical/dental/
vision plan and tier columns, life/STD/LTD flags. The XLSX is written the way Excel writes one
(shared strings, dates as styled serial numbers) by a small writer here, as openpyxl needs a
minute for it. Target: each read takes well under 3 s; the time of python-calamine alone opening
the workbook is shown for comparison. Exit code 0 whatever the result (a benchmark, not a test).

    .venv/bin/python bench/census_tabular.py [--rows N] [--repeat N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import python_calamine
from _census_data import AS_OF, HEADERS, census_rows, write_csv

from billing_core.census.tabular import read_tabular


def _letters(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(65 + remainder) + name
    return name


def write_xlsx(path: Path, rows: list[list]) -> None:
    """A workbook as Excel writes one: shared strings, dates as serials with a date style."""
    strings: dict[str, int] = {}
    letters = [_letters(i) for i in range(len(HEADERS))]
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://'
        'schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    ]
    for number, row in enumerate([HEADERS, *rows], start=1):
        cells = []
        for letter, value in zip(letters, row, strict=True):
            ref = f"{letter}{number}"
            if value == "" or value is None:
                continue
            if isinstance(value, date):
                cells.append(f'<c r="{ref}" s="1"><v>{(value - date(1899, 12, 30)).days}</v></c>')
            elif isinstance(value, int | float):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                index = strings.setdefault(value, len(strings))
                cells.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
        parts.append(f'<row r="{number}">{"".join(cells)}</row>')
    parts.append("</sheetData></worksheet>")
    shared = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    files = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" '
            f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            '<sheet name="Census" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{main}"><fonts count="1"><font><sz val="11"/></font></fonts>'
            '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
            '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId="0"/>'
            '</cellStyleXfs><cellXfs count="2"><xf numFmtId="0" xfId="0"/>'
            '<xf numFmtId="14" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>'
        ),
        "xl/sharedStrings.xml": f'<sst xmlns="{main}" uniqueCount="{len(strings)}">{shared}</sst>',
        "xl/worksheets/sheet1.xml": "".join(parts),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)


def _time(action, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
        del result  # freeing the result is not part of reading
    return times


def _calamine_only(data: bytes) -> None:
    workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the generated files here")
    args = parser.parse_args()

    rows = census_rows(args.rows)
    directory = args.keep or Path(tempfile.mkdtemp(prefix="census-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = directory / "census.csv", directory / "census.xlsx"
    write_csv(csv_path, rows)
    write_xlsx(xlsx_path, rows)
    print(f"{len(rows):,} rows; CSV {csv_path.stat().st_size / 1e6:.1f} MB, "
          f"XLSX {xlsx_path.stat().st_size / 1e6:.1f} MB in {directory}")  # fmt: skip

    for path in (csv_path, xlsx_path):
        data = path.read_bytes()
        census = read_tabular(data, path.name, as_of=AS_OF)
        if census.errors or census.employee_count + census.dependent_count != len(rows):
            print(f"  {path.name}: unexpected result: {census.errors[:3]}")
            return 0
        times = _time(lambda d=data, n=path.name: read_tabular(d, n, as_of=AS_OF), args.repeat)
        verdict = "ok" if min(times) < 3 else "SLOW"
        print(
            f"  {path.suffix[1:].upper():4} read_tabular: best {min(times):.2f} s, median "
            f"{statistics.median(times):.2f} s over {len(times)} runs ({verdict}); "
            f"{census.employee_count:,} employees, {census.dependent_count:,} dependents, "
            f"{sum(len(m.coverages) for m in census.members):,} coverages"
        )
    data = xlsx_path.read_bytes()
    times = _time(lambda: _calamine_only(data), args.repeat)
    print(f"  python-calamine alone (open + to_python): best {min(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
