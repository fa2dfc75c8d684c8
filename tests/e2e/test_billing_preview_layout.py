"""In Chromium, on the demo book: the billing run's preview shows every column at 1280 px (none cut
off inside its scrolling box), and at 390 px the header fits the screen and nothing makes the
page scroll sideways (the preview table scrolls inside its card). Screenshots of both are kept
in test-artifacts/."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from billing_core import migrate
from billing_core.billing.enrollment import add_months
from billing_core.config import Settings
from billing_core.db import make_engine, make_session_factory
from billing_core.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, load_demo
from billing_core.models import Invoice
from portal import create_app
from tests.e2e.conftest import DATABASES, login, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e-demo') / 'demo.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with make_session_factory(engine)() as session:
        load_demo(session, history_months=1)
        session.commit()
        latest = session.scalar(select(func.max(Invoice.period_start)))
    app = create_app({"SETTINGS": Settings.from_env().with_overrides(database_url=url)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    DATABASES[f"http://127.0.0.1:{server.server_port}"] = url
    yield f"http://127.0.0.1:{server.server_port}", add_months(latest, 1)
    server.shutdown()
    thread.join()
    app.extensions["db_engine"].dispose()
    engine.dispose()


def _preview(browser, base_url: str, period: date, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    login(page, base_url, "billing@carrier.example.com", DEMO_PASSWORD, DEMO_TOTP_SECRET)
    page.goto(f"{base_url}/admin/billing?period={period:%Y-%m}&group=")
    page.locator("table.compact tbody tr").first.wait_for()
    return context, page


def _overflow(page, selector: str) -> int:
    """How many pixels the element's content is wider than its box (0 when it fits)."""
    return page.eval_on_selector(selector, "e => Math.max(0, e.scrollWidth - e.clientWidth)")


def test_the_billing_preview_fits_at_1280_and_at_390(browser, demo_server):
    base_url, period = demo_server

    context, page = _preview(browser, base_url, period, 1280)
    assert page.locator("table.compact tbody tr").count() >= 9  # every demo bill
    assert _overflow(page, ".table-scroll") == 0, "a preview column is cut off at 1280 px"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 1280
    total_due = page.get_by_role("columnheader", name="Total due")
    box = total_due.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280
    screenshot(page, "billing-preview-1280")
    context.close()

    context, page = _preview(browser, base_url, period, 390)
    assert _overflow(page, "header.topbar") == 0, "the header overflows at 390 px"
    right_edges = page.eval_on_selector_all(
        "header.topbar a, header.topbar button, header.topbar span",
        "items => items.map(e => e.getBoundingClientRect().right)",
    )
    assert right_edges and max(right_edges) <= 390
    assert page.get_by_role("button", name="Log out").is_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshot(page, "billing-preview-390")
    context.close()
