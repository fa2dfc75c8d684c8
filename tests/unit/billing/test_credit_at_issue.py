"""Issue 16, point 1: a group's credit is used on its next bill when the bill is issued (an
allocation dated the issue date, in the ledger, on the invoice under payments and credits),
unless its billing policy holds credit for a refund; refunds asked for keep their money; a
billing run repeated allocates nothing twice; every journal entry balances."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core import ledger
from billing_core.billing.invoicing import (
    issue_billing_run,
    next_bill,
    prepare_billing_run,
    void_invoice,
)
from billing_core.ledger.receivables import credit_outlook
from billing_core.models import (
    BillingPolicy,
    Invoice,
    JournalEntry,
    Payment,
    PaymentAllocation,
    Posting,
)
from billing_core.models.enums import CreditPolicy, Role
from billing_core.money import ZERO, D
from billing_core.payments.allocation import group_credit, live_allocations, unallocate
from billing_core.payments.refunds import request_refund
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_subgroup,
    make_user,
    pay_by_check,
)

JAN, FEB, MAR = date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)
MONTHLY = D("150.60")  # FAM 112.40 + EE 38.20


@pytest.fixture
def group(session):
    """A monthly list-billed group (lead 15 days) of 150.60 a month, January billed."""
    group = make_group(session, name="Credit Test Co")
    plan = make_dental_plan(session, group)
    enroll(session, make_member(session, group, last_name="Fam"), plan, "FAM")
    enroll(session, make_member(session, group, last_name="Single"), plan, "EE")
    issue_billing_run(session, JAN, group_numbers=[group.group_number])
    return group


def _invoice(session, group, period) -> Invoice:
    return session.scalars(
        select(Invoice).where(Invoice.group_id == group.id, Invoice.period_start == period)
    ).one()


def _run(session, group, period):
    return issue_billing_run(session, period, group_numbers=[group.group_number])


def _every_entry_balances(session) -> None:
    unbalanced = session.execute(
        select(Posting.entry_id)
        .group_by(Posting.entry_id)
        .having(func.sum(Posting.debit) != func.sum(Posting.credit))
    ).all()
    assert unbalanced == []


def _receivable(session, group) -> D:
    return ledger.account_balance(session, ledger.account(session, ledger.Chart.RECEIVABLE, group))


def _allocations(session) -> int:
    return session.scalar(select(func.count(PaymentAllocation.id)))


def _set_policy(session, group, policy: CreditPolicy) -> None:
    for row in session.scalars(select(BillingPolicy).where(BillingPolicy.group_id == group.id)):
        row.credit_policy = policy
    session.flush()


def test_credit_is_used_on_the_next_bill_when_it_is_issued(session, group):
    jan = _invoice(session, group, JAN)
    over = pay_by_check(session, group, "300.60", date(2027, 1, 3), [jan])  # 150.00 over
    assert group_credit(session, group) == D("150.00")
    assert over.review_reason and "over by $150.00" in over.review_reason

    [feb] = _run(session, group, FEB).issued

    assert feb.credit_applied == D("150.00")
    assert feb.balance_forward == MONTHLY
    assert feb.payments_credits == MONTHLY + D("150.00")  # January's payment and the credit
    assert feb.total_due == MONTHLY - D("150.00") == D("0.60")
    assert group_credit(session, group) == ZERO
    # The allocation is dated the issue date and ties the credit to February's open item.
    [used] = [a for a in live_allocations(session, over) if a.invoice_id == feb.id]
    entry = session.get(JournalEntry, used.journal_entry_id)
    assert used.amount == D("150.00") and entry.entry_date == feb.issued_on == date(2027, 1, 17)
    assert "at the issue of" in entry.memo
    # The total due printed is the account's open receivable after issue.
    assert _receivable(session, group) == feb.total_due
    _every_entry_balances(session)
    # The over payment's reconciliation item left the queue: its cause is gone.
    assert over.reviewed_at is not None and over.reviewed_by_id is None
    assert over.review_resolution == (
        f"cleared: the credit it left was used on invoice {feb.invoice_number} on Jan 17, 2027"
    )

    # Running the period again issues nothing and allocates nothing twice.
    before = _allocations(session)
    again = _run(session, group, FEB)
    assert again.issued == [] and again.already_issued == [feb.invoice_number]
    assert _allocations(session) == before
    # Nor does a new credit arriving later touch a bill already issued; it waits for March.
    pay_by_check(session, group, "0.60", date(2027, 1, 20), [feb])
    late = pay_by_check(session, group, "25.00", date(2027, 1, 25))
    assert _run(session, group, FEB).issued == []
    assert group_credit(session, group) == D("25.00")
    [mar] = _run(session, group, MAR).issued
    assert mar.credit_applied == D("25.00") and mar.total_due == MONTHLY - D("25.00")
    assert live_allocations(session, late)[0].invoice_id == mar.id
    _every_entry_balances(session)


def test_a_dry_run_shows_the_credit_and_writes_nothing(session, group):
    jan = _invoice(session, group, JAN)
    pay_by_check(session, group, "200.60", date(2027, 1, 3), [jan])
    before = _allocations(session)
    [draft] = prepare_billing_run(session, FEB, group_numbers=[group.group_number]).drafts
    assert draft.credit_applied == D("50.00") and draft.total_due == D("100.60")
    assert draft.as_dict()["credit_applied"] == "50.00"
    assert _allocations(session) == before and group_credit(session, group) == D("50.00")


def test_held_for_refund_the_credit_stays(session, group):
    _set_policy(session, group, CreditPolicy.HOLD_FOR_REFUND)
    jan = _invoice(session, group, JAN)
    pay_by_check(session, group, "300.60", date(2027, 1, 3), [jan])

    [feb] = _run(session, group, FEB).issued

    assert feb.credit_applied == ZERO and feb.total_due == MONTHLY
    assert group_credit(session, group) == D("150.00")
    outlook = credit_outlook(session, group, date(2027, 1, 20))
    assert not outlook.used_on_next_bill and outlook.credit == D("150.00")
    _every_entry_balances(session)


def test_a_refund_asked_for_keeps_its_money(session, group):
    jan = _invoice(session, group, JAN)
    over = pay_by_check(session, group, "300.60", date(2027, 1, 3), [jan])
    request_refund(
        session,
        over,
        D("100.00"),
        reason="employer asked for it back",
        actor=make_user(session, Role.BILLING_SPECIALIST),
    )

    [feb] = _run(session, group, FEB).issued

    assert feb.credit_applied == D("50.00") and feb.total_due == D("100.60")
    assert group_credit(session, group) == D("100.00")  # still there for the refund
    assert credit_outlook(session, group, date(2027, 1, 20)).being_refunded == D("100.00")
    assert over.reviewed_at is None  # 100.00 of credit is still on it


def test_a_credit_larger_than_the_bill_pays_it_and_the_rest_waits(session, group):
    jan = _invoice(session, group, JAN)
    pay_by_check(session, group, "350.60", date(2027, 1, 3), [jan])

    [feb] = _run(session, group, FEB).issued

    assert feb.credit_applied == MONTHLY and feb.total_due == ZERO
    assert group_credit(session, group) == D("49.40")
    [mar] = _run(session, group, MAR).issued
    assert mar.credit_applied == D("49.40") and mar.total_due == MONTHLY - D("49.40")
    _every_entry_balances(session)


def test_the_credit_goes_to_the_oldest_open_bill_first(session, group):
    jan = _invoice(session, group, JAN)
    payment = pay_by_check(session, group, "200.00", date(2027, 1, 3))  # 150.60 to January
    for allocation in live_allocations(session, payment):
        unallocate(session, allocation, on=date(2027, 1, 4), reason="test: kept as credit")
    assert group_credit(session, group) == D("200.00")

    [feb] = _run(session, group, FEB).issued

    # January (due Jan 1) first, the rest on February: both dated February's issue date.
    assert {a.invoice_id: a.amount for a in live_allocations(session, payment)} == {
        jan.id: MONTHLY,
        feb.id: D("49.40"),
    }
    assert feb.credit_applied == D("200.00")
    assert feb.total_due == MONTHLY + MONTHLY - D("200.00") == _receivable(session, group)


def test_a_group_billed_by_subgroup_uses_its_one_credit_across_its_bills(session):
    group = make_group(session, name="Split Bills Inc")
    east = make_subgroup(session, group, "EAST", bill_separately=True)
    plan = make_dental_plan(session, group)
    enroll(session, make_member(session, group, last_name="Main"), plan, "FAM")  # 112.40
    enroll(session, make_member(session, group, subgroup=east, last_name="East"), plan, "EE")
    jan_main, jan_east = sorted(_run(session, group, JAN).issued, key=lambda i: i.invoice_number)
    pay_by_check(session, group, "162.40", date(2027, 1, 3), [jan_main])  # 50.00 over

    issued = {i.subgroup_id: i for i in _run(session, group, FEB).issued}

    # The ledger keeps one credit per group: the oldest open bill takes it first (East's
    # January bill, unpaid), then the consolidated February bill.
    feb_main, feb_east = issued[None], issued[east.id]
    assert feb_east.credit_applied == D("38.20")
    assert feb_main.credit_applied == D("11.80")
    assert group_credit(session, group) == ZERO
    receivable = ledger.account(session, ledger.Chart.RECEIVABLE, group)
    for invoice, account_invoices in (
        (feb_main, [jan_main, feb_main]),
        (feb_east, [jan_east, feb_east]),
    ):
        open_items = ledger.open_item_balances(
            session, receivable, [i.id for i in account_invoices]
        )
        assert invoice.total_due == sum(open_items.values(), ZERO)
    _every_entry_balances(session)


def test_a_void_and_its_credit_memo_are_not_counted_as_credit_again(session, group):
    """January paid, then voided for a reissue: the payment is moved off it (to credit), the
    credit memo reverses its charges, and the replacement bill uses the payment's credit once."""
    jan = _invoice(session, group, JAN)
    payment = pay_by_check(session, group, "150.60", date(2027, 1, 3), [jan])
    for allocation in live_allocations(session, payment):
        unallocate(session, allocation, on=date(2027, 1, 8), reason="moved for the void")
    supervisor = make_user(session, Role.SUPERVISOR)
    void_invoice(session, jan, reason="wrong rates on this bill", actor=supervisor, on=JAN)
    assert group_credit(session, group) == MONTHLY and _receivable(session, group) == ZERO

    [replacement] = _run(session, group, JAN).issued

    assert replacement.invoice_number.endswith("-R2")
    assert replacement.credit_applied == MONTHLY and replacement.total_due == ZERO
    assert group_credit(session, group) == ZERO and _receivable(session, group) == ZERO
    assert session.scalar(select(func.count(Payment.id)).where(Payment.group_id == group.id)) == 1
    _every_entry_balances(session)


def test_next_bill_is_the_first_period_not_yet_issued(session, group):
    assert next_bill(session, group, date(2027, 1, 5)) == (FEB, date(2027, 1, 17))
    _run(session, group, FEB)
    assert next_bill(session, group, date(2027, 1, 20)) == (MAR, date(2027, 2, 14))


def test_the_set_up_import_reads_the_credit_policy(unit_session):
    from pathlib import Path

    from billing_core.errors import ValidationFailed
    from billing_core.setup import import_setup, load_document

    example = load_document(Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml")
    policies = example["groups"][0]["billing_policies"]
    assert all("credit_policy" not in p for p in policies)
    policies[0]["credit_policy"] = "sometimes"
    with pytest.raises(ValidationFailed) as refused:
        import_setup(unit_session, example)
    assert any("credit_policy" in str(e) for e in refused.value.errors)

    policies[0]["credit_policy"] = "hold_for_refund"
    import_setup(unit_session, example)
    number = example["groups"][0]["group_number"]
    stored = unit_session.scalars(select(BillingPolicy).order_by(BillingPolicy.id)).all()
    assert stored[0].group.group_number == number
    assert stored[0].credit_policy is CreditPolicy.HOLD_FOR_REFUND
    # Left out, a policy uses the credit on the next bill.
    assert all(p.credit_policy is CreditPolicy.APPLY_TO_NEXT_BILL for p in stored[1:])


def test_the_position_of_a_location_contact_covers_their_bills_and_the_groups(session):
    from billing_core.ledger.receivables import account_summary

    group = make_group(session, name="Two Sites Ltd")
    east = make_subgroup(session, group, "EAST", bill_separately=True)
    west = make_subgroup(session, group, "WEST", bill_separately=True)
    plan = make_dental_plan(session, group)
    enroll(session, make_member(session, group, last_name="Head office"), plan, "FAM")  # 112.40
    enroll(session, make_member(session, group, subgroup=east, last_name="East"), plan, "EE")
    enroll(session, make_member(session, group, subgroup=west, last_name="West"), plan, "ES")
    _run(session, group, JAN)
    _run(session, group, FEB)
    on = date(2027, 1, 20)  # January's bills past due, February's ahead

    whole = account_summary(session, group, on)
    east_only = account_summary(session, group, on, subgroup_ids=frozenset({east.id}))

    assert (whole.past_due, whole.not_yet_due) == (D("227.50"), D("227.50"))  # 112.40+38.20+76.90
    assert (east_only.past_due, east_only.not_yet_due) == (D("150.60"), D("150.60"))
    assert east_only.oldest_past_due_on == JAN and east_only.next_due_on == FEB
    assert east_only.total_due == east_only.past_due + east_only.not_yet_due - east_only.credits
