"""Eleven small employer groups that pay late, one at each collections state a new user should
see (issue 20), and two whose clocks a payment plan and a promise to pay hold (`PLAN_GROUP`,
`PROMISE_GROUP`): current again after paying in grace, past due, in grace, pending cancellation,
cancelled for non-payment and reinstated; referred to an agency, charged off (with a
recovery), and one in bankruptcy whose post-petition bill is in grace (items 8-9: the
specialist refers, asks for the charge-off and records the filing, the supervisor approves). Nothing here writes a state: their bills are issued
by the real billing run, their payments recorded as any payment is, and the real collections
sweep (`collections.sweep.run_sweep`) runs over them every day of their history, so every
transition, notice and date is the one the rules give. A billing supervisor confirms the two
cancellations (`collections.states.cancel_for_nonpayment`), one of which is paid in full
within the reinstatement window.

Their dates are placed against `today`: bills are due on the first of each month, so which
bill each group leaves unpaid is chosen from today's day of the month (see `_unpaid_from`).
Two of them carry terms that keep their state whatever that day is: the past-due group is
governed by an extended plan (60 days of grace, the notice on day 35), the in-grace group's
billing policy grants 45 days of grace. Built from their own seeded document, so the eight
groups of the demo book and every figure of theirs are unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.billing.enrollment import add_months, month_start
from billing_core.billing.invoicing import issue_billing_run
from billing_core.collections.plans import new_plan_version, set_group_plan
from billing_core.collections.states import cancel_for_nonpayment
from billing_core.collections.sweep import run_sweep
from billing_core.demo.book import DEMO_SOURCE, GroupSpec
from billing_core.demo.document import DocumentBuilder
from billing_core.demo.logins import DEMO_PASSWORD, SUPERVISOR_EMAIL
from billing_core.models import EmployerGroup, User
from billing_core.models.enums import PaymentMethod, PaymentSource
from billing_core.payments.allocation import open_balances
from billing_core.payments.receipts import record_payment
from billing_core.setup import import_setup

LATE_SEED = 20_400
HISTORY_MONTHS = 3  # bills from three months before today's month
LEAD_DAYS = 15
EXTENDED_PLAN = "extended-60"


def _spec(number: str, name: str, slug: str, size: int, state: str, zips, since: int):
    return GroupSpec(number, name, slug, size, state, zips, "list_bill", "monthly", 1, since,
                     (34_000, 78_000), False)  # fmt: skip


@dataclass(frozen=True)
class LateGroup:
    spec: GroupSpec
    state: str  # the collections state it reaches today
    story: str


LATE_GROUPS = [
    LateGroup(_spec("G-1101", "Copperline Coffee Roasters", "copperlinecoffee", 6, "OR",
                    (970, 972), 2018), "current",
              "paid a bill 14 days late, after its grace notice: back to current"),
    LateGroup(_spec("G-1102", "Redfern Landscaping", "redfernlandscaping", 8, "CO", (800, 803),
                    2016), "past_due",
              "its latest bill unpaid; governed by an extended plan (notice on day 35)"),
    LateGroup(_spec("G-1103", "Harborview Dental Studio", "harborviewdental", 7, "WA",
                    (980, 984), 2019), "in_grace",
              "a bill unpaid past its notice day; 45 days of grace in its billing policy"),
    LateGroup(_spec("G-1104", "Millbrook Print & Sign", "millbrookprint", 5, "OH", (430, 436),
                    2017), "pending_cancellation",
              "stopped paying: grace over and the notice served, waiting for a supervisor"),
    LateGroup(_spec("G-1105", "Granite Peak Outfitters", "granitepeak", 9, "PA", (150, 160),
                    2015), "cancelled",
              "stopped paying: cancelled for non-payment by the supervisor"),
    LateGroup(_spec("G-1106", "Tidewater Yoga Collective", "tidewateryoga", 6, "MI",
                    (480, 486), 2020), "reinstated",
              "cancelled for non-payment, then paid in full within the reinstatement window"),
    # Outside collections, charge-off and bankruptcy (issue 20, items 8-9).
    LateGroup(_spec("G-1107", "Lakeshore Auto Glass", "lakeshoreautoglass", 7, "IL",
                    (600, 606), 2017), "referred",
              "cancelled for non-payment, its 10-day reinstatement window over: referred to "
              "an agency (the agency's package is on its collections page)"),
    LateGroup(_spec("G-1108", "Pinecrest Veterinary Clinic", "pinecrestvet", 6, "NC",
                    (270, 286), 2018), "charged_off",
              "cancelled, referred, then charged off to bad debt with a supervisor's "
              "approval; the agency's first recovery went to recoveries, not premium"),
    LateGroup(_spec("G-1109", "Sunbelt Solar Installers", "sunbeltsolar", 8, "AZ", (850, 853),
                    2019), "in_grace",
              "filed for chapter 11 while in grace: the pre-petition bill is stayed (no "
              "notice, no call), the bills after the filing are collected as usual"),
]  # fmt: skip
# A payment plan and a promise to pay in force (issue 20, items 5-6): their clocks paused, the
# employer's page shows the next installment or the promise (`_arrangement_steps`).
PLAN_GROUP, PROMISE_GROUP = "G-1110", "G-1111"
LATE_GROUPS += [
    LateGroup(_spec(PLAN_GROUP, "Mesa Verde Family Pharmacy", "mesaverdepharmacy", 6, "NM",
                    (870, 884), 2018), "in_grace",
              "in grace, then on a payment plan (three monthly installments, the first paid): "
              "its clock paused while the plan is kept"),
    LateGroup(_spec(PROMISE_GROUP, "Peachtree Pet Grooming", "peachtreepets", 5, "GA",
                    (300, 319), 2020), "past_due",
              "past due, then promised to pay by a date: its clock paused until then"),
]  # fmt: skip
GONE = ("cancelled", "referred", "charged_off")  # not billed after their cancellation
SHORT_WINDOW_PLAN = "short-window-10"
AGENCY = "Keystone Recovery Partners"
LATE_GROUP_NUMBERS = [g.spec.number for g in LATE_GROUPS]
BANKRUPT = "G-1109"
UNPAID_KEY = {BANKRUPT: "bankrupt", PLAN_GROUP: "plan", PROMISE_GROUP: "promise"}


def _periods(today: date, history_months: int) -> list[date]:
    """The late groups' billing periods: from `history_months` before today's month (but 2 at
    least and HISTORY_MONTHS at most: every state needs a bill due 38 days before today, which
    two months back always is), every month whose bill is issued (LEAD_DAYS before it starts)
    on or before today."""
    back = max(2, min(HISTORY_MONTHS, history_months))
    periods, month = [], add_months(month_start(today), -back)
    while month - timedelta(days=LEAD_DAYS) <= today:
        periods.append(month)
        month = add_months(month, 1)
    return periods


def _unpaid_from(state: str, periods: list[date], today: date) -> date:
    """The due date of the oldest bill the group leaves unpaid (or pays late): the most recent
    due date before today at least so many days ago that the state is reached by today."""
    at_least = {
        "current": 20,  # late 14 days, paid, then back to on time
        "past_due": 1,  # extended plan: no notice before day 35
        "in_grace": 10,  # notice on day 10; 45 days of grace
        "pending_cancellation": 32,  # grace of 31 days over
        "cancelled": 35,  # pending from day 32, cancelled on day 35
        "reinstated": 38,  # cancelled on day 35, paid on day 38
        "referred": 48,  # cancelled on day 35, a 10-day window, referred on day 46
        "charged_off": 48,  # referred on day 46, charged off on day 47, recovery day 48
        "bankrupt": 42,  # filed on day 14; next month's bill 10 days late by today
        "plan": 20,  # notice on day 10, the plan on day 12, its first installment on day 15
        "promise": 2,  # past due on day 1, the promise on day 2 (to pay by day 35)
    }[state]
    return max(d for d in periods if (today - d).days >= at_least)


def _document(today: date) -> dict:
    builder = DocumentBuilder(today, LATE_SEED)
    groups = []
    for late in LATE_GROUPS:
        group = builder.group(late.spec, "18273699")
        group["contact_email"] = f"accounts@{late.spec.slug}.example.com"
        if late.state == "in_grace":  # the bankrupt group too: its later bill stays in grace
            group["billing_policies"][0]["grace_days"] = 45
        groups.append(group)
    users = [
        {
            "email": late_group_login(late),
            "full_name": f"{late.spec.name} HR",
            "role": "employer",
            "password": DEMO_PASSWORD,
            "groups": [late.spec.number],
        }
        for late in LATE_GROUPS
    ]
    return {"groups": groups, "users": users}


def late_group_login(late: LateGroup) -> str:
    """The e-mail of the late group's HR login (a demo login: it sees the group's clock)."""
    return f"hr@{late.spec.slug}.example.com"


def load_late_groups(session: Session, today: date, history_months: int = HISTORY_MONTHS) -> dict:
    """Import the six late groups and run their history up to `today` (module docstring; their
    bills start `history_months` before today's month, see `_periods`); flush only. Returns
    what was done: invoices and lines issued, payments recorded, sweeps run, cancellations."""
    import_setup(session, _document(today), source=DEMO_SOURCE)
    groups = {
        g.group_number: g
        for g in session.scalars(
            select(EmployerGroup).where(EmployerGroup.group_number.in_(LATE_GROUP_NUMBERS))
        )
    }
    supervisor = session.scalar(select(User).where(User.email == SUPERVISOR_EMAIL))
    periods = _periods(today, history_months)
    start = periods[0] - timedelta(days=LEAD_DAYS)
    new_plan_version(
        session, EXTENDED_PLAN, start, name="Extended grace (60 days, notice on day 35)",
        grace_days=60, notice_day=35,
    )  # fmt: skip
    set_group_plan(
        session, groups["G-1102"], EXTENDED_PLAN, start, "negotiated at the last renewal"
    )
    new_plan_version(
        session, SHORT_WINDOW_PLAN, start, name="Standard, 10-day reinstatement window",
        reinstatement_days=10,
    )  # fmt: skip
    for number in ("G-1107", "G-1108"):
        set_group_plan(session, groups[number], SHORT_WINDOW_PLAN, start, "a repeat late payer")
    unpaid = {
        g.spec.number: _unpaid_from(UNPAID_KEY.get(g.spec.number, g.state), periods, today)
        for g in LATE_GROUPS
    }  # fmt: skip
    by_state = {g.state: g.spec.number for g in LATE_GROUPS if g.spec.number not in UNPAID_KEY}
    cancel_on = {
        by_state[s]: unpaid[by_state[s]] + timedelta(days=35)
        for s in ("cancelled", "reinstated", "referred", "charged_off")
    }
    legal = _legal_steps(unpaid)
    for on, more in _arrangement_steps(unpaid).items():
        legal.setdefault(on, []).extend(more)
    pay_all_on = {
        by_state["reinstated"]: unpaid[by_state["reinstated"]] + timedelta(days=38),
        by_state["current"]: unpaid[by_state["current"]] + timedelta(days=14),
    }
    first_late = min(unpaid.values())
    payments: dict[date, list] = {}  # pay on -> (group, invoice id) paid that day, on time
    done = {"invoices": 0, "invoice_lines": 0, "payments": 0, "sweeps": 0, "cancelled": 0}
    ids = [g.id for g in groups.values()]
    day = start
    while day <= today:
        month = day + timedelta(days=LEAD_DAYS)
        if month.day == 1 and month in periods:
            gone = {by_state[s] for s in GONE}  # no bill after their cancellation; the
            numbers = [  # reinstated group is billed on, as before it was cancelled
                n for n in LATE_GROUP_NUMBERS if n not in gone or day <= cancel_on[n]
            ]
            outcome = issue_billing_run(session, month, group_numbers=numbers, run_date=day)
            done["invoices"] += len(outcome.issued)
            done["invoice_lines"] += outcome.line_count
            for invoice in outcome.issued:
                number = invoice.invoice_number[:6]
                if (
                    invoice.due_on < unpaid[number]
                    or (number in pay_all_on and invoice.due_on > pay_all_on[number])
                    or (number == PLAN_GROUP and invoice.due_on > unpaid[number])
                ):
                    pay_on = invoice.due_on - timedelta(days=3)
                    payments.setdefault(pay_on, []).append((groups[number], invoice.id))
        for group, invoice_id in payments.pop(day, []):
            done["payments"] += _pay(session, group, day, invoice_id)
        for number, on in cancel_on.items():
            if on == day:
                cancel_for_nonpayment(session, groups[number], on=day, actor=supervisor)
                done["cancelled"] += 1
        for number, on in pay_all_on.items():
            if on == day:
                done["payments"] += _pay(session, groups[number], day)
        for step in legal.pop(day, []):
            done["payments"] += step(session, groups, day)
        if day > first_late:  # before, no bill of theirs is past due: a sweep finds nothing
            run_sweep(session, day, group_ids=ids)
            done["sweeps"] += 1
        day += timedelta(days=1)
    return done


def _pay(session: Session, group: EmployerGroup, on: date, invoice_id: int | None = None) -> int:
    """Pay bill `invoice_id` in full, or everything the group owes, by ACH on `on`."""
    owed = {
        i: amount
        for i, amount in open_balances(session, group).items()
        if amount > 0 and (invoice_id is None or i == invoice_id)
    }
    if not owed:
        return 0
    amount = sum(owed.values(), Decimal("0.00"))
    key = "-".join(str(i) for i in sorted(owed))
    record_payment(
        session,
        group=group,
        amount=amount,
        method=PaymentMethod.ACH_CREDIT,
        received_on=on,
        source=PaymentSource.STAFF,
        reference=f"ACH-{group.group_number}-{on:%Y%m%d}",
        payer_name=group.name,
        external_id=f"demo-late-{group.group_number}-{key}",
        invoice_ids=sorted(owed),
    )
    return 1


def _staff(session: Session) -> tuple[User, User]:
    from billing_core.demo.logins import SPECIALIST_EMAIL

    specialist = session.scalar(select(User).where(User.email == SPECIALIST_EMAIL))
    supervisor = session.scalar(select(User).where(User.email == SUPERVISOR_EMAIL))
    return specialist, supervisor


def _legal_steps(unpaid: dict[str, date]) -> dict[date, list]:
    """What the collectors do for the referred, charged-off and bankrupt groups, by day (each
    step returns the payments it recorded): calls logged, the referrals, the charge-off asked
    by the specialist and approved by the supervisor, the agency's recovery (its net cash
    through the payments path, its fee kept), the bankruptcy filing."""
    from billing_core.collections.bankruptcy import file_bankruptcy
    from billing_core.collections.charge_off import (
        approve_charge_off,
        charge_offs,
        record_recovery,
        request_charge_off,
    )
    from billing_core.collections.contacts import log_contact
    from billing_core.collections.referrals import open_referral, refer, update_referral
    from billing_core.models.collections_legal import ReferralStatus

    def call(number: str, outcome: str):
        def step(session, groups, day):
            specialist, _ = _staff(session)
            log_contact(session, groups[number], kind="call", outcome=outcome,
                        actor=specialist, today=day)  # fmt: skip
            return 0

        return step

    def referred(number: str):
        def step(session, groups, day):
            specialist, _ = _staff(session)
            refer(session, groups[number], agency=AGENCY, on=day, actor=specialist,
                  notes="no answer to three calls and every notice")  # fmt: skip
            return 0

        return step

    def working(number: str):
        def step(session, groups, day):
            specialist, _ = _staff(session)
            update_referral(session, open_referral(session, groups[number].id),
                            status=ReferralStatus.IN_COLLECTION, on=day, actor=specialist,
                            note="the agency reached the owner")  # fmt: skip
            return 0

        return step

    def charge_off(number: str):
        def step(session, groups, day):
            specialist, supervisor = _staff(session)
            asked = request_charge_off(session, groups[number], on=day, actor=specialist,
                                       reason="the agency expects little back")  # fmt: skip
            session.flush()
            approve_charge_off(session, asked, actor=supervisor, on=day,
                               note="agreed: charge off, the agency keeps working it")  # fmt: skip
            return 0

        return step

    def recovery(number: str):
        def step(session, groups, day):
            specialist, _ = _staff(session)
            group = groups[number]
            assert charge_offs(session, group.id)
            payment, _ = record_payment(
                session, group=group, amount=Decimal("250.00"), method=PaymentMethod.CHECK,
                received_on=day, source=PaymentSource.STAFF, reference=f"KRP-{day:%Y%m%d}",
                payer_name=AGENCY, external_id=f"demo-recovery-{group.group_number}",
                actor=specialist,
            )  # fmt: skip
            record_recovery(session, group, payment, on=day, actor=specialist,
                            fee=Decimal("62.50"), referral=open_referral(session, group.id),
                            note="first remittance: 312.50 collected, 20% fee")  # fmt: skip
            return 1

        return step

    def filed(number: str):
        def step(session, groups, day):
            specialist, _ = _staff(session)
            file_bankruptcy(session, groups[number], filed_on=day - timedelta(days=1), chapter=11,
                            case_number="26-bk-10417",
                            court="U.S. Bankruptcy Court, District of Arizona",
                            actor=specialist, today=day,
                            note="notice of filing received from the debtor's counsel")  # fmt: skip
            return 0

        return step

    steps: dict[date, list] = {}

    def at(number: str, days: int, step) -> None:
        steps.setdefault(unpaid[number] + timedelta(days=days), []).append(step)

    at("G-1107", 20, call("G-1107", "left a message with the office manager"))
    at("G-1107", 46, referred("G-1107"))
    at("G-1107", 47, working("G-1107"))
    at("G-1108", 20, call("G-1108", "owner says the clinic is closing"))
    at("G-1108", 46, referred("G-1108"))
    at("G-1108", 47, charge_off("G-1108"))
    at("G-1108", 48, recovery("G-1108"))
    at(BANKRUPT, 12, call(BANKRUPT, "CFO says they are filing for chapter 11 this week"))
    at(BANKRUPT, 15, filed(BANKRUPT))
    return steps


def _arrangement_steps(unpaid: dict[str, date]) -> dict[date, list]:
    """The payment plan and the promise, by day (each step returns the payments it recorded):
    the specialist puts PLAN_GROUP, in grace since day 10, on a plan of three monthly
    installments from day 15 on day 12 (it pays each on its day, and its later bills on time,
    so the plan is kept); PROMISE_GROUP promises on day 2 to pay its overdue by day 35."""
    from billing_core.collections.contacts import log_contact, take_promise
    from billing_core.collections.overdue import position
    from billing_core.collections.payment_plans import (
        add_months as plus_months,
    )
    from billing_core.collections.payment_plans import (
        make_plan,
        open_plan,
        propose_schedule,
    )

    plan_from = unpaid[PLAN_GROUP] + timedelta(days=15)

    def plan(session, groups, day):
        specialist, _ = _staff(session)
        group = groups[PLAN_GROUP]
        owed = position(session, group.id, day).overdue
        make_plan(session, group, propose_schedule(owed, 3, plan_from), actor=specialist,
                  today=day, note="cash flow short after a slow season; asked for three months")  # fmt: skip
        return 0

    def installment(session, groups, day):
        group = groups[PLAN_GROUP]
        kept = open_plan(session, group.id)
        due = [i for i in kept.installments if i.due_on == day] if kept else []
        if not due:
            return 0
        bill = min(i for i, amount in open_balances(session, group).items() if amount > 0)
        record_payment(
            session, group=group, amount=due[0].amount, method=PaymentMethod.ACH_CREDIT,
            received_on=day, source=PaymentSource.STAFF, reference=f"PLAN-{day:%Y%m%d}",
            payer_name=group.name, external_id=f"demo-plan-{group.group_number}-{due[0].seq}",
            invoice_ids=[bill],
        )  # fmt: skip
        return 1

    def promise(session, groups, day):
        specialist, _ = _staff(session)
        group = groups[PROMISE_GROUP]
        log_contact(session, group, kind="call", actor=specialist, today=day,
                    outcome="the owner promised to pay the whole balance when a client pays")  # fmt: skip
        take_promise(session, group, amount=position(session, group.id, day).overdue,
                     promised_on=unpaid[PROMISE_GROUP] + timedelta(days=35), actor=specialist,
                     today=day)  # fmt: skip
        return 0

    steps: dict[date, list] = {}
    steps.setdefault(unpaid[PLAN_GROUP] + timedelta(days=12), []).append(plan)
    for k in range(3):
        steps.setdefault(plus_months(plan_from, k), []).append(installment)
    steps.setdefault(unpaid[PROMISE_GROUP] + timedelta(days=2), []).append(promise)
    return steps
