"""Where a sheet's header is and what its columns mean: the header row found under any title
rows (and the label or Required/Optional rows under it skipped), the mapping checked (unknown
fields, required fields missing, a header repeated, two columns naming one field, an employer
application sent as a census) and a wide layout's dependent groups found among the columns
left. Row numbers are the spreadsheet's."""

from __future__ import annotations

from billing_core.census.tabular.files import HEADER_SCAN_ROWS, cell_text
from billing_core.census.tabular.sheet import Sheet, column_letter, listed
from billing_core.census.tabular.vocabulary import (
    EXACT,
    FIELDS,
    describe_missing,
    employer_headers,
    is_label_row,
    match_header,
    missing_fields,
    suggest_mapping,
)
from billing_core.census.tabular.wide import find_groups
from billing_core.errors import RowError
from billing_core.models.enums import UploadFormat

LABEL_ROWS = 2  # second header rows under the header: labels, then Required/Optional


def find_header(sheet: Sheet) -> tuple[int, list[str], dict[str, str | None], int] | None:
    """The first row that names at least three known fields (or, with a mapping given, any
    of its headers) among the first non-blank rows; else the one naming the most. With
    the number of second header rows under it (labels, Required/Optional)."""
    head = sheet.grid.head(HEADER_SCAN_ROWS * 5 + LABEL_ROWS)
    rows = [[cell_text(cell).strip() for cell in row] for row in head]
    best = first = None
    scanned = 0
    found = None
    for position, cells in enumerate(rows[: HEADER_SCAN_ROWS * 5]):
        if not any(cells):
            continue
        scanned += 1
        first = first or cells
        if sheet.given_mapping is not None:
            if any(cell in sheet.given_mapping for cell in cells if cell):
                found = position, cells, dict(sheet.given_mapping)
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
    sheet.seen_anything = scanned > 0
    if found is None and best is not None:
        found = best[1:]
    if found is None:
        if first is not None:  # what a person mapping the columns by hand would start from
            sheet.census.detail["headers"] = [cell for cell in first if cell]
        return None
    position = found[0]
    labels = 0
    while labels < LABEL_ROWS and position + labels + 1 < len(rows):
        if not is_label_row(rows[position + labels + 1]):
            break
        labels += 1
    return (*found, labels)


def check_mapping(sheet: Sheet, headers: list[str], mapping: dict[str, str | None]) -> bool:
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
            sheet.file_error(
                f"{name!r} is not a census field; expected a field name such as "
                "employee_id, birth_date or medical_tier",
                header,
            )
            ok = False
            continue
        places = positions[header]
        if len(places) > 1:
            letters = ", ".join(column_letter(p) for p in places)
            sheet.file_warning(
                f"the header {header!r} appears {len(places)} times (columns {letters}); "
                f"the first (column {column_letter(places[0])}) was read as "
                f"{FIELDS[name].label} and the others ignored",
                header,
            )
        guess, how = match_header(header)
        named.setdefault(name, []).append((how if guess == name else EXACT, places[0], header))
    sheet.positions = {}
    for name, found in named.items():
        found.sort()
        _, index, header = found[0]
        sheet.positions[name] = (header, index)
        if len(found) > 1:
            others = [other for _, _, other in found[1:]]
            sheet.file_warning(
                f"columns {listed([header, *others])} {'both' if len(found) == 2 else 'all'} "
                f"name {FIELDS[name].label}; "
                f"{header!r} was read and {listed(others)} ignored (choose another column "
                "for it if that one is meant)",
                header,
            )
    sheet.census.column_mapping = {header: name for name, (header, _) in sheet.positions.items()}
    missing = missing_fields(sheet.census.column_mapping)
    people = {"first_name", "last_name", "birth_date", "age"} & set(sheet.positions)
    company = employer_headers([h for h in headers if h])
    if not people and len(company) >= 3:
        sheet.file_error(
            "this looks like an employer (group) application, not a member census: its "
            f"columns describe a company ({', '.join(repr(' '.join(h.split())) for h in company[:4])}) "
            "and none names a person; expected one row per employee and dependent with "
            "first name, last name and date of birth"
        )
        return False
    for name in missing:
        sheet.file_error(describe_missing(name))
        ok = False
    if ok:
        used = {index for _, index in sheet.positions.values()}
        free = {i for i in range(len(headers)) if i not in used}
        sheet.groups = find_groups(headers, free)
        if sheet.groups:
            sheet.census.detail["dependent_groups"] = {
                group.label: [header for header, _ in group.columns.values()]
                for group in sheet.groups
            }
    return ok


def check_ragged(sheet: Sheet, start: int, width: int) -> None:
    """Rows with more cells than the header (only the csv module's fallback keeps them)."""
    if sheet.grid.rows is None or sheet.grid.file_format is not UploadFormat.CSV:
        return
    for offset, row in enumerate(sheet.grid.rows[start:]):
        extra = [cell for cell in row[width:] if cell.strip()]
        if extra:
            number = start + offset + 1
            sheet.errors.append(
                (
                    number,
                    0,
                    width,
                    RowError(
                        number,
                        None,
                        f"the row has {len(row)} values but the header names {width} "
                        "columns; expected no values beyond the last header",
                        sheet.source,
                        ",".join(extra),
                    ),
                )
            )
