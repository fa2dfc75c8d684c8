"""A paid-vs-billed statement (reports/statements.py) as a download: one workbook sheet per
section (`statement_sheets`: summary, by period and product, invoices, payments, aging, by
month) or one section as a flat table for the CSV (`statement_table`), written by
billing_core.exports. The statement PDF (portal/documents.py) uses the same summary rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from billing_core.billing.invoices import period_label
from billing_core.exports import Column, Sheet
from billing_core.money import ZERO
from billing_core.reports.statements import Statement

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


def statement_summary_rows(statement: Statement) -> list[tuple]:
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


def statement_line_rows(statement: Statement) -> Iterator[tuple]:
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


def statement_invoice_rows(statement: Statement) -> Iterator[tuple]:
    """STATEMENT_INVOICE_COLUMNS rows: each invoice of the range with its status on the end date."""
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


def statement_payment_rows(statement: Statement) -> Iterator[tuple]:
    """STATEMENT_PAYMENT_COLUMNS rows: each payment, what it paid, left as credit and refunded."""
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


def statement_sheets(statement: Statement) -> list[Sheet]:
    """The statement as workbook sheets, one per section: Summary, By period and product,
    Invoices, Payments, Aging, By month."""
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


def statement_table(statement: Statement, section: str = "lines") -> Sheet:
    """One section of the statement as a flat table (a CSV download); see STATEMENT_SECTIONS."""
    if section not in STATEMENT_SECTIONS:
        raise ValueError(f"unknown statement section {section!r}")
    order = ("summary", "lines", "invoices", "payments", "aging", "months")  # statement_sheets
    return statement_sheets(statement)[order.index(section)]
