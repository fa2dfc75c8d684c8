"""The statement pages and downloads through the test client, the statement PDF read back (page
one kept as a PNG in test-artifacts/), and the employer dashboard."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from billing_core.models.enums import PaymentMethod, PaymentSource
from billing_core.money import D
from billing_core.payments.receipts import record_payment
from billing_core.reports.statements import paid_vs_billed
from portal.documents import render_statement_pdf

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAYER = '=HYPERLINK("http://evil.example")'


@pytest.fixture
def paid(session, cast, monkeypatch):
    """Group A's January bill (150.60) part-paid by a payer with a formula for a name; the
    pages think today is Jan 20, 2027 (the scenario's month)."""
    monkeypatch.setattr("portal.statement_pages.today", lambda: date(2027, 1, 20))
    record_payment(
        session,
        group=cast.group_a,
        amount=D("100.00"),
        method=PaymentMethod.CHECK,
        received_on=date(2027, 1, 5),
        source=PaymentSource.STAFF,
        reference="CHK-1042",
        payer_name=PAYER,
        invoice_ids=[cast.invoice_a.id],
    )
    session.commit()
    return cast


RANGE = {"start": "2026-12", "end": "2027-01"}


def test_employer_sees_the_statement_page_with_downloads(client, login_as, paid):
    login_as(paid.users["employer_a"])
    response = client.get(f"/employer/groups/{paid.group_a.id}/statement", query_string=RANGE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Paid-vs-billed statement" in html
    assert paid.invoice_a.invoice_number in html
    assert "CHK-1042" in html and "100.00" in html
    assert 'src="data:image/svg+xml;base64,' in html  # the chart as an image (CSP)
    assert "statement.pdf?" in html and "statement.xlsx?" in html and "section=payments" in html


def test_another_groups_statement_is_a_404(client, login_as, paid):
    login_as(paid.users["employer_b"])
    for suffix in ("", ".pdf", ".xlsx", ".csv"):
        assert (
            client.get(f"/employer/groups/{paid.group_a.id}/statement{suffix}").status_code == 404
        )


def test_downloads_are_real_files(client, login_as, paid):
    login_as(paid.users["employer_a"])
    base = f"/employer/groups/{paid.group_a.id}/statement"
    pdf = client.get(f"{base}.pdf", query_string=RANGE)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")
    assert "statement-" in pdf.headers["Content-Disposition"]
    xlsx = client.get(f"{base}.xlsx", query_string=RANGE)
    workbook = load_workbook(io.BytesIO(xlsx.data))
    assert workbook.sheetnames[:4] == ["Summary", "By period and product", "Invoices", "Payments"]
    payer = [c.value for c in workbook["Payments"]["D"]][1]
    assert payer == "'" + PAYER
    csv_text = client.get(f"{base}.csv", query_string={**RANGE, "section": "payments"}).data
    assert csv_text.decode("utf-8-sig").splitlines()[1].count("'=HYPERLINK") == 1


def test_a_bad_range_says_why_and_downloads_go_back_to_the_page(client, login_as, paid):
    login_as(paid.users["employer_a"])
    base = f"/employer/groups/{paid.group_a.id}/statement"
    page = client.get(base, query_string={"start": "2027-01", "end": "2026-06"})
    assert page.status_code == 200
    assert "The statement must start on or before" in page.get_data(as_text=True)
    later = client.get(base, query_string={"start": "2027-06"}).get_data(as_text=True)
    assert "Choose a month that has started." in later
    bad = client.get(f"{base}.pdf", query_string={"start": "nonsense"})
    assert bad.status_code == 303 and "/employer/groups/" in bad.headers["Location"]


def test_staff_see_the_same_statement(client, login_as, paid):
    login_as(paid.users["billing_specialist"])
    response = client.get(f"/admin/groups/{paid.group_a.id}/statement", query_string=RANGE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "CHK-1042" in html
    assert f"/admin/groups/{paid.group_a.id}/statement.pdf" in html
    assert client.get(f"/admin/groups/{paid.group_a.id}/statement.csv").status_code == 200


def test_dashboard_shows_the_account_chart_and_links(client, login_as, paid):
    login_as(paid.users["employer_a"])
    html = client.get(f"/employer/groups/{paid.group_a.id}").get_data(as_text=True)
    assert "Your account" in html and "Total due now" in html and "Last payment" in html
    assert "Billed and paid, last 12 months" in html
    assert f"/employer/groups/{paid.group_a.id}/statement" in html


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} (poppler-utils) is not installed: `make chromium` installs it")
    return path


def test_statement_pdf_reads_right_and_page_one_is_kept(web_app, session, paid, tmp_path):
    statement = paid_vs_billed(
        session, paid.group_a, date(2026, 12, 1), date(2027, 1, 20), date(2027, 1, 20)
    )
    with web_app.app_context():
        pdf = render_statement_pdf(statement)
    source = tmp_path / "statement.pdf"
    source.write_bytes(pdf)
    text = subprocess.run(
        [_tool("pdftotext"), "-layout", str(source), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    flat = " ".join(text.split())
    assert "PAID-VS-BILLED STATEMENT" in text and paid.group_a.name in flat
    assert "Balance owed" in flat and "50.60" in flat  # 150.60 billed - 100.00 paid
    assert "CHK-1042" in flat and "Bill bridge" in flat and "Page 1 of" in flat
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "statement-pdf-page1"
    subprocess.run(
        [_tool("pdftoppm"), "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"]
        + [str(source), str(target)],
        check=True,
        timeout=60,
    )
    assert target.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
