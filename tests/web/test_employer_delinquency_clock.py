"""The employer's delinquency clock (issue 20, item 4) through the test client: a late group's
dashboard and unpaid invoice say the amount to pay now (the notice's cure amount), the next
step's date and what happens then, in every state the sweep moves it to; a current group's
pages say none of it; the notices list and its PDF letters, another group's notice a 404, a
location-limited user's view. The pages' today is patched; the sweep runs at chosen as-of
dates (as tests/unit/collections/test_sweep.py)."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest

from billing_core.collections.notices import notices
from billing_core.collections.states import cancel_for_nonpayment
from billing_core.collections.sweep import run_sweep
from billing_core.models.collections import DelinquencyDispute
from billing_core.models.enums import Role
from tests.factories import make_group, make_invoice, make_subgroup, make_user, pay_by_check

DEC1, JAN1 = date(2027 - 1, 12, 1), date(2027, 1, 1)
PAGES = ("portal.web", "portal.employer.views", "portal.invoice_pages", "portal.statement_pages")


@pytest.fixture
def on_day(monkeypatch):
    """Make the pages think today is `day`."""

    def set_day(day: date) -> None:
        for module in PAGES:
            monkeypatch.setattr(f"{module}.today", lambda: day)

    return set_day


@pytest.fixture
def harbor(session):
    """December (1,000.00) paid, January (1,000.00, due Jan 1, 2027) unpaid; one HR user."""
    group = make_group(session, state="CA", name="Harbor Co")
    hr = make_user(session, Role.EMPLOYER, groups=[group], email="hr@harbor.test")
    december = make_invoice(session, group, Decimal("1000.00"), DEC1)
    pay_by_check(session, group, "1000.00", DEC1, [december])
    january = make_invoice(session, group, Decimal("1000.00"), JAN1)
    session.commit()
    return group, hr, december, january


def clock_block(page: str) -> str:
    match = re.search(r'<section class="card clock.*?</section>', page, re.S)
    if not match:
        return ""
    inline = re.sub(r"</?(strong|a|em)\b[^>]*>", "", match.group(0))
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline)))


def pages(client, group, invoice) -> tuple[str, str]:
    dashboard = client.get(f"/employer/groups/{group.id}")
    detail = client.get(f"/employer/groups/{group.id}/invoices/{invoice.id}")
    assert dashboard.status_code == detail.status_code == 200
    return dashboard.get_data(as_text=True), detail.get_data(as_text=True)


def sweep(session, *days: date) -> None:
    for day in days:
        run_sweep(session, day)
    session.commit()


def test_a_current_group_sees_no_clock(client, login_as, session, harbor, on_day):
    group, hr, december, january = harbor
    sweep(session, JAN1)  # due today: not late
    on_day(JAN1)
    login_as(hr)
    dashboard, detail = pages(client, group, january)
    for page in (dashboard, detail):
        assert 'id="delinquency-clock"' not in page
        assert "cancel" not in clock_block(page).lower()


def test_past_due(client, login_as, session, harbor, on_day):
    group, hr, december, january = harbor
    sweep(session, date(2027, 1, 2))
    on_day(date(2027, 1, 5))
    login_as(hr)
    dashboard, detail = pages(client, group, january)
    for page in (dashboard, detail):
        text = clock_block(page)
        assert "Your premium is past due" in text
        assert "Amount to pay now 1,000.00" in text
        assert "a formal notice will be sent on Jan 11, 2027" in text
        assert "if $1,000.00 is not received by Feb 1, 2027" in text
        assert "can be cancelled from Feb 2, 2027 and would end on Dec 31, 2026" in text
        assert f"/employer/groups/{group.id}/pay?invoice={january.id}" in page
        assert 'id="remit-to"' in page
    # The paid December bill's page says nothing of it.
    paid = client.get(f"/employer/groups/{group.id}/invoices/{december.id}")
    assert 'id="delinquency-clock"' not in paid.get_data(as_text=True)


def test_in_grace_the_page_says_the_notices_cure_amount(client, login_as, session, harbor, on_day):
    group, hr, _, january = harbor
    pay_by_check(session, group, "250.00", date(2027, 1, 5), [january])
    sweep(session, date(2027, 1, 2), date(2027, 1, 11))
    [notice] = notices(session, group.id)
    on_day(date(2027, 1, 12))
    login_as(hr)
    dashboard, detail = pages(client, group, january)
    for page in (dashboard, detail):
        text = clock_block(page)
        cure = re.search(r"Amount to pay now ([\d,.]+)", text).group(1)
        assert Decimal(cure.replace(",", "")) == notice.amount == Decimal("750.00")
        assert "Your premium is past due: grace period" in text
        assert (
            "If $750.00 is not received by Feb 1, 2027, your group's coverage can be cancelled "
            "for non-payment from Feb 2, 2027, and coverage would then end on Dec 31, 2026"
        ) in text
        assert "Pay $750.00 online" in text
        assert "Our notice of" not in text  # the notice and the page agree
    # The account card's own past-due line is not shown beside it (one figure, not two).
    assert 'id="past-due"' not in dashboard


def test_pending_cancellation(client, login_as, session, harbor, on_day):
    group, hr, _, january = harbor
    sweep(session, date(2027, 1, 11), date(2027, 2, 2))
    on_day(date(2027, 2, 3))
    login_as(hr)
    for page in pages(client, group, january):
        text = clock_block(page)
        assert "Your coverage is about to be cancelled" in text
        assert "Your grace period ended on Feb 1, 2027" in text
        assert "coverage would end on Dec 31, 2026. Paying $1,000.00 now stops" in text
        assert "Amount to pay now 1,000.00" in text


def test_cancelled(client, login_as, session, harbor, on_day):
    group, hr, _, january = harbor
    sweep(session, date(2027, 1, 11), date(2027, 2, 2))
    cancel_for_nonpayment(
        session, group, on=date(2027, 2, 5), actor=make_user(session, Role.SUPERVISOR)
    )
    session.commit()
    on_day(date(2027, 2, 6))
    login_as(hr)
    for page in pages(client, group, january):
        text = clock_block(page)
        assert "Coverage cancelled for non-payment" in text
        assert "coverage ended on Dec 31, 2026" in text
        assert "Pay $1,000.00 by Mar 7, 2027 to have your coverage reinstated" in text
        assert 'id="clock-pay"' in page
    cancelled = notices(session, group.id)[0]
    assert cancelled.amount == Decimal("1000.00")


def test_a_payment_after_the_notice_is_said(client, login_as, session, harbor, on_day):
    group, hr, _, january = harbor
    sweep(session, date(2027, 1, 11))
    pay_by_check(session, group, "400.00", date(2027, 1, 14), [january])
    session.commit()
    on_day(date(2027, 1, 14))
    login_as(hr)
    text = clock_block(pages(client, group, january)[0])
    assert "Amount to pay now 600.00" in text
    assert "Our notice of Jan 11, 2027 asked for $1,000.00" in text
    assert "$600.00 is what counts today" in text


def test_notices_list_and_pdf(client, login_as, session, harbor, on_day):
    group, hr, _, _ = harbor
    sweep(session, date(2027, 1, 11), date(2027, 2, 2))
    on_day(date(2027, 2, 3))
    login_as(hr)
    page = client.get(f"/employer/groups/{group.id}/notices").get_data(as_text=True)
    kept = notices(session, group.id)
    assert [n.content["stage"] for n in kept] == ["pending_cancellation", "in_grace"]
    assert "Final notice before cancellation" in page and "Grace period notice" in page
    assert "Feb 2, 2027" in page and "Jan 11, 2027" in page and "1,000.00" in page
    for n in kept:
        response = client.get(f"/employer/groups/{group.id}/notices/{n.id}/notice.pdf")
        assert response.status_code == 200 and response.data.startswith(b"%PDF")
        assert response.headers["Cache-Control"] == "no-store, private"


def test_another_groups_notice_is_a_404(client, login_as, session, harbor, on_day):
    group, hr, _, _ = harbor
    other = make_group(session, state="CA", name="Other Co")
    make_invoice(session, other, Decimal("500.00"), JAN1)
    session.commit()
    sweep(session, date(2027, 1, 11))
    [theirs] = notices(session, other.id)
    on_day(date(2027, 1, 12))
    login_as(hr)
    assert (
        client.get(f"/employer/groups/{group.id}/notices/{theirs.id}/notice.pdf").status_code == 404
    )
    assert (
        client.get(f"/employer/groups/{other.id}/notices/{theirs.id}/notice.pdf").status_code == 404
    )
    assert client.get(f"/employer/groups/{other.id}/notices").status_code == 404
    assert "Other Co" not in client.get(f"/employer/groups/{group.id}/notices").get_data(
        as_text=True
    )


def test_a_location_limited_user_sees_dates_not_the_groups_amounts(
    client, login_as, session, harbor, on_day
):
    group, _, _, january = harbor
    east = make_subgroup(session, group, "EAST")
    limited = make_user(session, Role.EMPLOYER, subgroups=[east], email="east@harbor.test")
    session.commit()
    sweep(session, date(2027, 1, 11))
    [notice] = notices(session, group.id)
    on_day(date(2027, 1, 12))
    login_as(limited)
    dashboard = client.get(f"/employer/groups/{group.id}").get_data(as_text=True)
    text = clock_block(dashboard)
    assert "If the group's past-due premium is not received by Feb 1, 2027" in text
    assert "1,000.00" not in text
    # The January bill is the whole group's: its notice names only it, so they see it.
    listed = client.get(f"/employer/groups/{group.id}/notices").get_data(as_text=True)
    assert f"/notices/{notice.id}/notice.pdf" in listed


def test_a_dispute_makes_the_pay_link_the_cure_amount(client, login_as, session, harbor, on_day):
    group, hr, _, january = harbor
    session.add(
        DelinquencyDispute(group_id=group.id, invoice_id=january.id, amount=Decimal("100.00"),
                           opened_on=date(2027, 1, 3), reason="two members after their term")
    )  # fmt: skip
    session.commit()
    sweep(session, date(2027, 1, 11))
    on_day(date(2027, 1, 12))
    login_as(hr)
    text = clock_block(pages(client, group, january)[0])
    assert "Amount to pay now 900.00 1,000.00 past due after 100.00 in dispute" in text
    pay_url = f"/employer/groups/{group.id}/pay?amount=900.00"
    assert pay_url in client.get(f"/employer/groups/{group.id}").get_data(as_text=True)
    pay_page = client.get(pay_url).get_data(as_text=True)
    assert 'value="900.00"' in pay_page
    assert re.search(r'value="amount"[^>]*checked|checked[^>]*value="amount"', pay_page)


def test_the_total_due_says_it_includes_the_disputed_amount_the_clock_leaves_out(
    client, login_as, session, harbor, on_day
):
    """The account's total due (1,000.00, the dispute still billed) and the clock's amount to
    pay now (900.00) differ by the open dispute: the total says so, naming both figures."""
    group, hr, _, january = harbor
    session.add(
        DelinquencyDispute(group_id=group.id, invoice_id=january.id, amount=Decimal("100.00"),
                           opened_on=date(2027, 1, 3), reason="two members after their term")
    )  # fmt: skip
    session.commit()
    sweep(session, date(2027, 1, 11))
    on_day(date(2027, 1, 12))
    login_as(hr)
    page = client.get(f"/employer/groups/{group.id}").get_data(as_text=True)
    total = re.search(r'<div class="stat" id="total-due">.*?</div>', page, re.S).group(0)
    words = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", total)))
    assert "Total due now 1,000.00" in words
    assert "Includes 100.00 in open dispute, still billed until the dispute is settled; to keep " \
        "your coverage pay 900.00 now" in words  # fmt: skip


def test_the_total_due_says_it_includes_bills_a_bankruptcy_stay_holds(
    client, login_as, session, harbor, on_day
):
    """Filed on January 15: January's bill (1,000.00) is pre-petition and stayed; February's
    (1,000.00) falls past due and starts the clock. The account's total due (2,000.00) and the
    clock's amount to pay now (1,000.00) differ by the stayed bill: the total says so."""
    from billing_core.collections.bankruptcy import file_bankruptcy

    group, hr, _, _ = harbor
    collector = make_user(session, Role.BILLING_SPECIALIST)
    file_bankruptcy(session, group, filed_on=date(2027, 1, 15), chapter=11,
                    case_number="27-10001", actor=collector, today=date(2027, 1, 15))  # fmt: skip
    make_invoice(session, group, Decimal("1000.00"), date(2027, 2, 1))
    session.commit()
    sweep(session, date(2027, 2, 11))
    on_day(date(2027, 2, 12))
    login_as(hr)
    page = client.get(f"/employer/groups/{group.id}").get_data(as_text=True)
    assert "Amount to pay now 1,000.00" in clock_block(page)
    total = re.search(r'<div class="stat" id="total-due">.*?</div>', page, re.S).group(0)
    words = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", total)))
    assert "Total due now 2,000.00" in words
    assert "Includes 1,000.00 on bills from before your bankruptcy filing, held out of " \
        "collection while the court's stay lasts; to keep your coverage pay 1,000.00 now" \
        in words  # fmt: skip


def test_a_moratorium_is_said(client, login_as, session, harbor, on_day):
    from billing_core.collections.plans import add_moratorium

    group, hr, _, january = harbor
    add_moratorium(session, "CA", date(2027, 1, 20), date(2027, 2, 28), "wildfires")
    session.commit()
    sweep(session, date(2027, 1, 11))
    on_day(date(2027, 1, 12))
    login_as(hr)
    text = clock_block(pages(client, group, january)[1])
    assert "If $1,000.00 is not received by Feb 28, 2027" in text
    assert "cancelled for non-payment from Mar 1, 2027" in text
    assert "A state order (CA) stops cancellations for non-payment until Feb 28, 2027" in text
