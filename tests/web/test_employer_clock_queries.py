"""The employer's delinquency clock under load (issue 19): a late group's dashboard and invoice
page read the clock in one statement of its own (collections.employer_clock._clock_facts: the
rest and the overdue bills; the group's delinquency row came with the login's user and their
grants, `users.second_factor.load_user`) however many notices, disputes, bills and transitions
the group has, so the late group's pages cost about what a current group's do; and nothing is
kept between views: a dispute, a payment or a notice since the last view shows on the next."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing_core.collections.sweep import run_sweep
from billing_core.models.collections import DelinquencyDispute
from billing_core.models.enums import Role
from tests.factories import make_group, make_invoice, make_user, pay_by_check
from tests.web.test_employer_delinquency_clock import clock_block

DEC1, JAN1 = date(2026, 12, 1), date(2027, 1, 1)
PAGES = ("portal.web", "portal.employer.views", "portal.invoice_pages", "portal.statement_pages")
# A late group's dashboard in all (SQLite): the user, the group, its members, plans and policy,
# the latest bill, the clock's facts, the billed-vs-paid months (two), uploads, the account's
# open items and payments (test_employer_page_queries holds a current group's pages).
LATE_DASHBOARD_MOST = 11


@pytest.fixture
def late(session, monkeypatch):
    """A group in grace on Jan 12, 2027: December paid, January (1,000.00) unpaid, the grace
    notice sent Jan 11; its HR user. The pages' today is Jan 12."""
    group = make_group(session, state="CA", name="Harbor Co")
    hr = make_user(session, Role.EMPLOYER, groups=[group], email="hr@harbor.test")
    december = make_invoice(session, group, Decimal("1000.00"), DEC1)
    pay_by_check(session, group, "1000.00", DEC1, [december])
    january = make_invoice(session, group, Decimal("1000.00"), JAN1)
    for day in (date(2027, 1, 2), date(2027, 1, 11)):
        run_sweep(session, day)
    session.commit()
    for module in PAGES:
        monkeypatch.setattr(f"{module}.today", lambda: date(2027, 1, 12))
    return group, hr, january


def _second_view(client, statements, url: str) -> tuple[list[str], str]:
    """The SQL statements of the second view of `url` (the first loads what every request
    needs) and its page."""
    client.get(url)
    statements.clear()
    response = client.get(url)
    assert response.status_code == 200, url
    ran = [s for s in statements if not s.lstrip().upper().startswith(("SAVEPOINT", "ROLLBACK"))]
    return ran, response.get_data(as_text=True)


def _clock_reads(ran: list[str]) -> list[str]:
    """The statements that read the clock's tables (whatever else on the page reads them)."""
    tables = (
        "group_delinquency", "delinquency_action", "delinquency_transition", "moratorium",
        "bankruptcy_filing", "payment_plan", "delinquency_dispute", "delinquency_plan",
    )  # fmt: skip
    return [s for s in ran if any(f"FROM {t}" in s or f"JOIN {t}" in s for t in tables)]


def _pages(group, invoice) -> dict[str, str]:
    return {
        "dashboard": f"/employer/groups/{group.id}",
        "invoice": f"/employer/groups/{group.id}/invoices/{invoice.id}",
    }


def test_a_late_groups_pages_read_the_clock_in_one_statement_and_the_users(
    client, login_as, session, statements, late
):
    group, hr, january = late
    # More of what the clock reads: a dispute, letters of other episodes' kind, a payment.
    session.add(DelinquencyDispute(group_id=group.id, invoice_id=january.id,
                                   amount=Decimal("100.00"), opened_on=date(2027, 1, 3),
                                   reason="two members after their term"))  # fmt: skip
    pay_by_check(session, group, "250.00", date(2027, 1, 5), [january])
    session.commit()
    login_as(hr)
    for page, url in _pages(group, january).items():
        ran, html = _second_view(client, statements, url)
        assert "Amount to pay now 650.00" in clock_block(html), page
        clock = _clock_reads(ran)
        assert len(clock) == 2, clock
        assert "FROM user_account" in clock[0]  # the row, with the user and their grants
        assert "FROM group_delinquency AS gd" in clock[1]
        if page == "dashboard":
            assert len(ran) <= LATE_DASHBOARD_MOST, "\n".join(s[:100] for s in ran)


def test_more_notices_bills_and_sweeps_add_no_statement(
    client, login_as, session, statements, late
):
    """The old clock read every notice of the group; the latest one of the episode is joined
    to the facts now, and a bill past due is one more row of the same statement."""
    group, hr, january = late
    login_as(hr)
    before = {
        p: len(_second_view(client, statements, u)[0]) for p, u in _pages(group, january).items()
    }
    make_invoice(session, group, Decimal("80.00"), date(2027, 1, 6))  # a second bill past due
    for day in (date(2027, 1, 12), date(2027, 1, 20), date(2027, 2, 2)):  # pending cancellation
        run_sweep(session, day)
    session.commit()
    after = {
        p: len(_second_view(client, statements, u)[0]) for p, u in _pages(group, january).items()
    }
    assert after == before
    _, html = _second_view(client, statements, _pages(group, january)["dashboard"])
    assert "Your coverage is about to be cancelled" in clock_block(html)
    assert "Amount to pay now 1,080.00" in clock_block(html)


def test_the_next_view_shows_what_changed_since_the_last(
    client, login_as, session, statements, late
):
    """Nothing of the clock is kept between requests: a dispute opened and a payment received
    between two views change the amount to pay now on the second."""
    group, hr, january = late
    login_as(hr)
    url = _pages(group, january)["dashboard"]
    _, html = _second_view(client, statements, url)
    assert "Amount to pay now 1,000.00" in clock_block(html)
    session.add(DelinquencyDispute(group_id=group.id, invoice_id=january.id,
                                   amount=Decimal("100.00"), opened_on=date(2027, 1, 12),
                                   reason="a member after their term"))  # fmt: skip
    pay_by_check(session, group, "300.00", date(2027, 1, 12), [january])
    session.commit()
    html = client.get(url).get_data(as_text=True)
    assert "Amount to pay now 600.00" in clock_block(html)
    assert "700.00 past due after 100.00 in dispute" in clock_block(html)


def test_a_current_groups_clock_is_one_statement(client, login_as, session, statements, late):
    """A current group (swept, nothing late) reads its delinquency row only, with the user."""
    group, hr, january = late
    pay_by_check(session, group, "1000.00", date(2027, 1, 12), [january])
    run_sweep(session, date(2027, 1, 12))
    session.commit()
    login_as(hr)
    for page, url in _pages(group, january).items():
        ran, html = _second_view(client, statements, url)
        assert 'id="delinquency-clock"' not in html, page
        assert [s for s in _clock_reads(ran) if "FROM user_account" not in s] == [], page
