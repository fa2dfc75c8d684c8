"""Cancellation for non-payment and reinstatement, with exact dates, on a group billed by the
real billing run: two members on dental at 38.20 a month (76.40 a bill), December paid,
January and February unpaid; the March bill issued on Feb 3, before the cancellation of
Feb 5. Coverage ends Dec 31 (the last month paid in full), the run stops billing the group
and says why, the March bill is listed and reversed by a balanced credit memo, a supervisor
alone decides (billing_core refuses a specialist), a moratorium holds the cancellation, and a
reinstatement within the window restores coverage and bills the missed month once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core import ledger
from billing_core.billing.invoicing import issue_billing_run, next_bill, prepare_billing_run
from billing_core.collections import plans
from billing_core.collections.cancellation import (
    cancel_for_nonpayment,
    invoices_after,
    reinstate,
    reverse_invoices_after,
)
from billing_core.collections.overdue import position
from billing_core.collections.states import history
from billing_core.collections.sweep import run_sweep
from billing_core.errors import AccessDenied, ValidationFailed
from billing_core.models import (
    Adjustment,
    AuditLog,
    CreditMemo,
    Invoice,
    JournalEntry,
)
from billing_core.models.collections import DelinquencyState, GroupCancellation, GroupDelinquency
from billing_core.models.enums import AdjustmentStatus, InvoiceSection, InvoiceStatus, Role
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_user,
    pay_by_check,
)

S = DelinquencyState
BILL = Decimal("76.40")
DEC1 = date(2026, 12, 1)
JAN1, FEB1, MAR1, APR1 = (date(2027, m, 1) for m in (1, 2, 3, 4))
CANCELLED_ON = date(2027, 2, 5)


def run(session, month, run_date=None, group=None):
    return issue_billing_run(session, month, group_numbers=[group.group_number], run_date=run_date)


@pytest.fixture
def book(session):
    """The group pending cancellation on Feb 2 with its December bill paid, January's and
    February's unpaid and March's issued on Feb 3; a supervisor and a specialist."""
    group = make_group(session, state="CA", name="Harbor Co", contact_email="ap@harbor.test")
    plan = make_dental_plan(session, group)
    coverages = [enroll(session, make_member(session, group), plan) for _ in range(2)]
    supervisor = make_user(session, Role.SUPERVISOR, email="sup@carrier.test")
    specialist = make_user(session, Role.BILLING_SPECIALIST, email="spec@carrier.test")
    [december] = run(session, DEC1, group=group).issued
    pay_by_check(session, group, str(BILL), DEC1, [december])
    [january] = run(session, JAN1, group=group).issued
    run_sweep(session, date(2027, 1, 2))
    run_sweep(session, date(2027, 1, 11))
    [february] = run(session, FEB1, group=group).issued
    run_sweep(session, date(2027, 2, 2))
    [march] = run(session, MAR1, run_date=date(2027, 2, 3), group=group).issued
    session.flush()
    assert session.get(GroupDelinquency, group.id).state is S.PENDING_CANCELLATION
    return dict(
        group=group,
        coverages=coverages,
        supervisor=supervisor,
        specialist=specialist,
        invoices=(december, january, february, march),
    )


def receivable_balance(session, group) -> Decimal:
    return ledger.account_balance(session, ledger.account(session, ledger.Chart.RECEIVABLE, group))


def test_a_cancellation_ends_coverage_on_the_last_day_of_the_last_month_paid(session, book):
    group, supervisor = book["group"], book["supervisor"]
    cancellation = cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=supervisor)
    assert cancellation.coverage_ends_on == date(2026, 12, 31)
    assert cancellation.reinstate_until == date(2027, 3, 7)  # 30 days
    assert cancellation.overdue == 2 * BILL  # January and February
    for coverage in book["coverages"]:
        session.refresh(coverage)
        assert coverage.effective_to == date(2026, 12, 31)
    [last] = history(session, group.id)[-1:]
    assert (last.to_state, last.effective_on, last.as_of, last.actor) == (
        S.CANCELLED, date(2026, 12, 31), CANCELLED_ON, "sup@carrier.test",
    )  # fmt: skip
    audit = session.scalars(
        select(AuditLog).where(AuditLog.action == "collections.cancelled")
    ).one()
    assert audit.detail["coverages_ended"] == 2 and audit.actor_email == "sup@carrier.test"


def test_the_next_billing_run_does_not_bill_a_cancelled_group_and_says_why(session, book):
    group = book["group"]
    cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=book["supervisor"])
    preview = prepare_billing_run(session, APR1, group_numbers=[group.group_number])
    assert preview.drafts == []
    reason = preview.not_due[group.group_number]
    assert reason == "cancelled for non-payment on Feb 5, 2027: coverage ended Dec 31, 2026"
    issued = run(session, APR1, group=group)
    assert issued.issued == [] and issued.not_due[group.group_number] == reason
    assert (
        session.scalar(
            select(Invoice).where(Invoice.group_id == group.id, Invoice.period_start == APR1)
        )
        is None
    )
    assert next_bill(session, group, CANCELLED_ON) is None  # no "next bill" to use credit on


def test_a_bill_issued_for_a_later_period_is_listed_and_reversed_by_a_credit_memo(session, book):
    group, supervisor = book["group"], book["supervisor"]
    january, february, march = book["invoices"][1:]
    cancellation = cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=supervisor)
    review = invoices_after(session, cancellation)
    assert [(r.invoice.id, r.charges, r.applied) for r in review] == [
        (march.id, BILL, Decimal("0.00"))
    ]  # January's and February's stay owed: the cure amount
    before, total_due = receivable_balance(session, group), march.total_due

    [memo] = reverse_invoices_after(
        session, group, [march.id], actor=supervisor, on=date(2027, 2, 6), reason="not covered"
    )
    assert memo.amount == BILL and memo.invoice_id == march.id
    entry = session.get(JournalEntry, memo.journal_entry_id)
    assert ledger.entry_is_balanced(entry)
    debits = sum(p.debit or 0 for p in entry.postings)
    credits = sum(p.credit or 0 for p in entry.postings)
    assert debits == credits == BILL
    assert receivable_balance(session, group) == before - BILL
    session.refresh(march)
    assert march.status is InvoiceStatus.VOID and march.total_due == total_due  # not edited
    assert invoices_after(session, cancellation) == []
    with pytest.raises(ValidationFailed, match="after the cancellation date"):
        reverse_invoices_after(session, group, [january.id], actor=supervisor, on=date(2027, 2, 6))
    assert february.status is InvoiceStatus.ISSUED


def test_only_a_supervisor_cancels_reverses_and_reinstates(session, book):
    group, specialist, supervisor = book["group"], book["specialist"], book["supervisor"]
    march = book["invoices"][3]
    with pytest.raises(AccessDenied, match="supervisor"):
        cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=specialist)
    with pytest.raises(AccessDenied, match="billing staff"):
        cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=None)
    assert session.get(GroupDelinquency, group.id).state is S.PENDING_CANCELLATION
    cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=supervisor)
    with pytest.raises(AccessDenied, match="supervisor"):
        reverse_invoices_after(session, group, [march.id], actor=specialist, on=CANCELLED_ON)
    with pytest.raises(AccessDenied, match="supervisor"):
        reinstate(session, group, on=CANCELLED_ON, actor=specialist)
    assert session.scalar(select(CreditMemo)) is None


def test_a_moratorium_still_holds_the_cancellation(session, book):
    group = book["group"]
    plans.add_moratorium(
        session, "CA", date(2027, 2, 4), date(2027, 2, 28), "wildfire emergency order"
    )
    with pytest.raises(ValidationFailed, match="moratorium in CA until 2027-02-28"):
        cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=book["supervisor"])
    assert session.get(GroupDelinquency, group.id).state is S.PENDING_CANCELLATION
    assert session.scalar(select(GroupCancellation)) is None
    for coverage in book["coverages"]:
        session.refresh(coverage)
        assert coverage.effective_to is None


def test_reinstatement_in_the_window_restores_billing_and_bills_the_missed_month_once(
    session, book
):
    group, supervisor = book["group"], book["supervisor"]
    _, january, february, march = book["invoices"]
    cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=supervisor)
    reverse_invoices_after(session, group, [march.id], actor=supervisor, on=CANCELLED_ON)
    pay_by_check(session, group, str(2 * BILL), date(2027, 2, 20), [january, february])

    swept = run_sweep(session, date(2027, 2, 20))  # paid in full within the window
    assert swept.moves[-1]["to"] == "reinstated"
    for coverage in book["coverages"]:
        session.refresh(coverage)
        assert coverage.effective_to is None
    cancellation = session.scalars(select(GroupCancellation)).one()
    assert (cancellation.reinstated_on, cancellation.reinstated_by) == (date(2027, 2, 20), "sweep")
    # March's bill was due to be issued Feb 14 (15 days' lead) and was reversed: missed.
    assert cancellation.billed_through == date(2027, 3, 31)
    missed = session.scalars(
        select(Adjustment).where(Adjustment.source_type == "reinstatement")
    ).all()
    assert (
        sorted((a.coverage_month, a.amount, a.status) for a in missed)
        == [(MAR1, Decimal("38.20"), AdjustmentStatus.APPROVED)] * 2
    )

    assert next_bill(session, group, date(2027, 2, 20)) == (APR1, date(2027, 3, 17))
    again = run(session, MAR1, group=group)  # March is billed as a missed month, not again
    assert (
        again.issued == [] and "billed with the missed months" in again.not_due[group.group_number]
    )
    [april] = run(session, APR1, group=group).issued
    assert april.current_premium == BILL and april.retro_total == BILL
    retro = [ln for ln in april.lines if ln.section is InvoiceSection.RETRO]
    assert {ln.coverage_month for ln in retro} == {MAR1}
    # Run twice (and the sweep again): nothing is billed twice.
    assert run(session, APR1, group=group).issued == []
    run_sweep(session, date(2027, 2, 21))
    assert run(session, MAR1, group=group).issued == []
    assert (
        session.scalar(
            select(Adjustment).where(
                Adjustment.source_type == "reinstatement",
                Adjustment.status != AdjustmentStatus.BILLED,
            )
        )
        is None
    )
    billed_march = sum(
        ln.amount
        for inv in session.scalars(
            select(Invoice).where(Invoice.group_id == group.id, Invoice.status != "void")
        )
        for ln in inv.lines
        if ln.coverage_month == MAR1
    )
    assert billed_march == BILL


def test_a_supervisor_reinstates_a_paid_group_but_not_an_unpaid_one(session, book):
    group, supervisor = book["group"], book["supervisor"]
    _, january, february, _ = book["invoices"]
    cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=supervisor)
    with pytest.raises(ValidationFailed, match=r"still owes \$152.80"):
        reinstate(session, group, on=date(2027, 2, 10), actor=supervisor)
    pay_by_check(session, group, str(2 * BILL), date(2027, 2, 10), [january, february])
    done = reinstate(session, group, on=date(2027, 2, 10), actor=supervisor)
    # January and February were billed (and paid), March's bill is not yet due to be issued
    # (Feb 14) and stood: no premium was missed.
    assert done.months == [JAN1, FEB1] and done.missed_premium == Decimal("0.00")
    row = session.get(GroupDelinquency, group.id)
    assert row.state is S.REINSTATED
    assert history(session, group.id)[-1].actor == "sup@carrier.test"
    assert position(session, group.id, date(2027, 2, 10)).overdue == Decimal("0.00")


def test_after_the_window_reinstatement_is_refused_and_the_group_stays_cancelled(session, book):
    group, supervisor = book["group"], book["supervisor"]
    _, january, february, _ = book["invoices"]
    cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=supervisor)
    pay_by_check(session, group, str(2 * BILL), date(2027, 3, 10), [january, february])
    with pytest.raises(ValidationFailed, match="window closed on Mar 7, 2027"):
        reinstate(session, group, on=date(2027, 3, 10), actor=supervisor)
    run_sweep(session, date(2027, 3, 10))
    assert session.get(GroupDelinquency, group.id).state is S.CANCELLED
    for coverage in book["coverages"]:
        session.refresh(coverage)
        assert coverage.effective_to == date(2026, 12, 31)
    assert run(session, APR1, group=group).issued == []
