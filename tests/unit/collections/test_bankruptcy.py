"""Bankruptcy: a filing splits a group's balance at the filing date. Bills for periods before it
are pre-petition: the sweep sends no notice, charges no fee and suggests no call for them (the
automatic stay), while the balance and every record stay; bills after it are collected
normally. Active and cancelled groups alike; a dismissal lifts the stay."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core.collections.bankruptcy import close_bankruptcy, file_bankruptcy, stays
from billing_core.collections.notices import notices
from billing_core.collections.overdue import position
from billing_core.collections.states import coverage_end, history
from billing_core.collections.sweep import run_sweep
from billing_core.collections.worklist import worklist
from billing_core.errors import ValidationFailed
from billing_core.models.collections import DelinquencyState, GroupDelinquency
from billing_core.models.collections_legal import BankruptcyStatus
from billing_core.models.ledger import KeptOpenItem
from tests.factories import make_invoice
from tests.unit.collections.legal import cancelled_group, late_group, staff

S = DelinquencyState
FILED = date(2027, 1, 5)
FEB1 = date(2027, 2, 1)


def sweep_days(session, group, start: date, end: date):
    """Sweep the group every day from `start` to `end`; the results."""
    day, results = start, []
    while day <= end:
        results.append(run_sweep(session, day, group_ids=[group.id]))
        day = date.fromordinal(day.toordinal() + 1)
    return results


def test_a_filing_stops_the_clock_on_the_pre_petition_balance(session):
    group, january = late_group(session)
    collector, _, _ = staff(session)
    run_sweep(session, date(2027, 1, 2), group_ids=[group.id])
    assert session.get(GroupDelinquency, group.id).state is S.PAST_DUE

    filing = file_bankruptcy(session, group, filed_on=FILED, chapter=11,
                             case_number="27-10042", actor=collector, today=date(2027, 1, 6))  # fmt: skip
    assert stays(session, [group.id]) == {group.id: FILED}
    last = history(session, group.id)[-1]
    assert (last.from_state, last.to_state, last.effective_on) == (S.PAST_DUE, S.CURRENT, FILED)
    assert "chapter 11, case 27-10042" in last.reason

    results = sweep_days(session, group, date(2027, 1, 6), date(2027, 1, 31))
    assert sum(r.notices_sent + r.transitions + r.late_fees + r.steps for r in results) == 0
    assert notices(session, group.id) == []
    owed = position(session, group.id, date(2027, 1, 31))
    assert (owed.stayed, owed.overdue, owed.past_due_bills) == (Decimal("1000.00"), 0, 0)
    # The record stays: January is still open on the ledger.
    kept = session.scalar(
        select(KeptOpenItem.open_amount).where(KeptOpenItem.invoice_id == january.id)
    )
    assert kept == Decimal("1000.00")
    assert filing.status is BankruptcyStatus.FILED


def test_post_petition_bills_are_collected_normally(session):
    group, january = late_group(session)
    collector, _, _ = staff(session)
    file_bankruptcy(session, group, filed_on=FILED, chapter=13, case_number="27-10043",
                    actor=collector, today=FILED)  # fmt: skip
    february = make_invoice(session, group, Decimal("400.00"), FEB1)  # after the filing

    assert run_sweep(session, FEB1, group_ids=[group.id]).transitions == 0  # due today
    moved = run_sweep(session, date(2027, 2, 2), group_ids=[group.id])
    row = session.get(GroupDelinquency, group.id)
    assert (moved.transitions, row.state, row.grace_starts_on) == (1, S.PAST_DUE, FEB1)
    assert row.overdue_amount == Decimal("400.00")  # January's 1,000.00 is stayed

    grace = run_sweep(session, date(2027, 2, 11), group_ids=[group.id])
    assert (grace.transitions, grace.notices_sent) == (1, 1)
    [notice] = notices(session, group.id)
    assert [b["invoice"] for b in notice.content["overdue_bills"]] == [february.invoice_number]
    assert notice.content["cure_amount"] == "400.00"
    assert january.invoice_number not in notice.body
    # Coverage would end for the post-petition bill: January (stayed) is not what ends it.
    row = session.get(GroupDelinquency, group.id)
    assert coverage_end(session, row, date(2027, 2, 11), row.plan.coverage_end_rule) == date(
        2027, 1, 31
    )


def test_a_cancelled_groups_stayed_balance_suggests_no_call_and_does_not_reinstate(session):
    group, _ = cancelled_group(session)
    collector, _, _ = staff(session)
    before = worklist(session, date(2027, 2, 10))
    assert [r["action"] for r in before if r["group_id"] == group.id] == ["call"]

    file_bankruptcy(session, group, filed_on=date(2027, 2, 9), chapter=7, case_number="27-2",
                    actor=collector, today=date(2027, 2, 10))  # fmt: skip
    row = session.get(GroupDelinquency, group.id)
    assert row.state is S.CANCELLED  # a cancelled group keeps its state
    [mine] = [r for r in worklist(session, date(2027, 2, 10)) if r["group_id"] == group.id]
    assert (mine["action"], mine["overdue"]) == ("stay", 0)
    assert "no call" in mine["why"]
    assert run_sweep(session, date(2027, 2, 20), group_ids=[group.id]).transitions == 0
    assert session.get(GroupDelinquency, group.id).state is S.CANCELLED  # not "paid"


def test_a_dismissal_lifts_the_stay(session):
    group, _ = late_group(session)
    collector, _, _ = staff(session)
    filing = file_bankruptcy(session, group, filed_on=FILED, chapter=7, case_number="27-9",
                             actor=collector, today=FILED)  # fmt: skip
    assert position(session, group.id, date(2027, 1, 20)).overdue == 0
    close_bankruptcy(session, filing, status=BankruptcyStatus.DISMISSED,
                     on=date(2027, 1, 20), actor=collector, today=date(2027, 1, 20))  # fmt: skip
    assert stays(session, [group.id]) == {}
    assert position(session, group.id, date(2027, 1, 21)).overdue == Decimal("1000.00")
    moved = run_sweep(session, date(2027, 1, 21), group_ids=[group.id])
    assert moved.notices_sent == 1  # past due, and grace notice day 10 already passed
    assert session.get(GroupDelinquency, group.id).state is S.IN_GRACE


def test_a_filing_is_checked(session):
    group, _ = late_group(session)
    collector, _, _ = staff(session)
    with pytest.raises(ValidationFailed, match="7, 11 or 13"):
        file_bankruptcy(session, group, filed_on=FILED, chapter=9, case_number="x",
                        actor=collector, today=FILED)  # fmt: skip
    with pytest.raises(ValidationFailed, match="in the future"):
        file_bankruptcy(session, group, filed_on=FILED, chapter=7, case_number="x",
                        actor=collector, today=date(2027, 1, 4))  # fmt: skip
    file_bankruptcy(session, group, filed_on=FILED, chapter=7, case_number="27-1",
                    actor=collector, today=FILED)  # fmt: skip
    with pytest.raises(ValidationFailed, match="27-1 .* is still open"):
        file_bankruptcy(session, group, filed_on=FILED, chapter=7, case_number="27-2",
                        actor=collector, today=FILED)  # fmt: skip
