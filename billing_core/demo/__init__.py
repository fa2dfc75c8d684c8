"""The demo book of business: eight employer groups (5 to 2,000 members) on every rating basis,
a year of enrollment history, brokers and one login per role. Built as a set-up document and
loaded through billing_core.setup, so the demo exercises the same path as a carrier's
onboarding file; then a year of bills is issued through billing_core.billing.invoicing, with a few
late-reported changes billed as retro adjustments. Deterministic for a given `today` and seed.

book.py is its shape (products, groups, agencies, paying habits); document.py the set-up
document built from it; history.py the billing runs it issues, with payments.py (the cash) and
late_changes.py (retro adjustments); late_groups.py eleven small groups that pay late, one at
each collections state and two on a payment plan or a promise to pay, reached by the real sweep (and the collectors' own steps); logins.py the logins and the story each
shows. Callers look `load_demo` up through this package (`demo.load_demo`), so a test may
replace it there."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core import mail
from billing_core.collections.sweep import run_sweep
from billing_core.demo.book import DEMO_FIRST_GROUP, DEMO_SOURCE
from billing_core.demo.commissions import load_demo_commissions
from billing_core.demo.document import DEMO_SEED, build_demo_document, build_document
from billing_core.demo.history import issue_history
from billing_core.demo.late_groups import load_late_groups
from billing_core.demo.logins import DEMO_PASSWORD, DEMO_TOTP_SECRET, demo_logins, enrol_staff
from billing_core.models import EmployerGroup, User
from billing_core.setup import import_setup

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_TOTP_SECRET",
    "DemoResult",
    "build_demo_document",
    "database_is_empty",
    "demo_is_loaded",
    "demo_logins",
    "load_demo",
]


@dataclass
class DemoResult:
    """Whether this call loaded the demo, the import summary, the billing history it issued
    (see `load_demo`) and the logins to try."""

    loaded: bool
    summary: dict = field(default_factory=dict)
    logins: list[dict] = field(default_factory=list)
    history: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "loaded": self.loaded,
            "summary": self.summary,
            "history": self.history,
            "logins": self.logins,
        }


def demo_is_loaded(session: Session) -> bool:
    """True when the demo book is in the database (its first group exists)."""
    found = select(EmployerGroup.id).where(EmployerGroup.group_number == DEMO_FIRST_GROUP)
    return session.scalar(found) is not None


def load_demo(
    session: Session, today: date | None = None, *, history_months: int = 12
) -> DemoResult:
    """Load the demo book unless its first group already exists (then change nothing and
    return loaded=False). Goes through import_setup; flushes only, the caller commits.

    Then issues the billing history a new user expects to find: for each month from
    `history_months` before `today`'s month up to the last period whose scheduled issue date
    (period start minus the policy's lead days) is on or before `today`, oldest first, the
    billing run of that month dated on its scheduled issue date (a quarterly group only in the
    months its periods start). Along the way a few enrollment changes are reported late (a
    termination, a new hire, a marriage; see `late_changes`): on the report date the change is
    applied and the premium difference for every month already billed becomes an adjustment
    requested by the billing specialist and approved by the supervisor, which the next invoice
    carries in its retro section. Amounts are what was billed (credits) or what rating gives for
    the new enrollment (debits), never invented.

    With the default 12 that is 13 or 14 runs (today's month, and the next once its bill is
    out), about 350,000 invoice lines and most of the load time: about a minute on SQLite.
    `history_months=0` issues nothing. The CLI (`flask demo load`, so `make serve`) always uses
    the default; no environment variable changes it: tests pass a small history (the CLI test
    wraps this function). A change whose wrongly billed months fall before the history is left
    out (its credits would take back bills that were never issued).

    With any history, eleven small late-paying groups follow (`late_groups`): their bills, their
    payments and the daily collections sweep over them, so one group stands at each collections
    state (current after paying in grace, past due, in grace, pending cancellation, cancelled,
    reinstated, referred, charged off, one in bankruptcy, one on a payment plan and one with a
    promise to pay) with its notices and transitions; then the sweep runs once as of `today` over
    the whole book, as the daily job would.

    `summary` is the set-up import of the book; `history` lists the months run and counts the
    invoices, lines, payments (the late groups' included; their own counts under
    `late_groups`) and adjustments (and any group held by a run, which the demo never has),
    and `sweep` is today's sweep.
    Last, the commissions (`commissions`, under `history["commissions"]`): schedules, a split
    between the two agencies, and a commission run per month of the history approved by the
    supervisor (this month's left open).
    A second call returns before any of this, so it issues and queues nothing again."""
    existing = session.scalar(
        select(EmployerGroup.id).where(EmployerGroup.group_number == DEMO_FIRST_GROUP)
    )
    if existing is not None:
        return DemoResult(loaded=False, summary={}, logins=demo_logins())
    today = today or date.today()
    document, book = build_document(today, DEMO_SEED)
    summary = import_setup(session, document, source=DEMO_SOURCE)
    enrol_staff(session, datetime.combine(today, time(), UTC))
    with mail.suppressed(session):  # a made-up history tells nobody anything
        history = issue_history(session, document, book, today, history_months)
        if history_months > 0:
            late = load_late_groups(session, today, history_months)
            for key in ("invoices", "invoice_lines", "payments"):
                history[key] += late[key]
            history["late_groups"] = late
            history["sweep"] = run_sweep(session, today).as_dict()
            history["commissions"] = load_demo_commissions(session, today, history_months)
    return DemoResult(loaded=True, summary=summary.as_dict(), logins=demo_logins(), history=history)


def database_is_empty(session: Session) -> bool:
    """True when there are no groups and no users (what `demo load --if-empty` checks)."""
    groups = session.scalar(select(func.count()).select_from(EmployerGroup))
    users = session.scalar(select(func.count()).select_from(User))
    return not groups and not users
