"""The commission run to the cent: each schedule type on collected (and billed) premium, a
split, first year to renewal, holds and releases, chargebacks after a retro term and a refund,
a broker of record change with a retro credit spanning it, a month run twice, a late
correction in the next month, the supervisor's approval, and the ledger behind each."""

from datetime import date

import pytest
from sqlalchemy import select

from billing_core import ledger
from billing_core.commissions.of_record import Split, change_broker_of_record
from billing_core.commissions.postings import agency_balances
from billing_core.commissions.run import run_commissions, run_for
from billing_core.commissions.schedules import set_schedule
from billing_core.errors import AccessDenied, CommissionError
from billing_core.models import JournalEntry
from billing_core.models.collections import DelinquencyState
from billing_core.models.commissions import CommissionBasis, CommissionKind, CommissionRunStatus
from billing_core.models.enums import LineOfCoverage, Role
from billing_core.money import D
from billing_core.payments.allocation import live_allocations, unallocate, write_off
from billing_core.payments.refunds import approve_refund, request_refund
from tests.factories import make_user
from tests.unit.commissions.book import (
    approve,
    bill,
    delinquent,
    lines_of,
    make_book,
    month_bill,
    pay,
    run,
)

JAN, FEB, MAR, APR, MAY, JUN, JUL = (date(2026, m, 1) for m in range(1, 8))
DENTAL = LineOfCoverage.DENTAL


def flat(session, percent="5", renewal=None, agency=None, basis=CommissionBasis.COLLECTED):
    return set_schedule(
        session, line=DENTAL, kind=CommissionKind.FLAT, effective_from=date(2024, 1, 1),
        rates=[("0", percent)], renewal_rates=[("0", renewal)] if renewal else None,
        agency=agency, basis=basis,
    )  # fmt: skip


def test_flat_percent_on_collected_premium(session):
    book = make_book(session)
    flat(session)
    invoice = month_bill(session, book, JAN)  # 3 x 500.00
    pay(session, book.group, "900.00", date(2026, 1, 10), invoice)
    first = run(session, book, JAN)
    # 900 of 1,500 collected: 5% of 900.00
    assert lines_of(first) == [(book.agency_a.id, JAN, "earned", D("45.00"))]
    assert first.lines[0]["premium_basis"] == D("900.00")
    assert first.lines[0]["rate"] == D("5")
    pay(session, book.group, "600.00", date(2026, 2, 3), invoice)
    second = run(session, book, FEB)
    assert lines_of(second) == [(book.agency_a.id, JAN, "earned", D("30.00"))]


def test_billed_basis_earns_on_issue_and_charges_back_a_write_off(session):
    book = make_book(session)
    flat(session, basis=CommissionBasis.BILLED)
    invoice = month_bill(session, book, JAN)
    assert lines_of(run(session, book, JAN)) == [(book.agency_a.id, JAN, "earned", D("75.00"))]
    write_off(session, invoice, D("300.00"), on=date(2026, 2, 20), reason="settled short")
    assert lines_of(run(session, book, FEB)) == [(book.agency_a.id, JAN, "chargeback", D("-15.00"))]


def test_per_employee_per_month_in_proportion_to_premium_collected(session):
    book = make_book(session)
    set_schedule(session, line=DENTAL, kind=CommissionKind.PER_EMPLOYEE,
                 effective_from=date(2024, 1, 1), rates=[("0", "20.00")])  # fmt: skip
    jan = month_bill(session, book, JAN)
    feb = month_bill(session, book, FEB)
    pay(session, book.group, "1500.00", date(2026, 1, 10), jan)
    pay(session, book.group, "750.00", date(2026, 2, 10), feb)
    result = run(session, book, FEB)
    # Jan: 3 employees x 20.00; Feb: half the month collected, 3 x 20.00 x 0.5
    assert lines_of(result) == [
        (book.agency_a.id, JAN, "earned", D("60.00")),
        (book.agency_a.id, FEB, "earned", D("30.00")),
    ]
    assert [line["employees"] for line in result.lines] == [3, 3]


def test_graded_bands_cross_a_boundary_mid_year_and_restart_at_renewal(session):
    book = make_book(session, members=6)  # 6 x 500 = 3,000.00 a month
    set_schedule(session, line=DENTAL, kind=CommissionKind.GRADED, effective_from=date(2024, 1, 1),
                 rates=[("0", "15"), ("5000", "10"), ("15000", "5"), ("40000", "3")])  # fmt: skip
    for month in (JAN, FEB):
        invoice = month_bill(session, book, month)
        pay(session, book.group, "3000.00", month, invoice, reference=f"c{month.month}")
    jan = run(session, book, JAN)
    assert lines_of(jan) == [(book.agency_a.id, JAN, "earned", D("450.00"))]
    feb = run(session, book, FEB)
    # Feb takes the year from 3,000 to 6,000: 2,000 at 15% and 1,000 at 10%
    assert lines_of(feb) == [(book.agency_a.id, FEB, "earned", D("400.00"))]
    assert feb.lines[0]["rate"] == D("13.3333")  # the effective percent on the statement


def test_graded_band_position_restarts_with_the_policy_year(session):
    book = make_book(session, members=6, original=date(2025, 12, 1))  # renews every December
    set_schedule(session, line=DENTAL, kind=CommissionKind.GRADED, effective_from=date(2024, 1, 1),
                 rates=[("0", "15"), ("5000", "10")])  # fmt: skip
    for month in (date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)):
        invoice = month_bill(session, book, month)
        pay(session, book.group, "3000.00", month, invoice, reference=f"c{month.month}")
    result = run(session, book, date(2026, 12, 1))
    # Oct, Nov: the policy year from Dec 2025 had nothing before: 450.00, then 5,000 crossed
    # (2,000 at 15% + 1,000 at 10% = 400.00); Dec 2026 starts a new policy year: 450.00
    assert [(line["coverage_month"], line["amount"]) for line in result.lines] == [
        (date(2026, 10, 1), D("450.00")),
        (date(2026, 11, 1), D("400.00")),
        (date(2026, 12, 1), D("450.00")),
    ]


def test_first_year_then_renewal_rates(session):
    book = make_book(session, members=2, original=date(2025, 12, 1))
    flat(session, percent="6", renewal="3")
    for month in (date(2026, 11, 1), date(2026, 12, 1)):
        invoice = month_bill(session, book, month)
        pay(session, book.group, "1000.00", month, invoice, reference=f"c{month.month}")
    result = run(session, book, date(2026, 12, 1))
    assert [(line["coverage_month"], line["rate"], line["amount"]) for line in result.lines] == [
        (date(2026, 11, 1), D("6"), D("60.00")),  # the 12th month: first year
        (date(2026, 12, 1), D("3"), D("30.00")),  # the 13th: renewal
    ]


def test_a_split_between_two_agencies_adds_back_to_the_cent(session):
    book = make_book(session, members=1, bor=False)
    change_broker_of_record(
        session, book.group, [Split(book.agency_a, "60", book.broker_a), Split(book.agency_b, "40")],
        effective_from=JAN,
    )  # fmt: skip
    flat(session)
    invoice = bill(session, book.group, JAN, [(book.members[0], book.plan, JAN, "666.60")])
    pay(session, book.group, "666.60", JAN, invoice)
    result = run(session, book, JAN)
    # 5% of 666.60 = 33.33, split 60/40: 19.998 and 13.332 -> 20.00 and 13.33
    assert lines_of(result) == [
        (book.agency_a.id, JAN, "earned", D("20.00")),
        (book.agency_b.id, JAN, "earned", D("13.33")),
    ]
    assert [line["broker_id"] for line in result.lines] == [book.broker_a.id, None]
    assert [line["premium_basis"] for line in result.lines] == [D("399.96"), D("266.64")]


def test_each_agency_earns_on_its_own_schedule(session):
    book = make_book(session, members=1, bor=False)
    change_broker_of_record(
        session, book.group, [Split(book.agency_a, "50"), Split(book.agency_b, "50")],
        effective_from=JAN,
    )  # fmt: skip
    flat(session, percent="5")
    flat(session, percent="8", agency=book.agency_b)
    invoice = bill(session, book.group, JAN, [(book.members[0], book.plan, JAN, "1000.00")])
    pay(session, book.group, "1000.00", JAN, invoice)
    assert lines_of(run(session, book, JAN)) == [
        (book.agency_a.id, JAN, "earned", D("25.00")),  # half of 5% of 1,000
        (book.agency_b.id, JAN, "earned", D("40.00")),  # half of 8% of 1,000
    ]


def test_a_hold_while_delinquent_and_its_release_when_cured(session):
    book = make_book(session)
    flat(session)
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    delinquent(session, book.group, DelinquencyState.IN_GRACE, date(2026, 1, 20))
    held = run(session, book, JAN)
    assert lines_of(held) == [
        (book.agency_a.id, JAN, "earned", D("75.00")),
        (book.agency_a.id, JAN, "hold", D("-75.00")),
    ]
    balances = agency_balances(session, book.agency_a)
    assert balances == {"commission_payable": D("0.00"), "commission_pending": D("0.00"),
                        "commission_held": D("75.00")}  # fmt: skip
    approve(session, book, JAN)
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("0.00")
    delinquent(session, book.group, DelinquencyState.REINSTATED, date(2026, 2, 5))
    released = run(session, book, FEB)
    assert lines_of(released) == [(book.agency_a.id, JAN, "release", D("75.00"))]
    approve(session, book, FEB)
    assert agency_balances(session, book.agency_a) == {
        "commission_payable": D("75.00"), "commission_pending": D("0.00"),
        "commission_held": D("0.00"),
    }  # fmt: skip


def test_past_due_alone_does_not_hold(session):
    book = make_book(session)
    flat(session)
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    delinquent(session, book.group, DelinquencyState.PAST_DUE, date(2026, 1, 20))
    assert lines_of(run(session, book, JAN), "hold") == []


def test_a_chargeback_after_a_retro_term(session):
    book = make_book(session)
    flat(session)
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    assert lines_of(run(session, book, JAN)) == [(book.agency_a.id, JAN, "earned", D("75.00"))]
    approve(session, book, JAN)
    termed = book.members[2]
    # Feb's bill: two members for Feb, and January's premium of the member termed back to Jan 1
    feb = bill(
        session, book.group, FEB, [(m, book.plan, FEB, "500.00") for m in book.members[:2]],
        retro=[(termed, book.plan, JAN, "-500.00")],
    )  # fmt: skip
    assert feb.total_due == D("500.00")
    pay(session, book.group, "500.00", date(2026, 2, 10), feb)  # the bill paid in full
    assert lines_of(run(session, book, FEB)) == [
        (book.agency_a.id, JAN, "chargeback", D("-25.00")),
        (book.agency_a.id, FEB, "earned", D("50.00")),
    ]


def test_a_chargeback_after_a_refund(session):
    book = make_book(session)
    flat(session)
    jan = month_bill(session, book, JAN)
    payment = pay(session, book.group, "1500.00", JAN, jan)
    run(session, book, JAN)
    approve(session, book, JAN)
    clerk = make_user(session, Role.BILLING_SPECIALIST)
    unallocate(session, live_allocations(session, payment)[0], on=date(2026, 2, 4),
               reason="paid twice; refunding")  # fmt: skip
    refund = request_refund(session, payment, D("1500.00"), actor=clerk, reason="paid twice")
    approve_refund(session, refund, actor=book.supervisor, on=date(2026, 2, 5))
    assert lines_of(run(session, book, FEB)) == [(book.agency_a.id, JAN, "chargeback", D("-75.00"))]
    approve(session, book, FEB)
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("0.00")


def test_a_broker_of_record_change_mid_year_splits_a_retro_credit_spanning_it(session):
    book = make_book(session, members=2)
    flat(session)
    change_broker_of_record(session, book.group, [Split(book.agency_b)], effective_from=MAY)
    for month in (JAN, FEB, MAR, APR, MAY, JUN):
        invoice = month_bill(session, book, month)
        pay(session, book.group, "1000.00", month, invoice, reference=f"c{month.month}")
    june = run(session, book, JUN)
    a, b = book.agency_a.id, book.agency_b.id
    assert [(x[0], x[1], x[3]) for x in lines_of(june)] == [
        (a, JAN, D("50.00")), (a, FEB, D("50.00")), (a, MAR, D("50.00")), (a, APR, D("50.00")),
        (b, MAY, D("50.00")), (b, JUN, D("50.00")),
    ]  # fmt: skip
    approve(session, book, JUN)
    termed = book.members[1]
    jul = bill(
        session,
        book.group,
        JUL,
        [(book.members[0], book.plan, JUL, "500.00")],
        retro=[(termed, book.plan, m, "-500.00") for m in (MAR, APR, MAY, JUN)],
    )  # fmt: skip  (net -1,500.00: a credit bill counts when issued)
    assert jul.total_due == D("-1500.00")
    july = run(session, book, JUL)
    assert lines_of(july) == [
        (a, MAR, "chargeback", D("-25.00")),
        (a, APR, "chargeback", D("-25.00")),
        (b, MAY, "chargeback", D("-25.00")),
        (b, JUN, "chargeback", D("-25.00")),
        (b, JUL, "earned", D("25.00")),
    ]


def test_a_month_run_twice_pays_nothing_twice(session):
    book = make_book(session)
    flat(session)
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    first = run(session, book, JAN)
    entries = session.scalar(select(ledger.func.count()).select_from(JournalEntry))
    again = run(session, book, JAN)
    assert (len(first.lines), first.commission_total) == (1, D("75.00"))
    assert (again.lines, again.commission_total) == ([], D("0.00"))
    assert session.scalar(select(ledger.func.count()).select_from(JournalEntry)) == entries
    assert run_for(session, JAN).passes == 2
    approve(session, book, JAN)
    closed = run(session, book, JAN)
    assert closed.closed and closed.lines == []
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("75.00")


def test_a_late_correction_lands_in_the_next_months_run(session):
    book = make_book(session)
    flat(session)
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1000.00", JAN, jan)
    assert lines_of(run(session, book, JAN))[0][3] == D("50.00")
    approve(session, book, JAN)
    # After January closed, a check received on Jan 25 is recorded (dated in January).
    pay(session, book.group, "500.00", date(2026, 1, 25), jan, reference="late")
    assert run(session, book, JAN).closed  # the closed statement is not edited
    feb = run(session, book, FEB)
    assert lines_of(feb) == [(book.agency_a.id, JAN, "adjustment", D("25.00"))]
    assert feb.lines[0]["note"] == "premium counted after a closed statement"
    with pytest.raises(CommissionError, match="cannot be run again"):
        run(session, book, JAN)


def test_approval_is_a_supervisors_and_not_the_runners(session):
    book = make_book(session)
    flat(session)
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    the_run = run(session, book, JAN).run
    from billing_core.commissions.run import approve_run

    with pytest.raises(AccessDenied, match="you requested it"):
        approve_run(session, the_run, actor=book.runner)
    with pytest.raises(AccessDenied, match="only a supervisor"):
        approve_run(session, the_run, actor=make_user(session, Role.BILLING_SPECIALIST))
    assert agency_balances(session, book.agency_a)["commission_pending"] == D("75.00")
    nets = approve_run(session, the_run, actor=book.supervisor)
    assert nets == {book.agency_a.id: D("75.00")}
    assert the_run.status is CommissionRunStatus.APPROVED
    assert agency_balances(session, book.agency_a) == {
        "commission_payable": D("75.00"), "commission_pending": D("0.00"),
        "commission_held": D("0.00"),
    }  # fmt: skip
    expense = ledger.account_balance(
        session, ledger.account(session, ledger.Chart.COMMISSION_EXPENSE)
    )
    assert expense == D("75.00")
    with pytest.raises(CommissionError, match="already approved"):
        approve_run(session, the_run, actor=make_user(session, Role.SUPERVISOR))


def test_no_schedule_no_commission_and_a_bad_split_is_reported(session):
    book = make_book(session, bor=False)
    from billing_core.models import BrokerOfRecord

    session.add(BrokerOfRecord(group_id=book.group.id, agency_id=book.agency_a.id,
                               effective_from=JAN, commission_split_percent=D("90")))  # fmt: skip
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    assert run(session, book, JAN).lines == []  # no schedule
    flat(session)
    result = run_commissions(session, JAN, actor=book.runner)
    assert result.lines == []
    assert result.problems == [
        f"{book.group.group_number} Jan 2026 dental: the shares add up to 90.00%, not 100%"
    ]


def test_an_agencys_own_per_employee_schedule_counts_its_groups_employees(session):
    book = make_book(session, members=2, bor=False)
    change_broker_of_record(session, book.group, [Split(book.agency_b)], effective_from=JAN)
    flat(session)  # every other agency: 5%
    set_schedule(session, line=DENTAL, kind=CommissionKind.PER_EMPLOYEE, agency=book.agency_b,
                 effective_from=date(2024, 1, 1), rates=[("0", "12.50")])  # fmt: skip
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1000.00", JAN, jan)
    result = run(session, book, JAN)
    assert lines_of(result) == [(book.agency_b.id, JAN, "earned", D("25.00"))]  # 2 x 12.50
    assert result.lines[0]["employees"] == 2


def test_a_chargeback_while_held_comes_out_of_the_hold_first(session):
    book = make_book(session)
    flat(session)
    jan = month_bill(session, book, JAN)
    payment = pay(session, book.group, "1500.00", JAN, jan)
    delinquent(session, book.group, DelinquencyState.IN_GRACE, date(2026, 1, 20))
    run(session, book, JAN)  # 75.00 earned and held
    approve(session, book, JAN)
    unallocate(session, live_allocations(session, payment)[0], on=date(2026, 2, 4),
               reason="check returned")  # fmt: skip
    feb = run(session, book, FEB)
    assert lines_of(feb) == [
        (book.agency_a.id, JAN, "chargeback", D("-75.00")),
        (book.agency_a.id, JAN, "release", D("75.00")),
    ]
    approve(session, book, FEB)
    # The agency was never paid it, and owes nothing back.
    assert agency_balances(session, book.agency_a) == {
        "commission_payable": D("0.00"), "commission_pending": D("0.00"),
        "commission_held": D("0.00"),
    }  # fmt: skip


def test_every_commission_entry_balances_and_the_agency_accounts_equal_the_lines(session):
    book = make_book(session, bor=False)
    change_broker_of_record(
        session, book.group, [Split(book.agency_a, "70"), Split(book.agency_b, "30")],
        effective_from=JAN,
    )  # fmt: skip
    flat(session)
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1000.00", JAN, jan)
    run(session, book, JAN)
    approve(session, book, JAN)
    delinquent(session, book.group, DelinquencyState.IN_GRACE, date(2026, 2, 10))
    pay(session, book.group, "500.00", date(2026, 2, 12), jan, reference="rest")
    run(session, book, FEB)
    entries = session.scalars(
        select(JournalEntry).where(JournalEntry.source_type.like("commission%"))
    ).all()
    assert entries and all(ledger.entry_is_balanced(e) for e in entries)
    from billing_core.models.commissions import CommissionLine

    for agency in (book.agency_a, book.agency_b):
        lines = session.scalars(
            select(CommissionLine).where(CommissionLine.agency_id == agency.id)
        ).all()
        balances = agency_balances(session, agency)
        # payable and awaiting approval: every line's net; held: the holds not released
        owed = balances["commission_payable"] + balances["commission_pending"]
        assert owed == sum((x.amount for x in lines), D("0"))
        kept_back = [x.amount for x in lines if x.kind.value in ("hold", "release")]
        assert balances["commission_held"] == -sum(kept_back, D("0"))
    # Feb: 25.00 more earned, held: 17.50 and 7.50
    assert agency_balances(session, book.agency_a)["commission_held"] == D("17.50")
    assert agency_balances(session, book.agency_b)["commission_held"] == D("7.50")


@pytest.mark.parametrize("totals", [True, False], ids=["kept totals", "lines only"])
def test_a_bill_of_several_months_and_one_without_kept_totals_are_read_from_lines(session, totals):
    book = make_book(session, members=1)
    flat(session)
    member = book.members[0]
    quarter = bill(
        session, book.group, JAN, [(member, book.plan, m, "100.00") for m in (JAN, FEB, MAR)],
        period_end=date(2026, 3, 31), totals=totals,
    )  # fmt: skip
    april = bill(session, book.group, APR, [(member, book.plan, APR, "100.00")],
                 retro=[(member, book.plan, MAR, "-40.00")], totals=totals)  # fmt: skip
    pay(session, book.group, "300.00", JAN, quarter)
    pay(session, book.group, "60.00", APR, april, reference="apr")
    assert [(x[1], x[3]) for x in lines_of(run(session, book, APR))] == [
        (JAN, D("5.00")), (FEB, D("5.00")), (MAR, D("3.00")), (APR, D("5.00")),
    ]  # fmt: skip
