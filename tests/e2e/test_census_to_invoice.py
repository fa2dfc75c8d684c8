"""In Chromium, the whole census journey of issue 5: an HR administrator uploads an Excel change
file with a header the portal cannot place ("Natal Day"), fixes it with the select, reads the
premium impact on the month already billed, submits; a billing specialist reads the variance,
approves the upload and the small adjustment; the one above the authority limit waits for a
supervisor (four eyes, enforced on the server); the next billing run carries both adjustments
into the February bill's retro section and its bill bridge.

The scenario's January 2027 bill is already issued, so the file touches a billed month: West's
termination on 31 Dec 2026 credits January (-38.20) and a new hire covered from 1 Jan 2027 at
FAM adds January's premium (+112.40). The portal's `today()` is the real date, as in the other
browser tests: the scenario's dates lie ahead of it and the billing period is typed in."""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from werkzeug.serving import make_server

from billing_core import migrate
from billing_core.config import Settings
from billing_core.db import make_engine, make_session_factory
from billing_core.models import Coverage, Plan
from portal import create_app
from tests.e2e.conftest import screenshot
from tests.e2e.test_invoices import _login
from tests.factories import scenario

pytestmark = pytest.mark.e2e

AUTHORITY_LIMIT = Decimal("100.00")  # the +112.40 add is above it: a supervisor must approve


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The conftest's server with a lower authority limit; returns the dental plan code too."""
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e-journey') / 'e2e.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with make_session_factory(engine)() as session:
        cast = scenario(session)
        session.commit()
        plan_code = session.scalar(
            select(Plan.code)
            .join(Coverage, Coverage.plan_id == Plan.id)
            .where(Coverage.member_id == cast.member_west.id)
        )
    settings = Settings.from_env().with_overrides(
        database_url=url, adjustment_authority_limit=AUTHORITY_LIMIT
    )
    app = create_app({"SETTINGS": settings})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", cast, plan_code
    server.shutdown()
    thread.join()
    app.extensions["db_engine"].dispose()
    engine.dispose()


def _change_file(path, cast, plan_code):
    west = cast.member_west
    book = Workbook()
    sheet = book.active
    sheet.append(
        ["EE ID", "First Name", "Last Name", "Natal Day", "Location", "Action", "Eff Date",
         "Termination Date", "Dental Plan", "Den Tier"]
    )  # fmt: skip
    sheet.append(
        [west.employee_id, west.first_name, west.last_name, f"{west.birth_date:%m/%d/%Y}",
         "WEST", "Term", "", "12/31/2026", "", ""]
    )  # fmt: skip
    sheet.append(
        ["E9001", "Nadia", "Newhire", "04/02/1990", "EAST", "Add", "01/01/2027", "", plan_code,
         "FAM"]
    )  # fmt: skip
    book.save(path)


def test_census_change_reaches_the_next_invoice(live_server, page, tmp_path):
    base_url, cast, plan_code = live_server
    census = tmp_path / "Payroll changes.xlsx"
    _change_file(census, cast, plan_code)

    # Employer: upload, fix the one header, read the impact, submit.
    _login(page, base_url, cast.users["employer_a"])
    page.get_by_role("link", name="Census uploads").first.click()
    page.get_by_label("Census or change file (CSV, XLSX or X12 834)").set_input_files(str(census))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    assert "Required and not found:" in page.content()
    page.get_by_label("Natal Day").select_option(label="Date of birth (required)")
    page.wait_for_url(re.compile(r"/uploads/\d+$"))
    impact = page.locator("section", has=page.get_by_role("heading", name="Premium impact"))
    impact.wait_for()
    impact_text = impact.inner_text()
    assert "Jan 2027" in impact_text  # the billed month the file reaches back into
    assert "+74.20" in impact_text  # retro: +112.40 - 38.20
    screenshot(page, "journey-1-impact")
    page.get_by_role("button", name="Submit Payroll changes.xlsx").click()
    page.wait_for_load_state()
    assert "billing will review it" in page.content()
    page.get_by_role("button", name="Log out").click()

    # Billing specialist: the variance, then approve the upload and what is within authority.
    _login(page, base_url, cast.users["billing_specialist"])
    page.get_by_role("link", name="Uploads", exact=True).click()
    page.get_by_role("link", name="Payroll changes.xlsx").click()
    recon = page.locator("#reconciliation")
    recon.get_by_label("Billing period").select_option(label="Jan 2027")
    recon.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    recon_text = recon.inner_text()
    assert "Variance $" in recon_text and cast.invoice_a.invoice_number in recon_text
    assert "+74.20" in recon_text  # billed 150.60, from the file 224.80
    screenshot(page, "journey-2-variance")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    # Approval asks first, with the adjustments it queues and their total.
    assert "Approve Payroll changes.xlsx?" in page.content()
    screenshot(page, "journey-2-approve-confirmation")
    page.get_by_role("button", name=re.compile(r"Confirm: approve and queue 2 adjustments")).click()
    page.wait_for_load_state()
    assert "2 adjustment(s) are pending" in page.content()

    page.get_by_role("link", name="Adjustments", exact=True).click()
    queue = page.locator("table")
    assert "Westbrook" in queue.inner_text() and "Newhire" in queue.inner_text()
    # The upload's two lines come to 150.60 together, above 100.00: neither is this user's to
    # approve alone (they requested them by approving the upload).
    assert queue.inner_text().count("needs another supervisor") == 2
    page.get_by_role("button", name="Log out").click()

    # Supervisor: the four-eyes approval of all of the upload at once, then the February
    # billing run (preview, issue).
    _login(page, base_url, cast.users["supervisor"])
    page.get_by_role("link", name="Adjustments", exact=True).click()
    page.get_by_role("link", name="all of it").first.click()
    page.get_by_role("button", name=re.compile(r"Approve all 2 \(74.20 net\)")).click()
    page.wait_for_load_state()
    assert "Net change to the next bills" in page.content()
    screenshot(page, "journey-3-bulk-approve-confirmation")
    page.get_by_role("button", name=re.compile(r"Confirm: approve 2 adjustments")).click()
    page.wait_for_load_state()
    assert "2 adjustments ($74.20 net) approved; the next invoices bill them." in page.content()

    page.get_by_role("link", name="Billing run", exact=True).click()
    page.get_by_label("Billing period (month)").fill("2027-02")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_load_state()
    february = f"{cast.group_a.group_number}-202702"
    assert february in page.content()
    page.get_by_role("button", name=re.compile(r"Issue \d+ invoice\(s\)")).click()
    page.wait_for_load_state()
    assert "Issued" in page.content()
    page.get_by_role("link", name=re.compile(february)).first.click()
    page.wait_for_load_state()

    # The February bill: both adjustments in its retro section and the bridge's retro step.
    content = page.content()
    retro = page.locator(
        "section", has=page.get_by_role("heading", name="Retro adjustments and fees")
    )
    retro_text = retro.inner_text()
    assert "Jan 2027" in retro_text
    assert "-38.20" in retro_text and "112.40" in retro_text
    bridge = page.locator("#bridge")
    retro_step = bridge.get_by_role("row").filter(has_text="Retro adjustments")
    assert "+74.20" in retro_step.inner_text()
    assert "Westbrook" not in page.locator("#invoice-lines").inner_text()  # termed: no Feb line
    assert "Newhire" in content
    screenshot(page, "journey-3-next-invoice")
