"""In Chromium: a billing specialist opens a group's invoice template from the group page, fills
it by its labels (PO number, subtotals by subgroup, remit-to, message), previews the next bill
(the sample shows the PO and the subtotals), saves it; the next billing run's bill then shows
them on its page and in its PDF. Screenshots of the page, the preview, the bill and the PDF's
first page are kept in test-artifacts/ (the PDF through pdftoppm)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import pytest
from sqlalchemy import select

from billing_core.billing.invoicing import issue_billing_run
from billing_core.db import make_engine, make_session_factory
from billing_core.models import EmployerGroup
from tests.e2e.conftest import ARTIFACTS, DATABASES, login, screenshot

pytestmark = pytest.mark.e2e


def test_template_preview_save_and_the_bill_that_follows(browser, live_server):
    base_url, cast = live_server
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    login(page, base_url, cast.users["billing_specialist"].email)

    page.goto(f"{base_url}/admin/groups/{cast.group_a.id}")
    page.get_by_role("link", name="Invoice template").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/admin/groups/{cast.group_a.id}/invoice-template")
    page.get_by_label("Subtotals of the premium by").select_option("subgroup")
    page.get_by_label("Reference field 1: label").fill("PO number")
    page.get_by_label("Reference field 1: value").fill("PO-55821")
    page.get_by_label("Reference field 2: label").fill("Cost centre")
    page.get_by_label("Reference field 2: value").fill("CC-0042")
    page.get_by_label("Remit-to text printed on the bill (optional, up to 6 lines)").fill(
        "Acme Life Lockbox\nPO Box 4410\nHartford, CT 06101"
    )
    page.get_by_label("Message printed on the bill (optional)").fill(
        "Questions about this bill? Call 800-555-0100."
    )
    # Keyboard: the section boxes are reachable and toggled with the space bar.
    box = page.get_by_label("Bill bridge (why this bill differs from the last one)")
    box.focus()
    page.keyboard.press("Space")
    assert not box.is_checked()
    page.keyboard.press("Space")
    assert box.is_checked()
    screenshot(page, "invoice-template-form")

    # A value without its label: refused, the problem beside the field, the rest kept.
    page.get_by_label("Reference field 3: value").fill("orphan")
    page.get_by_role("button", name="Save template").click()
    page.wait_for_load_state()
    error = page.locator("#reference_label_3-errors")
    assert "give the field a label" in error.inner_text()
    assert page.get_by_label("Reference field 3: label").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Reference field 1: value").input_value() == "PO-55821"
    error.scroll_into_view_if_needed()
    screenshot(page, "invoice-template-error")
    page.get_by_label("Reference field 3: value").fill("")

    page.get_by_role("button", name="Preview the next bill").click()
    page.wait_for_load_state()
    preview = page.locator("#preview")
    preview.wait_for()
    assert "PO-55821" in preview.inner_text()
    assert "East location" in preview.inner_text() and "West location" in preview.inner_text()
    preview.scroll_into_view_if_needed()
    screenshot(page, "invoice-template-preview")

    page.get_by_role("button", name="Save template").click()
    page.wait_for_load_state()
    assert "Saved the invoice template" in page.content()

    engine = make_engine(DATABASES[base_url])
    with make_session_factory(engine)() as session:
        group = session.scalar(select(EmployerGroup).where(EmployerGroup.id == cast.group_a.id))
        [invoice] = issue_billing_run(
            session, date(2027, 2, 1), group_numbers=[group.group_number]
        ).issued
        invoice_id = invoice.id
        session.commit()
    engine.dispose()

    page.goto(f"{base_url}/admin/groups/{cast.group_a.id}/invoices/{invoice_id}")
    assert "PO-55821" in page.locator("dl.references").inner_text()
    assert "Premium by subgroup" in page.locator("#subtotals").inner_text()
    screenshot(page, "invoice-template-bill")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = ARTIFACTS / "invoice-template-bill.pdf"
    download.value.save_as(pdf)
    tool = shutil.which("pdftoppm")
    if tool:
        subprocess.run(
            [tool, "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), str(pdf.with_suffix(""))],
            check=True,
        )
    context.close()
