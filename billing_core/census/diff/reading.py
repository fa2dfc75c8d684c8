"""How a file's rows are read before they are compared: the kind the file is read as
(`settle_kind`: the file or the sender says, else the portal guesses) and a change file's rows
naming one employee several times read in order as one (`merge_repeats`)."""

from __future__ import annotations

from dataclasses import replace

from billing_core.census.diff.results import CensusDiff
from billing_core.census.rows import CensusCoverage, CensusFile, CensusMember
from billing_core.errors import RowError
from billing_core.models.enums import LineOfCoverage, UploadKind


def settle_kind(census: CensusFile, enrolled_employees: int) -> tuple[UploadKind, bool]:
    """The kind the file is read as, and whether the portal guessed it. The file (an 834's
    BGN08, a change file's action column) or the sender decides; otherwise a file listing
    fewer than half of the group's employees is a change file (a new-hire file read as a
    full census would end everyone else's coverage), else a full census. The guess is kept
    on the census (`kind_guess`) for the upload to keep."""
    if census.kind is not None:
        return census.kind, False
    if census.kind_guess is UploadKind.CHANGE:
        return UploadKind.CHANGE, True
    if enrolled_employees and len(census.rows) * 2 < enrolled_employees:
        census.kind_guess = UploadKind.CHANGE
        return UploadKind.CHANGE, True
    census.kind_guess = UploadKind.SNAPSHOT
    return UploadKind.SNAPSHOT, True


def merge_repeats(census: CensusFile, result: CensusDiff) -> list[CensusMember]:
    """A change file naming one employee in several rows (an 834 with one loop per line, or
    an add, a term and the add again) is read in order as one row: each line as its last row
    says, every dependent row, the member's fields and maintenance from the last row. Said
    once per employee as a warning."""
    by_key: dict[str, list[CensusMember]] = {}
    for row in census.members:
        if row.employee_id:
            by_key.setdefault(row.employee_id, []).append(row)
    merged: dict[str, CensusMember] = {}
    for key, repeats in by_key.items():
        if len(repeats) < 2:
            continue
        lines: dict[LineOfCoverage, CensusCoverage] = {}
        for row in repeats:
            for coverage in row.coverages:
                lines[coverage.line] = coverage
        last = repeats[-1]
        whole_rows = [r for r in repeats if not r.dependents_only]
        base = whole_rows[-1] if whole_rows else last
        merged[key] = replace(
            base,
            coverages=list(lines.values()),
            dependents=[d for r in repeats for d in r.dependents],
            dependents_only=not whole_rows,
            maintenance=base.maintenance,
            maintenance_date=base.maintenance_date,
        )
        places = ", ".join(str(r.source_row) for r in repeats)
        result.warnings.append(
            RowError(
                last.source_row,
                "employee_id",
                f"this employee appears {len(repeats)} times ({places}): read in order as one "
                "change, each line as its last mention says",
                census.source,
                key,
            )
        )
    rows, done = [], set()
    for row in census.members:
        key = row.employee_id
        if key in merged:
            if key not in done:
                rows.append(merged[key])
                done.add(key)
            continue
        rows.append(row)
    return rows
