"""In Chromium: the cash desk's money actions ask first and say afterwards what happened with a
link (issue 16, point 4), and money leaving goes through four eyes (issue 17, finding 4): a
specialist records a check (confirmation), asks to write off more than their authority and to
refund unidentified cash; a supervisor approves both. Screenshots under test-artifacts/."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.e2e.conftest import screenshot
from tests.e2e.test_invoices import _login

pytestmark = pytest.mark.e2e


def _confirm(page, name: str, button: str):
    page.wait_for_load_state()
    assert page.locator("#confirmation").is_visible()
    screenshot(page, name)
    page.get_by_role("button", name=re.compile(button)).click()
    page.wait_for_load_state()


def test_cash_desk_asks_first_and_needs_a_second_person(live_server, page):
    base_url, cast = live_server
    today = date.today().isoformat()
    _login(page, base_url, cast.users["billing_specialist"])

    # A short check: recorded after its confirmation shows what it pays.
    page.goto(f"{base_url}/admin/payments/new?group_id={cast.group_a.id}")
    page.get_by_label("Amount ($)").fill("50.00")
    page.get_by_label("Received on").fill(today)
    page.get_by_label("Check number / wire or trace reference").fill("E2E-77")
    page.get_by_role("button", name=re.compile("Record")).click()
    _confirm(page, "cash-1-record-check-confirmation", r"Confirm: record \$50\.00")
    flash = page.locator(".flash-success")
    assert "Check E2E-77 of $50.00 recorded" in flash.inner_text()
    flash.get_by_role("link", name="Open the payment").click()
    page.wait_for_load_state()

    # The 100.60 left open is above a specialist's authority: a request, nothing written off.
    row = page.locator("tr", has_text=cast.invoice_a.invoice_number).last
    row.get_by_label(re.compile("Amount to write off")).fill("600.00")
    row.get_by_label(re.compile("Reason for the write-off")).fill("disputed")
    row.get_by_role("button", name=re.compile("Write off")).click()
    page.wait_for_load_state()
    assert "has $100.60 open" in page.content()  # never more than is open
    row = page.locator("tr", has_text=cast.invoice_a.invoice_number).last
    row.get_by_label(re.compile("Amount to write off")).fill("100.60")
    row.get_by_label(re.compile("Reason for the write-off")).fill("employer disputes the add")
    row.get_by_role("button", name=re.compile("Write off")).click()
    page.wait_for_load_state()
    # Within 500.00: written off after the confirmation.
    _confirm(page, "cash-2-write-off-confirmation", r"Confirm: write off \$100\.60")
    assert "Wrote off $100.60" in page.content()

    # Unidentified cash sent back to its sender: a refund request.
    page.goto(f"{base_url}/admin/payments/new")
    page.get_by_label("Amount ($)").fill("900.00")
    page.get_by_label("Received on").fill(today)
    page.get_by_label("Unidentified: hold the cash in suspense").check()
    page.get_by_label("If unidentified: why it cannot be identified").fill("no stub")
    page.get_by_role("button", name=re.compile("Record")).click()
    _confirm(page, "cash-3-suspense-confirmation", r"Confirm: record \$900\.00")
    page.goto(f"{base_url}/admin/suspense")
    page.get_by_text("Refund to the sender, or close as reversed…").first.click()
    page.get_by_label(re.compile("Refund to the sender")).first.check()
    page.get_by_label(re.compile("Note")).first.fill("not our customer")
    page.get_by_role("button", name=re.compile("Continue with item")).first.click()
    _confirm(page, "cash-4-suspense-refund-confirmation", r"Confirm: request a refund")
    assert "another staff member approves it in the refunds queue" in page.content()
    page.get_by_role("button", name="Log out").click()

    # The supervisor approves the refund (900.00 is above the limit: a supervisor's).
    _login(page, base_url, cast.users["supervisor"])
    page.goto(f"{base_url}/admin/refunds")
    assert "Unidentified cash" in page.content()
    page.get_by_role("button", name=re.compile(r"Approve refund of 900\.00")).click()
    _confirm(page, "cash-5-refund-approval-confirmation", r"Confirm: approve the refund")
    assert "approved: it is in refunds payable" in page.content()
    screenshot(page, "cash-6-refund-approved")
