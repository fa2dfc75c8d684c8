"""In Chromium, on the demo book: the HR administrator's month and the billing specialist's day
(JOURNEYS.md; issue 16's journey acceptance), each step screenshotted under test-artifacts/
(`journey-*.png`) and each page's figures checked against each other as displayed.

The month of Birchwood Bakery (G-1001, a healthy list-bill group): its administrator logs in,
reads the dashboard and the latest bill with its bridge, uploads a small change file (two new
hires covered from the first of the month already billed), reads the premium impact and
submits. The specialist's day: Today, the upload's review, its approval (the confirmation shows
the adjustments and their total), the upload's adjustments (above the authority limit, so the
demo supervisor approves them all in one decision), the next billing run for the group
(preview, then issue), and a check from Summit Ridge Veterinary (G-1002, pays by check) recorded
after its confirmation. The month ends with the administrator paying the new bill, which
carries the retro, through the local test checkout (no Stripe keys, as under `make serve`: a
signed webhook through the same code path) and reading the paid-vs-billed statement.

The demo is loaded with a short history (as tests/unit/conftest.py's demo_book) at the real
date, which is the live server's `today()`. The three tests run in order and share the book:
the specialist reviews the upload the month's first part sends, and the month's second part
pays the bill the specialist issues."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from billing_core import migrate
from billing_core.billing.enrollment import add_months
from billing_core.config import Settings
from billing_core.db import make_engine, make_session_factory
from billing_core.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, load_demo
from billing_core.models import EmployerGroup, Invoice
from portal import create_app
from tests.e2e.conftest import DATABASES, login, screenshot

pytestmark = pytest.mark.e2e

HISTORY_MONTHS = 2  # as tests/unit/conftest.py's demo_book: a load of seconds, not minutes
HR_GROUP = "G-1001"  # Birchwood Bakery: list bill, monthly, pays by card
CHECK_GROUP = "G-1002"  # Summit Ridge Veterinary: pays by check
HR = "hr@birchwoodbakery.example.com"
SPECIALIST = "billing@carrier.example.com"
SUPERVISOR = "supervisor@carrier.example.com"
CHANGE_FILE = (
    "Employee ID,First Name,Last Name,Date of Birth,Action,Eff Date,"
    "Medical Plan,Medical Tier,Dental Plan,Dental Tier,Vision Plan,Vision Tier\n"
    "N-2001,Nia,Newhire,03/04/1994,Add,{eff},Small Group Medical Silver,EE,"
    "Dental PPO,EE,Vision 12/12/24,EE\n"
    "N-2002,Omar,Ortiz,07/21/1988,Add,{eff},Small Group Medical Silver,EE,"
    "Dental PPO,EE,Vision 12/12/24,EE\n"
)
FILE_NAME = "New hires.csv"


@dataclass
class Book:
    url: str
    hr_group_id: int
    check_group_id: int
    billed_through: date  # the HR group's latest billed period when the demo was loaded
    story: dict = field(default_factory=dict)  # what one test leaves for the next


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e-demo') / 'demo.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with make_session_factory(engine)() as session:
        load_demo(session, date.today(), history_months=HISTORY_MONTHS)
        session.commit()
        groups = {
            g.group_number: g.id
            for g in session.scalars(
                select(EmployerGroup).where(EmployerGroup.group_number.in_([HR_GROUP, CHECK_GROUP]))
            )
        }
        billed_through = session.scalar(
            select(func.max(Invoice.period_start)).where(Invoice.group_id == groups[HR_GROUP])
        )
    app = create_app({"SETTINGS": Settings.from_env().with_overrides(database_url=url)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    DATABASES[base_url] = url  # the login helper forgets each staff code once used
    yield Book(
        url=base_url,
        hr_group_id=groups[HR_GROUP],
        check_group_id=groups[CHECK_GROUP],
        billed_through=billed_through,
    )
    server.shutdown()
    thread.join()
    app.extensions["db_engine"].dispose()
    engine.dispose()


def _login(page, demo: Book, email: str) -> None:
    """The shared login helper with the demo's password and its staff's authenticator key."""
    login(page, demo.url, email, DEMO_PASSWORD, DEMO_TOTP_SECRET)


# ------------------------------------------------------------------ reading figures off a page

_AMOUNT = re.compile(r"[-+−(]?\$?\d[\d,]*\.\d{2}\)?")


def money(text: str) -> Decimal:
    """The one amount in `text` as displayed: 1,234.56, -1.00, +1.00, (1.00), −1.00, $1.00."""
    found = _AMOUNT.findall(text)
    assert len(found) == 1, f"expected one amount in {text!r}, found {found}"
    raw = found[0]
    negative = raw.startswith(("-", "−", "("))
    value = Decimal(raw.strip("+-−()$").replace("$", "").replace(",", ""))
    return -value if negative else value


def amounts(text: str) -> list[Decimal]:
    return [money(a) for a in _AMOUNT.findall(text)]


def cells(table) -> list[list[str]]:
    """Every row of a table (header, body and footer) as its cells' text."""
    return table.evaluate("t => [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim()))")


def column(rows: list[list[str]], heading: str) -> int:
    return rows[0].index(heading)


def stat(page, label: str) -> str:
    """The value of the dashboard-style figure whose label is `label`."""
    box = page.locator(".stat").filter(has=page.locator(".label", has_text=label)).first
    return box.locator(".value").inner_text()


def shot(page, name: str) -> None:
    page.wait_for_load_state()
    screenshot(page, f"journey-{name}")


# ------------------------------------------------------------------ checks, one per kind of page


def check_dashboard(page) -> Decimal:
    """Total due = past due + not yet due - credit, as the figure's own line says; the latest
    bill's "total due now" is the same figure. Returns the total due."""
    box = page.locator("#total-due")
    total = money(box.locator(".value").inner_text())
    line = box.locator(".label").nth(1).inner_text()
    parts = re.match(
        r"(?P<past>\S+) past due \+ (?P<ahead>\S+) not yet due(?: − (?P<credit>\S+) credit)?", line
    )
    assert parts, line
    credit = money(parts["credit"]) if parts["credit"] else Decimal("0")
    assert total == money(parts["past"]) + money(parts["ahead"]) - credit, line
    if page.locator("#past-due").count():
        assert money(parts["past"]) > 0
        assert money(page.locator("#past-due strong").inner_text()) == money(parts["past"])
    latest = page.locator("section", has=page.get_by_role("heading", name="Latest bill"))
    if latest.count():
        assert f"total due now: {total:,.2f}" in latest.inner_text()
    return total


def check_invoice(page) -> dict[str, Decimal]:
    """The summary adds up to the total due (and the headline shows it), products add up to the
    current premium, the retro lines to the retro total, and the bridge from the prior bill
    adds up to this bill's premium and retro. Returns the summary's figures."""
    summary = {
        row[0]: money(row[1]) for row in cells(page.locator("table.summary").first) if row[1]
    }
    total_label = next(label for label in summary if label.startswith("Total due by"))
    total = summary.pop(total_label)
    summary.pop(
        next((label for label in summary if label.strip().startswith("including")), ""), None
    )
    assert sum(summary.values()) == total, summary
    assert money(stat(page, "Total due")) == total
    premium_label = next(label for label in summary if "premium" in label.lower())
    products = cells(
        page.locator("section", has=page.get_by_role("heading", name="Premium by product"))
        .locator("table")
        .first
    )
    body, foot = products[1:-1], products[-1]
    assert sum(money(r[2]) for r in body) == money(foot[2]) == summary[premium_label]
    retro = page.locator("#adjustments table")
    if retro.count():
        lines = cells(retro)
        at = column(lines, "Amount")
        retro_sum = sum(money(r[at]) for r in lines[1:])
        fees = sum(money(r[at]) for r in lines[1:] if r[column(lines, "What")].startswith("Fee"))
        assert retro_sum - fees == summary["Retro adjustments"]
    bridge = cells(page.locator("#bridge table").first)
    steps = [money(r[1]) for r in bridge[1:]]
    assert sum(steps[:-1]) == steps[-1], bridge
    assert steps[-1] == summary[premium_label] + summary["Retro adjustments"]
    summary["Total due"] = total
    summary["Current premium"] = summary[premium_label]
    return summary


def check_impact(section) -> tuple[Decimal, Decimal]:
    """Per product: with the file - now = change; the changes and the retros add up to their
    totals. Returns (next bill change, retro) totals."""
    rows = cells(section.locator("table"))
    body, total = rows[1:-1], rows[-1]
    assert total[0] == "Total"
    for product, now, after, change, _retro in body:
        assert money(after) - money(now) == money(change), product
    change, retro = money(total[3]), money(total[4])
    assert sum(money(r[3]) for r in body) == change
    assert sum(money(r[4]) for r in body) == retro
    if change and retro:  # the next bill carries both: the page adds them up
        in_all = section.locator("#impact-in-all").inner_text()
        assert amounts(in_all) == [change + retro, change, retro], in_all
    return change, retro


def check_confirmation(page) -> Decimal:
    """A money action's confirmation: the charges and credits make the total, the listed lines
    add up to it, and the Confirm button names it. Returns the total."""
    box = page.locator("#confirmation")
    assert box.is_visible()
    summary = {row[0]: row[1] for row in cells(box.locator("table.summary"))}
    total = money(box.locator("tr.total td").inner_text())
    if "Charges (premium owed)" in summary:
        charges = money(summary["Charges (premium owed)"])
        credits = money(summary["Credits (premium returned)"])
        assert charges + credits == total, summary
    listed = box.locator("table.compact")
    if listed.count():
        lines = cells(listed)
        at = column(lines, "Amount")
        assert sum(money(r[at]) for r in lines[1:]) == total
    button = box.get_by_role("button").inner_text()
    assert f"${abs(total):,.2f}" in button, button
    return total


# ------------------------------------------------------------------ the journeys


def test_hr_month_reads_the_bill_and_sends_changes(demo, page, tmp_path):
    _login(page, demo, HR)
    page.wait_for_url(re.compile(rf"/employer/groups/{demo.hr_group_id}$"))
    check_dashboard(page)
    shot(page, "month-01-dashboard")

    page.get_by_role("link", name=re.compile(r"^Open invoice ")).click()
    page.locator("#bridge").wait_for()
    assert page.get_by_role("heading", name="Why this bill differs from the last one").is_visible()
    check_invoice(page)
    shot(page, "month-02-invoice")

    page.goto(f"{demo.url}/employer/groups/{demo.hr_group_id}")
    page.get_by_role("link", name="Census uploads").first.click()
    page.get_by_role("heading", name="Census uploads").wait_for()
    shot(page, "month-03-uploads")

    # Two new hires covered from the first of the month last billed: a month already billed.
    change_file = tmp_path / FILE_NAME
    change_file.write_text(CHANGE_FILE.format(eff=f"{demo.billed_through:%m/%d/%Y}"))
    page.get_by_label("Census or change file (CSV, XLSX or X12 834)").set_input_files(
        str(change_file)
    )
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_url(re.compile(r"/uploads/\d+$"))
    impact = page.locator("section", has=page.get_by_role("heading", name="Premium impact"))
    impact.wait_for()
    assert "We read this as a change file" in page.inner_text("main")
    change, retro = check_impact(impact)
    assert change > 0 and retro > 0
    assert f"{demo.billed_through:%b %Y}" in impact.inner_text()  # the billed month reached
    shot(page, "month-04-impact")
    demo.story.update(retro=retro, upload_url=page.url)

    page.get_by_role("button", name=re.compile(rf"^Submit {re.escape(FILE_NAME)}")).click()
    page.wait_for_load_state()
    assert "billing will review it" in page.content()
    shot(page, "month-05-submitted")


def test_specialists_day(demo, page, browser):
    if "retro" not in demo.story:
        pytest.skip("needs the upload of test_hr_month_reads_the_bill_and_sends_changes")
    retro = demo.story["retro"]
    _login(page, demo, SPECIALIST)

    # Today: the work queue, its headline figures the sum of its lines.
    page.wait_for_url(re.compile(r"/admin/today$"))
    queue = cells(page.locator("table").first)
    waiting = sum(int(r[1]) for r in queue[1:])
    late = sum(int(m[1]) for r in queue[1:] if (m := re.match(r"(\d+) late", r[4])))
    assert int(stat(page, "Waiting")) == waiting
    assert int(stat(page, "Past their target")) == late
    uploads_row = next(r for r in queue if r[0].startswith("Census uploads to review"))
    assert int(uploads_row[1]) >= 1
    shot(page, "day-01-today")

    # The review: billed vs from the file, per product and in total.
    page.get_by_role("link", name="Open Census uploads to review").click()
    page.get_by_role("link", name=FILE_NAME).click()
    recon = cells(page.locator("#reconciliation table").first)
    head = recon[0]
    billed, from_file, variance = (
        head.index("Billed"),
        head.index("From the file"),
        head.index("Variance $"),
    )
    for row in recon[1:]:
        assert money(row[from_file]) - money(row[billed]) == money(row[variance]), row
    body, total = recon[1:-1], recon[-1]
    assert total[0] == "Total"
    for at in (billed, from_file, variance):
        assert sum(money(r[at]) for r in body) == money(total[at])
    assert money(total[variance]) == retro  # the month billed, short of the two new hires
    review_impact = page.locator("section", has=page.get_by_role("heading", name="Premium impact"))
    assert check_impact(review_impact)[1] == retro  # what the employer was shown
    shot(page, "day-02-review")

    # Approve: the confirmation shows what it queues, then it is done.
    page.get_by_role("button", name=re.compile(r"^Approve 2 adds")).click()
    page.wait_for_load_state()
    assert check_confirmation(page) == retro
    assert "a supervisor who did not request them" in page.inner_text("#confirmation")
    shot(page, "day-03-approve-confirmation")
    page.get_by_role(
        "button", name=re.compile(r"^Confirm: approve and queue 6 adjustments")
    ).click()
    page.wait_for_load_state()
    flash = page.locator(".flash-success")
    assert f"6 adjustment(s) are pending in the adjustment queue (${retro:,.2f} net)" in (
        flash.inner_text()
    )
    shot(page, "day-04-approved")

    # The upload's adjustments: together above the specialist's authority.
    flash.get_by_role("link", name="Decide this upload's adjustments").click()
    page.wait_for_load_state()
    lines = cells(page.locator("table").last)
    at = column(lines, "Amount")
    assert sum(money(r[at]) for r in lines[1:]) == retro
    assert len(lines) - 1 == 6
    whole = page.locator("section", has_text="All pending adjustments of census upload")
    assert money(whole.locator("tr.total td, tr:has-text('Net change') td").first.inner_text()) == (
        retro
    )
    assert "You cannot approve these" in whole.inner_text()
    shot(page, "day-05-adjustments")
    source_url = page.url

    # The demo supervisor approves all of the upload in one decision (a second browser).
    supervisor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        _login(supervisor, demo, SUPERVISOR)
        supervisor.goto(source_url)
        supervisor.get_by_role("button", name=re.compile(r"^Approve all 6")).click()
        supervisor.wait_for_load_state()
        assert check_confirmation(supervisor) == retro
        shot(supervisor, "day-06-bulk-approve-confirmation")
        supervisor.get_by_role(
            "button", name=re.compile(r"^Confirm: approve 6 adjustments")
        ).click()
        supervisor.wait_for_load_state()
        assert f"6 adjustments (${retro:,.2f} net) approved" in supervisor.content()
        shot(supervisor, "day-07-bulk-approved")
    finally:
        supervisor.context.close()

    # The billing run for the group's next period: the preview is the confirmation.
    period = add_months(demo.billed_through, 1)
    page.get_by_role("link", name="Billing run", exact=True).click()
    page.get_by_label("Billing period (month)").fill(f"{period:%Y-%m}")
    page.get_by_label("Only group number (optional)").fill(HR_GROUP)
    page.get_by_role("button", name="Preview").click()
    page.wait_for_load_state()
    issue = page.get_by_role("button", name=re.compile(r"^Issue 1 invoice\(s\)"))
    if not issue.count():
        shot(page, "day-08-billing-preview")
        pytest.skip(f"{HR_GROUP} has nothing to issue for {period:%b %Y} on the demo today")
    preview = cells(page.locator("table").last)
    head = preview[0]
    row = next(r for r in preview if r[0] == f"{HR_GROUP}-{period:%Y%m}")
    parts = ["Premium", "Retro", "Fees", "Balance forward", "Payments & credits"]
    assert sum(money(row[head.index(p)]) for p in parts) == money(row[head.index("Total due")])
    assert money(row[head.index("Retro")]) == retro
    new_charges = sum(money(row[head.index(p)]) for p in ("Premium", "Retro", "Fees"))
    # One invoice: the total row (its first cell spans three columns) repeats its figures.
    assert preview[-1][2:] == row[4:]
    assert money(page.locator("#new-charges strong").inner_text()) == new_charges
    assert f"new charges {new_charges:,.2f}" in issue.inner_text()
    shot(page, "day-08-billing-preview")
    issue.click()
    page.wait_for_load_state()
    assert f"Issued 1 invoice(s) for {period:%b %Y}" in page.locator(".flash-success").inner_text()
    issued = cells(page.locator("table").first)
    row = next(r for r in issued if r[0] == f"{HR_GROUP}-{period:%Y%m}")
    assert money(row[issued[0].index("Balance")]) == money(row[issued[0].index("Amount")])
    shot(page, "day-09-issued")
    demo.story.update(invoice=f"{HR_GROUP}-{period:%Y%m}")

    # A check from Summit Ridge: the open balance, recorded after its confirmation.
    page.goto(f"{demo.url}/admin/groups/{demo.check_group_id}/ledger")
    open_balance = money(stat(page, "Open balance"))
    credit = money(stat(page, "Credit (unapplied cash)"))
    assert money(stat(page, "Net due after credit")) == open_balance - credit
    open_rows = cells(
        page.locator("table", has=page.get_by_role("columnheader", name="Days past due")).first
    )
    assert sum(money(r[-1]) for r in open_rows[1:-1]) == money(open_rows[-1][-1]) == open_balance
    aging = cells(page.locator("table", has=page.get_by_role("columnheader", name="Current")))
    assert sum(money(c) for c in aging[1][:-1]) == money(aging[1][-1]) == open_balance
    shot(page, "day-10-ledger")
    amount = open_balance if open_balance > 0 else Decimal("100.00")
    page.get_by_role("link", name="Record a payment for this group").click()
    page.get_by_label("Amount ($)").fill(f"{amount:,.2f}")
    page.get_by_label("Check number / wire or trace reference").fill("4417")
    page.get_by_label("Payer (as on the check or wire)").fill("Summit Ridge Veterinary")
    page.get_by_role("button", name="Record the payment").click()
    page.wait_for_load_state()
    assert check_confirmation(page) == amount
    does = page.locator("#confirmation tr", has_text="What it does").inner_text()
    paid = sum(amounts(" ".join(re.findall(r"\$[\d,]+\.\d\d to ", does))), Decimal("0"))
    left = sum(amounts(" ".join(re.findall(r"\$[\d,]+\.\d\d is left as credit", does))), Decimal(0))
    assert paid + left == amount, does
    shot(page, "day-11-record-check-confirmation")
    page.get_by_role("button", name=re.compile(rf"^Confirm: record \${amount:,.2f}")).click()
    page.wait_for_load_state()
    assert f"Check 4417 of ${amount:,.2f} recorded" in page.locator(".flash-success").inner_text()
    went = {r[0]: money(r[1]) for r in cells(page.locator("table.summary").first)}
    assert went["Amount received"] == amount
    assert amount == sum(v for k, v in went.items() if k != "Amount received")
    shot(page, "day-12-check-recorded")


def test_hr_month_pays_the_new_bill_and_reads_the_statement(demo, page):
    if "invoice" not in demo.story:
        pytest.skip("needs the bill that test_specialists_day issues")
    number, retro = demo.story["invoice"], demo.story["retro"]
    _login(page, demo, HR)
    page.wait_for_url(re.compile(rf"/employer/groups/{demo.hr_group_id}$"))
    total_due = check_dashboard(page)
    assert page.get_by_role("link", name=f"Open invoice {number}").is_visible()
    assert "Approved" in stat(page, "Latest census upload")
    shot(page, "month-06-dashboard-new-bill")

    page.get_by_role("link", name=f"Open invoice {number}").click()
    page.locator("#bridge").wait_for()
    bill = check_invoice(page)
    assert bill["Retro adjustments"] == retro
    retro_text = page.inner_text("#adjustments")
    assert "Newhire, Nia" in retro_text and "Ortiz, Omar" in retro_text
    bridge_retro = page.locator("#bridge tr", has_text="Retro adjustments").inner_text()
    assert money(bridge_retro) == retro
    shot(page, "month-07-new-invoice")

    page.get_by_role("link", name="Pay this invoice").click()
    page.wait_for_load_state()
    assert page.get_by_label(number).is_checked()
    # The open invoices add up to what the page says is open, which is what the account owes
    # (no credit here) and the new bill's total due (its balance forward carries any other).
    picks = page.locator("form table").first
    rows = [r for r in cells(picks)[1:] if r[1] != "Total open"]
    open_total = money(stat(page, "Open on your invoices"))
    assert sum(money(r[-1]) for r in rows) == open_total == total_due == bill["Total due"]
    chosen = next(money(r[-1]) for r in rows if r[1] == number)
    verdict = page.locator("#pay-verdict").inner_text()
    assert number in verdict and money(verdict.replace("(", " ")) == chosen
    for box in picks.get_by_role("checkbox").all():  # an older bill still open: pay it too
        box.check()
    page.get_by_label("Card (credit or debit)").check()
    shot(page, "month-08-pay")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_load_state()
    assert page.get_by_text("Test checkout — no real money moves").is_visible()
    shot(page, "month-09-test-checkout")
    page.get_by_role("button", name=f"Pay ${open_total:,.2f}").click()
    page.wait_for_load_state()
    assert f"your payment of ${open_total:,.2f} has been received and applied" in page.content()
    shot(page, "month-10-paid")

    page.get_by_role("link", name="See your payments").click()
    page.wait_for_load_state()
    history = page.locator("table", has_text="What it paid")
    assert "Succeeded" in history.inner_text()
    assert f"{number} {chosen:,.2f}" in history.inner_text()
    assert "Nothing is owed" in page.content()
    shot(page, "month-11-payments")

    page.goto(f"{demo.url}/employer/groups/{demo.hr_group_id}")
    assert check_dashboard(page) == 0
    page.get_by_role("link", name="Paid-vs-billed statement").click()
    page.wait_for_load_state()
    downloads = page.locator("section", has=page.get_by_role("heading", name="Download"))
    assert downloads.get_by_role("link", name=re.compile("^PDF")).is_visible()
    assert downloads.get_by_role("link", name="Excel workbook (XLSX)").is_visible()
    periods = cells(
        page.locator("section", has=page.get_by_role("heading", name="By coverage period"))
        .locator("table")
        .first
    )
    head = periods[0]
    billed, adjusted, paid, credited, balance, running = (
        head.index(h)
        for h in ("Billed", "Adjusted", "Paid", "Other credits", "Balance", "Running balance")
    )
    body, total = periods[1:-1], periods[-1]
    carried = Decimal("0")
    rows = [r for r in body if len(r) == len(head)]
    for row in body:
        if len(row) != len(head):  # owed before the range, and paid on it since: carried in
            carried = money(row[-1])
            continue
        expected = money(row[billed]) + money(row[adjusted]) - money(row[paid])
        assert expected - money(row[credited]) == money(row[balance]), row
        carried += money(row[balance])
        assert carried == money(row[running]), row
    # The footer spans three columns with its label: its cells sit three to the left.
    foot = {h: money(total[head.index(h) - 2]) for h in ("Billed", "Adjusted", "Paid")}
    for h, at in (("Billed", billed), ("Adjusted", adjusted), ("Paid", paid)):
        assert sum(money(r[at]) for r in rows) == foot[h], h
    assert money(total[-1]) == money(stat(page, "Balance owed on")) == 0
    assert any(r[1] == number for r in rows)
    shot(page, "month-12-statement")
