"""A page of the worklist ranked in SQL (billing_core.collections.worklist_page) is the same
slice of the whole list computed in Python (worklist.worklist): the same rows, ranks and
order for every sort and filter, on the days the date-driven rules change their answer
(follow-up dates, promised dates, installments, termination within the plan-offer days, a
reinstatement window over, a bankruptcy stay), and totals over the whole filtered list; the
statements a page runs do not grow with the number of delinquent groups."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import event, select

from billing_core.collections.contacts import log_contact, take_promise
from billing_core.collections.sweep import run_sweep
from billing_core.collections.worklist import (
    ACTIONS,
    PLAN_OFFER_DAYS,
    SORT_KEYS,
    WORKLIST_STATES,
    worklist,
)
from billing_core.collections.worklist_page import worklist_page
from billing_core.models import BrokerOfRecord
from billing_core.models.collections import CollectionContact, GroupDelinquency, PromiseToPay
from billing_core.models.payment_plans import PaymentPlanInstallment
from billing_core.money import ZERO
from tests.factories import make_broker, make_group, make_invoice, pay_by_check
from tests.unit.collections.test_worklist import JAN25, book  # noqa: F401 - the fixture
from tests.unit.conftest import DEMO_TODAY

D = Decimal
SORTS = [s for key in SORT_KEYS for s in (key, f"-{key}")]


def assert_pages_are_the_list(session, today, filters=None, sort="rank", per_page=3):
    whole = worklist(session, today, filters, sort)
    read, asked = [], 1
    while True:
        page, totals = worklist_page(session, today, filters, sort, asked, per_page)
        assert page.page == asked and page.total == len(whole)
        read += page.items
        if not page.has_next:
            break
        asked += 1
    assert read == whole, (today, filters, sort)
    assert totals == {
        "groups": len(whole),
        "overdue": sum((r["overdue"] for r in whole), ZERO),
        "due": sum(1 for r in whole if r["due"]),
    }
    return whole


def every_view(session, today, per_page=3):
    """Every sort, each filter alone, on `today`."""
    for sort in SORTS:
        assert_pages_are_the_list(session, today, sort=sort, per_page=per_page)
    for state in WORKLIST_STATES:
        assert_pages_are_the_list(session, today, {"state": state.value}, per_page=per_page)
    for action in ACTIONS:
        assert_pages_are_the_list(session, today, {"action": action}, "-overdue", per_page)
    for words in ("ag-w", "AGENCY", "nobody", "%", "_"):
        assert_pages_are_the_list(session, today, {"broker": words}, per_page=per_page)
    assert_pages_are_the_list(session, today, {"group": "co", "state": "past_due"})


def test_pages_equal_the_list_through_contacts_promises_and_their_dates(session, book):  # noqa: F811
    who = book["collector"]
    every_view(session, JAN25)
    log_contact(session, book["small"], kind="call", outcome="no answer", actor=who, today=JAN25)
    log_contact(session, book["small"], kind="call", outcome="voicemail", actor=who, today=JAN25)
    log_contact(session, book["big"], kind="email", outcome="asked for the bill", actor=who,
                today=JAN25, next_follow_up_on=date(2027, 1, 28))  # fmt: skip
    take_promise(session, book["grace"], amount=D("1000.00"), promised_on=date(2027, 2, 5),
                 actor=who, today=JAN25)  # fmt: skip
    for day in (JAN25, date(2027, 1, 27), date(2027, 1, 28), date(2027, 2, 5)):
        every_view(session, day)
    pay_by_check(session, book["grace"], "400.00", date(2027, 1, 28), [book["grace_bill"]])
    for day in ("2027-02-03", "2027-02-05", "2027-02-06"):
        run_sweep(session, date.fromisoformat(day))
    rows = every_view(session, date(2027, 2, 6)) or worklist(session, date(2027, 2, 6))
    assert rows[0]["group_id"] == book["grace"].id and rows[0]["action"] == "call"  # broken
    log_contact(session, book["grace"], kind="call", outcome="will pay", actor=who,
                today=date(2027, 2, 6))  # fmt: skip
    for day in (date(2027, 2, 6), date(2027, 3, 15), date(2027, 6, 1)):
        every_view(session, day)


def test_of_two_brokers_of_record_starting_the_same_day_both_show_the_later_recorded(
    session,
    book,  # noqa: F811
):
    """The page and the list (and so the CSV) name the same broker when two records of a
    group start on the same day: the later recorded one."""
    for code in ("AG-X", "AG-Y"):
        broker = make_broker(session, code)
        session.add(
            BrokerOfRecord(
                group_id=book["small"].id,
                agency_id=broker.agency_id,
                writing_broker_id=broker.id,
                effective_from=date(2025, 6, 1),
            )
        )
        session.flush()
    whole = every_view(session, JAN25) or worklist(session, JAN25)
    [small] = [row for row in whole if row["group_id"] == book["small"].id]
    assert small["broker"] == "Agency AG-Y (Broker of AG-Y)"


def test_the_demos_late_groups_page_as_listed_day_after_day(demo_book):
    """The demo's late groups hold every state, a payment plan in force, a promise in force,
    a referral, a bankruptcy stay and reinstatement windows (SQLite; the test above runs on
    PostgreSQL too)."""
    session = demo_book.session
    for days in (0, 1, 6, 11, 25, 45, 90):
        every_view(session, DEMO_TODAY + timedelta(days=days), per_page=7)
    # The days a rule turns, the day before and after: each action's list and the rank.
    turns = set()
    for day in _turning_days(session):
        turns.update(day + timedelta(days=d) for d in (-1, 0, 1))
    for day in sorted(t for t in turns if t >= DEMO_TODAY):
        assert_pages_are_the_list(session, day, per_page=7)
        for action in ACTIONS:
            assert_pages_are_the_list(session, day, {"action": action}, per_page=7)


def _turning_days(session) -> set[date]:
    """Reinstatement windows' ends, termination dates less the plan-offer days, promised
    dates, installment dates and follow-up dates in the book."""
    found = set(session.scalars(select(GroupDelinquency.reinstate_until)))
    found |= {
        day - timedelta(days=PLAN_OFFER_DAYS)
        for day in session.scalars(select(GroupDelinquency.terminates_on))
        if day
    }
    found |= set(session.scalars(select(PromiseToPay.promised_on)))
    found |= set(session.scalars(select(PaymentPlanInstallment.due_on)))
    found |= set(session.scalars(select(CollectionContact.next_follow_up_on)))
    return {day for day in found if day}


def test_a_page_past_the_last_is_the_last_and_an_empty_list_has_one_page(session, book):  # noqa: F811
    page, totals = worklist_page(session, JAN25, asked=9, per_page=3)
    assert (page.page, page.pages, len(page.items), page.items[0]["rank"]) == (2, 2, 1, 4)
    assert totals == {"groups": 4, "overdue": D("6500.00"), "due": 4}
    page, totals = worklist_page(session, JAN25, {"broker": "nobody"}, asked=3)
    assert (page.page, page.pages, page.items, totals["groups"]) == (1, 1, [], 0)
    assert totals["overdue"] == ZERO


def test_a_page_runs_the_same_statements_for_4_or_24_delinquent_groups(session, book):  # noqa: F811
    def statements() -> int:
        seen = []
        engine = session.get_bind()
        listen = lambda *args: seen.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listen)
        try:
            worklist_page(session, JAN25, per_page=2)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        return len(seen)

    few = statements()
    for n in range(20):
        make_invoice(session, make_group(session, name=f"Late {n} Co"), D("100.00") + n,
                     date(2027, 1, 20))  # fmt: skip
    session.flush()
    run_sweep(session, JAN25)
    assert len(worklist(session, JAN25)) == 24
    assert statements() == few
