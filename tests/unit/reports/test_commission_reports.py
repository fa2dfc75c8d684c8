"""The commission reports (issue 21, item 7) through the report framework: commissions by
agency and month add up to each run's lines, holds outstanding to the held lines (and the held
ledger account), chargebacks to the chargeback lines, payables aging to the payable account's
balance, aged from the approval; each downloads as CSV and XLSX with its totals."""

import io
from datetime import date

from openpyxl import load_workbook

from billing_core import reports
from billing_core.commissions.postings import agency_account
from billing_core.commissions.run import run_for
from billing_core.commissions.schedules import set_schedule
from billing_core.exports import csv_bytes, xlsx_bytes
from billing_core.ledger import Chart, account_balance
from billing_core.models.collections import DelinquencyState
from billing_core.models.commissions import CommissionKind
from billing_core.models.enums import LineOfCoverage
from billing_core.money import D
from tests.unit.commissions.book import approve, bill, delinquent, make_book, month_bill, pay, run

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)
MAR_15 = date(2026, 3, 15)


def _run(session, name, args=None, today=MAR_15):
    result = reports.run_report(session, reports.REPORTS[name], args or {}, today)
    assert not result.errors, result.errors
    return result


def _book(session):
    """Jan: 75.00 earned and approved. Feb (open): Jan's premium of a member termed back to
    Jan 1 charges back 25.00, Feb earns 50.00, held (the group in grace)."""
    book = make_book(session)
    set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                 effective_from=date(2024, 1, 1), rates=[("0", "5")])  # fmt: skip
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    jan_result = run(session, book, JAN)
    approve(session, book, JAN)
    feb = bill(
        session, book.group, FEB, [(m, book.plan, FEB, "500.00") for m in book.members[:2]],
        retro=[(book.members[2], book.plan, JAN, "-500.00")],
    )  # fmt: skip
    pay(session, book.group, "500.00", date(2026, 2, 10), feb)
    delinquent(session, book.group, DelinquencyState.IN_GRACE, date(2026, 2, 25))
    feb_result = run(session, book, FEB)
    return book, jan_result, feb_result


def test_commissions_by_agency_equal_the_runs(session):
    book, jan, feb = _book(session)
    result = _run(
        session, "commissions_by_agency", {"period_from": "2026-01", "period_to": "2026-02"}
    )
    rows = [(r["month"], r["agency_code"], r["status"], r["lines"], r["earned"], r["hold"],
             r["chargeback"], r["net"]) for r in result.rows]  # fmt: skip
    code = book.agency_a.code
    assert rows == [
        (JAN, code, "approved", 1, D("75.00"), D("0.00"), D("0.00"), D("75.00")),
        (FEB, code, "open", 3, D("50.00"), D("-50.00"), D("-25.00"), D("-25.00")),
    ]
    assert rows[0][-1] == jan.commission_total and rows[1][-1] == feb.commission_total
    totals = result.result.totals
    assert totals["net"] == jan.commission_total + feb.commission_total == D("50.00")
    only_feb = _run(
        session, "commissions_by_agency", {"period_from": "2026-02", "period_to": "2026-02"}
    )
    assert [r["month"] for r in only_feb.rows] == [FEB]
    nobody = _run(session, "commissions_by_agency",
                  {"period_from": "2026-01", "period_to": "2026-02", "agency": "no such agency"})  # fmt: skip
    assert nobody.rows == []

    sheet = reports.report_sheet(result)
    text = csv_bytes(sheet.columns, sheet.rows).decode("utf-8-sig")
    assert "Net" in text.splitlines()[0] and "-25.00" in text
    workbook = load_workbook(io.BytesIO(xlsx_bytes(reports.report_sheets(result, MAR_15))))
    values = [c.value for row in workbook.worksheets[0].iter_rows() for c in row]
    assert 50 in values or 50.0 in values  # the net total


def test_holds_chargebacks_and_payables_aging(session):
    book, jan, feb = _book(session)
    holds = _run(session, "commission_holds")
    assert [(r["group_number"], r["first_month"], r["held"], r["released"], r["outstanding"])
            for r in holds.rows] == [(book.group.group_number, FEB, D("50.00"), D("0.00"), D("50.00"))]  # fmt: skip
    held_account = agency_account(session, Chart.COMMISSION_HELD, book.agency_a)
    assert (
        holds.result.totals["outstanding"] == -account_balance(session, held_account) == D("50.00")
    )

    chargebacks = _run(
        session, "commission_chargebacks", {"period_from": "2026-01", "period_to": "2026-02"}
    )
    assert [(r["month"], r["coverage_month"], r["premium_basis"], r["amount"]) for r in chargebacks.rows] == [
        (FEB, JAN, D("-500.00"), D("-25.00"))
    ]  # fmt: skip
    stated = [x for x in feb.lines if x["kind"].value == "chargeback"]
    assert chargebacks.result.totals["amount"] == sum(x["amount"] for x in stated)

    aging = _run(session, "commission_payables_aging", {"as_of": "2026-03-15"})
    payable = agency_account(session, Chart.COMMISSION_PAYABLE, book.agency_a)
    assert [(r["agency_code"], r["oldest"], r["current"], r["d31_60"], r["owed"]) for r in aging.rows] == [
        (book.agency_a.code, run_for(session, JAN).as_of, D("0.00"), D("75.00"), D("75.00"))
    ]  # fmt: skip
    assert aging.result.totals["owed"] == -account_balance(session, payable)
    earlier = _run(session, "commission_payables_aging", {"as_of": "2026-01-30"})
    assert earlier.rows == []  # approved (payable) as of Jan 31
