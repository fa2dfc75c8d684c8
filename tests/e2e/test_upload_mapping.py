"""In Chromium: an HR administrator uploads an Excel export with their own headers, fixes the
one column the portal could not place with its select (htmx checks the file again), reads the
preview and premium impact, and submits."""

import re

import pytest
from openpyxl import Workbook

from tests.e2e.conftest import screenshot
from tests.e2e.test_invoices import _login

pytestmark = pytest.mark.e2e


def test_employer_fixes_a_column_mapping_and_submits(live_server, page, tmp_path):
    base_url, cast = live_server
    west = cast.member_west
    book = Workbook()
    sheet = book.active
    sheet.append(["EE ID", "First Name", "Last Name", "Natal Day", "Action", "Termination Date"])
    sheet.append(
        [west.employee_id, west.first_name, west.last_name, west.birth_date.strftime("%m/%d/%Y"),
         "Term", "12/31/2026"]
    )  # fmt: skip
    census = tmp_path / "HRIS export.xlsx"
    book.save(census)

    _login(page, base_url, cast.users["employer_a"])
    page.get_by_role("link", name="Census uploads").first.click()
    page.get_by_label("Census or change file (CSV, XLSX or X12 834)").set_input_files(str(census))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    assert "HRIS export.xlsx was refused" in page.content()
    assert "Required and not found:" in page.content()
    screenshot(page, "upload-mapping-refused")

    page.get_by_label("Natal Day").select_option(label="Date of birth (required)")
    page.wait_for_url(re.compile(r"/uploads/\d+$"))
    page.get_by_role("heading", name="Premium impact").wait_for()
    content = page.content()
    assert "Dental: end" in content and "-38.20" in content
    assert "Submitting also remembers these columns" in content
    screenshot(page, "upload-mapping-preview")

    page.get_by_role("button", name="Submit HRIS export.xlsx").click()
    page.wait_for_load_state()
    assert "billing will review it" in page.content()

    page.get_by_role("link", name="Census uploads").last.click()
    assert "read using the column mapping you saved on" in page.content()
    screenshot(page, "upload-mapping-saved")
