"""In Chromium: an HR administrator pays the group's invoice through the local test checkout (the
portal has no Stripe keys, as under `make serve`) and sees it paid; billing staff then see the
payment on the group's admin pages."""

import pytest

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e


def _login(page, base_url, user):
    login(page, base_url, user.email)


def test_employer_pays_an_invoice_through_the_test_checkout(live_server, page, browser):
    base_url, cast = live_server
    number = cast.invoice_a.invoice_number
    _login(page, base_url, cast.users["employer_a"])

    page.get_by_role("link", name="Pay this bill", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_label(number).is_checked()  # the oldest open invoice, preselected
    assert "no real money moves" in page.content()
    screenshot(page, "pay-page")
    page.get_by_label("Card (credit or debit)").check()
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_load_state()

    assert page.get_by_text("Test checkout — no real money moves").is_visible()
    assert page.get_by_label("Card number").input_value().startswith("4242")
    screenshot(page, "test-checkout")
    page.get_by_role("button", name="Pay $150.60").click()
    page.wait_for_load_state()
    assert "has been received and applied" in page.content()

    page.get_by_role("link", name="See your payments").click()
    page.wait_for_load_state()
    history = page.locator("table", has_text="What it paid")
    assert "Succeeded" in history.inner_text()
    assert f"{number} 150.60" in history.inner_text()
    assert "Nothing is owed" in page.content()
    screenshot(page, "employer-payments")

    page.get_by_role("link", name="All invoices").click()
    page.wait_for_load_state()
    row = page.locator("tr", has_text=number)
    assert "Paid" in row.inner_text()

    staff = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        _login(staff, base_url, cast.users["billing_specialist"])
        staff.goto(f"{base_url}/admin/groups/{cast.group_a.id}/invoices/{cast.invoice_a.id}")
        staff.wait_for_load_state()
        assert "Paid" in staff.locator("h1").inner_text()
        staff.goto(f"{base_url}/admin/groups/{cast.group_a.id}/ledger")
        staff.wait_for_load_state()
        # The payment, by its PaymentIntent id, received and applied to the invoice.
        row = staff.locator("tr", has_text="pi_local_").filter(has_text="Succeeded")
        assert number in row.inner_text() and "150.60" in row.inner_text()
        screenshot(staff, "staff-group-ledger")
    finally:
        staff.context.close()
