"""Issue 20's acceptance walk, in one place: groups taken through every delinquency state by
the real functions (the billing run, payments, the daily sweep, the collectors' and the
supervisor's own steps), never by writing a state, with the exact date asserted at each step.

1. Harbor Co (California, billed by the billing run, calendar grace): past due, the grace
   notice, a moratorium holding the cancellation, pending cancellation, cancelled by a
   supervisor (coverage ends on the last day of the last month paid), the bill issued for a
   later period reversed by a credit memo, reinstated when paid within the window.
2. Grace in business days across holidays: the same bill in California and New York ends
   grace a day apart (Cesar Chavez Day is California's), and so does termination.
3. Promise Co: a broken promise resumes the clock, a payment plan with a missed installment
   resumes it again, then cancellation, referral to an agency and charge-off.
4. Filing Co: a bankruptcy filing splits the pre-petition balance (stayed: no notice) from a
   post-petition bill (collected normally).

Each notice once and one late fee per stage when the sweep runs twice or after ten missed
days, and a notice at an in-process SMTP server: tests/unit/collections/test_sweep.py."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing_core import ledger
from billing_core.billing.invoicing import issue_billing_run
from billing_core.collections import plans
from billing_core.collections.bankruptcy import file_bankruptcy
from billing_core.collections.cancellation import (
    cancel_for_nonpayment,
    invoices_after,
    reverse_invoices_after,
)
from billing_core.collections.charge_off import approve_charge_off, request_charge_off
from billing_core.collections.contacts import take_promise
from billing_core.collections.notices import notices
from billing_core.collections.overdue import position
from billing_core.collections.payment_plans import make_plan, propose_schedule
from billing_core.collections.referrals import refer
from billing_core.collections.states import history
from billing_core.collections.sweep import run_sweep
from billing_core.errors import ValidationFailed
from billing_core.ledger import Chart
from billing_core.models import GroupCancellation, Invoice
from billing_core.models.collections import DelinquencyState, GroupDelinquency, PromiseStatus
from billing_core.models.enums import GraceDayKind, InvoiceStatus, Role
from billing_core.models.payment_plans import InstallmentStatus, PaymentPlanStatus
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_invoice,
    make_member,
    make_user,
    pay_by_check,
)
from tests.unit.collections.legal import late_group

S = DelinquencyState
D = Decimal
BILL = D("76.40")  # two members on dental at 38.20
DEC1, JAN1, FEB1, MAR1 = date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)


def row_of(session, group) -> GroupDelinquency:
    session.flush()
    return session.get(GroupDelinquency, group.id)


def sweep(session, group, day: date, *, twice: bool = True):
    """The sweep of `day` for `group`; run again the same day, it does nothing."""
    done = run_sweep(session, day, group_ids=[group.id])
    if twice:
        again = run_sweep(session, day, group_ids=[group.id])
        assert (again.transitions, again.notices_sent, again.late_fees, again.held) == (0,) * 4
    return done


def moves(session, group) -> list[tuple]:
    return [(t.from_state, t.to_state, t.effective_on, t.as_of)
            for t in history(session, group.id)]  # fmt: skip


def test_harbor_co_past_due_grace_moratorium_cancelled_later_bill_reversed_reinstated(session):
    group = make_group(session, state="CA", name="Harbor Co", contact_email="ap@harbor.test")
    make_user(session, Role.EMPLOYER, groups=[group], email="hr@harbor.test")
    dental = make_dental_plan(session, group)
    coverages = [enroll(session, make_member(session, group), dental) for _ in range(2)]
    supervisor = make_user(session, Role.SUPERVISOR, email="sup@carrier.test")

    def billed(month, run_date=None) -> Invoice:
        [bill] = issue_billing_run(
            session, month, group_numbers=[group.group_number], run_date=run_date
        ).issued
        return bill

    december = billed(DEC1)
    pay_by_check(session, group, str(BILL), DEC1, [december])
    january = billed(JAN1)
    assert (january.due_on, january.total_due) == (JAN1, BILL)

    # Due on Jan 1: not late that day; past due the next, grace from Jan 1 to Feb 1 (31 days).
    assert sweep(session, group, JAN1).transitions == 0
    assert sweep(session, group, date(2027, 1, 2)).transitions == 1
    row = row_of(session, group)
    assert (row.state, row.episode, row.grace_starts_on, row.grace_ends_on) == (
        S.PAST_DUE, 1, JAN1, date(2027, 2, 1),
    )  # fmt: skip
    # The grace notice on day 10 of grace (Jan 11); cancellation possible from Feb 2, the day
    # after grace ends (15 days after the notice would be Jan 26: earlier).
    assert sweep(session, group, date(2027, 1, 10)).notices_sent == 0
    grace = sweep(session, group, date(2027, 1, 11))
    assert (grace.transitions, grace.notices_sent, grace.messages) == (1, 1, 2)
    row = row_of(session, group)
    assert (row.state, row.notice_sent_on, row.terminates_on) == (
        S.IN_GRACE, date(2027, 1, 11), date(2027, 2, 2),
    )  # fmt: skip

    # A California moratorium (Jan 30 to Feb 9) holds the cancellation due Feb 2.
    february = billed(FEB1)
    plans.add_moratorium(session, "CA", date(2027, 1, 30), date(2027, 2, 9), "winter storms")
    held = sweep(session, group, date(2027, 2, 2))
    assert (held.transitions, held.held) == (0, 1)
    assert sweep(session, group, date(2027, 2, 9)).transitions == 0  # the moratorium's last day
    released = sweep(session, group, date(2027, 2, 10))
    assert released.moves == [{"group_id": group.id, "from": "in_grace",
                               "to": "pending_cancellation", "effective_on": "2027-02-10"}]  # fmt: skip

    # March's bill is issued on Feb 14 (15 days' lead); the supervisor cancels on Feb 16:
    # coverage ends Dec 31 (December the last month paid in full), the window runs 30 days.
    march = billed(MAR1, run_date=date(2027, 2, 14))
    cancelled = cancel_for_nonpayment(session, group, on=date(2027, 2, 16), actor=supervisor)
    assert (cancelled.coverage_ends_on, cancelled.reinstate_until, cancelled.overdue) == (
        date(2026, 12, 31), date(2027, 3, 18), 2 * BILL,
    )  # fmt: skip
    for coverage in coverages:
        session.refresh(coverage)
        assert coverage.effective_to == date(2026, 12, 31)
    # The bill for a period after the cancellation is listed and reversed by a credit memo.
    assert [r.invoice.id for r in invoices_after(session, cancelled)] == [march.id]
    [memo] = reverse_invoices_after(session, group, [march.id], actor=supervisor,
                                    on=date(2027, 2, 16), reason="no coverage in March")  # fmt: skip
    assert memo.amount == BILL
    session.refresh(march)
    assert march.status is InvoiceStatus.VOID and invoices_after(session, cancelled) == []
    assert position(session, group.id, date(2027, 2, 16)).overdue == 2 * BILL

    # Paid in full on Mar 1, inside the window: the sweep reinstates, coverage comes back.
    pay_by_check(session, group, str(2 * BILL), MAR1, [january, february])
    assert sweep(session, group, MAR1).moves[-1]["to"] == "reinstated"
    for coverage in coverages:
        session.refresh(coverage)
        assert coverage.effective_to is None
    assert session.get(GroupCancellation, cancelled.id).reinstated_on == MAR1

    assert moves(session, group) == [
        (S.CURRENT, S.PAST_DUE, date(2027, 1, 2), date(2027, 1, 2)),
        (S.PAST_DUE, S.IN_GRACE, date(2027, 1, 11), date(2027, 1, 11)),
        (S.IN_GRACE, S.PENDING_CANCELLATION, date(2027, 2, 10), date(2027, 2, 10)),
        (S.PENDING_CANCELLATION, S.CANCELLED, date(2026, 12, 31), date(2027, 2, 16)),
        (S.CANCELLED, S.REINSTATED, MAR1, MAR1),
    ]
    assert [n.key for n in notices(session, group.id)] == [
        "cancelled", "pending_cancellation", "in_grace",
    ]  # fmt: skip


def test_grace_in_business_days_ends_on_each_states_own_day(session):
    """31 business days from Monday Mar 1, 2027, with the group's billing policy counting
    business days: New York ends grace on Apr 13, California on Apr 14 (Cesar Chavez Day,
    Mar 31, is California's holiday). The plan's 31 calendar days would end Apr 1: the later
    end wins. Notice on Mar 11 in both; termination the day after grace ends."""
    groups = {}
    for state in ("CA", "NY"):
        group = make_group(session, state=state, name=f"Days {state}",
                           contact_email=f"ap@{state.lower()}.test")  # fmt: skip
        group.policies[0].grace_day_kind = GraceDayKind.BUSINESS
        assert group.policies[0].grace_days == 31
        make_invoice(session, group, D("500.00"), MAR1)
        groups[state] = group
    ca, ny = groups["CA"], groups["NY"]

    for group in (ca, ny):
        sweep(session, group, date(2027, 3, 2))
    assert (row_of(session, ca).grace_ends_on, row_of(session, ny).grace_ends_on) == (
        date(2027, 4, 14), date(2027, 4, 13),
    )  # fmt: skip
    for group in (ca, ny):
        assert sweep(session, group, date(2027, 3, 10)).notices_sent == 0
        assert sweep(session, group, date(2027, 3, 11)).notices_sent == 1
    assert (row_of(session, ca).terminates_on, row_of(session, ny).terminates_on) == (
        date(2027, 4, 15), date(2027, 4, 14),
    )  # fmt: skip
    assert sweep(session, ny, date(2027, 4, 13)).transitions == 0
    assert sweep(session, ny, date(2027, 4, 14)).transitions == 1
    assert sweep(session, ca, date(2027, 4, 14)).transitions == 0
    assert sweep(session, ca, date(2027, 4, 15)).transitions == 1
    assert row_of(session, ca).state is row_of(session, ny).state is S.PENDING_CANCELLATION


def test_promise_co_broken_promise_missed_installment_cancelled_referred_charged_off(session):
    """December paid, January's 1,000.00 due Jan 1 unpaid (tests/unit/collections/legal.py)."""
    group, january = late_group(session, name="Promise Co")
    collector = make_user(session, Role.BILLING_SPECIALIST, email="collector@carrier.test")
    supervisor = make_user(session, Role.SUPERVISOR, email="sup@carrier.test")
    assert sweep(session, group, date(2027, 1, 2)).transitions == 1  # past due

    # A promise on Jan 5 to pay by Jan 12 pauses the clock: no grace notice on Jan 11.
    promise = take_promise(session, group, amount=D("1000.00"), promised_on=date(2027, 1, 12),
                           actor=collector, today=date(2027, 1, 5))  # fmt: skip
    assert sweep(session, group, date(2027, 1, 11)).notices_sent == 0
    assert sweep(session, group, date(2027, 1, 12)).promises_broken == 0  # its last day
    # Unpaid on Jan 13: broken; the clock resumes and the notice due Jan 11 goes out that day.
    broken = sweep(session, group, date(2027, 1, 13))
    assert (broken.promises_broken, broken.notices_sent) == (1, 1)
    assert (promise.status, promise.checked_on) == (PromiseStatus.BROKEN, date(2027, 1, 13))
    row = row_of(session, group)
    assert (row.state, row.notice_sent_on, row.terminates_on, row.paused_reason) == (
        S.IN_GRACE, date(2027, 1, 13), date(2027, 2, 2), None,
    )  # fmt: skip

    # A plan on Jan 15: 333.33 on Jan 25 and Feb 25, 333.34 on Mar 25. Jan 25 is paid; Feb 2
    # (termination) passes with the clock paused; Feb 25 is not paid: missed after its five
    # days of grace, on Mar 3, when the clock resumes and the group is pending cancellation.
    plan = make_plan(session, group, propose_schedule(D("1000.00"), 3, date(2027, 1, 25)),
                     actor=collector, today=date(2027, 1, 15))  # fmt: skip
    pay_by_check(session, group, "333.33", date(2027, 1, 25), [january])
    sweep(session, group, date(2027, 1, 25))
    assert sweep(session, group, date(2027, 2, 2)).transitions == 0
    assert sweep(session, group, date(2027, 3, 2)).plans_broken == 0
    missed = sweep(session, group, date(2027, 3, 3))
    assert (missed.plans_broken, missed.transitions) == (1, 1)
    assert [i.status for i in plan.installments] == [
        InstallmentStatus.MET, InstallmentStatus.MISSED, InstallmentStatus.OPEN,
    ]  # fmt: skip
    assert (plan.status, plan.decided_on) == (PaymentPlanStatus.BROKEN, date(2027, 3, 3))
    assert row_of(session, group).state is S.PENDING_CANCELLATION

    # Cancelled on Mar 4 (window to Apr 3), referred on Apr 4, charged off Apr 12.
    cancelled = cancel_for_nonpayment(session, group, on=date(2027, 3, 4), actor=supervisor)
    assert (cancelled.coverage_ends_on, cancelled.reinstate_until, cancelled.overdue) == (
        date(2026, 12, 31), date(2027, 4, 3), D("666.67"),
    )  # fmt: skip
    with pytest.raises(ValidationFailed, match="reinstatement window runs to 2027-04-03"):
        refer(session, group, agency="Summit Recovery", on=date(2027, 4, 3), actor=collector)
    referral = refer(session, group, agency="Summit Recovery", on=date(2027, 4, 4),
                     actor=collector)  # fmt: skip
    assert referral.balance_referred == D("666.67")
    asked = request_charge_off(session, group, on=date(2027, 4, 10), reason="agency gave up",
                               actor=collector)  # fmt: skip
    approve_charge_off(session, asked, actor=supervisor, on=date(2027, 4, 12))
    bad_debt = ledger.account_balance(session, ledger.account(session, Chart.BAD_DEBT))
    assert bad_debt == D("666.67")

    assert moves(session, group) == [
        (S.CURRENT, S.PAST_DUE, date(2027, 1, 2), date(2027, 1, 2)),
        (S.PAST_DUE, S.IN_GRACE, date(2027, 1, 13), date(2027, 1, 13)),
        (S.IN_GRACE, S.PENDING_CANCELLATION, date(2027, 2, 2), date(2027, 3, 3)),
        (S.PENDING_CANCELLATION, S.CANCELLED, date(2026, 12, 31), date(2027, 3, 4)),
        (S.CANCELLED, S.REFERRED, date(2027, 4, 4), date(2027, 4, 4)),
        (S.REFERRED, S.CHARGED_OFF, date(2027, 4, 12), date(2027, 4, 12)),
    ]


def test_filing_co_a_bankruptcy_splits_pre_and_post_petition_balances(session):
    """Past due on Jan 2 for January's 1,000.00; chapter 11 filed Jan 5: January is stayed
    (the clock stops, no notice), February's 400.00 (a post-petition period) is collected:
    past due Feb 2, grace to Mar 4, its notice on Feb 11 naming February alone."""
    group, january = late_group(session, name="Filing Co")
    collector = make_user(session, Role.BILLING_SPECIALIST)
    sweep(session, group, date(2027, 1, 2))
    file_bankruptcy(session, group, filed_on=date(2027, 1, 5), chapter=11,
                    case_number="27-10099", actor=collector, today=date(2027, 1, 6))  # fmt: skip
    row = row_of(session, group)
    assert row.state is S.CURRENT  # the stay: January is not collected
    assert sweep(session, group, date(2027, 1, 11)).notices_sent == 0
    february = make_invoice(session, group, D("400.00"), FEB1)

    owed = position(session, group.id, date(2027, 2, 2))
    assert (owed.stayed, owed.past_due_bills, owed.overdue) == (D("1000.00"), D("400.00"),
                                                               D("400.00"))  # fmt: skip
    assert sweep(session, group, date(2027, 2, 2)).transitions == 1
    row = row_of(session, group)
    assert (row.state, row.episode, row.grace_starts_on, row.grace_ends_on) == (
        S.PAST_DUE, 2, FEB1, date(2027, 3, 4),
    )  # fmt: skip
    assert sweep(session, group, date(2027, 2, 11)).notices_sent == 1
    [notice] = notices(session, group.id)
    assert [b["invoice"] for b in notice.content["overdue_bills"]] == [february.invoice_number]
    assert notice.content["cure_amount"] == "400.00"
    assert january.invoice_number not in notice.body
    assert moves(session, group) == [
        (S.CURRENT, S.PAST_DUE, date(2027, 1, 2), date(2027, 1, 2)),
        (S.PAST_DUE, S.CURRENT, date(2027, 1, 5), date(2027, 1, 6)),
        (S.CURRENT, S.PAST_DUE, date(2027, 2, 2), date(2027, 2, 2)),
        (S.PAST_DUE, S.IN_GRACE, date(2027, 2, 11), date(2027, 2, 11)),
    ]


def test_every_state_is_walked_here():
    """The four walks above reach every state a group can be in."""
    walked = {S.CURRENT, S.PAST_DUE, S.IN_GRACE, S.PENDING_CANCELLATION, S.CANCELLED,
              S.REINSTATED, S.REFERRED, S.CHARGED_OFF}  # fmt: skip
    assert walked == set(S)
