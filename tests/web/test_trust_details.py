"""Small things that cost trust (issue 16, point 9), each through its page or command: the file
too large page, the web invoice's retro table, the pay-complete page's reference, `demo load`'s
list of logins and their stories, and gunicorn as a dependency. (The billing preview's layout
is in tests/e2e/test_billing_preview_layout.py.)"""

from __future__ import annotations

import functools
import io
import re
import tomllib
from datetime import date
from importlib.util import find_spec
from pathlib import Path

from sqlalchemy import select

from billing_core import demo
from billing_core.billing.invoicing import issue_billing_run
from billing_core.models import Adjustment, BillingPolicy, Coverage, EmployerGroup, Payment
from billing_core.models.enums import AdjustmentStatus, BillingMethod
from billing_core.money import D
from billing_core.payments.allocation import open_balances
from portal import create_app, format_size
from tests.web.conftest import csrf_token
from tests.web.test_remit_to import _flat, _logged_in

ROOT = Path(__file__).resolve().parents[2]
FEB = date(2027, 2, 1)


# --- the file too large page ------------------------------------------------------------------


def test_a_file_too_large_says_the_limit_and_leads_back_to_the_upload_page(session_factory, cast):
    app = create_app(
        {
            "TESTING": True,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
            "MAX_CONTENT_LENGTH": 2048,
        }
    )
    client = _logged_in(app, cast.users["employer_a"])
    uploads = f"/employer/groups/{cast.group_a.id}/uploads"
    token = csrf_token(client, uploads)
    response = client.post(
        uploads,
        data={"csrf_token": token, "file": (io.BytesIO(b"x" * 4096), "big.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "at most 2 KB per upload" in _flat(html)
    assert "Nothing was saved" in html
    assert f'<a class="button" href="{uploads}">Back to the upload page</a>' in html


def test_sizes_read_as_people_write_them():
    assert format_size(50 * 1024 * 1024) == "50 MB"
    assert format_size(2 * 1024 * 1024 + 300 * 1024) == "2.3 MB"
    assert format_size(2048) == "2 KB"
    assert format_size(900) == "900 bytes"


# --- the web invoice's retro table ------------------------------------------------------------


def test_the_web_invoice_names_the_member_product_and_month_of_each_retro_line(
    client, login_as, session, cast
):
    coverage = session.scalar(select(Coverage).where(Coverage.member_id == cast.member_east.id))
    session.add(
        Adjustment(
            group_id=cast.group_a.id,
            member_id=cast.member_east.id,
            plan_id=coverage.plan_id,
            coverage_month=date(2027, 1, 1),
            amount=D("-12.50"),
            reason_code="rate_correction",
            source_type="manual",
            status=AdjustmentStatus.APPROVED,
        )
    )
    session.flush()
    [feb] = issue_billing_run(session, FEB, group_numbers=[cast.group_a.group_number]).issued
    session.commit()

    login_as(cast.users["employer_a"])
    html = client.get(f"/employer/groups/{cast.group_a.id}/invoices/{feb.id}").get_data(
        as_text=True
    )
    table = re.search(r'<section class="card" id="adjustments">.*?</section>', html, re.S)[0]
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', table)
    assert headers == ["Coverage month", "Member", "Product", "What", "Amount"]
    row = _flat(re.search(r"<tbody>.*?</tbody>", table, re.S)[0])
    member = cast.member_east
    assert f"Jan 2027 {member.last_name}, {member.first_name} {member.member_key}" in row
    assert "Dental PPO" in row and "Rate correction" in row and "-12.50" in row


# --- the pay-complete page ----------------------------------------------------------------------


def test_the_pay_complete_page_shows_the_payments_reference(client, login_as, session, cast):
    login_as(cast.users["employer_a"])
    pay = f"/employer/groups/{cast.group_a.id}/pay"
    html = client.get(pay).get_data(as_text=True)
    form = {
        "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1],
        "nonce": re.search(r'name="nonce" type="hidden" value="([^"]+)"', html)[1],
        "pay_what": "invoices",
        "invoice_ids": cast.invoice_a.id,
        "method": "card",
    }
    checkout_page = client.post(pay, data=form).location
    token = csrf_token(client, checkout_page)
    done = client.post(checkout_page, data={"csrf_token": token, "bank_outcome": "succeeds"})
    assert done.status_code == 303

    payment = session.scalars(select(Payment)).one()
    assert payment.reference and payment.reference.startswith("pi_local_")
    page = _flat(client.get(done.location).get_data(as_text=True))
    assert f"Payment reference {payment.reference}" in page
    assert "Amount $150.60" in page


# --- `make serve`'s demo logins ---------------------------------------------------------------


def test_demo_load_lists_every_login_with_its_group_and_a_true_story(web_app, session, monkeypatch):
    monkeypatch.setattr(demo, "load_demo", functools.partial(demo.load_demo, history_months=1))
    runner = web_app.test_cli_runner()
    first = runner.invoke(args=["demo", "load", "--if-empty"])
    assert first.exit_code == 0, first.output
    output = first.output
    assert "Demo logins (password for every one: demo-password-2026):" in output
    lines = output.splitlines()

    def story_of(email: str) -> tuple[str, str]:
        [at] = [i for i, line in enumerate(lines) if f" {email} " in f"{line} "]
        return lines[at], lines[at + 1].strip()

    groups = {g.group_number: g for g in session.scalars(select(EmployerGroup))}
    for login in demo.demo_logins():
        head, story = story_of(login["email"])
        assert login["role"].replace("_", " ") in head
        assert story == login["story"] and story
        if login["role"] == "employer":
            assert login["group"] in head  # "G-1007 Bayview Unified School District"

    # The stories are true of the book that was loaded.
    stopped = _groups_whose_story_says(lines, "STOPPED PAYING last month")
    assert stopped == ["G-1007"]
    today = date.today()
    assert any(
        owed > 0 and invoice.due_on < today
        for invoice, owed in _open(session, groups["G-1007"]).items()
    )
    self_billed = _groups_whose_story_says(lines, "self-billed")
    assert self_billed == ["G-1004", "G-1006"]
    for number, group in groups.items():
        method = session.scalar(
            select(BillingPolicy.billing_method).where(BillingPolicy.group_id == group.id)
        )
        assert (method is BillingMethod.SELF_BILL) == (number in self_billed), number
    with_subgroups = _groups_whose_story_says(lines, "subgroups")
    assert with_subgroups == ["G-1006", "G-1008"]
    for number, group in groups.items():
        assert bool(group.subgroups) == (number in with_subgroups), number
    _, houston = story_of("hr-houston@northstarretail.example.com")
    assert "Houston stores subgroup only" in houston

    # `make serve` runs `demo load --if-empty` every time: the logins are listed again.
    again = runner.invoke(args=["demo", "load", "--if-empty"])
    assert again.exit_code == 0
    assert "Database already has data; demo not loaded." in again.output
    assert "hr@bayviewschools.example.com" in again.output
    assert "STOPPED PAYING last month" in again.output


def _groups_whose_story_says(lines: list[str], words: str) -> list[str]:
    found = []
    for head, story in zip(lines, lines[1:], strict=False):
        match = re.search(r"\s(G-\d{4})\s", f"{head} ")
        if head.lstrip().startswith("employer") and match and words in story:
            if "Houston stores subgroup only" not in story:
                found.append(match[1])
    return sorted(set(found))


def _open(session, group) -> dict:
    from billing_core.models import Invoice

    balances = open_balances(session, group)
    return {session.get(Invoice, invoice_id): owed for invoice_id, owed in balances.items()}


# --- gunicorn ---------------------------------------------------------------------------------


def test_gunicorn_is_a_dependency_since_the_readme_serves_with_it():
    readme = (ROOT / "README.md").read_text()
    assert "gunicorn -w 4 wsgi:app" in readme
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]]
    assert "gunicorn" in names
    assert find_spec("gunicorn") is not None
