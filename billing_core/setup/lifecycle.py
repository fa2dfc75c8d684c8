"""A group's end (issue 22, item 4): terminated at a date by a supervisor. Every coverage in
force after that day ends on it and every billing policy is closed on it, so the billing run
bills the group up to that day (the final bill, prorated as the policy says) and not after
(`prepare_billing_run` finds no policy in force). What is left is shown as a balance due or a
refund owed. Refused while bills are issued for periods after the date (reverse them by credit
memo first) and when already terminated. Audited with what it was before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.audit import record
from billing_core.billing.enrollment import month_start
from billing_core.billing.groups import coverages_running_past
from billing_core.collections.cancellation import check_supervisor
from billing_core.errors import ValidationFailed
from billing_core.models import (
    BillingPolicy,
    EmployerGroup,
    Invoice,
    User,
)
from billing_core.models.enums import InvoiceStatus
from billing_core.models.setup_draft import GroupTermination
from billing_core.money import ZERO
from billing_core.payments.allocation import open_invoices, usable_credit

__all__ = ["Standing", "standing", "terminate_group", "termination_of"]


@dataclass(frozen=True)
class Standing:
    """What a terminated group owes or is owed: open bills less unapplied credit."""

    open_bills: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return self.open_bills - self.credit

    @property
    def words(self) -> str:
        if self.balance > 0:
            return f"balance due {self.balance:,.2f}"
        if self.balance < 0:
            return f"refund owed {-self.balance:,.2f}"
        return "settled: nothing owed either way"


def termination_of(session: Session, group_id: int) -> GroupTermination | None:
    return session.scalar(
        select(GroupTermination)
        .where(GroupTermination.group_id == group_id)
        .order_by(GroupTermination.id.desc())
        .limit(1)
    )


def standing(session: Session, group: EmployerGroup) -> Standing:
    owed = sum((o for _, o in open_invoices(session, group)), ZERO)
    credit = sum((c for _, c in usable_credit(session, group)), ZERO)
    return Standing(owed, credit)


def terminate_group(
    session: Session,
    group: EmployerGroup,
    *,
    terminated_on: date,
    reason: str,
    actor: User | None,
) -> GroupTermination:
    """End the group on `terminated_on` (its last covered day); see the module docstring."""
    check_supervisor(actor, "terminating a group")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("say why the group is terminated (the reason is kept)")
    done = termination_of(session, group.id)
    if done is not None:
        raise ValidationFailed(
            f"group {group.group_number} was terminated on {done.terminated_on} already"
        )
    if terminated_on < group.original_effective_date:
        raise ValidationFailed(
            f"the termination date must be on or after the group's start, "
            f"{group.original_effective_date}"
        )
    later = session.scalars(
        select(Invoice.invoice_number)
        .where(
            Invoice.group_id == group.id,
            Invoice.period_start > terminated_on,
            Invoice.status != InvoiceStatus.VOID,
        )
        .order_by(Invoice.period_start)
    ).all()
    if later:
        raise ValidationFailed(
            f"bills for periods after {terminated_on} are issued ({', '.join(later)}): reverse "
            "them by credit memo first, or choose a later date"
        )
    policies = session.scalars(
        select(BillingPolicy).where(BillingPolicy.group_id == group.id)
    ).all()
    starting_later = [p for p in policies if p.effective_from > terminated_on]
    if starting_later:
        raise ValidationFailed(
            f"a billing policy starts {starting_later[0].effective_from}, after the termination "
            "date: choose a later date"
        )
    before_policies = {
        str(p.effective_from): str(p.effective_to) if p.effective_to else "open" for p in policies
    }
    for p in policies:
        if p.effective_to is None or p.effective_to > terminated_on:
            p.effective_to = terminated_on
    coverages = coverages_running_past(session, group.id, terminated_on)
    for coverage in coverages:
        coverage.effective_to = terminated_on
    ended = len(coverages)
    termination = GroupTermination(
        group_id=group.id,
        terminated_on=terminated_on,
        reason=reason[:500],
        coverages_ended=ended,
        actor_id=actor.id if actor is not None else None,
    )
    session.add(termination)
    record(
        session,
        "group.terminated",
        actor=actor,
        target=group,
        group_id=group.id,
        detail={
            "reason": reason[:500],
            "before": {"status": "active", "billing policies end": before_policies},
            "after": {
                "status": f"terminated {terminated_on}",
                "billing policies end": str(terminated_on),
                "coverages ended": ended,
                "last month billed": f"{month_start(terminated_on):%B %Y}",
            },
        },
    )
    session.flush()
    return termination
