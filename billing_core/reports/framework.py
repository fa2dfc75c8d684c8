"""The report framework: a `Report` declares its `name` (the URL slug), `title`, `filters` (each
with a default), `columns` (typed: text, money, date, period, int, percent) and a
`rows(session, filters)` function returning a `ReportResult` of row dicts keyed by column (extra
keys such as `group_id` may ride along for links; they are never exported) plus a totals row.
`register` adds it to REPORTS; `run_report` parses the filters, runs it and sorts its rows; the
one admin view renders any report (filter form, sort by any column, pages) and downloads the
same rows as CSV or XLSX through `billing_core.exports` (`report_sheet`, `report_sheets`).

Also the pieces several reports share: the as-of, date-range and group filters, the group
columns, the group filter's WHERE clause and payment method labels.

Money is Decimal dollars throughout; percents are Decimal percent to two places (12.50 means
12.5%), None where the base is zero. "As of" dates mean end of day: postings dated on or before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from sqlalchemy import or_
from sqlalchemy.orm import Session

from billing_core.bounds import DATE_RANGE_WORDS, MONTH_RANGE_WORDS, date_in_range
from billing_core.exports import Column, Sheet
from billing_core.models import EmployerGroup
from billing_core.models.enums import PaymentMethod
from billing_core.money import ZERO

ColumnKind = Literal["text", "money", "date", "period", "int", "percent"]
FilterKind = Literal["date", "month", "group", "choice"]

# How each report column kind is written by billing_core.exports. A percent is the number
# itself (12.50 for 12.5%, the header says "%"), exported like a rate so it stays a number.
_EXPORT_KINDS = {
    "text": "text",
    "money": "money",
    "date": "date",
    "period": "period",
    "int": "integer",
    "percent": "rate",
}


@dataclass(frozen=True)
class ReportColumn:
    """One column: `key` in each row dict, its header (as exported), its kind, and whether the
    totals row sums it (money and int columns). On screen only: `label`, a shorter heading
    under a `group` heading shared by neighbouring columns (e.g. "1–30" under "Days past
    due"), and `wrap=False` for codes that must not break across lines."""

    key: str
    header: str
    kind: ColumnKind = "text"
    total: bool = False
    label: str = ""
    group: str = ""
    wrap: bool = True

    @property
    def heading(self) -> str:
        return self.label or self.header

    @property
    def export_column(self) -> Column:
        return Column(self.header, _EXPORT_KINDS[self.kind])

    @property
    def numeric(self) -> bool:
        return self.kind in {"money", "int", "percent"}


@dataclass(frozen=True)
class Filter:
    """One filter of a report's form. `default` is the form text when the argument is absent
    (a callable gets today). Kinds: date (YYYY-MM-DD), month (YYYY-MM, the first day of that
    coverage month), group (group number or part of the name; empty = every group), choice
    (one of `choices`, (value, label) pairs)."""

    name: str
    label: str
    kind: FilterKind
    default: str | Callable[[date], str] = ""
    choices: tuple[tuple[str, str], ...] = ()
    help: str = ""

    def default_text(self, today: date) -> str:
        return self.default(today) if callable(self.default) else self.default

    def parse(self, text: str) -> Any:
        """The typed value of the form text; ValueError with a message a user can act on."""
        text = text.strip()
        if self.kind == "date":
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise ValueError("Enter a date as YYYY-MM-DD, e.g. 2027-01-31.") from None
            if not date_in_range(day):
                raise ValueError(f"Enter a date {DATE_RANGE_WORDS}.")
            return day
        if self.kind == "month":
            try:
                month = datetime.strptime(text, "%Y-%m").date()
            except ValueError:
                raise ValueError("Enter a month as YYYY-MM, e.g. 2027-01.") from None
            if not date_in_range(month):
                raise ValueError(f"Enter a month {MONTH_RANGE_WORDS}.")
            return month
        if self.kind == "group":
            return text or None
        if text not in {value for value, _ in self.choices}:
            raise ValueError("Choose one of the listed options.")
        return text


@dataclass
class ReportResult:
    """What a report's `rows` returns: row dicts keyed by column, the totals row (same keys;
    None where a total means nothing), headline figures shown above the table as (label,
    value, kind), and notes on how the figures were made."""

    rows: list[dict]
    totals: dict | None = None
    highlights: list[tuple[str, Any, ColumnKind]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    columns: tuple[ReportColumn, ...]
    filters: tuple[Filter, ...]
    rows: Callable[[Session, dict[str, Any]], ReportResult]
    default_sort: str  # a column key; "-key" sorts descending

    def column(self, key: str) -> ReportColumn | None:
        return next((c for c in self.columns if c.key == key), None)

    def heading_runs(self) -> list[tuple[str, list[ReportColumn]]]:
        """Neighbouring columns sharing a `group` heading, in order ("" for ungrouped ones)."""
        runs: list[tuple[str, list[ReportColumn]]] = []
        for column in self.columns:
            if runs and runs[-1][0] == column.group:
                runs[-1][1].append(column)
            else:
                runs.append((column.group, [column]))
        return runs


REPORTS: dict[str, Report] = {}


def register(report: Report) -> Report:
    """Add `report` to the index (its name must be new and its default sort a column)."""
    if report.name in REPORTS:
        raise ValueError(f"a report named {report.name!r} is already registered")
    if report.column(report.default_sort.lstrip("-")) is None:
        raise ValueError(f"{report.name}: default sort {report.default_sort!r} is not a column")
    REPORTS[report.name] = report
    return report


def get_report(name: str) -> Report | None:
    return REPORTS.get(name)


@dataclass
class ReportRun:
    """A report run for one request: the form text, the parsed filters, any filter errors
    (then no result), the sort, and the result with its rows sorted."""

    report: Report
    form: dict[str, str]
    filters: dict[str, Any]
    errors: dict[str, str]
    sort_key: str
    descending: bool
    result: ReportResult | None

    @property
    def sort(self) -> str:
        return f"-{self.sort_key}" if self.descending else self.sort_key

    @property
    def rows(self) -> list[dict]:
        return self.result.rows if self.result else []


def run_report(session: Session, report: Report, args: Mapping[str, str], today: date) -> ReportRun:
    """Parse `args` (the query string) into filters, run the report and sort its rows by
    `args["sort"]` (a column key, "-key" for descending; else the report's default). Filter
    errors are returned by filter name and the report is not run."""
    form: dict[str, str] = {}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for flt in report.filters:
        text = args.get(flt.name)
        form[flt.name] = flt.default_text(today) if text is None else text.strip()
        try:
            values[flt.name] = flt.parse(form[flt.name])
        except ValueError as error:
            errors[flt.name] = str(error)
    start, end = values.get("date_from"), values.get("date_to")
    if start and end and start > end and not errors:
        errors["date_to"] = "The end date is before the start date."
    start, end = values.get("period_from"), values.get("period_to")
    if start and end and start > end and not errors:
        errors["period_to"] = "The last month is before the first."
    sort = args.get("sort") or report.default_sort
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if report.column(key) is None:
        sort = report.default_sort
        descending, key = sort.startswith("-"), sort.lstrip("-")
    result = None if errors else report.rows(session, values)
    if result is not None:
        result.rows = sort_rows(result.rows, key, descending)
    return ReportRun(report, form, values, errors, key, descending, result)


def sort_rows(rows: list[dict], key: str, descending: bool = False) -> list[dict]:
    """`rows` sorted by `key` (text without regard to case); empty values last either way.
    Stable, so rows equal on `key` keep the report's own order."""
    present = [r for r in rows if r.get(key) is not None]
    empty = [r for r in rows if r.get(key) is None]

    def sort_value(row):
        value = row[key]
        return value.casefold() if isinstance(value, str) else value

    return sorted(present, key=sort_value, reverse=descending) + empty


def sum_totals(columns: Sequence[ReportColumn], rows: Sequence[dict], **extra) -> dict:
    """The totals row: every `total` column summed, the first text column labelled "Total"
    (so the row stays typed in a workbook), then `extra` (e.g. a percent from the totals)."""
    totals: dict[str, Any] = {c.key: None for c in columns}
    for column in columns:
        if column.total:
            start = ZERO if column.kind == "money" else 0
            totals[column.key] = sum((r[column.key] or start for r in rows), start)
    label = next((c.key for c in columns if c.kind == "text"), None)
    if label is not None:
        totals[label] = "Total"
    totals.update(extra)
    return totals


def report_sheet(run: ReportRun) -> Sheet:
    """The report's rows (sorted as on screen, every page) as one table: the CSV download and
    the first sheet of the workbook. No totals row, so a spreadsheet can sum the columns."""
    keys = [c.key for c in run.report.columns]
    return Sheet(
        run.report.title,
        [c.export_column for c in run.report.columns],
        ([row[k] for k in keys] for row in run.rows),
    )


def report_sheets(run: ReportRun, generated_on: date) -> list[Sheet]:
    """The workbook: the rows, then "Totals" (the totals row, typed like the rows), then
    "Filters" (what the figures were run for)."""
    report = run.report
    sheets = [report_sheet(run)]
    totals = run.result.totals if run.result else None
    if totals:
        sheets.append(
            Sheet(
                "Totals",
                [c.export_column for c in report.columns],
                [[totals.get(c.key) for c in report.columns]],
            )
        )
    described = [("Report", report.title), ("Generated on", generated_on.isoformat())]
    described += [(f.label, describe_filter(f, run.form[f.name])) for f in report.filters]
    described += [("Sorted by", sort_label(run)), ("Rows", str(len(run.rows)))]
    if run.result:
        described += [("Note", note) for note in run.result.notes]
    sheets.append(Sheet("Filters", [Column("Filter"), Column("Value")], described))
    return sheets


def describe_filter(flt: Filter, text: str) -> str:
    if flt.kind == "choice":
        return dict(flt.choices).get(text, text)
    if flt.kind == "group":
        return text or "All groups"
    return text


def sort_label(run: ReportRun) -> str:
    column = run.report.column(run.sort_key)
    header = column.header if column else run.sort_key
    return f"{header} ({'high to low' if run.descending else 'low to high'})"


def download_name(run: ReportRun, extension: str) -> str:
    """e.g. `aging-2027-01-31.csv`, `cash_receipts-2027-01-01-to-2027-01-31.xlsx`."""
    form = run.form
    if "as_of" in form:
        span = form["as_of"]
    elif "date_from" in form:
        span = f"{form['date_from']}-to-{form['date_to']}"
    elif "period_from" in form:
        span = f"{form['period_from']}-to-{form['period_to']}"
    else:
        span = ""
    safe = "".join(ch for ch in span if ch.isalnum() or ch in "-_")
    return f"{run.report.name}{'-' + safe if safe else ''}.{extension}"


# --------------------------------------------------------------------------- shared pieces

# Payment methods as the cash reports name them (columns and the method filter).
METHOD_LABELS = {
    PaymentMethod.CARD: "Card",
    PaymentMethod.ACH_DEBIT: "ACH debit",
    PaymentMethod.CHECK: "Check",
    PaymentMethod.WIRE: "Wire",
    PaymentMethod.ACH_CREDIT: "ACH credit",
    PaymentMethod.LOCKBOX: "Lockbox",
}
METHOD_CHOICES = (("all", "All methods"), *((m.value, METHOD_LABELS[m]) for m in PaymentMethod))


def today_text(today: date) -> str:
    """A date filter's default: today."""
    return today.isoformat()


def _month_to_date(today: date) -> str:
    return today.replace(day=1).isoformat()


AS_OF = Filter(
    "as_of",
    "As of",
    "date",
    today_text,
    help="Balances at the end of this day (postings dated on or before).",
)
GROUP = Filter("group", "Group", "group", help="Group number or part of the name; empty for all.")
DATE_FROM = Filter("date_from", "From", "date", _month_to_date)
DATE_TO = Filter("date_to", "To", "date", today_text)


def group_match(text: str | None):
    """A WHERE clause on EmployerGroup for the group filter (None: every group)."""
    if not text:
        return None
    like = f"%{text}%"
    return or_(EmployerGroup.group_number.ilike(like), EmployerGroup.name.ilike(like))


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of `day` (timestamps from it to the next day's are that day's)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


# The group number and name a report row opens with (each links to the group).
GROUP_COLUMNS = (
    ReportColumn("group_number", "Group", wrap=False),
    ReportColumn("group_name", "Employer"),
)
