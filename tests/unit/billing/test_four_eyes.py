"""The four-eyes rule (billing_core.authority) wherever money moves on a person's say-so:
adjustments per decision and per source (issue 16, point 5), write-offs per person per invoice
and per day (issue 17, finding 3), refunds of credit and out of suspense, and write-offs above
the limit, always approved by a second person (issue 17, finding 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from billing_core import ledger
from billing_core.authority import Exposure, authority
from billing_core.billing.adjustments import (
    approval_authority,
    approve_adjustment,
    approve_adjustments,
    reject_adjustments,
)
from billing_core.errors import AccessDenied, BillingError
from billing_core.ledger import Chart
from billing_core.models import Adjustment, SuspenseItem, WriteOffRequest
from billing_core.models.enums import (
    AdjustmentStatus,
    PaymentMethod,
    PaymentSource,
    RefundStatus,
    Role,
    SuspenseStatus,
    WriteOffStatus,
)
from billing_core.money import D
from billing_core.payments.allocation import open_balances, write_off
from billing_core.payments.receipts import record_payment
from billing_core.payments.refunds import approve_refund, request_refund
from billing_core.payments.suspense import apply_suspense, request_suspense_refund
from billing_core.payments.write_offs import (
    approve_write_off,
    reject_write_off,
    withdraw_write_off,
    write_off_by_hand,
)
from tests.factories import make_invoice, make_user, scenario

ON = date(2027, 1, 20)
LIMIT = D("500.00")


@pytest.fixture
def cast(session):
    world = scenario(session)
    world.users["other_supervisor"] = make_user(session, Role.SUPERVISOR)
    return world


def _adjustment(session, cast, amount, requester, source_id=7):
    adjustment = Adjustment(
        group_id=cast.group_a.id,
        member_id=cast.member_east.id,
        coverage_month=date(2027, 1, 1),
        amount=D(amount),
        reason_code="late_add",
        source_type="upload",
        source_id=source_id,
        requested_by_id=requester.id,
    )
    session.add(adjustment)
    session.flush()
    return adjustment


def test_the_rule_itself():
    rule = authority(
        what="a thing of $600.00",
        exposures=[Exposure(D("600.00"), "the things"), Exposure(D("20.00"), "others")],
        limit=LIMIT,
        requested_by=[1],
    )
    assert rule.needs_supervisor
    assert rule.reason == (
        "a thing of $600.00 needs a supervisor's approval: the things come to $600.00 "
        "(authority limit $500.00)"
    )
    within = authority(what="x", exposures=[Exposure(D("500.00"), "y")], limit=LIMIT)
    assert not within.needs_supervisor and within.reason == ""


def test_an_uploads_lines_count_together_for_their_requester(session, cast):
    specialist = cast.users["billing_specialist"]
    lines = [_adjustment(session, cast, "-200.00", specialist) for _ in range(3)]
    other_requester = _adjustment(session, cast, "450.00", cast.users["admin"])
    with pytest.raises(AccessDenied, match="census upload 7 \\(one requester\\) come to \\$600"):
        approve_adjustment(lines[0], actor=specialist, authority_limit=LIMIT)
    # Another requester's line of the same upload is its own source total (450.00).
    approve_adjustment(other_requester, actor=specialist, authority_limit=LIMIT)
    # Rejecting one brings the pending total to 400.00: the rest is within the limit.
    reject_adjustments(session, [lines[0]], actor=specialist, reason="duplicate line")
    decision = approve_adjustments(session, lines[1:], actor=specialist, authority_limit=LIMIT)
    assert decision.net_total == D("-400.00") and decision.gross_total == D("400.00")
    assert {a.status for a in lines[1:]} == {AdjustmentStatus.APPROVED}


def test_a_decision_is_measured_gross_and_refused_whole(session, cast):
    specialist = cast.users["billing_specialist"]
    charge = _adjustment(session, cast, "300.00", specialist, source_id=8)
    credit = _adjustment(session, cast, "-300.00", specialist, source_id=9)
    rule = approval_authority(session, [charge, credit], LIMIT)
    assert rule.needs_supervisor and "this decision approves come to $600.00" in rule.reason
    with pytest.raises(AccessDenied, match="needs a supervisor"):
        approve_adjustments(session, [charge, credit], actor=specialist, authority_limit=LIMIT)
    assert {charge.status, credit.status} == {AdjustmentStatus.PENDING}  # none approved
    approve_adjustments(
        session, [charge, credit], actor=cast.users["supervisor"], authority_limit=LIMIT
    )
    assert {charge.status, credit.status} == {AdjustmentStatus.APPROVED}


def test_a_decision_refuses_anything_not_pending(session, cast):
    specialist = cast.users["billing_specialist"]
    done = _adjustment(session, cast, "10.00", specialist)
    approve_adjustment(done, actor=specialist)
    fresh = _adjustment(session, cast, "10.00", specialist)
    with pytest.raises(BillingError, match=f"adjustment {done.id} is approved, not pending"):
        approve_adjustments(session, [fresh, done], actor=specialist)
    assert fresh.status is AdjustmentStatus.PENDING
    with pytest.raises(BillingError, match="choose at least one"):
        approve_adjustments(session, [], actor=specialist)


def _invoice(session, cast, amount="2000.00"):
    return make_invoice(session, cast.group_a, D(amount), date(2027, 1, 1))


def test_write_offs_count_per_person_per_invoice_and_per_day(session, cast):
    specialist = cast.users["billing_specialist"]
    invoice = _invoice(session, cast)
    with pytest.raises(AccessDenied, match="a write-off of \\$600.00 needs a supervisor"):
        write_off(session, invoice, D("600.00"), on=ON, reason="x", actor=specialist)
    write_off(session, invoice, D("500.00"), on=ON, reason="small", actor=specialist)
    with pytest.raises(AccessDenied, match="on P-.*this one included, come to \\$1,000.00"):
        write_off(session, invoice, D("500.00"), on=ON, reason="split", actor=specialist)
    # The next day the same invoice still counts what this person wrote off on it.
    with pytest.raises(AccessDenied, match="this one included, come to \\$510.00"):
        write_off(session, invoice, D("10.00"), on=date(2027, 1, 21), reason="x", actor=specialist)
    # Another invoice the same day counts the day's total.
    other = _invoice(session, cast)
    with pytest.raises(AccessDenied, match="your write-offs today, this one included, come to"):
        write_off(session, other, D("100.00"), on=ON, reason="x", actor=specialist)
    # Someone else has their own authority; the tolerance policy (no person) is not limited.
    write_off(session, other, D("100.00"), on=ON, reason="x", actor=cast.users["admin"])
    write_off(session, other, D("900.00"), on=ON, reason="within tolerance")
    assert open_balances(session, cast.group_a)[other.id] == D("1000.00")


def test_above_the_limit_a_write_off_waits_for_a_supervisor_who_did_not_ask(session, cast):
    supervisor = cast.users["supervisor"]
    invoice = _invoice(session, cast)
    asked = write_off_by_hand(
        session, invoice, D("800.00"), on=ON, reason="uncollectable", actor=supervisor
    )
    assert asked.entry is None and asked.request.status is WriteOffStatus.REQUESTED
    assert open_balances(session, cast.group_a)[invoice.id] == D("2000.00")
    request = asked.request
    with pytest.raises(AccessDenied, match="you requested it"):
        approve_write_off(session, request, actor=supervisor, on=ON)
    with pytest.raises(AccessDenied, match="needs a supervisor"):
        approve_write_off(session, request, actor=cast.users["billing_specialist"], on=ON)
    with pytest.raises(AccessDenied, match="you requested it"):
        reject_write_off(session, request, actor=supervisor, reason="not needed")
    approve_write_off(session, request, actor=cast.users["other_supervisor"], on=ON)
    assert request.status is WriteOffStatus.APPROVED and request.journal_entry_id
    assert open_balances(session, cast.group_a)[invoice.id] == D("1200.00")
    # Approved through four eyes, it does not count against either person's own authority.
    within = write_off_by_hand(
        session, invoice, D("400.00"), on=ON, reason="small", actor=cast.users["other_supervisor"]
    )
    assert within.entry is not None


def test_a_write_off_request_can_be_withdrawn_only_by_its_asker(session, cast):
    specialist = cast.users["billing_specialist"]
    invoice = _invoice(session, cast)
    request = write_off_by_hand(
        session, invoice, D("700.00"), on=ON, reason="old", actor=specialist
    ).request
    with pytest.raises(AccessDenied, match="only the person who asked"):
        withdraw_write_off(session, request, actor=cast.users["supervisor"], reason="no")
    withdraw_write_off(session, request, actor=specialist, reason="asked in error")
    assert request.status is WriteOffStatus.REJECTED
    assert session.scalar(select(WriteOffRequest.decided_by_id)) == specialist.id


def _pay(session, group, amount, method=PaymentMethod.CHECK):
    payment, _ = record_payment(
        session,
        group=group,
        amount=D(amount),
        method=method,
        received_on=ON,
        source=PaymentSource.STAFF,
    )
    return payment


def test_a_refund_split_into_parts_needs_the_same_approver_as_the_whole(session, cast):
    specialist, admin = cast.users["billing_specialist"], cast.users["admin"]
    payment = _pay(session, cast.group_a, "1350.60")  # 1,200.00 left as credit
    parts = [
        request_refund(session, payment, D("400.00"), reason="back to HR", actor=specialist)
        for _ in range(3)
    ]
    other_specialist = make_user(session, Role.BILLING_SPECIALIST)
    with pytest.raises(AccessDenied, match="asks from payment .* come to \\$1,200.00"):
        approve_refund(session, parts[0], actor=other_specialist, on=ON, authority_limit=LIMIT)
    with pytest.raises(AccessDenied, match="second person"):  # the asker, even a supervisor
        approve_refund(session, parts[0], actor=specialist, on=ON, authority_limit=D("5000"))
    approve_refund(session, parts[0], actor=admin, on=ON, authority_limit=LIMIT)
    approve_refund(session, parts[1], actor=admin, on=ON, authority_limit=LIMIT)
    assert [p.status for p in parts] == [RefundStatus.APPROVED] * 2 + [RefundStatus.REQUESTED]
    # What is left (400.00) is within a specialist's authority on its own.
    approve_refund(session, parts[2], actor=other_specialist, on=ON, authority_limit=LIMIT)


def test_what_one_person_approves_in_a_day_is_counted(session, cast):
    today = datetime.now(UTC).date()  # approvals are counted by the day they were made
    specialist = cast.users["billing_specialist"]
    approver = make_user(session, Role.BILLING_SPECIALIST)
    first = request_refund(
        session,
        _pay(session, cast.group_a, "450.60"),
        D("300.00"),
        reason="asked",
        actor=specialist,
    )
    second = request_refund(
        session,
        _pay(session, cast.group_b, "376.90"),
        D("300.00"),
        reason="asked",
        actor=specialist,
    )
    approve_refund(session, first, actor=approver, on=today, authority_limit=LIMIT)
    with pytest.raises(AccessDenied, match="you approve today, this one included, come to \\$600"):
        approve_refund(session, second, actor=approver, on=today, authority_limit=LIMIT)


def test_a_refund_out_of_suspense_is_a_request_a_second_person_approves(session, cast):
    specialist = cast.users["billing_specialist"]
    payment = _pay(session, None, "2500.00")
    item = session.scalar(select(SuspenseItem).where(SuspenseItem.payment_id == payment.id))
    refund = request_suspense_refund(session, item, reason="not our customer", actor=specialist)
    with pytest.raises(BillingError, match="waiting for approval"):
        apply_suspense(session, item, cast.group_a, on=ON, actor=specialist, note="")
    with pytest.raises(BillingError, match="waiting for approval"):
        request_suspense_refund(session, item, reason="again please", actor=specialist)
    with pytest.raises(AccessDenied, match="needs a supervisor"):  # 2,500.00 is above the limit
        approve_refund(session, refund, actor=make_user(session, Role.BILLING_SPECIALIST), on=ON)
    approve_refund(session, refund, actor=cast.users["supervisor"], on=ON)
    assert item.status is SuspenseStatus.REFUNDED and refund.group_id is None
    suspense = ledger.account(session, Chart.SUSPENSE)
    payable = ledger.account(session, Chart.SUSPENSE_REFUNDS_PAYABLE)
    assert ledger.account_balance(session, suspense) == 0
    assert ledger.account_balance(session, payable) == D("-2500.00")


def test_write_offs_waiting_for_a_supervisor_are_a_work_queue(session, cast):
    from billing_core.reports.work_queue import work_queue

    invoice = _invoice(session, cast)
    write_off_by_hand(
        session, invoice, D("750.00"), on=ON, reason="old", actor=cast.users["billing_specialist"]
    )
    today = datetime.now(UTC).date()
    lines = {line.key: line for line in work_queue(session, today, authority_limit=LIMIT).lines}
    line = lines["write_offs_to_approve"]
    assert (line.waiting, line.amount, line.endpoint) == (1, D("750.00"), "admin.write_off_queue")
