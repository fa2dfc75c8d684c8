"""Retro: what a member's enrollment calls for in months already billed, against what was
billed (and already adjusted) for those months. The difference per plan and coverage month is
what a future-bill adjustment carries: a late add bills the missed months, a late term credits
the months billed in error, a tier or salary change bills the gap. And the retro window: how
far back a change of each kind reaches without a supervisor (`retro_window`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core.billing.enrollment import coverage_months, month_end, month_start
from billing_core.billing.premium import member_month_premium
from billing_core.billing.rating import RateTable
from billing_core.models import (
    Adjustment,
    Coverage,
    CoveredDependent,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    Member,
    Plan,
    RateVersion,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    CoverageMonthRule,
    InvoiceSection,
    InvoiceStatus,
    Relationship,
)
from billing_core.money import ZERO


def retro_window(group: EmployerGroup, kind: str, today: date) -> date:
    """The first coverage month inside the group's retro window for a change of `kind` ("add",
    "term" or "change") made on `today`: the billing policy's days for that kind (the policy
    in force today, else the latest) counted back from `today`, from the first of that month.
    Months before it need a supervisor: an add's or change's adjustments are queued marked for
    one, and a late term is credited for them only with a supervisor's override."""
    policy = group.policy_on(today) or group.policies[-1]
    days = {
        "add": policy.retro_add_days,
        "term": policy.retro_term_days,
        "change": policy.retro_change_days,
    }[kind]
    return month_start(today - timedelta(days=days))


def premium_differences(
    session: Session, group: EmployerGroup, member: Member, months: list[date]
) -> list[tuple[tuple[int, date], Decimal]]:
    """Per (plan id, coverage month) of `months`: the premium the member's current enrollment
    calls for, minus the premium lines of the member's non-void invoices and the adjustments
    already queued, approved or billed for it (so computing twice queues nothing twice).
    Non-zero differences only, in dollars rounded per line: each month priced by the billing
    run's own engine (`premium.member_month_premium`, the rate version in force that month,
    half-up to the cent, prorated under daily proration)."""
    if not months:
        return []
    first, last = months[0], month_end(months[-1])
    policy = group.policy_on(first)
    rule = CoverageMonthRule(policy.coverage_month_rule)
    should: dict[tuple[int, date], Decimal] = defaultdict(lambda: ZERO)
    coverages = session.scalars(
        select(Coverage)
        .where(Coverage.member_id == member.id)
        .options(
            selectinload(Coverage.plan).selectinload(Plan.product),
            selectinload(Coverage.plan)
            .selectinload(Plan.rate_versions)
            .selectinload(RateVersion.tier_rates),
            selectinload(Coverage.covered_dependents).selectinload(CoveredDependent.dependent),
        )
    ).all()
    for coverage in coverages:
        plan = coverage.plan
        covered = [
            (
                d.birth_date,
                d.effective_from,
                d.effective_to,
                d.relationship_to_member == Relationship.CHILD,
            )
            for d in (c.dependent for c in coverage.covered_dependents)
        ]
        for month in coverage_months(
            coverage.effective_from, coverage.effective_to, first, last, rule
        ):
            version = plan.rate_version_on(month)
            amount = member_month_premium(
                version.id,
                RateTable.from_version(version, plan.product.rating_basis),
                month,
                birth_date=member.birth_date,
                annual_salary=member.annual_salary,
                tier=coverage.tier,
                elected_volume=coverage.elected_volume,
                covered=covered,
                coverage_from=coverage.effective_from,
                coverage_to=coverage.effective_to,
                rule=rule,
            ).amount
            should[(coverage.plan_id, month)] += amount
    billed: dict[tuple[int, date], Decimal] = defaultdict(lambda: ZERO)
    for plan_id, month, amount in session.execute(
        select(InvoiceLine.plan_id, InvoiceLine.coverage_month, InvoiceLine.amount)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            InvoiceLine.member_id == member.id,
            InvoiceLine.section == InvoiceSection.PREMIUM,
            InvoiceLine.coverage_month.between(first, last),
            Invoice.status != InvoiceStatus.VOID,
        )
    ):
        billed[(plan_id, month)] += amount
    for plan_id, month, amount in session.execute(
        select(Adjustment.plan_id, Adjustment.coverage_month, Adjustment.amount).where(
            Adjustment.member_id == member.id,
            Adjustment.coverage_month.between(first, last),
            Adjustment.status.in_(
                [AdjustmentStatus.PENDING, AdjustmentStatus.APPROVED, AdjustmentStatus.BILLED]
            ),
        )
    ):
        billed[(plan_id, month)] += amount
    differences = []
    for key in sorted(set(should) | set(billed), key=lambda k: (k[1], k[0])):
        difference = should[key] - billed[key]
        if difference:
            differences.append((key, difference))
    return differences
