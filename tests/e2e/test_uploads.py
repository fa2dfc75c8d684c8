"""In Chromium: an HR administrator uploads a change file, reads what it changes, submits it;
a billing specialist approves it and finds the credit in the adjustment queue."""

import re

import pytest

from tests.e2e.conftest import screenshot
from tests.e2e.test_invoices import _login

pytestmark = pytest.mark.e2e


def test_employer_uploads_and_staff_approve(live_server, page, tmp_path):
    base_url, cast = live_server
    west = cast.member_west
    census = tmp_path / "March changes.csv"
    census.write_text(
        "EE ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{west.employee_id},{west.first_name},{west.last_name},{west.birth_date:%m/%d/%Y},"
        "Term,12/31/2026\n"
    )
    _login(page, base_url, cast.users["employer_a"])
    page.get_by_role("link", name="Census uploads").first.click()
    page.get_by_label("Census or change file (CSV, XLSX or X12 834)").set_input_files(str(census))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    assert "Dental: end" in page.content()
    screenshot(page, "upload-preview")
    page.get_by_role("button", name="Submit March changes.csv").click()
    assert "billing will review it" in page.content()
    page.get_by_role("button", name="Log out").click()

    _login(page, base_url, cast.users["billing_specialist"])
    page.get_by_role("link", name="Uploads", exact=True).click()
    page.get_by_role("link", name="March changes.csv").click()
    screenshot(page, "upload-review")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert "Approve March changes.csv?" in page.content()  # money moves: it asks first
    screenshot(page, "upload-approve-confirmation")
    page.get_by_role("button", name=re.compile(r"Confirm: approve and queue 1 adjustment")).click()
    page.wait_for_load_state()
    assert "1 adjustment(s) are pending" in page.content()
    assert "-38.20" in page.content() and "Westbrook" in page.content()
    screenshot(page, "adjustment-queue")
