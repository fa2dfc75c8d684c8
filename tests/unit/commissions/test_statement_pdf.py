"""An agency's commission statement as a PDF: its text (pdftotext) names the agency and the
month and shows the totals the CSV adds up to; an open run's PDF says it is a preview; a month
not run is refused in words; no member is named."""

import csv
import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal

import pytest

from billing_core.commissions.of_record import Split, change_broker_of_record
from billing_core.commissions.run import run_for
from billing_core.commissions.schedules import set_schedule
from billing_core.commissions.statement_pdf import statement_pdf
from billing_core.commissions.statements import agency_statement, statement_csv
from billing_core.errors import CommissionError
from billing_core.models.collections import DelinquencyState
from billing_core.models.commissions import CommissionKind
from billing_core.models.enums import LineOfCoverage
from billing_core.money import D, format_money
from tests.unit.commissions.book import approve, delinquent, make_book, month_bill, pay, run

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)


def _text(pdf: bytes, tmp_path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: `make chromium` installs it")
    source = tmp_path / "statement.pdf"
    source.write_bytes(pdf)
    out = subprocess.run(
        [tool, "-layout", str(source), "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return " ".join(out.split())


def _csv_total(data: bytes, column: str) -> Decimal:
    rows = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    return sum((D(r[column]) for r in rows if r[column]), D("0"))


def _book(session):
    book = make_book(session, bor=False)
    change_broker_of_record(
        session, book.group, [Split(book.agency_a, "60", book.broker_a), Split(book.agency_b, "40")],
        effective_from=JAN,
    )  # fmt: skip
    set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                 effective_from=date(2024, 1, 1), rates=[("0", "5")])  # fmt: skip
    return book


def test_pdf_names_agency_month_and_the_csv_totals(session, tmp_path):
    book = _book(session)
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    run(session, book, JAN)
    approve(session, book, JAN)
    feb = month_bill(session, book, FEB)
    pay(session, book.group, "1500.00", FEB, feb)
    delinquent(session, book.group, DelinquencyState.IN_GRACE, date(2026, 2, 25))
    run(session, book, FEB)

    statement = agency_statement(session, run_for(session, JAN), book.agency_a)
    data = statement_csv(statement)
    text = _text(statement_pdf(session, JAN, book.agency_a.code), tmp_path)
    assert "COMMISSION STATEMENT" in text and "Jan 2026" in text
    assert book.agency_a.name in text and book.agency_a.code in text
    assert _csv_total(data, "Commission") == D("45.00") == statement.totals["net"]
    assert f"net {format_money(statement.totals['net'])}" in text  # the total line
    assert "Approved by" in text and "Preview" not in text
    assert book.group.group_number in text
    assert all(m.last_name not in text for m in book.members)

    # February: open, with a hold; the PDF says preview, and its figures equal the CSV's
    feb_run = run_for(session, FEB)
    statement = agency_statement(session, feb_run, book.agency_a)
    data = statement_csv(statement)
    text = _text(statement_pdf(session, feb_run, book.agency_a), tmp_path)
    assert "Preview" in text and "Feb 2026" in text
    assert _csv_total(data, "Commission") == D("45.00")
    assert _csv_total(data, "Held") == D("-45.00")
    assert statement.totals["net"] == D("0.00")
    assert "Total for " + book.agency_a.code + ", Feb 2026 · net 0.00 45.00 -45.00" in text


def test_month_not_run_or_unknown_agency_said_plainly(session):
    book = _book(session)
    with pytest.raises(CommissionError, match="have not been run for Mar 2026"):
        statement_pdf(session, date(2026, 3, 1), book.agency_a)
    run(session, book, JAN)
    with pytest.raises(CommissionError, match="no agency has the code 'NOPE'"):
        statement_pdf(session, JAN, "NOPE")
