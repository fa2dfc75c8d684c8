"""The collector's worklist ranks delinquent groups by the next action and the amount at stake
(billing_core.collections.worklist's rule), filters by state, action and broker; contacts move
a group down (a follow-up date) or on (two calls: a notice); a promise to pay pauses the clock,
is kept or broken on exact dates, a broken one resumes the clock and puts the group first, the
sweep counts it, and checking twice changes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing_core.collections.contacts import check_promises, log_contact, take_promise
from billing_core.collections.sweep import run_sweep
from billing_core.collections.worklist import worklist
from billing_core.errors import ValidationFailed
from billing_core.models import AuditLog, BrokerOfRecord
from billing_core.models.collections import (
    DelinquencyState,
    GroupDelinquency,
    PromiseStatus,
    PromiseToPay,
)
from billing_core.models.enums import Role
from tests.factories import make_broker, make_group, make_invoice, make_user, pay_by_check

S = DelinquencyState
D = Decimal
JAN25 = date(2027, 1, 25)


@pytest.fixture
def book(session):
    """Four late groups on Jan 25, 2027, swept on the plan's dates: `pending` (2,000.00 due
    Dec 1: pending cancellation since Jan 2), `grace` (1,000.00 due Jan 1: in grace, cancellation
    possible Feb 2), `big` (3,000.00 due Jan 20) and `small` (500.00 due Jan 20), both past due.
    `big` has a broker of record."""
    groups = {}
    for key, amount, due in (
        ("pending", "2000.00", date(2026, 12, 1)),
        ("grace", "1000.00", date(2027, 1, 1)),
        ("big", "3000.00", date(2027, 1, 20)),
        ("small", "500.00", date(2027, 1, 20)),
    ):
        group = make_group(session, state="CA", name=f"{key.title()} Co")
        groups[key] = group
        groups[key + "_bill"] = make_invoice(session, group, D(amount), due)
    broker = make_broker(session, "AG-W")
    session.add(
        BrokerOfRecord(
            group_id=groups["big"].id, agency_id=broker.agency_id, writing_broker_id=broker.id,
            effective_from=date(2024, 1, 1),
        )
    )  # fmt: skip
    session.flush()
    for day in ("2026-12-02", "2026-12-11", "2027-01-02", "2027-01-11", "2027-01-21", "2027-01-25"):
        run_sweep(session, date.fromisoformat(day))
    groups["collector"] = make_user(session, Role.BILLING_SPECIALIST, email="col@carrier.test")
    return groups


def numbers(rows):
    return [r["group_number"] for r in rows]


def test_the_worklist_ranks_by_next_action_then_amount(session, book):
    rows = worklist(session, JAN25)
    assert numbers(rows) == [book[k].group_number for k in ("pending", "grace", "big", "small")]
    pending, grace, big, small = rows
    assert (pending["state"], pending["action"]) == ("pending_cancellation", "cancel")
    assert (grace["state"], grace["action"], grace["days_to_termination"]) == (
        "in_grace", "plan_offer", 8,
    )  # fmt: skip
    assert (big["action"], big["overdue"], big["days_1_30"]) == ("call", D("3000.00"), D("3000.00"))
    assert (small["action"], small["overdue"]) == ("call", D("500.00"))
    assert pending["over_120"] == D("0.00") and pending["days_31_60"] == D("2000.00")
    assert big["broker"] == "Agency AG-W (Broker of AG-W)" and small["broker"] is None
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert all(r["due"] for r in rows)


def test_filters_and_sort(session, book):
    assert numbers(worklist(session, JAN25, {"state": "past_due"})) == [
        book["big"].group_number, book["small"].group_number,
    ]  # fmt: skip
    assert numbers(worklist(session, JAN25, {"action": "cancel"})) == [book["pending"].group_number]
    assert numbers(worklist(session, JAN25, {"broker": "ag-w"})) == [book["big"].group_number]
    assert worklist(session, JAN25, {"broker": "nobody"}) == []
    by_amount = worklist(session, JAN25, sort="overdue")
    assert numbers(by_amount)[0] == book["small"].group_number
    assert [r["rank"] for r in by_amount] == [4, 2, 1, 3]  # the rank stays the rule's


def test_contacts_set_follow_ups_and_two_calls_make_a_notice(session, book):
    who = book["collector"]
    log_contact(session, book["small"], kind="call", outcome="no answer", actor=who, today=JAN25)
    log_contact(session, book["small"], kind="call", outcome="left a voicemail", actor=who,
                today=JAN25)  # fmt: skip
    log_contact(session, book["big"], kind="email", outcome="asked for the bill again",
                actor=who, today=JAN25, next_follow_up_on=date(2027, 1, 28))  # fmt: skip
    rows = {r["group_number"]: r for r in worklist(session, JAN25)}
    small, big = rows[book["small"].group_number], rows[book["big"].group_number]
    assert small["action"] == "notice"
    assert (big["action"], big["action_due_on"], big["due"], big["rank"]) == (
        "call", date(2027, 1, 28), False, 4,
    )  # fmt: skip
    assert big["last_contact_on"] == JAN25 and "asked for the bill again" in big["last_contact"]
    # On the follow-up date it is due again, by its amount ahead of `small`'s notice.
    later = worklist(session, date(2027, 1, 28))
    assert [r["action"] for r in later] == ["cancel", "plan_offer", "call", "notice"]
    with pytest.raises(ValidationFailed):
        log_contact(session, book["big"], kind="call", outcome=" ", actor=who, today=JAN25)
    with pytest.raises(ValidationFailed):
        log_contact(session, book["big"], kind="call", outcome="x", actor=who, today=JAN25,
                    next_follow_up_on=date(2027, 1, 24))  # fmt: skip
    assert session.query(AuditLog).filter_by(action="collections.contact_logged").count() == 3


def test_a_promise_is_validated(session, book):
    who = book["collector"]
    with pytest.raises(ValidationFailed, match="more than"):
        take_promise(session, book["grace"], amount=D("0"), promised_on=JAN25, actor=who,
                     today=JAN25)  # fmt: skip
    with pytest.raises(ValidationFailed, match="in the past"):
        take_promise(session, book["grace"], amount=D("10"), promised_on=date(2027, 1, 24),
                     actor=who, today=JAN25)  # fmt: skip


def test_a_kept_promise(session, book):
    who = book["collector"]
    promise = take_promise(session, book["big"], amount=D("3000.00"), promised_on=date(2027, 2, 1),
                           actor=who, today=JAN25)  # fmt: skip
    row = session.get(GroupDelinquency, book["big"].id)
    assert (row.paused_reason, row.paused_until) == ("promise", date(2027, 2, 1))
    pay_by_check(session, book["big"], "2999.99", date(2027, 1, 24), [book["big_bill"]])  # before
    pay_by_check(session, book["big"], "0.01", date(2027, 1, 29), [book["big_bill"]])
    assert check_promises(session, date(2027, 1, 28)).kept == 0  # 0.01 not received yet
    assert promise.status is PromiseStatus.OPEN and promise.paid == D("0.00")
    # 2999.99 came the day before the promise was taken: it does not count
    assert check_promises(session, date(2027, 1, 29)).kept == 0
    assert promise.paid == D("0.01")
    pay_by_check(session, book["big"], "3000.00", date(2027, 1, 30))
    result = check_promises(session, date(2027, 1, 30))
    assert (result.kept, result.broken) == (1, 0)
    assert (promise.status, promise.checked_on, promise.paid) == (
        PromiseStatus.KEPT, date(2027, 1, 30), D("3000.01"),
    )  # fmt: skip
    assert session.get(GroupDelinquency, book["big"].id).paused_reason is None


def test_a_broken_promise_resumes_the_clock_and_ranks_first(session, book):
    who = book["collector"]
    grace = book["grace"]
    promise = take_promise(session, grace, amount=D("1000.00"), promised_on=date(2027, 2, 5),
                           actor=who, today=JAN25)  # fmt: skip
    # While in force: a follow-up call the day after the promised date, ranked last.
    rows = worklist(session, date(2027, 1, 26))
    assert rows[-1]["group_number"] == grace.group_number
    assert (rows[-1]["action"], rows[-1]["action_due_on"]) == ("call", date(2027, 2, 6))
    assert rows[-1]["promise"] == "open: $1,000.00 by Feb 5, 2027"
    pay_by_check(session, grace, "400.00", date(2027, 1, 28), [book["grace_bill"]])
    # The clock stands still: Feb 2 would have made it pending cancellation.
    assert run_sweep(session, date(2027, 2, 3)).promises_broken == 0
    row = session.get(GroupDelinquency, grace.id)
    assert row.state is S.IN_GRACE
    assert run_sweep(session, date(2027, 2, 5)).promises_broken == 0  # the promised day itself
    assert promise.status is PromiseStatus.OPEN

    swept = run_sweep(session, date(2027, 2, 6))
    assert swept.promises_broken == 1 and swept.as_dict()["promises_broken"] == 1
    assert (promise.status, promise.checked_on, promise.paid) == (
        PromiseStatus.BROKEN, date(2027, 2, 6), D("400.00"),
    )  # fmt: skip
    assert (row.paused_reason, row.state) == (None, S.PENDING_CANCELLATION)  # resumed, moved on
    rows = worklist(session, date(2027, 2, 6))
    assert rows[0]["group_number"] == grace.group_number
    assert (rows[0]["action"], rows[0]["promise_status"]) == ("call", "broken")
    assert rows[1]["action"] == "cancel"  # broken-promise call comes before cancellations

    # Checking again (and sweeping again) changes nothing.
    audits = session.query(AuditLog).count()
    again = check_promises(session, date(2027, 2, 6))
    assert (again.kept, again.broken) == (0, 0)
    assert run_sweep(session, date(2027, 2, 6)).promises_broken == 0
    assert session.query(AuditLog).count() == audits
    assert promise.checked_on == date(2027, 2, 6)

    # A call logged after the break answers it: back to the ordinary rule (cancel).
    log_contact(session, grace, kind="call", outcome="will pay the rest Friday", actor=who,
                today=date(2027, 2, 6))  # fmt: skip
    mine = next(r for r in worklist(session, date(2027, 2, 6)) if r["group_id"] == grace.id)
    assert mine["action"] == "cancel"


def test_a_new_promise_replaces_an_open_one(session, book):
    who = book["collector"]
    first = take_promise(session, book["small"], amount=D("200"), promised_on=date(2027, 2, 1),
                         actor=who, today=JAN25)  # fmt: skip
    second = take_promise(session, book["small"], amount=D("500"), promised_on=date(2027, 2, 3),
                          actor=who, today=JAN25)  # fmt: skip
    assert (first.status, second.status) == (PromiseStatus.CANCELLED, PromiseStatus.OPEN)
    assert session.query(PromiseToPay).filter_by(status=PromiseStatus.OPEN).count() == 1


def test_the_report_downloads_the_same_rows(session, book):
    from billing_core.exports import csv_bytes
    from billing_core.reports import get_report, report_sheet, run_report

    log_contact(session, book["small"], kind="call", outcome="=HYPERLINK(\"x\")",
                actor=book["collector"], today=JAN25)  # fmt: skip
    run = run_report(
        session, get_report("collections_worklist"), {"as_of": "2027-01-25", "state": "past_due"},
        JAN25,
    )  # fmt: skip
    assert [r["group_number"] for r in run.rows] == [
        book["big"].group_number, book["small"].group_number,
    ]  # fmt: skip
    assert run.result.totals["overdue"] == D("3500.00")
    sheet = report_sheet(run)
    text = csv_bytes(sheet.columns, sheet.rows).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text  # neutralised
    assert "3000.00" in text and "Call" in text
