"""What a census would do to the money, before anyone commits to it: the next bill per product
before and after, and the retro differences for months already billed. Computed by applying the
diff inside a savepoint, pricing it with the billing run's own dry run and retro rules, then
rolling the savepoint back, so the figures are exactly what approval and the next run produce."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.census.apply import apply_census
from billing_core.census.diff import CensusDiff
from billing_core.enrollment import add_months, month_start
from billing_core.invoicing import billing_period_for, prepare_billing_run
from billing_core.models import EmployerGroup, Invoice, Plan, Product, User
from billing_core.models.enums import InvoiceStatus
from billing_core.money import ZERO


@dataclass(frozen=True)
class ProductImpact:
    product: str
    next_bill_before: Decimal
    next_bill_after: Decimal
    retro: Decimal

    @property
    def next_bill_change(self) -> Decimal:
        return self.next_bill_after - self.next_bill_before


@dataclass
class PremiumImpact:
    next_period: date | None
    products: list[ProductImpact] = field(default_factory=list)
    retro_months: list[date] = field(default_factory=list)

    @property
    def next_bill_change(self) -> Decimal:
        return sum((p.next_bill_change for p in self.products), ZERO)

    @property
    def retro_total(self) -> Decimal:
        return sum((p.retro for p in self.products), ZERO)

    def as_dict(self) -> dict:
        return {
            "next_period": self.next_period.isoformat() if self.next_period else None,
            "next_bill_change": str(self.next_bill_change),
            "retro_total": str(self.retro_total),
            "retro_months": [m.isoformat() for m in self.retro_months],
            "products": [
                {
                    "product": p.product,
                    "next_bill_before": str(p.next_bill_before),
                    "next_bill_after": str(p.next_bill_after),
                    "retro": str(p.retro),
                }
                for p in self.products
            ],
        }


def next_unbilled_period(session: Session, group: EmployerGroup, today: date) -> date | None:
    """Start of the group's first billing period, from today's on, without a live invoice."""
    policy = group.policy_on(today) or (group.policies[-1] if group.policies else None)
    if policy is None:
        return None
    start, _ = billing_period_for(group, policy, month_start(today))
    billed = set(
        session.scalars(
            select(Invoice.period_start).where(
                Invoice.group_id == group.id, Invoice.status != InvoiceStatus.VOID
            )
        )
    )
    for _ in range(24):
        if start not in billed:
            return start
        start = add_months(start, policy.billing_frequency.months)
    return None


def _next_bill_by_product(session: Session, group: EmployerGroup, period: date) -> dict:
    outcome = prepare_billing_run(session, period, group_numbers=[group.group_number])
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for draft in outcome.drafts:
        for code, (_count, amount) in draft.product_totals().items():
            totals[code] += amount
    return totals


def premium_impact(
    session: Session, group: EmployerGroup, diff: CensusDiff, *, actor: User, today: date
) -> PremiumImpact:
    """Per product: the next unbilled period's premium before and after the changes, and the
    retro adjustments approval would queue. Writes nothing (a savepoint, rolled back)."""
    period = next_unbilled_period(session, group, today)
    before = _next_bill_by_product(session, group, period) if period else {}
    savepoint = session.begin_nested()
    try:
        result = apply_census(session, group, diff, actor=actor, today=today)
        after = _next_bill_by_product(session, group, period) if period else {}
        plan_products = dict(
            session.execute(
                select(Plan.id, Product.code)
                .join(Product, Product.id == Plan.product_id)
                .where(Plan.group_id == group.id)
            ).all()
        )
        retro: dict[str, Decimal] = defaultdict(lambda: ZERO)
        months = set()
        for adjustment in result.adjustments:
            retro[plan_products.get(adjustment.plan_id, "")] += adjustment.amount
            months.add(adjustment.coverage_month)
    finally:
        savepoint.rollback()
    names = dict(session.execute(select(Product.code, Product.name)).all())
    codes = sorted(set(before) | set(after) | set(retro), key=lambda c: names.get(c, c))
    impact = PremiumImpact(next_period=period, retro_months=sorted(months))
    for code in codes:
        product = ProductImpact(
            names.get(code, code),
            before.get(code, ZERO),
            after.get(code, ZERO),
            retro.get(code, ZERO),
        )
        if product.next_bill_change or product.retro:
            impact.products.append(product)
    return impact
