"""In Chromium: an HR administrator opens the group's invoice, asks the bill bridge who is behind
the additions (htmx), searches the member lines; a supervisor previews a billing run."""

import pytest

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e


def _login(page, base_url, user):
    login(page, base_url, user.email)


def test_employer_reads_invoice_bridge_and_lines(live_server, page):
    base_url, cast = live_server
    _login(page, base_url, cast.users["employer_a"])
    page.get_by_role("link", name="Invoices").first.click()
    page.get_by_role("link", name=cast.invoice_a.invoice_number).click()
    assert "150.60" in page.locator(".stat").first.inner_text()

    page.locator("#bridge").get_by_role("link", name="2 lines").click()
    rows = page.locator("#bridge-rows")
    rows.get_by_text("Eastwood").wait_for()
    assert "+112.40" in rows.inner_text()
    assert page.url.endswith(f"/invoices/{cast.invoice_a.id}")  # drilled down in place

    page.get_by_label("Search").fill("Westb")
    page.locator("#invoice-lines").get_by_text("Westbrook").wait_for()
    page.locator("#invoice-lines").get_by_text("Eastwood").wait_for(state="detached")
    screenshot(page, "employer-invoice")


def test_supervisor_previews_a_billing_run(live_server, page):
    base_url, cast = live_server
    _login(page, base_url, cast.users["supervisor"])
    page.get_by_role("link", name="Billing run").click()
    page.get_by_label("Billing period (month)").fill("2027-02")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_load_state()
    assert f"{cast.group_a.group_number}-202702" in page.content()
    assert page.get_by_role("button", name="Issue 2 invoice(s)").is_visible()
    screenshot(page, "billing-run-preview")
