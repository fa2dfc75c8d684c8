"""A sheet's mapped columns read and parsed: a wide layout folded into one row per person
first, then each column's distinct cells parsed once (pandas factorize) by its field's parser
(`values`) and spread back over the rows. A value the row depends on that cannot be read is a
row error; an optional one (OPTIONAL_FIELDS) a warning, the field left blank. A column's dates
written day first are settled for the whole column (see `settle_day_first`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

import numpy as np
import pandas as pd

from billing_core.census.rows import TEXT_LIMITS, clipped, length_problem
from billing_core.census.tabular.files import cell_text
from billing_core.census.tabular.sheet import Column, Sheet, listed, masked_ssn
from billing_core.census.tabular.values import (
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
from billing_core.census.tabular.vocabulary import (
    ACTIONS,
    FIELDS,
    FLAG_LINES,
    FLAGS,
    GENDERS,
    PAY_PERIODS,
    RELATIONSHIPS,
    STATUSES,
    TIERED_LINES,
)
from billing_core.census.tabular.wide import fold
from billing_core.models.enums import Tier, UploadFormat, UploadKind

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


def nonblank(raw: np.ndarray) -> np.ndarray:
    """Which cells hold something (once per distinct cell)."""
    codes, uniques = pd.factorize(raw)
    texts = [value if type(value) is str else cell_text(value) for value in uniques]
    table = np.array([bool(text) for text in clean_texts(texts)] + [False], dtype=bool)
    return table[codes]  # code -1 (None/NaN) is the last entry: blank


def read_columns(sheet: Sheet, start: int, count: int) -> None:
    """The mapped columns' cells from data row `start` on (a wide layout folded into one row
    per person), each parsed."""
    factorized: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not sheet.groups and sheet.grid.encoded is not None:
        # Each column as the read factorized it: no array of the cells themselves.
        for name, (_, index) in sheet.positions.items():
            factorized[name] = sheet.grid.factorized(index, start)
    raw = {
        name: sheet.grid.column(index, start)
        for name, (_, index) in sheet.positions.items()
        if name not in factorized
    }
    if sheet.groups:
        group_raw = [
            {name: sheet.grid.column(index, start) for name, (_, index) in g.columns.items()}
            for g in sheet.groups
        ]
        folded = fold(raw, sheet.groups, group_raw, count, nonblank)
        raw = folded.raw
        sheet.row_no = sheet.first_data_row + folded.source
        sheet.row_group = folded.group
        sheet.defaulted = folded.defaulted
        for name in raw:  # a field only the dependents' columns have (or none: relationship)
            if name not in sheet.positions:
                group = next((g for g in sheet.groups if name in g.columns), None)
                sheet.positions[name] = group.columns[name] if group else (FIELDS[name].label, -1)
    else:
        sheet.row_no = sheet.first_data_row + np.arange(count)
    sheet.n = len(sheet.row_no)
    convert_columns(sheet, raw, factorized)
    if sheet.groups:
        warn_unstated_relationships(sheet)


def convert_columns(
    sheet: Sheet,
    raw: dict[str, np.ndarray],
    factorized: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> None:
    """Each mapped column parsed by its field's parser (the file's kind guessed first: an
    effective date's window depends on it); a plan column of nothing but tiers read as the
    line's tier column. A column is in `raw` (its cells) or in `factorized` (as the file's
    read factorized it)."""
    on = sheet.as_of
    census = sheet.census
    xlsx = sheet.grid.file_format is UploadFormat.XLSX
    factorized = factorized or {}

    # The kind first: an effective date's window depends on it.
    def has_values(name: str) -> bool:
        if name in factorized:
            distinct = factorized[name][1]
        elif name in raw:
            distinct = pd.unique(raw[name])
        else:
            return False
        return any(clean_texts([cell_text(v) for v in distinct]))

    if census.kind is None:
        census.kind_guess = (
            UploadKind.CHANGE
            if has_values("action") or has_values("termination_date")
            else UploadKind.SNAPSHOT
        )
    sheet.is_change = (census.kind or census.kind_guess) is UploadKind.CHANGE

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
            "expected a relationship: EE/Self/Employee, SP/Spouse, CH/Child or DP/Domestic Partner",
        ),
        "birth_date": DateParser(
            "a date of birth",
            century_latest(sheet.birth_limit),
            date(1900, 1, 1),
            sheet.birth_limit,
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
            "expected a pay frequency: weekly, bi-weekly, semi-monthly, monthly, annual or hourly",
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
            *(change_window if sheet.is_change else (date(1950, 1, 1), years_after(on, 1))),
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

    all_blank = np.ones(sheet.n, dtype=bool)
    for name in raw | factorized:
        header, index = sheet.positions[name]
        column = convert_column(
            sheet, name, header, index, raw.get(name), parsers[name], xlsx, factorized.get(name)
        )
        all_blank &= column.blank
    sheet.all_blank = all_blank
    for _line, plan, tier in TIERED_LINES:
        if plan in sheet.columns and tier not in sheet.columns:
            read_plan_as_tier(sheet, plan, tier)


def convert_column(
    sheet: Sheet,
    name: str,
    header: str,
    index: int,
    raw: np.ndarray | None,
    parse: Callable[[str], object],
    xlsx: bool,
    factorized: tuple[np.ndarray, np.ndarray] | None = None,
) -> Column:
    """Parse each distinct cell of a column once and spread the results back over the rows
    (factorize codes, or the read's own: `factorized`), reporting every row holding an
    unreadable value: an error, or for an optional field a warning (the value left blank)."""
    codes, uniques = factorized if factorized is not None else pd.factorize(raw)
    if len(codes) and codes.min() < 0:  # None/NaN cells (code -1): one more, blank, value
        codes = np.where(codes < 0, len(uniques), codes)
        uniques = np.append(uniques.astype(object), "")
    if xlsx:
        texts = [value if type(value) is str else cell_text(value) for value in uniques]
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
        limit = TEXT_LIMITS.get(name)
        # Longer than the database keeps: a row error (looked for only when a text is longer).
        if limit is not None and max(map(len, cleaned), default=0) > limit:
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
        left: Iterable[int] = range(len(cleaned))
        common = getattr(parse, "common", None)
        if common is not None:  # the texts in the common form read together (values)
            values = common(cleaned)
            parsed[:] = values
            left = [code for code, value in enumerate(values) if value is None]
        for code in left:
            text = cleaned[code]
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
            settle_day_first(sheet, dates, header, cleaned, parsed, problems, orders, either)
    column = Column(header, index, codes, parsed, texts, np.isin(codes, blank_codes))
    sheet.columns[name] = column
    masked = name in ("ssn", "subscriber_ssn")
    if too_long:
        rows = np.flatnonzero(np.isin(codes, list(too_long)))
        sheet.unreadable.setdefault(name, set()).update(rows.tolist())
        for i in rows.tolist():
            sheet.row_error(i, name, too_long[codes[i]], clipped(texts[codes[i]]))
    if problems:
        rows = np.flatnonzero(np.isin(codes, list(problems)))
        optional = OPTIONAL_FIELDS.get(name)
        if optional:
            warn_values(sheet, name, rows, codes, texts, problems, f"; {optional}", masked)
        else:
            sheet.unreadable[name] = set(rows.tolist())
            for i in rows.tolist():
                text = texts[codes[i]]
                shown = masked_ssn(text) if masked else clipped(text)
                sheet.row_error(i, name, problems[codes[i]], shown)
    if notes:
        sheet.noted[name] = list(notes)
        rows = np.flatnonzero(np.isin(codes, list(notes)))
        warn_values(sheet, name, rows, codes, texts, notes, "", masked)
    return column


def settle_day_first(
    sheet: Sheet,
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
        sheet.file_warning(
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
    sheet.file_warning(
        f"the dates in this column are written day first (DD/MM/YYYY: {example!r}); dates "
        f"that could be either, such as {ambiguous!r}, were read day first too "
        f"({parsed[either[0]]} for {ambiguous!r})",
        header,
    )


def warn_values(
    sheet: Sheet,
    name: str,
    rows: np.ndarray,
    codes: np.ndarray,
    texts: list[str],
    messages: dict[int, str],
    suffix: str,
    masked: bool,
) -> None:
    """A warning per value read with one (`messages` by code), on the rows holding it."""
    by_code: dict[int, list[int]] = {}
    for i, code in zip(rows.tolist(), codes[rows].tolist(), strict=True):
        by_code.setdefault(code, []).append(i)
    for code, holding in by_code.items():
        text = texts[code]
        sheet.value_warning(
            holding, name, messages[code] + suffix, masked_ssn(text) if masked else text
        )


def warn_unstated_relationships(sheet: Sheet) -> None:
    """Wide layouts: a Dependent N group says no relationship, so its people are read as
    children; a person should look when the file might hold a spouse among them."""
    has_partner_group = any(g.kind in ("spouse", "partner") for g in sheet.groups)
    silent = [g for g in sheet.groups if g.kind == "dependent" and "relationship" not in g.columns]
    if silent and not has_partner_group:
        sheet.file_warning(
            f"the columns of {listed([g.label for g in silent])} say no relationship: "
            "those dependents were read as children; a spouse or partner among them needs "
            "a relationship column"
        )
    stated = [i for i, g in enumerate(sheet.groups) if g.kind == "dependent" and g not in silent]
    if stated and sheet.row_group is not None:
        rows = np.flatnonzero(sheet.defaulted & np.isin(sheet.row_group, stated))
        for i in rows.tolist():
            sheet.row_warning(i, "relationship", "the relationship is blank: read as a child", "")


def read_plan_as_tier(sheet: Sheet, plan: str, tier: str) -> None:
    """A plan column holding nothing but coverage levels (a 'Medical' column of EE/FAM) is
    that line's tier column."""
    column = sheet.columns[plan]
    named = {v for v in column.parsed if isinstance(v, str)}
    tiers = {v: tier_word(v) for v in named}
    if not tiers or not all(isinstance(t, Tier) for t in tiers.values()):
        return
    parsed = np.empty(len(column.parsed), dtype=object)
    parsed[:] = [tiers.get(v, v) if isinstance(v, str) else v for v in column.parsed]
    del sheet.columns[plan]
    sheet.columns[tier] = Column(
        column.header, column.index, column.codes, parsed, column.texts, column.blank
    )
    sheet.census.column_mapping[column.header] = tier
    sheet.census.detail.setdefault("plan_columns_read_as_tier", []).append(column.header)
