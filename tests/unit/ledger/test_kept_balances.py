"""The kept balances (billing_core.ledger.kept) equal the ledger after any sequence of postings:
charges, payments, allocations, write-offs, refunds and reversals of any of them, over several
groups, each through the one door (post_entry / reverse_entry); and the aging report read from
them as of today equals the one computed from postings."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from billing_core import ledger
from billing_core.ledger import Chart, Leg
from billing_core.ledger.kept import kept_balance_errors, rebuild_kept_balances
from billing_core.ledger.receivables import AGING_KEYS, PastDueGroups, past_due_groups
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.money import D
from billing_core.reports.aging import aging_rows
from tests.factories import make_group, make_invoice

START = date(2027, 1, 1)
GROUPS = 3
_memo = itertools.count(1)

amounts = st.integers(min_value=1, max_value=50_000).map(lambda c: D(c) / 100)
pick = st.integers(min_value=0, max_value=1_000)
operation = st.one_of(
    st.tuples(st.just("charge"), pick, amounts),
    st.tuples(st.just("credit_bill"), pick, amounts),
    st.tuples(st.just("pay"), pick, amounts),
    st.tuples(st.just("allocate"), pick, pick, amounts),
    st.tuples(st.just("write_off"), pick, pick, amounts),
    st.tuples(st.just("refund"), pick, amounts),
    st.tuples(st.just("reverse"), pick),
)


def past_due_from(rows: list[dict]) -> PastDueGroups:
    """What the work queue's past-due line computed from the aging report's rows."""
    owing = [row for row in rows if row["past_due"] > 0]
    return PastDueGroups(
        groups=len(owing),
        late=sum(1 for row in owing if sum(row[k] for k in AGING_KEYS[2:]) > 0),
        amount=sum((row["past_due"] for row in owing), D("0.00")),
        oldest_bucket=max(
            (max(i for i, key in enumerate(AGING_KEYS) if row[key] > 0) for row in owing),
            default=0,
        ),
    )


def kept_rows(session) -> tuple[set, set]:
    return (
        set(session.execute(select(KeptBalance.account_id, KeptBalance.balance)).all()),
        set(session.execute(select(KeptOpenItem.invoice_id, KeptOpenItem.open_amount)).all()),
    )


def run_sequence(session, steps) -> None:
    groups = [make_group(session) for _ in range(GROUPS)]
    invoices: list = []
    entries: list = []
    cash = ledger.account(session, Chart.CASH)
    write_off = ledger.account(session, Chart.WRITE_OFF)

    def post(day, legs, source_type):
        entries.append(
            ledger.post_entry(
                session,
                entry_date=day,
                memo=f"kept {next(_memo)}",
                source_type=source_type,
                legs=legs,
            )
        )

    for number, (kind, *args) in enumerate(steps):
        day = START + timedelta(days=number)
        group = groups[args[0] % GROUPS]
        receivable = ledger.account(session, Chart.RECEIVABLE, group)
        unapplied = ledger.account(session, Chart.UNAPPLIED_CASH, group)
        mine = [i for i in invoices if i.group_id == group.id]
        if kind == "charge":
            invoices.append(make_invoice(session, group, args[1], day))
        elif kind == "credit_bill":
            invoices.append(make_invoice(session, group, -args[1], day))
        elif kind == "pay":
            post(day, [Leg(cash, args[1]), Leg(unapplied, -args[1])], "payment")
        elif kind == "allocate" and mine:
            invoice = mine[args[1] % len(mine)]
            legs = [Leg(unapplied, args[2]), Leg(receivable, -args[2], invoice.id)]
            post(day, legs, "allocation")
        elif kind == "write_off" and mine:
            invoice = mine[args[1] % len(mine)]
            post(day, [Leg(write_off, args[2]), Leg(receivable, -args[2], invoice.id)], "write_off")
        elif kind == "refund":
            payable = ledger.account(session, Chart.REFUNDS_PAYABLE, group)
            post(day, [Leg(unapplied, args[1]), Leg(payable, -args[1])], "refund")
            post(day, [Leg(payable, args[1]), Leg(cash, -args[1])], "refund_paid")
        elif kind == "reverse" and entries:
            entry = entries[args[0] % len(entries)]
            if entry.reverses_entry_id is None and all(
                e.reverses_entry_id != entry.id for e in entries
            ):
                entries.append(
                    ledger.reverse_entry(
                        session, entry, entry_date=day, memo="reversal", source_type="reversal"
                    )
                )
    session.flush()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operation, min_size=1, max_size=15))
def test_kept_balances_equal_the_ledger_after_any_postings(session, steps):
    savepoint = session.begin_nested()
    try:
        run_sequence(session, steps)
        assert kept_balance_errors(session) == []
        for days in (0, 45, 200):  # as of today and later: the kept rows answer
            as_of = START + timedelta(days=len(steps) + days)
            from_postings = aging_rows(session, as_of, from_postings=True)
            assert aging_rows(session, as_of) == from_postings
            assert past_due_groups(session, as_of) == past_due_from(from_postings)
        kept = kept_rows(session)
        rebuild_kept_balances(session)
        assert kept_rows(session) == kept, "rebuilding from postings changed the kept rows"
    finally:
        savepoint.rollback()
        session.info.pop("ledger_accounts", None)


def test_a_paid_invoice_leaves_the_open_items_and_a_reversal_brings_it_back(session):
    group = make_group(session)
    invoice = make_invoice(session, group, D("100.00"), START)
    receivable = ledger.account(session, Chart.RECEIVABLE, group)
    unapplied = ledger.account(session, Chart.UNAPPLIED_CASH, group)
    assert session.get(KeptOpenItem, invoice.id).open_amount == D("100.00")
    paid = ledger.post_entry(
        session,
        entry_date=START,
        memo="paid",
        source_type="allocation",
        legs=[Leg(unapplied, D("100.00")), Leg(receivable, D("-100.00"), invoice.id)],
    )
    session.expire_all()
    assert session.get(KeptOpenItem, invoice.id) is None
    assert session.get(KeptBalance, receivable.id).balance == D("0.00")
    assert session.get(KeptBalance, unapplied.id).balance == D("100.00")
    ledger.reverse_entry(session, paid, entry_date=START, memo="undo", source_type="reversal")
    session.expire_all()
    item = session.get(KeptOpenItem, invoice.id)
    assert (item.open_amount, item.due_on, item.group_id) == (D("100.00"), START, group.id)
    assert kept_balance_errors(session) == []


def test_the_check_names_a_kept_balance_that_drifted(session):
    group = make_group(session)
    invoice = make_invoice(session, group, D("80.00"), START)
    session.get(KeptOpenItem, invoice.id).open_amount = D("79.99")
    session.flush()
    errors = kept_balance_errors(session)
    assert len(errors) == 1 and f"invoice {invoice.id}" in errors[0] and "80.00" in errors[0]


def test_past_due_line_sums_buckets_only_when_a_past_due_item_is_a_credit(session, monkeypatch):
    """With every past-due item owing, the past-due line is one plain aggregate (a group with
    such an item owes; one over 30 days makes it late; the oldest item gives the oldest
    bucket); a past-due credit item may offset a group's debts, and then each group's buckets
    are summed. Both agree with the aging report computed from postings."""
    from billing_core.ledger import receivables

    summed = []
    by_buckets = receivables._past_due_by_buckets
    monkeypatch.setattr(
        receivables,
        "_past_due_by_buckets",
        lambda session, today: summed.append(today) or by_buckets(session, today),
    )
    owes, offset = make_group(session), make_group(session)
    today = START + timedelta(days=100)
    make_invoice(session, owes, D("100.00"), today - timedelta(days=45))
    make_invoice(session, owes, D("40.00"), today - timedelta(days=3))
    make_invoice(session, owes, D("70.00"), today)  # due today: not yet past due
    make_invoice(session, offset, D("25.00"), today - timedelta(days=95))

    def expected():
        return past_due_from(aging_rows(session, today, from_postings=True))

    quick = past_due_groups(session, today)
    assert quick == expected() == PastDueGroups(2, 2, D("165.00"), 4)
    assert summed == []

    make_invoice(session, offset, D("-25.00"), today - timedelta(days=10))  # a credit bill
    assert past_due_groups(session, today) == expected() == PastDueGroups(1, 1, D("140.00"), 2)
    assert summed == [today]


def test_a_later_entry_to_other_accounts_leaves_the_kept_aging_current(session, monkeypatch):
    """The aging reads the kept balances as of today unless an entry dated after today posts
    to the receivable or unapplied cash: a commission run dated at the month's end does not
    send Today and the aging back to the whole book's postings, a later payment does (and the
    figures agree either way)."""
    from billing_core.ledger import receivables
    from billing_core.reports import aging

    group = make_group(session)
    make_invoice(session, group, D("250.00"), START)
    today = START + timedelta(days=45)
    month_end = date(2027, 2, 28)

    def post(legs, source_type):
        ledger.post_entry(
            session, entry_date=month_end, memo="later", source_type=source_type, legs=legs
        )
        session.flush()

    post(
        [
            Leg(ledger.account(session, Chart.COMMISSION_EXPENSE), D("12.00")),
            Leg(ledger.account(session, Chart.COMMISSION_PAYABLE), D("-12.00")),
        ],
        "commission_run",
    )
    assert receivables.kept_is_current(session, today)
    from_postings = aging_rows(session, today, from_postings=True)

    def from_the_postings(*args):
        raise AssertionError("the aging read the postings, not the kept balances")

    monkeypatch.setattr(aging, "_ledger_per_group", from_the_postings)
    assert aging_rows(session, today) == from_postings
    assert past_due_groups(session, today) == past_due_from(from_postings)

    monkeypatch.undo()
    unapplied = ledger.account(session, Chart.UNAPPLIED_CASH, group)
    post(
        [Leg(ledger.account(session, Chart.CASH), D("40.00")), Leg(unapplied, D("-40.00"))],
        "payment",
    )
    assert not receivables.kept_is_current(session, today)
    assert past_due_groups(session, today) is None
    assert aging_rows(session, today) == aging_rows(session, today, from_postings=True)
    assert receivables.kept_is_current(session, month_end)


def test_a_rebuild_is_audited_so_pages_kept_over_the_balances_compute_again(session):
    from sqlalchemy import func, select

    from billing_core.models import AuditLog
    from billing_core.reports.aging import AGING_MARKER

    before = AGING_MARKER.read(session)[0]
    rebuild_kept_balances(session)
    session.flush()
    assert (
        session.scalar(
            select(func.count()).where(AuditLog.action == "ledger.kept_balances_rebuilt")
        )
        == 1
    )
    assert AGING_MARKER.read(session)[0] != before
