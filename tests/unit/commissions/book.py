"""A small commission book for the tests: a group with members on a dental plan, two agencies
with a broker each, invoices written line by line (premium and retro, each to its coverage
month) and posted to the receivable, paid by check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import count

from billing_core import ledger
from billing_core.commissions.of_record import Split, change_broker_of_record
from billing_core.commissions.run import approve_run, run_commissions, run_for
from billing_core.models import (
    BrokerAgency,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    InvoicePlanTotal,
    Member,
    Plan,
)
from billing_core.models.collections import DelinquencyState, DelinquencyTransition
from billing_core.models.commissions import CommissionLine
from billing_core.models.enums import BillingMethod, InvoiceSection, Role
from billing_core.money import D
from tests.factories import (
    make_broker,
    make_dental_plan,
    make_group,
    make_member,
    make_user,
    pay_by_check,
)

_numbers = count(1)


@dataclass
class Book:
    group: EmployerGroup
    plan: Plan
    members: list[Member]
    agency_a: BrokerAgency
    agency_b: BrokerAgency
    broker_a: object
    broker_b: object
    runner: object
    supervisor: object


def make_book(session, *, members: int = 3, original: date = date(2026, 1, 1), bor=True) -> Book:
    group = make_group(session, original_effective_date=original, renewal_month=original.month)
    plan = make_dental_plan(session, group)
    people = [make_member(session, group) for _ in range(members)]
    broker_a = make_broker(session, f"AG-A{next(_numbers)}")
    broker_b = make_broker(session, f"AG-B{next(_numbers)}")
    agency_a = session.get(BrokerAgency, broker_a.agency_id)
    agency_b = session.get(BrokerAgency, broker_b.agency_id)
    book = Book(
        group, plan, people, agency_a, agency_b, broker_a, broker_b,
        runner=make_user(session, Role.SUPERVISOR),
        supervisor=make_user(session, Role.SUPERVISOR),
    )  # fmt: skip
    if bor:
        change_broker_of_record(
            session, group, [Split(agency_a, "100", broker_a)], effective_from=original
        )
    return book


def bill(
    session,
    group: EmployerGroup,
    issued_on: date,
    lines: list[tuple[Member, Plan, date, str]],
    *,
    retro: list[tuple[Member, Plan, date, str]] = (),
    fees: str = "0.00",
    period_end: date | None = None,
    totals: bool = True,
) -> Invoice:
    """An issued invoice of `lines` (member, plan, coverage month, dollars) and `retro` lines,
    posted Dr receivable / Cr premium revenue for its new charges; with its totals by section
    and plan kept as the billing run keeps them (`totals`)."""
    current = sum((D(a) for *_, a in lines), D("0"))
    retro_total = sum((D(a) for *_, a in retro), D("0"))
    charges = current + retro_total + D(fees)
    invoice = Invoice(
        invoice_number=f"C-{group.group_number}-{next(_numbers)}",
        group_id=group.id,
        billing_method=BillingMethod.LIST_BILL,
        period_start=issued_on.replace(day=1),
        period_end=period_end or issued_on.replace(day=28),
        issued_on=issued_on,
        due_on=issued_on,
        current_premium=current,
        retro_total=retro_total,
        fees_total=D(fees),
        total_due=charges,
    )
    session.add(invoice)
    session.flush()
    number = count(1)
    for section, rows in ((InvoiceSection.PREMIUM, lines), (InvoiceSection.RETRO, retro)):
        for member, plan, month, amount in rows:
            session.add(
                InvoiceLine(
                    invoice_id=invoice.id,
                    line_number=next(number),
                    section=section,
                    member_id=member.id,
                    plan_id=plan.id,
                    coverage_month=month,
                    amount=D(amount),
                )
            )
    session.flush()
    if totals:
        sums: dict[tuple, list] = {}
        for section, rows in ((InvoiceSection.PREMIUM, lines), (InvoiceSection.RETRO, retro)):
            for member, plan, _month, amount in rows:
                item = sums.setdefault((section, plan.id), [D("0"), 0, set()])
                item[0] += D(amount)
                item[1] += 1
                item[2].add(member.id)
        for (section, plan_id), (amount, n_lines, members) in sums.items():
            session.add(
                InvoicePlanTotal(invoice_id=invoice.id, section=section, plan_id=plan_id,
                                 amount=amount, line_count=n_lines, member_count=len(members))
            )  # fmt: skip
        session.flush()
    if charges:
        ledger.post_entry(
            session,
            entry_date=issued_on,
            memo=f"Invoice {invoice.invoice_number}",
            source_type="invoice",
            source_id=invoice.id,
            legs=[
                ledger.Leg(
                    ledger.account(session, ledger.Chart.RECEIVABLE, group), charges, invoice.id
                ),
                ledger.Leg(ledger.account(session, ledger.Chart.PREMIUM_REVENUE), -charges),
            ],
        )
    return invoice


def month_bill(session, book: Book, month: date, each: str = "500.00", members=None) -> Invoice:
    """The month's premium: `each` dollars for every member (or `members`), issued on the 1st."""
    people = book.members if members is None else members
    return bill(session, book.group, month, [(m, book.plan, month, each) for m in people])


def pay(session, group, amount: str, on: date, invoice: Invoice, reference: str = "chk"):
    return pay_by_check(session, group, amount, on, invoices=[invoice], reference=reference)


def run(session, book: Book, month: date, *, actor=None):
    return run_commissions(session, month, actor=actor or book.runner)


def approve(session, book: Book, month: date):
    return approve_run(session, run_for(session, month), actor=book.supervisor)


def delinquent(session, group: EmployerGroup, state: DelinquencyState, on: date) -> None:
    """Record the group's move to `state` effective `on` (the collections sweep's transition)."""
    session.add(
        DelinquencyTransition(
            group_id=group.id,
            episode=1,
            from_state=DelinquencyState.CURRENT,
            to_state=state,
            reason="test",
            effective_on=on,
            as_of=on,
            actor="sweep",
        )
    )
    session.flush()


def lines_of(result, kind=None) -> list[tuple]:
    """(agency id, coverage month, kind, dollars) of a pass's new lines, in order."""
    return [
        (line["agency_id"], line["coverage_month"], line["kind"].value, line["amount"])
        for line in result.lines
        if kind is None or line["kind"].value == kind
    ]


def stated(session, group) -> list[CommissionLine]:
    from sqlalchemy import select

    return list(
        session.scalars(
            select(CommissionLine)
            .where(CommissionLine.group_id == group.id)
            .order_by(CommissionLine.id)
        )
    )
