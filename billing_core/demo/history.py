"""The demo's billing history: the monthly billing runs of the last year, each on its scheduled
issue date (a quarterly group only when its periods start), with the late-reported changes
(late_changes.py) reported just before the run that bills them and the groups' payments
(payments.py) recorded on their own dates in between."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core.billing.enrollment import add_months, month_start
from billing_core.billing.invoicing import billing_period_for, issue_billing_run
from billing_core.demo.book import GROUPS
from billing_core.demo.document import DocumentBuilder
from billing_core.demo.late_changes import late_changes, report_late_change
from billing_core.demo.logins import SPECIALIST_EMAIL, SUPERVISOR_EMAIL
from billing_core.demo.payments import PaymentBook, lockbox_item_in_suspense
from billing_core.models import EmployerGroup, User

MAX_LEAD_DAYS = 90  # the longest lead a billing policy may have: runs are looked for that far


@dataclass(frozen=True)
class _BillingRun:
    """One scheduled billing run: the period month, its issue date, the demo groups due."""

    month: date
    run_date: date
    group_numbers: tuple[str, ...]


def _billing_runs(session: Session, today: date, history_months: int) -> list[_BillingRun]:
    """The demo groups' billing runs from `history_months` before `today`'s month whose
    scheduled issue date is on or before `today`, oldest first; groups with another lead time
    get their own run on their own date."""
    if history_months <= 0:
        return []
    groups = session.scalars(
        select(EmployerGroup)
        .where(EmployerGroup.group_number.in_([spec.number for spec in GROUPS]))
        .options(selectinload(EmployerGroup.policies))
        .order_by(EmployerGroup.group_number)
    ).all()
    due: dict[tuple[date, date], list[str]] = defaultdict(list)
    month = add_months(month_start(today), -history_months)
    while month <= today + timedelta(days=MAX_LEAD_DAYS):
        for group in groups:
            policy = group.policy_on(month)
            if policy is None:
                continue
            period_start, _ = billing_period_for(group, policy, month)
            run_date = period_start - timedelta(days=policy.lead_days)
            if period_start == month and run_date <= today:
                due[(month, run_date)].append(group.group_number)
        month = add_months(month, 1)
    return [_BillingRun(m, d, tuple(numbers)) for (m, d), numbers in sorted(due.items())]


def issue_history(
    session: Session, document: dict, book: DocumentBuilder, today: date, history_months: int
) -> dict:
    """Issue the billing runs of `_billing_runs` in order, reporting each late change just
    before the run that bills it. Returns what was issued."""
    runs = _billing_runs(session, today, history_months)
    history = {"months": [], "invoices": 0, "invoice_lines": 0, "adjustments": 0, "held": {}}
    if not runs:
        return history
    first_month, last_month = runs[0].month, runs[-1].month
    changes = [
        change
        for change in late_changes(document, book, last_month)
        if change.first_wrong_month >= first_month
    ]
    staff = {
        user.email: user
        for user in session.scalars(
            select(User).where(User.email.in_([SPECIALIST_EMAIL, SUPERVISOR_EMAIL]))
        )
    }
    last_bill: dict[str, date] = {}
    payments = PaymentBook()
    for run in runs:
        payments.record_until(session, run.run_date - timedelta(days=1))
        for change in changes:
            if change.bills_on != run.month or change.group_number not in run.group_numbers:
                continue
            previous = last_bill.get(change.group_number, run.run_date - timedelta(days=30))
            reported_on = min(
                previous + timedelta(days=change.days_after_bill), run.run_date - timedelta(days=2)
            )
            history["adjustments"] += report_late_change(
                session, document, change, reported_on, staff
            )
        outcome = issue_billing_run(
            session, run.month, group_numbers=run.group_numbers, run_date=run.run_date
        )
        for number in run.group_numbers:
            last_bill[number] = run.run_date
        month = f"{run.month:%Y-%m}"
        if month not in history["months"]:
            history["months"].append(month)
        history["invoices"] += len(outcome.issued)
        history["invoice_lines"] += outcome.line_count
        for number, errors in outcome.held.items():
            history["held"][f"{number} {month}"] = [str(e) for e in errors]
        payments.schedule(outcome.issued, today)
    payments.record_until(session, today)
    history["payments"] = payments.recorded
    lockbox_item_in_suspense(session, today)
    return history
