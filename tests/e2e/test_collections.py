"""In Chromium (issue 20's acceptance): a late group's HR administrator sees the delinquency
clock running on the dashboard (pay by a date, or coverage can be cancelled); a billing
specialist opens the group's collections page, logs a call and records a promise to pay
(asked, then confirmed); the HR administrator's dashboard then says the steps are on hold
because of the promise, until its date. Screenshots under test-artifacts/."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing_core.collections.sweep import run_sweep
from billing_core.db import make_engine, make_session_factory
from billing_core.models import EmployerGroup
from tests.e2e.conftest import DATABASES, login, screenshot
from tests.factories import make_invoice

pytestmark = pytest.mark.e2e


def _make_late(base_url: str, group_id: int, today: date) -> None:
    """Group A owes 1,500.00 due 20 days ago: in grace after today's sweep."""
    engine = make_engine(DATABASES[base_url])
    with make_session_factory(engine)() as session:
        group = session.get(EmployerGroup, group_id)
        make_invoice(session, group, Decimal("1500.00"), today - timedelta(days=20))
        run_sweep(session, today)
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def late_a(live_server):
    """The live server with group A late (in grace), once for the module."""
    base_url, cast = live_server
    _make_late(base_url, cast.group_a.id, date.today())
    return live_server


def _clock(page) -> str:
    return " ".join(page.locator("#delinquency-clock").inner_text().split())


def test_a_call_and_a_promise_put_the_employers_clock_on_hold(late_a, browser, page):
    base_url, cast = late_a
    today = date.today()
    group = cast.group_a
    promised = today + timedelta(days=7)

    hr = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    login(hr, base_url, cast.users["employer_a"].email)
    hr.goto(f"{base_url}/employer/groups/{group.id}")
    before = _clock(hr)
    assert "grace period" in before and "on hold" not in before
    assert "can be cancelled for non-payment" in before
    screenshot(hr, "collections-1-employer-clock-running")

    login(page, base_url, cast.users["billing_specialist"].email)
    page.goto(f"{base_url}/admin/collections")
    page.get_by_role("link", name=group.name).click()
    page.wait_for_load_state()
    assert "In grace" in page.content()

    page.get_by_label("Kind").select_option("call")
    page.get_by_label("Outcome").fill("Spoke to AP: wire of the full amount next week")
    page.get_by_role("button", name="Log contact").click()
    page.wait_for_load_state()
    assert "Logged the call with Acme Tooling" in page.locator(".flash-success").inner_text()
    assert "Spoke to AP: wire of the full amount next week" in page.content()

    page.get_by_label("Promised amount ($)").fill("1,500.00")
    page.get_by_label("To be paid by").fill(promised.isoformat())
    page.get_by_label("Note (optional)").fill("by wire")
    page.get_by_role("button", name=re.compile("Record promise")).click()
    page.wait_for_load_state()
    assert page.locator("#confirmation").is_visible()
    screenshot(page, "collections-2-promise-confirmation")
    page.get_by_role("button", name=re.compile(r"Confirm: promise of \$1,500\.00")).click()
    page.wait_for_load_state()
    assert "Recorded the promise to pay $1,500.00" in page.locator(".flash-success").inner_text()
    assert "paused: promise" in page.content()
    screenshot(page, "collections-3-group-page-after-promise")

    hr.reload()
    after = _clock(hr)
    assert "on hold because of your promise to pay" in after
    assert f"until {promised:%b} {promised.day}, {promised.year}" in after
    assert "can be cancelled for non-payment" not in after
    screenshot(hr, "collections-4-employer-clock-on-hold")
    hr.context.close()


def test_watchlist_report_and_the_brokers_book(late_a, browser, page):
    """A specialist puts group A's employer on the watchlist; its page warns, the credit-control
    report lists it; its broker's book shows it late, with no member's name."""
    base_url, cast = late_a
    group = cast.group_a
    login(page, base_url, cast.users["billing_specialist"].email)
    page.get_by_role("link", name="Watchlist").click()
    page.get_by_label("Tax id (EIN)").fill(f"{group.tax_id[:2]}-{group.tax_id[2:]}")
    page.get_by_label("Employer name").fill("Acme Tooling")
    page.get_by_label("Reason").fill("Three returned ACH debits in 2026")
    page.get_by_role("button", name="Add to the watchlist").click()
    page.wait_for_load_state()
    assert "Added Acme Tooling" in page.locator(".flash-success").inner_text()
    screenshot(page, "collections-5-watchlist")
    page.get_by_role("link", name="Acme Tooling").last.click()
    page.wait_for_load_state()
    assert "Three returned ACH debits" in page.locator("#watchlist-warning").inner_text()
    screenshot(page, "collections-5b-group-page-warning")
    page.goto(f"{base_url}/admin/reports/credit_control")
    table = page.locator("table").first.inner_text()
    assert "Acme Tooling" in table and "On the watchlist, Delinquent" in table
    screenshot(page, "collections-6-credit-control-report")

    broker = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    login(broker, base_url, cast.users["broker_a"].email)
    row = " ".join(broker.locator(f"#group-{group.id}").inner_text().split())
    assert "In grace" in row and "1,500.00" in row
    assert "Eastwood" not in broker.content()
    screenshot(broker, "collections-7-broker-book")
    broker.get_by_role("link", name=group.name).click()
    broker.wait_for_load_state()
    standing = " ".join(broker.locator("#collections-standing").inner_text().split())
    assert "In grace" in standing and "Days past due 20" in standing
    screenshot(broker, "collections-8-broker-group")
    broker.context.close()
