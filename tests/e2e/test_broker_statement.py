"""A broker logs in through the real login page in Chromium, opens the commission statements,
opens last month's statement and downloads it as PDF and CSV: the files arrive and hold the
statement's total (issue 21's acceptance)."""

from __future__ import annotations

import io
import shutil
import subprocess
from types import SimpleNamespace

import pandas as pd
import pytest

from billing_core.db import make_engine, make_session_factory
from billing_core.models import EmployerGroup, Member, User
from billing_core.money import D
from tests.e2e.conftest import DATABASES, login, screenshot
from tests.web.test_broker_commissions import build_commissions

pytestmark = pytest.mark.e2e


def _with_commissions(base_url: str, cast):
    """The live server's book gets build_commissions' bills, payments and approved runs."""
    engine = make_engine(DATABASES[base_url])
    with make_session_factory(engine)() as session:
        here = SimpleNamespace(
            group_a=session.get(EmployerGroup, cast.group_a.id),
            group_b=session.get(EmployerGroup, cast.group_b.id),
            member_east=session.get(Member, cast.member_east.id),
            member_west=session.get(Member, cast.member_west.id),
            member_b=session.get(Member, cast.member_b.id),
            users={role: session.get(User, user.id) for role, user in cast.users.items()},
        )
        book = build_commissions(session, here)
    engine.dispose()
    return book


def test_a_broker_opens_and_downloads_a_statement(live_server, page, tmp_path):
    base_url, cast = live_server
    book = _with_commissions(base_url, cast)
    login(page, base_url, cast.users["broker_a"].email)
    page.get_by_role("link", name="Commission statements").first.click()
    page.wait_for_load_state()
    assert "Commission statements" in page.locator("h1").inner_text()
    page.get_by_role("link", name=f"{book.m2:%b %Y}").click()
    page.wait_for_load_state()
    assert page.locator("#statement-net").inner_text() == "$25.00"
    screenshot(page, "broker-statement")

    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="PDF").click()
    pdf = pdf_download.value
    assert pdf.suggested_filename.endswith(f"{book.m2:%Y-%m}.pdf")
    pdf_path = tmp_path / pdf.suggested_filename
    pdf.save_as(pdf_path)
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True,
                              check=True, timeout=60).stdout.decode()  # fmt: skip
        assert "25.00" in text

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV").click()
    csv_path = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(csv_path)
    frame = pd.read_csv(io.BytesIO(csv_path.read_bytes()), dtype=str, keep_default_na=False)
    assert sum(D(x) for x in frame["Commission"] if x) == D("25.00")
