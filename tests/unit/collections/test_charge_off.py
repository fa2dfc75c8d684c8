"""Charge-off: refused without a supervisor who did not ask; approved, one balanced entry moves
the open receivable to bad debt (the kept balances follow), the group's balance is zero and
its state charged off. A recovery after the charge-off (cash through the payments path) posts
to recoveries with the agency's fee as a collection expense, never to premium, and the
receivable stays closed; before it, the fee the agency kept reduces what the group owes."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core import ledger
from billing_core.collections.charge_off import (
    approve_charge_off,
    receivable,
    record_recovery,
    recoverable_payments,
    reject_charge_off,
    request_charge_off,
)
from billing_core.collections.referrals import refer, referral_package
from billing_core.errors import AccessDenied, BillingError, ValidationFailed
from billing_core.ledger import Chart
from billing_core.ledger.kept import kept_balance_errors
from billing_core.models import JournalEntry
from billing_core.models.collections import DelinquencyState, GroupDelinquency
from billing_core.models.collections_legal import ChargeOffStatus
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.payments.allocation import unallocated_amount
from tests.factories import pay_by_check
from tests.unit.collections.legal import cancelled_group, late_group, staff

S = DelinquencyState
ASKED, DECIDED = date(2027, 3, 20), date(2027, 3, 22)


def balance(session, chart, group=None) -> Decimal:
    return ledger.account_balance(session, ledger.account(session, chart, group))


def test_a_charge_off_needs_a_supervisor_who_did_not_ask(session):
    group, _ = cancelled_group(session)
    collector, other, supervisor = staff(session)
    asked = request_charge_off(session, group, on=ASKED, reason="agency gave up", actor=collector)
    assert (asked.amount, asked.status) == (Decimal("1000.00"), ChargeOffStatus.REQUESTED)
    assert balance(session, Chart.BAD_DEBT) == 0  # nothing posts on asking

    with pytest.raises(AccessDenied, match="supervisor"):
        approve_charge_off(session, asked, actor=collector, on=DECIDED)
    with pytest.raises(AccessDenied, match="supervisor"):
        approve_charge_off(session, asked, actor=other, on=DECIDED)
    with pytest.raises(ValidationFailed, match="waits for a decision"):
        request_charge_off(session, group, on=ASKED, reason="twice", actor=other)
    assert balance(session, Chart.BAD_DEBT) == 0
    assert session.get(GroupDelinquency, group.id).state is S.CANCELLED


def test_an_approved_charge_off_moves_the_receivable_to_bad_debt(session):
    group, january = cancelled_group(session)
    collector, _, supervisor = staff(session)
    asked = request_charge_off(session, group, on=ASKED, reason="agency gave up", actor=collector)
    entry = approve_charge_off(session, asked, actor=supervisor, on=DECIDED, note="ok")

    assert (asked.status, asked.charged_off_on, asked.journal_entry_id) == (
        ChargeOffStatus.APPROVED, DECIDED, entry.id,
    )  # fmt: skip
    posted = session.get(JournalEntry, entry.id)
    legs = sorted((p.account.code, p.debit, p.credit, p.invoice_id) for p in posted.postings)
    assert legs == [
        ("1100", Decimal("0.00"), Decimal("1000.00"), january.id),
        ("5200", Decimal("1000.00"), Decimal("0.00"), None),
    ]
    assert posted.entry_date == DECIDED
    assert balance(session, Chart.BAD_DEBT) == Decimal("1000.00")
    assert balance(session, Chart.RECEIVABLE, group) == 0
    assert receivable(session, group).open == 0
    assert (
        session.scalars(select(KeptOpenItem).where(KeptOpenItem.group_id == group.id)).all() == []
    )
    kept = session.scalar(
        select(KeptBalance.balance).where(
            KeptBalance.group_id == group.id, KeptBalance.code == "1100"
        )
    )
    assert kept == 0
    assert kept_balance_errors(session) == []
    row = session.get(GroupDelinquency, group.id)
    assert row.state is S.CHARGED_OFF
    with pytest.raises(BillingError, match="already approved"):
        approve_charge_off(session, asked, actor=supervisor, on=DECIDED)


def test_a_charge_off_is_refused_for_a_group_not_cancelled_or_when_the_balance_moved(session):
    group, january = late_group(session)
    collector, other, supervisor = staff(session)
    with pytest.raises(ValidationFailed, match="only a cancelled or referred group"):
        request_charge_off(session, group, on=ASKED, reason="too early", actor=collector)

    cancelled, jan = cancelled_group(session, name="Later Co")
    asked = request_charge_off(session, cancelled, on=ASKED, reason="gone", actor=collector)
    pay_by_check(session, cancelled, "100.00", date(2027, 3, 21), [jan])
    with pytest.raises(ValidationFailed, match=r"owes \$900.00 now, not the \$1,000.00 asked"):
        approve_charge_off(session, asked, actor=supervisor, on=DECIDED)
    reject_charge_off(session, asked, actor=other, reason="balance changed")
    assert asked.status is ChargeOffStatus.REJECTED
    assert balance(session, Chart.BAD_DEBT) == 0


def test_a_recovery_after_charge_off_posts_to_recoveries_and_the_receivable_stays_closed(session):
    group, _ = cancelled_group(session)
    collector, _, supervisor = staff(session)
    referral = refer(session, group, agency="Summit Recovery", on=date(2027, 3, 8), actor=collector)
    asked = request_charge_off(session, group, on=ASKED, reason="uncollectible", actor=collector)
    approve_charge_off(session, asked, actor=supervisor, on=DECIDED)
    premium_before = balance(session, Chart.PREMIUM_REVENUE)

    # The agency collected 750.00 and remits 600.00, keeping its fee of 150.00.
    payment = pay_by_check(session, group, "600.00", date(2027, 4, 1), reference="agency-1")
    assert balance(session, Chart.UNAPPLIED_CASH, group) == Decimal("-600.00")  # waits as credit
    # Only money received since the referral can be named (not December's premium check).
    assert [(p.received_on, p.amount) for p in recoverable_payments(session, group.id)] == [
        (date(2027, 4, 1), Decimal("600.00"))
    ]
    recovery = record_recovery(session, group, payment, on=date(2027, 4, 1), actor=collector,
                               fee=Decimal("150.00"), referral=referral)  # fmt: skip

    assert (recovery.amount, recovery.fee, recovery.after_charge_off) == (
        Decimal("750.00"), Decimal("150.00"), True,
    )  # fmt: skip
    assert balance(session, Chart.RECOVERIES) == Decimal("-750.00")
    assert balance(session, Chart.COLLECTION_EXPENSE) == Decimal("150.00")
    assert balance(session, Chart.UNAPPLIED_CASH, group) == 0
    assert balance(session, Chart.RECEIVABLE, group) == 0  # not reopened
    assert balance(session, Chart.BAD_DEBT) == Decimal("1000.00")
    assert balance(session, Chart.PREMIUM_REVENUE) == premium_before
    assert unallocated_amount(session, payment) == 0  # no credit left to spend
    assert session.get(GroupDelinquency, group.id).state is S.CHARGED_OFF
    assert kept_balance_errors(session) == []
    with pytest.raises(ValidationFailed, match="already a recovery"):
        record_recovery(session, group, payment, on=date(2027, 4, 1), actor=collector)
    # The agency's package says what became of the balance.
    package = referral_package(session, referral, date(2027, 4, 2), lambda s: b"%PDF")
    [cover] = [
        n for n in zipfile.ZipFile(io.BytesIO(package)).namelist() if n.endswith("cover.txt")
    ]
    text = zipfile.ZipFile(io.BytesIO(package)).read(cover).decode()
    assert "Charged off to bad debt on 2027-03-22: $1,000.00" in text
    assert "Recovered through this referral: $750.00 (agency fees $150.00)" in text


def test_an_agency_recovery_before_charge_off_reduces_what_the_group_owes(session):
    group, january = cancelled_group(session)
    collector, _, _ = staff(session)
    referral = refer(session, group, agency="Summit Recovery", on=date(2027, 3, 8), actor=collector)
    # The agency collected 500.00 and remits 400.00: the payments path applies it to January.
    payment = pay_by_check(session, group, "400.00", date(2027, 3, 30), reference="agency-1")
    record_recovery(session, group, payment, on=date(2027, 3, 30), actor=collector,
                    fee=Decimal("100.00"), referral=referral)  # fmt: skip
    assert receivable(session, group).open == Decimal("500.00")
    assert balance(session, Chart.COLLECTION_EXPENSE) == Decimal("100.00")
    assert balance(session, Chart.RECOVERIES) == 0
    assert kept_balance_errors(session) == []
    assert session.get(GroupDelinquency, group.id).state is S.REFERRED
