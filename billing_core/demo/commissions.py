"""The demo's commissions (issue 21): schedules for every agency (graded medical, flat dental,
vision, life and short-term disability, long-term disability per employee per month; Cascade's
own flat medical rate), one group shared between the two agencies from the middle of the
history (Harbor 60%, Cascade 40%: a broker of record change), and a real commission run for
every month of the history, run by the billing specialist and approved by the supervisor (the
current month's run left open, waiting for approval). Nothing is invented: the lines are what
the engine finds in the bills and payments the demo made, so the late-reported termination's
retro credit comes back as a chargeback and a late group's premium paid while it is delinquent
is held. No billing figure changes (commission posts to its own accounts only)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.billing.enrollment import add_months, month_start
from billing_core.commissions.of_record import Split, change_broker_of_record
from billing_core.commissions.run import approve_run, run_commissions
from billing_core.commissions.schedules import set_schedule
from billing_core.demo.logins import SPECIALIST_EMAIL, SUPERVISOR_EMAIL
from billing_core.models import Broker, BrokerAgency, EmployerGroup, User
from billing_core.models.commissions import CommissionKind, CommissionLine
from billing_core.models.enums import LineOfCoverage as L

SCHEDULES_FROM = date(2000, 1, 1)
# line -> (kind, first-year rates, renewal rates): (band floor in dollars, percent or dollars)
SCHEDULES = {
    L.MEDICAL: (
        CommissionKind.GRADED,
        [("0", "15"), ("5000", "10"), ("15000", "5"), ("40000", "3")],
        [("0", "10"), ("5000", "7"), ("15000", "4"), ("40000", "2")],
    ),
    L.DENTAL: (CommissionKind.FLAT, [("0", "10")], [("0", "8")]),
    L.VISION: (CommissionKind.FLAT, [("0", "10")], [("0", "10")]),
    L.BASIC_LIFE: (CommissionKind.FLAT, [("0", "15")], [("0", "12")]),
    L.SUPPLEMENTAL_LIFE: (CommissionKind.FLAT, [("0", "15")], [("0", "12")]),
    L.ADD: (CommissionKind.FLAT, [("0", "15")], [("0", "12")]),
    L.STD: (CommissionKind.FLAT, [("0", "10")], [("0", "8")]),
    L.LTD: (CommissionKind.PER_EMPLOYEE, [("0", "2.00")], [("0", "1.50")]),
}
CASCADE_MEDICAL = [("0", "4")]  # Cascade's own contract: a flat 4% on medical
SPLIT_GROUP = "G-1002"  # Summit Ridge Veterinary: Harbor 60% (Marcus Lee), Cascade 40%
SPLIT = (("HARBOR", "60", "18273699"), ("CASCADE", "40", "20418833"))


def split_month(today: date, history_months: int) -> date:
    """The month the demo's split takes effect: the middle of the history (never its first
    month, so the group's statements show both before and after)."""
    first = add_months(month_start(today), -history_months)
    return add_months(first, max(1, history_months // 2))


def load_demo_commissions(session: Session, today: date, history_months: int) -> dict:
    """Schedules, the split and a run per month of the history (module docstring); flushes
    only. Returns the months approved, the open month and the lines by kind."""
    specialist = session.scalar(select(User).where(User.email == SPECIALIST_EMAIL))
    supervisor = session.scalar(select(User).where(User.email == SUPERVISOR_EMAIL))
    agencies = {a.code: a for a in session.scalars(select(BrokerAgency))}
    for line, (kind, first_year, renewal) in SCHEDULES.items():
        set_schedule(session, line=line, kind=kind, effective_from=SCHEDULES_FROM,
                     rates=first_year, renewal_rates=renewal, actor=supervisor,
                     name=f"Standard {line.label.lower()}")  # fmt: skip
    set_schedule(session, line=L.MEDICAL, kind=CommissionKind.FLAT, effective_from=SCHEDULES_FROM,
                 rates=CASCADE_MEDICAL, agency=agencies["CASCADE"], actor=supervisor,
                 name="Cascade medical (own contract)")  # fmt: skip
    group = session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == SPLIT_GROUP))
    brokers = {b.npn: b for b in session.scalars(select(Broker))}
    change_broker_of_record(
        session,
        group,
        [Split(agencies[code], percent, brokers[npn]) for code, percent, npn in SPLIT],
        effective_from=split_month(today, history_months),
        actor=supervisor,
    )
    this_month = month_start(today)
    month = add_months(this_month, -history_months)
    approved = []
    while month < this_month:
        result = run_commissions(session, month, actor=specialist)
        approve_run(session, result.run, actor=supervisor)
        approved.append(month.isoformat()[:7])
        month = add_months(month, 1)
    run_commissions(session, this_month, actor=specialist)  # open: waits for the supervisor
    kinds: dict[str, int] = {}
    for (kind,) in session.execute(select(CommissionLine.kind)):
        kinds[kind.value] = kinds.get(kind.value, 0) + 1
    return {"approved": approved, "open": this_month.isoformat()[:7], "lines": kinds}


__all__ = ["SPLIT_GROUP", "load_demo_commissions", "split_month"]
