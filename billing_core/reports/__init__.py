"""Staff reports: one small framework and the reports built on it (aging, balances over 90 days,
suspense aging, cash receipts, reconciliation variances, adjustments, Stripe events). Every figure is derived
from the ledger or the money tables in SQL aggregates (one or two queries a report, never one
per group), so a report stays quick on a book of thousands of groups.

A `Report` declares its `name` (the URL slug), `title`, `filters` (each with a default),
`columns` (typed: text, money, date, period, int, percent) and a `rows(session, filters)`
function returning a `ReportResult` of row dicts keyed by column (extra keys such as
`group_id` may ride along for links; they are never exported) plus a totals row. The one admin
view renders any report (filter form, server-side sort by any column, pages) and downloads the
same rows as CSV or XLSX through `billing_core.exports`.

Adding a report (delinquency, commissions...) is one step: write its `rows` function and
`register(Report(...))` it at the bottom of this module (or in the feature's own module,
imported here). The index page, the view, sorting, paging and both downloads come with it.

Money is Decimal dollars throughout; percents are Decimal percent to two places (12.50 means
12.5%), None where the base is zero. "As of" dates mean end of day: postings dated on or before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from billing_core.billing.adjustments import REASONS as ADJUSTMENT_REASONS
from billing_core.billing.adjustments import reason_label
from billing_core.billing.enrollment import add_months, month_start
from billing_core.bounds import DATE_RANGE_WORDS, MONTH_RANGE_WORDS, date_in_range
from billing_core.db import Money
from billing_core.exports import Column, Sheet
from billing_core.ledger import Chart
from billing_core.ledger.receivables import AGING_BUCKETS
from billing_core.models import (
    Adjustment,
    BillingPolicy,
    EmployerGroup,
    Invoice,
    JournalEntry,
    LedgerAccount,
    Payment,
    Posting,
    SuspenseItem,
    WebhookEvent,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    BillingMethod,
    InvoiceStatus,
    PaymentMethod,
    PaymentStatus,
    PayrollFrequency,
    SuspenseStatus,
)
from billing_core.money import ZERO, cents, percent
from billing_core.payments.online import NOT_APPLIED

# --------------------------------------------------------------------------- the framework

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

METHOD_LABELS = {
    PaymentMethod.CARD: "Card",
    PaymentMethod.ACH_DEBIT: "ACH debit",
    PaymentMethod.CHECK: "Check",
    PaymentMethod.WIRE: "Wire",
    PaymentMethod.ACH_CREDIT: "ACH credit",
    PaymentMethod.LOCKBOX: "Lockbox",
}
ADJUSTMENT_STATUS_LABELS = {s: s.value.capitalize() for s in AdjustmentStatus}

# Suspense is aged from the day the cash arrived.
SUSPENSE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0–30 days", 0, 30),
    ("31–60 days", 31, 60),
    ("61–90 days", 61, 90),
    ("Over 90 days", 91, None),
)
AGING_KEYS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_120", "over_120")
SUSPENSE_KEYS = ("days_0_30", "days_31_60", "days_61_90", "over_90")


def _today(today: date) -> str:
    return today.isoformat()


def _month_to_date(today: date) -> str:
    return today.replace(day=1).isoformat()


def _three_months_ago(today: date) -> str:
    return add_months(month_start(today), -2).isoformat()


def _twelve_months_ago(today: date) -> str:
    return f"{add_months(month_start(today), -11):%Y-%m}"


def _this_month(today: date) -> str:
    return f"{today:%Y-%m}"


AS_OF = Filter(
    "as_of",
    "As of",
    "date",
    _today,
    help="Balances at the end of this day (postings dated on or before).",
)
GROUP = Filter("group", "Group", "group", help="Group number or part of the name; empty for all.")
DATE_FROM = Filter("date_from", "From", "date", _month_to_date)
DATE_TO = Filter("date_to", "To", "date", _today)


def _group_match(text: str | None):
    """A WHERE clause on EmployerGroup for the group filter (None: every group)."""
    if not text:
        return None
    like = f"%{text}%"
    return or_(EmployerGroup.group_number.ilike(like), EmployerGroup.name.ilike(like))


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _money(expression):
    """A SUM read back as Money (0.00 when empty): scaled integers on SQLite stay exact."""
    return type_coerce(func.coalesce(func.sum(expression), 0), Money())


# --------------------------------------------------------------------------- aging


def _entries_after(session: Session, as_of: date) -> bool:
    """Is any journal entry dated after `as_of`? (Indexed: one row read.)"""
    latest = session.scalar(select(func.max(JournalEntry.entry_date)))
    return latest is not None and latest > as_of


def _dated(query, as_of: date, dated: bool):
    """`query` limited to postings dated on or before `as_of`. When no entry is dated after it
    (`dated` False: the usual "as of today") the join to the journal entry is left out: it is
    the most expensive part of the query on a big book."""
    if not dated:
        return query
    return query.join(JournalEntry, JournalEntry.id == Posting.entry_id).where(
        JournalEntry.entry_date <= as_of
    )


def _in_days(due_on, as_of: date, low: int, high: int | None):
    """Days past due (as_of - due_on) between `low` and `high` inclusive, as a condition on the
    due date, so the database compares dates the same way on SQLite and PostgreSQL."""
    conditions = [due_on <= as_of - timedelta(days=low)] if low > -10_000 else []
    if high is not None:
        conditions.append(due_on >= as_of - timedelta(days=high))
    return conditions


def aging_rows(
    session: Session, as_of: date, group: str | None = None, *, oldest: bool = False
) -> list[dict]:
    """Per group with an open receivable or unapplied credit as of `as_of` (end of day): the open
    receivable in each of AGING_BUCKETS (by days past each invoice's due date), the total open,
    unapplied credit, net (open - credit), past due and over 90 days past due, in dollars.
    With `oldest`, also the oldest past-due invoice still owing: its due date and days past due.

    One pass over the ledger: each receivable posting is added straight into its invoice's
    bucket (an invoice paid in full adds up to zero there), so the database aggregates into
    one row per group and never builds a row per invoice. Matches `receivables.aging_by_group`
    invoice by invoice (the tests check it)."""
    dated = _entries_after(session, as_of)
    receivable = LedgerAccount.code == Chart.RECEIVABLE.code
    owed = Posting.debit - Posting.credit
    sums = []
    for key, (_, low, high) in zip(AGING_KEYS, AGING_BUCKETS, strict=True):
        conditions = _in_days(Invoice.due_on, as_of, low, high)
        sums.append(_money(case((and_(receivable, *conditions), owed), else_=0)).label(key))
    credit = case(
        (LedgerAccount.code == Chart.UNAPPLIED_CASH.code, Posting.credit - Posting.debit),
        else_=0,
    )
    per_group = _dated(
        select(LedgerAccount.group_id.label("group_id"), *sums, _money(credit).label("credit"))
        .select_from(Posting)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .outerjoin(Invoice, Invoice.id == Posting.invoice_id)
        .where(LedgerAccount.code.in_([Chart.RECEIVABLE.code, Chart.UNAPPLIED_CASH.code]))
        .group_by(LedgerAccount.group_id),
        as_of,
        dated,
    ).subquery("per_group")
    query = (
        select(
            EmployerGroup.id,
            EmployerGroup.group_number,
            EmployerGroup.name,
            *(per_group.c[k] for k in AGING_KEYS),
            per_group.c.credit,
        )
        .join(per_group, per_group.c.group_id == EmployerGroup.id)
        .order_by(EmployerGroup.group_number)
    )
    match = _group_match(group)
    if match is not None:
        query = query.where(match)
    rows = []
    for group_id, number, name, *amounts, credit_balance in session.execute(query):
        if not any(amounts) and not credit_balance:
            continue
        total = sum(amounts, ZERO)
        past_due = sum(amounts[1:], ZERO)
        rows.append(
            {
                "group_id": group_id,
                "group_number": number,
                "group_name": name,
                **dict(zip(AGING_KEYS, amounts, strict=True)),
                "total_open": total,
                "credit": credit_balance,
                "net_balance": total - credit_balance,
                "past_due": past_due,
                "past_due_percent": percent(past_due, total),
                "over_90": amounts[4] + amounts[5],
                "oldest_due_on": None,
                "days_past_due": None,
            }
        )
    if oldest:
        wanted = [r["group_id"] for r in rows if r["past_due"]]
        found = _oldest_past_due(session, as_of, wanted, dated)
        for row in rows:
            row["oldest_due_on"] = found.get(row["group_id"])
            if row["oldest_due_on"] is not None:
                row["days_past_due"] = (as_of - row["oldest_due_on"]).days
    return rows


def _oldest_past_due(
    session: Session, as_of: date, group_ids: list[int], dated: bool
) -> dict[int, date]:
    """The earliest due date before `as_of` of an invoice still owing on `as_of`, per group in
    `group_ids` (one query over those groups' receivable postings)."""
    if not group_ids:
        return {}
    owed = func.sum(Posting.debit) - func.sum(Posting.credit)
    open_items = _dated(
        select(Invoice.group_id.label("group_id"), Invoice.due_on.label("due_on"))
        .select_from(Posting)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .join(Invoice, Invoice.id == Posting.invoice_id)
        .where(
            LedgerAccount.code == Chart.RECEIVABLE.code,
            LedgerAccount.group_id.in_(group_ids),
            Invoice.due_on < as_of,
        )
        .group_by(Invoice.group_id, Invoice.id, Invoice.due_on)
        .having(owed > 0),
        as_of,
        dated,
    ).subquery()
    return dict(
        session.execute(
            select(open_items.c.group_id, func.min(open_items.c.due_on)).group_by(
                open_items.c.group_id
            )
        ).all()
    )


GROUP_COLUMNS = (
    ReportColumn("group_number", "Group", wrap=False),
    ReportColumn("group_name", "Employer"),
)
AGING_COLUMNS = (
    *GROUP_COLUMNS,
    *(
        ReportColumn(
            key,
            label if key == "current" else f"{label} days",
            "money",
            total=True,
            label=label,
            group="Days past due",
        )
        for key, (label, _, _) in zip(AGING_KEYS, AGING_BUCKETS, strict=True)
    ),
    ReportColumn("total_open", "Open receivable", "money", total=True),
    ReportColumn("credit", "Unapplied credit", "money", total=True),
    ReportColumn("net_balance", "Net balance", "money", total=True),
    ReportColumn("past_due_percent", "% past due", "percent"),
)


def _aging_report(session: Session, filters: dict) -> ReportResult:
    rows = aging_rows(session, filters["as_of"], filters["group"])
    if filters["show"] == "past_due":
        rows = [r for r in rows if r["past_due"] > 0]
    totals = sum_totals(AGING_COLUMNS, rows)
    past_due = sum((r["past_due"] for r in rows), ZERO)
    totals["past_due_percent"] = percent(past_due, totals["total_open"])
    over_90 = totals["days_91_120"] + totals["over_120"]
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Open receivable", totals["total_open"], "money"),
            ("Past due", past_due, "money"),
            ("Over 90 days past due", over_90, "money"),
            ("Unapplied credit", totals["credit"], "money"),
            ("Groups listed", len(rows), "int"),
        ],
        notes=[
            "Days past due count from each invoice's due date to the as-of date; "
            "'Current' is not yet due.",
            "Net balance = open receivable - unapplied credit (credit not yet used on an invoice).",
        ],
    )


register(
    Report(
        name="aging",
        title="Receivables aging",
        description="Open receivable per group and for the whole book, by days past due, as of "
        "any date; with unapplied credit and the net balance.",
        columns=AGING_COLUMNS,
        filters=(
            AS_OF,
            GROUP,
            Filter(
                "show",
                "Show",
                "choice",
                "all",
                (("all", "Every group with a balance or credit"), ("past_due", "Past due only")),
            ),
        ),
        rows=_aging_report,
        default_sort="group_number",
    )
)


OVER_90_COLUMNS = (
    *GROUP_COLUMNS,
    ReportColumn("over_90", "Over 90 days past due", "money", total=True),
    ReportColumn("days_91_120", "91–120 days", "money", total=True, label="of which 91–120"),
    ReportColumn("over_120", "Over 120 days", "money", total=True, label="of which over 120"),
    ReportColumn("total_open", "Open receivable", "money", total=True),
    ReportColumn("credit", "Unapplied credit", "money", total=True),
    ReportColumn("net_balance", "Net balance", "money", total=True),
    ReportColumn("oldest_due_on", "Oldest unpaid due date", "date"),
    ReportColumn("days_past_due", "Days past due", "int"),
)


def _over_90_report(session: Session, filters: dict) -> ReportResult:
    rows = aging_rows(session, filters["as_of"], filters["group"], oldest=True)
    rows = [r for r in rows if r["over_90"]]
    totals = sum_totals(OVER_90_COLUMNS, rows)
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Over 90 days past due", totals["over_90"], "money"),
            ("Groups", len(rows), "int"),
        ],
        notes=["Groups with any invoice more than 90 days past its due date on the as-of date."],
    )


register(
    Report(
        name="over_90",
        title="Balances over 90 days",
        description="Groups owing on invoices more than 90 days past due, largest first, with "
        "the oldest unpaid due date.",
        columns=OVER_90_COLUMNS,
        filters=(AS_OF, GROUP),
        rows=_over_90_report,
        default_sort="-over_90",
    )
)


# --------------------------------------------------------------------------- suspense aging


def _suspense_bucket(days: int) -> int:
    for index, (_, low, high) in enumerate(SUSPENSE_BUCKETS):
        if days >= low and (high is None or days <= high):
            return index
    return 0  # received after the as-of date cannot be listed; a negative age never occurs


SUSPENSE_COLUMNS = (
    ReportColumn("received_on", "Received", "date"),
    ReportColumn("days_open", "Days in suspense", "int"),
    ReportColumn("payer_name", "Payer"),
    ReportColumn("reference", "Reference", wrap=False),
    ReportColumn("method", "Method", wrap=False),
    ReportColumn("reason", "Why in suspense"),
    *(
        ReportColumn(
            key, label, "money", total=True, label=label.replace(" days", ""), group="Days open"
        )
        for key, (label, _, _) in zip(SUSPENSE_KEYS, SUSPENSE_BUCKETS, strict=True)
    ),
    ReportColumn("amount", "Amount", "money", total=True),
)


def suspense_aging_rows(session: Session, as_of: date, method: str = "all") -> list[dict]:
    """Suspense items open at the end of `as_of`: cash received on or before it and not yet
    applied, reversed or refunded by then (an item resolved later counts as open). Each with
    its days in suspense (as_of - received_on) and its amount in its SUSPENSE_BUCKETS column."""
    query = (
        select(SuspenseItem, Payment)
        .join(Payment, Payment.id == SuspenseItem.payment_id)
        .where(
            Payment.received_on <= as_of,
            Payment.status.not_in([PaymentStatus.PENDING, PaymentStatus.FAILED]),
            or_(
                SuspenseItem.status == SuspenseStatus.OPEN,
                SuspenseItem.resolved_at >= _start_of(as_of + timedelta(days=1)),
            ),
        )
        .order_by(Payment.received_on, SuspenseItem.id)
    )
    if method != "all":
        query = query.where(Payment.method == PaymentMethod(method))
    rows = []
    for item, payment in session.execute(query):
        days = (as_of - payment.received_on).days
        row = {
            "payment_id": payment.id,
            "suspense_item_id": item.id,
            "received_on": payment.received_on,
            "days_open": days,
            "payer_name": payment.payer_name or "",
            "reference": payment.reference or "",
            "method": METHOD_LABELS[payment.method],
            "reason": item.reason,
            **dict.fromkeys(SUSPENSE_KEYS),
            "amount": payment.amount,
        }
        row[SUSPENSE_KEYS[_suspense_bucket(days)]] = payment.amount
        rows.append(row)
    return rows


def _suspense_report(session: Session, filters: dict) -> ReportResult:
    rows = suspense_aging_rows(session, filters["as_of"], filters["method"])
    totals = sum_totals(SUSPENSE_COLUMNS, rows)
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Open items", len(rows), "int"),
            ("In suspense", totals["amount"], "money"),
            ("Over 90 days", totals["over_90"], "money"),
        ],
        notes=["Cash that named no group we could identify, still unresolved on the as-of date."],
    )


METHOD_CHOICES = (("all", "All methods"), *((m.value, METHOD_LABELS[m]) for m in PaymentMethod))

register(
    Report(
        name="suspense_aging",
        title="Suspense aging",
        description="Unidentified cash still open, item by item, by days in suspense.",
        columns=SUSPENSE_COLUMNS,
        filters=(AS_OF, Filter("method", "Method", "choice", "all", METHOD_CHOICES)),
        rows=_suspense_report,
        default_sort="received_on",
    )
)


# --------------------------------------------------------------------------- cash receipts

RECEIVED_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.RETURNED, PaymentStatus.REFUNDED)

CASH_COLUMNS = (
    ReportColumn("received_on", "Date received", "date"),
    ReportColumn("method", "Method", wrap=False),
    ReportColumn("payments", "Payments", "int", total=True),
    ReportColumn("received", "Received", "money", total=True),
    ReportColumn("returned", "Since returned", "money", total=True),
    ReportColumn("net", "Net of returns", "money", total=True),
)


def cash_receipts_rows(
    session: Session, start: date, end: date, method: str = "all", group: str | None = None
) -> list[dict]:
    """Money received from `start` to `end` inclusive (by received date), per day and method:
    the number of payments, dollars received, dollars of those payments since returned (NSF,
    ACH return, chargeback) and the net. Pending and failed payments never arrived and are not
    counted; suspense cash is (unless a group is asked for). One aggregate query."""
    returned = case((Payment.status == PaymentStatus.RETURNED, Payment.amount), else_=0)
    query = (
        select(
            Payment.received_on,
            Payment.method,
            func.count(Payment.id),
            _money(Payment.amount),
            _money(returned),
        )
        .where(
            Payment.received_on >= start,
            Payment.received_on <= end,
            Payment.status.in_(RECEIVED_STATUSES),
        )
        .group_by(Payment.received_on, Payment.method)
        .order_by(Payment.received_on, Payment.method)
    )
    if method != "all":
        query = query.where(Payment.method == PaymentMethod(method))
    match = _group_match(group)
    if match is not None:
        query = query.join(EmployerGroup, EmployerGroup.id == Payment.group_id).where(match)
    return [
        {
            "received_on": day,
            "method": METHOD_LABELS[PaymentMethod(how)],
            "payments": count,
            "received": received,
            "returned": back,
            "net": received - back,
        }
        for day, how, count, received, back in session.execute(query)
    ]


def _cash_report(session: Session, filters: dict) -> ReportResult:
    rows = cash_receipts_rows(
        session, filters["date_from"], filters["date_to"], filters["method"], filters["group"]
    )
    totals = sum_totals(CASH_COLUMNS, rows)
    by_method: dict[str, Decimal] = {}
    for row in rows:
        by_method[row["method"]] = by_method.get(row["method"], ZERO) + row["received"]
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Received", totals["received"], "money"),
            ("Net of returns", totals["net"], "money"),
            *((label, amount, "money") for label, amount in sorted(by_method.items())),
        ],
        notes=[
            "By the date the money was received; pending and failed payments are left out.",
            "Refunds paid out are not deducted (see the refunds queue).",
        ],
    )


register(
    Report(
        name="cash_receipts",
        title="Cash receipts",
        description="Money received by day and method over a date range, with returns.",
        columns=CASH_COLUMNS,
        filters=(
            DATE_FROM,
            DATE_TO,
            Filter("method", "Method", "choice", "all", METHOD_CHOICES),
            GROUP,
        ),
        rows=_cash_report,
        default_sort="received_on",
    )
)


# --------------------------------------------------------------------------- variances

VARIANCE_COLUMNS = (
    *GROUP_COLUMNS,
    ReportColumn("period", "Coverage month", "period"),
    ReportColumn("invoice_number", "Invoice", wrap=False),
    ReportColumn("billed", "Billed premium", "money", total=True),
    ReportColumn("reported", "Reported premium", "money", total=True),
    ReportColumn("variance", "Variance", "money", total=True),
    ReportColumn("variance_percent", "Variance %", "percent"),
    ReportColumn("tolerance", "Tolerance"),
)


def variance_rows(
    session: Session, first: date, last: date, group: str | None = None
) -> list[dict]:
    """Self-billed invoices (not void) for coverage periods starting from `first` to `last`
    that carry the employer's reported premium: billed (the invoice's current premium) against
    reported, the variance (reported - billed, dollars) and its percent of billed, and whether
    it is within the group's tolerance in force in the period.

    The reported figure is the remittance converted from payroll deductions exactly as upload
    reconciliation converts it (`reconciliation.monthly_premium_from_deductions` at the usual
    pay dates of the group's payroll frequency), so a three-pay-date month is no variance."""
    from billing_core.census.reconciliation import (
        monthly_premium_from_deductions,
        usual_pay_periods,
    )

    query = (
        select(
            Invoice.id,
            Invoice.group_id,
            EmployerGroup.group_number,
            EmployerGroup.name,
            Invoice.period_start,
            Invoice.invoice_number,
            Invoice.current_premium,
            Invoice.reported_premium,
        )
        .join(EmployerGroup, EmployerGroup.id == Invoice.group_id)
        .where(
            Invoice.billing_method == BillingMethod.SELF_BILL,
            Invoice.status != InvoiceStatus.VOID,
            Invoice.reported_premium.is_not(None),
            Invoice.period_start >= first,
            Invoice.period_start <= last,
        )
        .order_by(EmployerGroup.group_number, Invoice.period_start, Invoice.invoice_number)
    )
    match = _group_match(group)
    if match is not None:
        query = query.where(match)
    found = session.execute(query).all()
    policies: dict[int, list[BillingPolicy]] = {}
    if found:
        for policy in session.scalars(
            select(BillingPolicy)
            .where(BillingPolicy.group_id.in_({r.group_id for r in found}))
            .order_by(BillingPolicy.effective_from)
        ):
            policies.setdefault(policy.group_id, []).append(policy)
    rows = []
    for invoice_id, group_id, number, name, period, invoice_number, billed, deducted in found:
        policy = next(
            (
                p
                for p in reversed(policies.get(group_id, []))
                if p.effective_from <= period
                and (p.effective_to is None or period <= p.effective_to)
            ),
            None,
        )
        reported = deducted
        if policy is not None:
            frequency = PayrollFrequency(policy.payroll_frequency)
            months = policy.billing_frequency.months
            reported = cents(
                monthly_premium_from_deductions(
                    deducted, usual_pay_periods(frequency) * months, frequency
                )
                * months
            )
        variance = reported - billed
        within = policy.within_tolerance(variance, billed) if policy else None
        rows.append(
            {
                "invoice_id": invoice_id,
                "group_id": group_id,
                "group_number": number,
                "group_name": name,
                "period": period,
                "invoice_number": invoice_number,
                "billed": billed,
                "reported": reported,
                "variance": variance,
                "variance_percent": percent(variance, billed),
                "tolerance": {True: "Within", False: "Outside", None: "No policy"}[within],
            }
        )
    return rows


def _variance_report(session: Session, filters: dict) -> ReportResult:
    rows = variance_rows(session, filters["period_from"], filters["period_to"], filters["group"])
    if filters["show"] == "outside":
        rows = [r for r in rows if r["tolerance"] != "Within"]
    totals = sum_totals(VARIANCE_COLUMNS, rows)
    totals["variance_percent"] = percent(totals["variance"], totals["billed"])
    outside = sum(1 for r in rows if r["tolerance"] == "Outside")
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Invoices", len(rows), "int"),
            ("Outside tolerance", outside, "int"),
            ("Net variance", totals["variance"], "money"),
        ],
        notes=[
            "Variance = reported - billed; a negative variance is an employer paying less than "
            "billed. Tolerance is the group's billing policy in force in the coverage month.",
            "Per-upload census variances (billed vs computed) are on each upload's review page.",
        ],
    )


register(
    Report(
        name="variances",
        title="Reconciliation variances",
        description="Self-billed premium: what the employer reported against what was billed, "
        "per invoice, with the group's tolerance.",
        columns=VARIANCE_COLUMNS,
        filters=(
            Filter("period_from", "First coverage month", "month", _twelve_months_ago),
            Filter("period_to", "Last coverage month", "month", _this_month),
            GROUP,
            Filter(
                "show",
                "Show",
                "choice",
                "all",
                (("all", "Every reported invoice"), ("outside", "Outside tolerance only")),
            ),
        ),
        rows=_variance_report,
        default_sort="-variance_percent",
    )
)


# --------------------------------------------------------------------------- adjustments

ADJUSTMENT_COLUMNS = (
    ReportColumn("reason", "Reason"),
    ReportColumn("status", "Status"),
    ReportColumn("count", "Adjustments", "int", total=True),
    ReportColumn("charges", "Charges", "money", total=True),
    ReportColumn("credits", "Credits", "money", total=True),
    ReportColumn("net", "Net", "money", total=True),
)


def adjustment_rows(
    session: Session,
    start: date,
    end: date,
    status: str = "all",
    group: str | None = None,
) -> list[dict]:
    """Future-bill adjustments queued from `start` to `end` inclusive (by the day they were
    queued, UTC), per reason and status: how many, charges (positive amounts), credits
    (negative amounts, shown negative) and the net, in dollars. One aggregate query."""
    query = (
        select(
            Adjustment.reason_code,
            Adjustment.status,
            func.count(Adjustment.id),
            _money(case((Adjustment.amount > 0, Adjustment.amount), else_=0)),
            _money(case((Adjustment.amount < 0, Adjustment.amount), else_=0)),
        )
        .where(
            Adjustment.created_at >= _start_of(start),
            Adjustment.created_at < _start_of(end + timedelta(days=1)),
        )
        .group_by(Adjustment.reason_code, Adjustment.status)
    )
    if status != "all":
        query = query.where(Adjustment.status == AdjustmentStatus(status))
    match = _group_match(group)
    if match is not None:
        query = query.join(EmployerGroup, EmployerGroup.id == Adjustment.group_id).where(match)
    order = {code: n for n, code in enumerate(ADJUSTMENT_REASONS)}
    status_order = {s: n for n, s in enumerate(AdjustmentStatus)}
    found = sorted(
        session.execute(query),
        key=lambda r: (order.get(r[0], len(order)), r[0], status_order[AdjustmentStatus(r[1])]),
    )
    return [
        {
            "reason_code": code,
            "reason": reason_label(code),
            "status": ADJUSTMENT_STATUS_LABELS[AdjustmentStatus(state)],
            "count": count,
            "charges": charges,
            "credits": credits,
            "net": charges + credits,
        }
        for code, state, count, charges, credits in found
    ]


def _adjustment_report(session: Session, filters: dict) -> ReportResult:
    rows = adjustment_rows(
        session, filters["date_from"], filters["date_to"], filters["status"], filters["group"]
    )
    totals = sum_totals(ADJUSTMENT_COLUMNS, rows)
    pending = sum((r["net"] for r in rows if r["status"] == "Pending"), ZERO)
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Adjustments", totals["count"], "int"),
            ("Net", totals["net"], "money"),
            ("Pending (net)", pending, "money"),
        ],
        notes=["By the day the adjustment was queued; the status is today's."],
    )


register(
    Report(
        name="adjustments",
        title="Adjustments by reason and status",
        description="Future-bill adjustments queued over a date range, by reason and status, "
        "with charges, credits and the net.",
        columns=ADJUSTMENT_COLUMNS,
        filters=(
            Filter("date_from", "Queued from", "date", _three_months_ago),
            Filter("date_to", "Queued to", "date", _today),
            Filter(
                "status",
                "Status",
                "choice",
                "all",
                (
                    ("all", "All statuses"),
                    *((s.value, ADJUSTMENT_STATUS_LABELS[s]) for s in AdjustmentStatus),
                ),
            ),
            GROUP,
        ),
        rows=_adjustment_report,
        default_sort="reason",
    )
)


# --------------------------------------------------------------------------- Stripe events

STRIPE_EVENT_COLUMNS = (
    ReportColumn("received_at", "Received (UTC)", wrap=False),
    ReportColumn("event_type", "Event", wrap=False),
    ReportColumn("result", "Result"),
    ReportColumn("outcome", "What the portal did"),
    ReportColumn("event_id", "Stripe event id", wrap=False),
)
STRIPE_RESULTS = (
    ("all", "Every event"),
    ("attention", "Not applied: needs staff"),
    ("ignored", "Ignored"),
    ("applied", "Acted on"),
)


def _stripe_result(outcome: str) -> str:
    if outcome.startswith(NOT_APPLIED):
        return "Not applied: needs staff"
    if outcome.startswith("ignored"):
        return "Ignored"
    return "Acted on"


def stripe_event_rows(session: Session, start: date, end: date, show: str = "all") -> list[dict]:
    """The Stripe webhook events received from `start` to `end` inclusive (UTC days), each as
    first processed (a redelivery changes nothing, so it is not listed twice), with what the
    portal did: acted on it, ignored it (a type or object it does not act on), or could not
    apply it (a domain error: the payment needs a person)."""
    query = (
        select(WebhookEvent)
        .where(
            WebhookEvent.received_at >= _start_of(start),
            WebhookEvent.received_at < _start_of(end + timedelta(days=1)),
        )
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
    )
    not_applied = WebhookEvent.outcome.like(f"{NOT_APPLIED}%")
    ignored = WebhookEvent.outcome.like("ignored%")
    if show == "attention":
        query = query.where(not_applied)
    elif show == "ignored":
        query = query.where(ignored)
    elif show == "applied":
        query = query.where(~not_applied, ~ignored)
    return [
        {
            "received_at": f"{event.received_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            "event_type": event.event_type,
            "result": _stripe_result(event.outcome),
            "outcome": event.outcome,
            "event_id": event.event_id,
        }
        for event in session.scalars(query)
    ]


def _stripe_event_report(session: Session, filters: dict) -> ReportResult:
    rows = stripe_event_rows(session, filters["date_from"], filters["date_to"], filters["show"])
    counts = {label: 0 for _, label in STRIPE_RESULTS[1:]}
    for row in rows:
        counts[row["result"]] += 1
    return ReportResult(
        rows,
        highlights=[(label, count, "int") for label, count in counts.items()],
        notes=[
            "Every event Stripe sent, once: a redelivered event keeps its first outcome.",
            "An event not applied changed nothing in the books; find the payment under Cash "
            "and record or fix it by hand.",
        ],
    )


register(
    Report(
        name="stripe_events",
        title="Stripe events",
        description="Online payment events from Stripe's webhook and what the portal did with "
        "each: acted on, ignored, or not applied and waiting for staff.",
        columns=STRIPE_EVENT_COLUMNS,
        filters=(
            DATE_FROM,
            DATE_TO,
            Filter("show", "Show", "choice", "all", STRIPE_RESULTS),
        ),
        rows=_stripe_event_report,
        default_sort="-received_at",
    )
)


# Reports kept beside their feature register themselves when imported here.
import billing_core.reports.mail_report  # noqa: E402, F401
