"""Issue 16 through the pages: the credit used on the next bill as the payments page says (and
what it says when the policy holds credit for a refund), the invoice page and PDF showing it
under payments and credits (point 1); the dashboard's totals from one position on one day
(point 3); and the reconciliation queue and Today clearing themselves (point 7)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pytest
from sqlalchemy import select

from billing_core.billing.invoicing import issue_billing_run
from billing_core.models import BillingPolicy
from billing_core.models.enums import CreditPolicy
from billing_core.money import D
from billing_core.payments.allocation import group_credit, live_allocations, unallocate
from tests.factories import pay_by_check
from tests.web.conftest import csrf_token

FEB = date(2027, 2, 1)


def _day(monkeypatch, day: date) -> None:
    for where in (
        "portal.employer.payments.today",
        "portal.employer.views.today",
        "portal.statement_pages.today",
        "portal.invoice_pages.today",
        "admin.views.work.today",
        "admin.views.receipts.today",
        "admin.views.refunds.today",
        "admin.views.suspense.today",
        "admin.views.write_offs.today",
    ):
        monkeypatch.setattr(where, lambda day=day: day, raising=False)


def _text(html: str) -> str:
    """The page's words, tags dropped and spaces folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _block(html: str, element_id: str) -> str:
    match = re.search(
        rf'id="{element_id}"[^>]*>(.*?)</(?:div|p)>\s*(?:<div|</div|<p|$)', html, re.S
    )
    assert match, f"no #{element_id} on the page"
    return _text(match.group(1))


def _hold_credit(session, group) -> None:
    for policy in session.scalars(select(BillingPolicy).where(BillingPolicy.group_id == group.id)):
        policy.credit_policy = CreditPolicy.HOLD_FOR_REFUND
    session.commit()


# --------------------------------------------------------------------------- point 1


def test_the_credit_is_used_on_the_next_bill_as_the_payments_page_says(
    client, login_as, cast, session, monkeypatch, tmp_path
):
    group = cast.group_a
    pay_by_check(session, group, "300.60", date(2027, 1, 3), [cast.invoice_a])  # 150.00 over
    session.commit()
    _day(monkeypatch, date(2027, 1, 5))
    login_as(cast.users["employer_a"])
    payments_url = f"/employer/groups/{group.id}/payments"

    page = _text(client.get(payments_url).get_data(as_text=True))
    assert "You have $150.00 of credit" in page
    assert "It is used on your next bill (Feb 2027), issued on Jan 17, 2027" in page

    [feb] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    session.commit()
    assert feb.credit_applied == D("150.00") and group_credit(session, group) == 0

    _day(monkeypatch, date(2027, 1, 18))
    invoice_url = f"/employer/groups/{group.id}/invoices/{feb.id}"
    invoice_page = _text(client.get(invoice_url).get_data(as_text=True))
    assert "Payments and credits since the last bill -300.60" in invoice_page
    assert (
        "including your credit, used when this bill was issued (Jan 17, 2027) -150.00"
        in invoice_page
    )
    assert "Total due by Feb 1, 2027 0.60" in invoice_page
    page = _text(client.get(payments_url).get_data(as_text=True))
    assert "No credit." in page and "used on your next bill (Mar 2027)" in page

    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: `make chromium` installs it")
    pdf = client.get(f"{invoice_url}/invoice.pdf")
    assert pdf.status_code == 200
    (tmp_path / "invoice.pdf").write_bytes(pdf.data)
    text = subprocess.run(
        [pdftotext, "-layout", str(tmp_path / "invoice.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    flat = " ".join(text.split())
    assert "Payments and credits since the last bill -300.60" in flat
    assert "including your credit, used at issue -150.00" in flat


def test_held_for_a_refund_the_page_says_so_and_the_credit_stays(
    client, login_as, cast, session, monkeypatch
):
    group = cast.group_a
    payment = pay_by_check(session, group, "200.00", date(2027, 1, 3))
    for allocation in live_allocations(session, payment):
        unallocate(session, allocation, on=date(2027, 1, 4), reason="test: kept as credit")
    _hold_credit(session, group)
    _day(monkeypatch, date(2027, 1, 5))
    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{group.id}/payments"

    html = client.get(url).get_data(as_text=True)
    page = _text(html)
    assert "Held for a refund:" in page and "Contact billing" in page
    assert "used on your next bill" not in page and "Use my credit" not in html
    response = client.post(
        f"/employer/groups/{group.id}/credit/apply",
        data={"csrf_token": csrf_token(client, url), "confirm": "y"},
        follow_redirects=True,
    )
    assert "held for a refund: contact billing" in response.get_data(as_text=True)
    assert group_credit(session, group) == D("200.00")

    [feb] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    assert feb.credit_applied == 0 and group_credit(session, group) == D("200.00")


# --------------------------------------------------------------------------- point 3


@pytest.fixture
def two_bills(cast, session):
    """Group B: January's bill (due Jan 1) and February's (due Feb 1), 76.90 each, and a
    credit of 10.00 (a payment kept as credit)."""
    group = cast.group_b
    issue_billing_run(session, FEB, group_numbers=[group.group_number])
    payment = pay_by_check(session, group, "10.00", date(2027, 1, 10))
    for allocation in live_allocations(session, payment):
        unallocate(session, allocation, on=date(2027, 1, 10), reason="test: kept as credit")
    session.commit()
    return group


def test_the_dashboard_figures_add_up_on_one_day(client, login_as, cast, two_bills, monkeypatch):
    _day(monkeypatch, date(2027, 1, 20))
    login_as(cast.users["employer_b"])
    html = client.get(f"/employer/groups/{two_bills.id}").get_data(as_text=True)

    past_due = _block(html, "past-due")
    total = _block(html, "total-due")
    next_due = _block(html, "next-due")
    assert past_due.startswith("Past due: 76.90 (due since Jan 1, 2027)")
    assert "pay 66.90 now" in past_due  # past due less the credit
    # total due = past due + not yet due - credit
    assert total == "Total due now 143.80 76.90 past due + 76.90 not yet due − 10.00 credit"
    assert next_due == "Next due 76.90 by Feb 1, 2027"
    latest = _text(html.split("Latest bill", 1)[1])
    assert "Still open on it 76.90 the account's total due now: 143.80" in latest
    # The payments page reads the same position.
    payments = _text(client.get(f"/employer/groups/{two_bills.id}/payments").get_data(as_text=True))
    assert "Open on your invoices 153.80 76.90 past due since Jan 1, 2027" in payments
    assert "Still to pay after credit 143.80 next due 76.90 on Feb 1, 2027" in payments


def test_after_the_last_due_date_nothing_is_called_next_due(
    client, login_as, cast, two_bills, monkeypatch
):
    _day(monkeypatch, date(2027, 2, 10))
    login_as(cast.users["employer_b"])
    html = client.get(f"/employer/groups/{two_bills.id}").get_data(as_text=True)

    assert _block(html, "past-due").startswith("Past due: 153.80 (due since Jan 1, 2027)")
    assert _block(html, "total-due") == (
        "Total due now 143.80 153.80 past due + 0.00 not yet due − 10.00 credit"
    )
    assert _block(html, "next-due") == "Next due Nothing more coming due"
    latest = _text(html.split("Latest bill", 1)[1])
    assert "Due date Feb 1, 2027 past due" in latest


# --------------------------------------------------------------------------- point 7


def _reconcile_waiting(client) -> int:
    html = client.get("/admin/today").get_data(as_text=True)
    match = re.search(
        r"Payments to reconcile \(short or over\)</td>\s*<td class=\"num\">(\d+)</td>", html
    )
    assert match, _text(html)[:2000]
    return int(match.group(1))


def test_a_short_payment_clears_itself_once_the_invoice_is_paid(
    client, login_as, cast, session, monkeypatch
):
    _day(monkeypatch, date(2027, 1, 20))
    short = pay_by_check(session, cast.group_a, "50.00", date(2027, 1, 5), reference="CHK-501")
    session.commit()
    login_as(cast.users["billing_specialist"])
    assert _reconcile_waiting(client) == 1
    queue = _text(client.get("/admin/reconciliation").get_data(as_text=True))
    assert "CHK-501" in queue and "short by $100.60" in queue

    pay_by_check(session, cast.group_a, "100.60", date(2027, 1, 9), reference="CHK-502")
    session.commit()

    assert _reconcile_waiting(client) == 0
    queue = _text(client.get("/admin/reconciliation").get_data(as_text=True))
    assert "Nothing to reconcile" in queue
    number = cast.invoice_a.invoice_number
    assert "Cleared by themselves" in queue
    assert f"cleared: invoice {number} paid in full on Jan 9, 2027" in queue
    detail = _text(client.get(f"/admin/payments/{short.id}").get_data(as_text=True))
    assert f"cleared: invoice {number} paid in full on Jan 9, 2027 (left the queue" in detail
