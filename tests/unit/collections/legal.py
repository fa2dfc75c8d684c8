"""A group walked by the real sweep to cancelled for non-payment, for the outside-collections,
charge-off and bankruptcy tests: billed 1,000.00 for December 2026 (paid) and for January 2027
(due Jan 1, unpaid); past due Jan 2, the grace notice Jan 11, pending cancellation Feb 2,
cancelled Feb 5 (coverage ended Dec 31), reinstatement window to Mar 7."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing_core.collections.states import cancel_for_nonpayment
from billing_core.collections.sweep import run_sweep
from billing_core.models.enums import Role
from tests.factories import make_group, make_invoice, make_user, pay_by_check

DEC1, JAN1 = date(2026, 12, 1), date(2027, 1, 1)
CANCELLED_ON, WINDOW_ENDS = date(2027, 2, 5), date(2027, 3, 7)


def late_group(session, name="Harbor Co"):
    """(group, january invoice): December paid, January unpaid."""
    group = make_group(session, state="CA", contact_email="ap@harbor.test", name=name)
    make_user(session, Role.EMPLOYER, groups=[group])
    december = make_invoice(session, group, Decimal("1000.00"), DEC1)
    pay_by_check(session, group, "1000.00", DEC1, [december])
    january = make_invoice(session, group, Decimal("1000.00"), JAN1)
    session.flush()
    return group, january


def cancelled_group(session, name="Harbor Co"):
    """(group, january invoice), cancelled for non-payment on Feb 5, 2027 by the sweep's
    stages and a supervisor."""
    group, january = late_group(session, name)
    for day in (date(2027, 1, 2), date(2027, 1, 11), date(2027, 2, 2)):
        run_sweep(session, day, group_ids=[group.id])
    supervisor = make_user(session, Role.SUPERVISOR)
    cancel_for_nonpayment(session, group, on=CANCELLED_ON, actor=supervisor)
    session.flush()
    return group, january


def staff(session):
    """(collector, second collector, supervisor)."""
    return (
        make_user(session, Role.BILLING_SPECIALIST),
        make_user(session, Role.BILLING_SPECIALIST),
        make_user(session, Role.SUPERVISOR),
    )
