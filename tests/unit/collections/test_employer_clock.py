"""The employer's clock (collections.employer_clock): the cure amount the notice says, and the
dates of the next step in every state, driven by the sweep at chosen as-of dates; a moratorium
moves the cancellation date, a paused clock says why; a current group has no clock; a
location-limited user sees only the notices naming bills they see."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core import ledger
from billing_core.collections import plans
from billing_core.collections.employer_clock import employer_clock, group_notice, group_notices
from billing_core.collections.notices import notices
from billing_core.collections.states import cancel_for_nonpayment, pause_clock
from billing_core.collections.sweep import run_sweep
from billing_core.models import Invoice, OutboxMessage
from billing_core.models.collections import DelinquencyDispute, DelinquencyState
from billing_core.models.enums import BillingMethod, Role
from tests.factories import make_group, make_invoice, make_subgroup, make_user, pay_by_check

S = DelinquencyState
DEC1, JAN1 = date(2026, 12, 1), date(2027, 1, 1)


@pytest.fixture
def late_group(session):
    """As test_sweep: December (1,000.00) paid, January (1,000.00, due Jan 1, 2027) not."""
    group = make_group(session, state="CA", name="Harbor Co")
    december = make_invoice(session, group, Decimal("1000.00"), DEC1)
    pay_by_check(session, group, "1000.00", DEC1, [december])
    january = make_invoice(session, group, Decimal("1000.00"), JAN1)
    session.flush()
    return group, january


def test_a_current_group_has_no_clock(session, late_group):
    group, _ = late_group
    assert employer_clock(session, group, JAN1) is None  # never swept
    run_sweep(session, JAN1)  # due today: not late
    assert employer_clock(session, group, JAN1) is None


def test_past_due_says_when_the_notice_goes_and_when_cancellation_could_follow(session, late_group):
    group, january = late_group
    run_sweep(session, date(2027, 1, 2))
    clock = employer_clock(session, group, date(2027, 1, 5))
    assert clock.state is S.PAST_DUE
    assert clock.cure_amount == Decimal("1000.00")
    assert [b.invoice_number for b in clock.bills] == [january.invoice_number]
    assert clock.notice_on == date(2027, 1, 11) and not clock.notice_sent
    assert clock.grace_ends_on == date(2027, 2, 1)
    assert (clock.pay_by, clock.cancellable_from) == (date(2027, 2, 1), date(2027, 2, 2))
    assert clock.coverage_ends_on == date(2026, 12, 31)
    # The sweep missed the notice day: it goes with the next sweep, and termination follows.
    late = employer_clock(session, group, date(2027, 1, 25))
    assert late.notice_on == date(2027, 1, 25)
    assert late.cancellable_from == date(2027, 2, 9)  # 15 days after the notice


def test_in_grace_the_page_and_the_notice_say_the_same(session, late_group):
    group, january = late_group
    pay_by_check(session, group, "250.00", date(2027, 1, 5), [january])
    session.add(
        DelinquencyDispute(group_id=group.id, invoice_id=january.id, amount=Decimal("100.00"),
                           opened_on=date(2027, 1, 3), reason="two members after their term")
    )  # fmt: skip
    run_sweep(session, date(2027, 1, 11))
    [notice] = notices(session, group.id)
    clock = employer_clock(session, group, date(2027, 1, 11))
    assert clock.state is S.IN_GRACE
    assert clock.cure_amount == notice.amount == Decimal(notice.content["cure_amount"])
    assert clock.cure_amount == Decimal("650.00")
    assert clock.position.past_due_bills == Decimal("750.00")
    assert clock.position.disputed == Decimal("100.00")
    dates = notice.content["dates"]
    assert clock.cancellable_from.isoformat() == dates["terminates_on"] == "2027-02-02"
    assert clock.coverage_ends_on.isoformat() == dates["coverage_ends_on"] == "2026-12-31"
    assert clock.pay_by == date(2027, 2, 1)
    assert clock.latest_notice == notice and not clock.notice_amount_differs
    # A payment after the notice: the page says what counts today, and that the notice differs.
    pay_by_check(session, group, "150.00", date(2027, 1, 15), [january])
    later = employer_clock(session, group, date(2027, 1, 15))
    assert later.cure_amount == Decimal("500.00") and later.notice_amount_differs
    assert not later.caught_up
    pay_by_check(session, group, "500.00", date(2027, 1, 16), [january])
    assert employer_clock(session, group, date(2027, 1, 16)).caught_up


def test_pending_cancellation_and_cancelled(session, late_group):
    group, _ = late_group
    run_sweep(session, date(2027, 1, 11))
    run_sweep(session, date(2027, 2, 2))
    clock = employer_clock(session, group, date(2027, 2, 3))
    assert clock.state is S.PENDING_CANCELLATION
    assert clock.coverage_ends_on == date(2026, 12, 31)
    assert clock.cure_amount == Decimal("1000.00")
    cancel_for_nonpayment(
        session, group, on=date(2027, 2, 5), actor=make_user(session, Role.SUPERVISOR)
    )
    clock = employer_clock(session, group, date(2027, 2, 6))
    assert clock.state is S.CANCELLED
    assert (clock.cancelled_on, clock.coverage_ends_on) == (date(2027, 2, 5), date(2026, 12, 31))
    assert clock.reinstate_until == date(2027, 3, 7) and clock.reinstatement_open
    assert not employer_clock(session, group, date(2027, 3, 8)).reinstatement_open
    [cancelled, *_] = notices(session, group.id)
    assert cancelled.content["stage"] == "cancelled" and cancelled.amount == clock.cure_amount


def test_reinstated_is_said_for_a_while(session, late_group):
    group, january = late_group
    run_sweep(session, date(2027, 1, 11))
    run_sweep(session, date(2027, 2, 2))
    cancel_for_nonpayment(
        session, group, on=date(2027, 2, 5), actor=make_user(session, Role.SUPERVISOR)
    )
    pay_by_check(session, group, "1000.00", date(2027, 2, 20), [january])
    run_sweep(session, date(2027, 2, 20))
    clock = employer_clock(session, group, date(2027, 2, 21))
    assert clock.reinstated and clock.reinstated_on == date(2027, 2, 20)
    assert employer_clock(session, group, date(2027, 6, 1)) is None


def test_a_moratorium_moves_the_cancellation_date(session, late_group):
    group, _ = late_group
    plans.add_moratorium(session, "CA", date(2027, 1, 20), date(2027, 2, 28), "wildfires")
    run_sweep(session, date(2027, 1, 11))
    clock = employer_clock(session, group, date(2027, 1, 12))
    assert clock.moratorium is not None and clock.held_until == date(2027, 2, 28)
    assert clock.cancellable_from == date(2027, 3, 1)
    assert clock.pay_by == date(2027, 2, 28)


def test_a_paused_clock_says_why(session, late_group):
    group, _ = late_group
    run_sweep(session, date(2027, 1, 11))
    pause_clock(session, group, "promise", until=date(2027, 1, 31), actor=None)
    clock = employer_clock(session, group, date(2027, 1, 20))
    assert clock.paused == "promise" and clock.paused_until == date(2027, 1, 31)
    assert clock.paused_words == "your promise to pay"
    assert employer_clock(session, group, date(2027, 2, 1)).paused is None
    assert clock.arrangement is None  # the plan or promise itself: a later slice


def location_bill(session, group, subgroup, amount: str, day: date) -> Invoice:
    """An issued bill of one location (make_invoice with its subgroup)."""
    invoice = Invoice(
        invoice_number=f"L-{group.group_number}-{subgroup.code}", group_id=group.id,
        subgroup_id=subgroup.id, billing_method=BillingMethod.LIST_BILL, period_start=day,
        period_end=day, issued_on=day, due_on=day, current_premium=Decimal(amount),
        retro_total=Decimal("0.00"), total_due=Decimal(amount),
    )  # fmt: skip
    session.add(invoice)
    session.flush()
    ledger.post_entry(
        session, entry_date=day, memo=f"Invoice {invoice.invoice_number}",
        source_type="invoice", source_id=invoice.id,
        legs=[ledger.Leg(ledger.account(session, ledger.Chart.RECEIVABLE, group),
                         Decimal(amount), invoice.id),
              ledger.Leg(ledger.account(session, ledger.Chart.PREMIUM_REVENUE), -Decimal(amount))],
    )  # fmt: skip
    return invoice


def test_a_location_limited_user_sees_only_notices_naming_their_bills(session):
    group = make_group(session, state="CA", name="Harbor Co")
    east, west = make_subgroup(session, group, "EAST"), make_subgroup(session, group, "WEST")
    location_bill(session, group, west, "1000.00", JAN1)
    run_sweep(session, date(2027, 1, 2))
    run_sweep(session, date(2027, 1, 11))
    [notice] = notices(session, group.id)
    assert group_notices(session, group.id) == [notice]
    assert group_notices(session, group.id, frozenset({west.id})) == [notice]
    assert group_notices(session, group.id, frozenset({east.id})) == []
    assert group_notice(session, group.id, notice.id, frozenset({east.id})) is None
    assert group_notice(session, group.id, notice.id) == notice
    other = make_group(session)
    assert group_notice(session, other.id, notice.id) is None


def test_an_open_ended_moratorium_leaves_no_date_to_say(session, late_group):
    group, _ = late_group
    plans.add_moratorium(session, "CA", date(2027, 1, 20), None, "state of emergency")
    run_sweep(session, date(2027, 1, 11))
    clock = employer_clock(session, group, date(2027, 1, 12))
    assert clock.held_open_ended and clock.held_until is None


def test_the_notice_is_mailed_only_to_users_who_may_see_every_bill_it_names(session):
    """As the notices page: a user limited to another location is not sent it."""
    group = make_group(session, state="CA", name="Harbor Co")
    east, west = make_subgroup(session, group, "EAST"), make_subgroup(session, group, "WEST")
    whole = make_user(session, Role.EMPLOYER, groups=[group])
    west_hr = make_user(session, Role.EMPLOYER, subgroups=[west])
    east_hr = make_user(session, Role.EMPLOYER, subgroups=[east])
    location_bill(session, group, west, "1000.00", JAN1)
    run_sweep(session, date(2027, 1, 2))
    run_sweep(session, date(2027, 1, 11))
    [notice] = notices(session, group.id)
    sent_to = set(
        session.scalars(
            select(OutboxMessage.to_address).where(OutboxMessage.subject == notice.subject)
        )
    )
    assert {whole.email, west_hr.email} <= sent_to
    assert east_hr.email not in sent_to
    assert notice.messages == len(sent_to)
