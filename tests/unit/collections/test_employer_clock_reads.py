"""The employer's clock reads its facts in one statement (collections.employer_clock
._clock_facts, issue 19): what it reads is what the functions the sweep and the notice use
read (overdue.position with a bankruptcy stay, open disputes, unapplied cash and a credit left
on a bill; the billing policy's tolerance; the episode's latest notice; a moratorium), day
after day; and its text stays short enough for psycopg to keep it parsed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from billing_core import ledger
from billing_core.collections import plans
from billing_core.collections.bankruptcy import file_bankruptcy
from billing_core.collections.employer_clock import _clock_facts, employer_clock
from billing_core.collections.notices import notices
from billing_core.collections.overdue import position
from billing_core.collections.plans import moratorium_on, threshold
from billing_core.collections.sweep import run_sweep
from billing_core.models.collections import ActionKind, DelinquencyDispute, GroupDelinquency
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from tests.factories import make_invoice, pay_by_check
from tests.unit.collections.legal import late_group, staff

FILED, FEB1, MAR1 = date(2027, 1, 5), date(2027, 2, 1), date(2027, 3, 1)


def _days(start: date, end: date, step: int = 3):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=step)


def _as_the_functions_read(session, group, day: date) -> dict:
    row = session.get(GroupDelinquency, group.id)
    latest = next(
        (n for n in notices(session, group.id)
         if n.episode == row.episode and n.kind is ActionKind.NOTICE),
        None,
    )  # fmt: skip
    return {
        "position": position(session, group.id, day),
        "threshold": threshold(row.plan, group.policy_on(day)),
        "latest_notice": latest,
    }


def _as_the_clock_reads(clock) -> dict:
    return {k: getattr(clock, k) for k in ("position", "threshold", "latest_notice")}


def test_the_clock_reads_what_the_sweep_and_the_notice_read(session):
    """January (1,000.00) is stayed by a filing on Jan 5; February (400.00) is collected: past
    due, a notice, a dispute, a payment with cash left over, a credit left on a bill, a
    moratorium ahead. On every day the clock shows, its figures are the functions' own."""
    group, _ = late_group(session)
    collector, _, _ = staff(session)
    file_bankruptcy(session, group, filed_on=FILED, chapter=11, case_number="27-10044",
                    actor=collector, today=FILED)  # fmt: skip
    february = make_invoice(session, group, Decimal("400.00"), FEB1)
    march = make_invoice(session, group, Decimal("400.00"), MAR1)
    shown = 0
    for day in _days(date(2027, 2, 2), date(2027, 3, 20)):
        run_sweep(session, day, group_ids=[group.id])
        if day == date(2027, 2, 14):
            session.add(DelinquencyDispute(group_id=group.id, invoice_id=february.id,
                                           amount=Decimal("60.00"), opened_on=day,
                                           reason="a member after their term"))  # fmt: skip
            pay_by_check(session, group, "500.00", day, [])  # to the oldest bill, stayed
        if day == date(2027, 2, 20):
            # A credit left on a bill not yet due and unapplied cash, as the kept balances
            # would hold them.
            item = session.scalar(select(KeptOpenItem).where(KeptOpenItem.invoice_id == march.id))
            item.open_amount = Decimal("-25.00")
            cash = ledger.account(session, ledger.Chart.UNAPPLIED_CASH, group)
            kept = session.get(KeptBalance, cash.id) or KeptBalance(
                account_id=cash.id, group_id=group.id, code=ledger.Chart.UNAPPLIED_CASH.code
            )
            kept.balance = Decimal("-30.00")
            session.add(kept)
            plans.add_moratorium(session, "CA", date(2027, 3, 10), None, "state of emergency")
        session.flush()
        clock = employer_clock(session, group, day)
        if clock is None:
            continue
        shown += 1
        assert _as_the_clock_reads(clock) == _as_the_functions_read(session, group, day), day
        row = session.get(GroupDelinquency, group.id)
        expected = moratorium_on(session, group.state, max(day, clock.cancellable_from or day))
        assert clock.moratorium == (expected if row.state.value != "cancelled" else None), day
    assert shown >= 5


def test_the_clock_statement_stays_under_psycopgs_parse_cache_limit():
    """psycopg keeps a statement's parsed text only up to 4,096 bytes: a longer one is parsed
    again on every execution (0.3 ms of CPU here). A column added to a table it reads whole
    (the delinquency row, its plan) may cross it: shorten the statement again then."""
    text = str(_clock_facts().compile(dialect=postgresql.psycopg.dialect()))
    assert len(text.encode()) < 4096 - 200, len(text.encode())


def test_under_a_stay_coverage_ends_as_the_notice_says(session):
    """January (1,000.00) is stayed by a filing on Jan 5, February (400.00) is not: coverage
    would end on Jan 31 (the day before February's month), as the grace notice and a
    cancellation say; the page said Dec 31 (January's) before."""
    group, _ = late_group(session)
    collector, _, _ = staff(session)
    file_bankruptcy(session, group, filed_on=FILED, chapter=11, case_number="27-10045",
                    actor=collector, today=FILED)  # fmt: skip
    make_invoice(session, group, Decimal("400.00"), FEB1)
    for day in (date(2027, 2, 2), date(2027, 2, 11)):
        run_sweep(session, day, group_ids=[group.id])
    [notice, *_] = notices(session, group.id)
    clock = employer_clock(session, group, date(2027, 2, 12))
    assert clock.position.stayed == Decimal("1000.00")
    assert clock.coverage_ends_on == date(2027, 1, 31)
    assert clock.coverage_ends_on.isoformat() == notice.content["dates"]["coverage_ends_on"]


def test_under_a_stay_the_clock_lists_only_the_bills_to_collect(session):
    """The stayed January bill is out of the clock's bills (their count, the remit reference
    and the pay link), as out of the notice; the position still counts it as stayed."""
    group, _ = late_group(session)
    collector, _, _ = staff(session)
    file_bankruptcy(session, group, filed_on=FILED, chapter=11, case_number="27-10046",
                    actor=collector, today=FILED)  # fmt: skip
    february = make_invoice(session, group, Decimal("400.00"), FEB1)
    for day in (date(2027, 2, 2), date(2027, 2, 11)):
        run_sweep(session, day, group_ids=[group.id])
    clock = employer_clock(session, group, date(2027, 2, 12))
    assert [b.invoice_id for b in clock.bills] == [february.id]
    assert sum(b.open_amount for b in clock.bills) == clock.position.past_due_bills
    assert clock.position.stayed == Decimal("1000.00")
