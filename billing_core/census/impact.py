"""What a census would do to the money, before anyone commits to it: the next bill per product
before and after, and the retro differences for months already billed. Computed by applying the
diff inside a savepoint, pricing it with the billing run's own dry run and retro rules, then
rolling the savepoint back, so the figures are exactly what approval and the next run produce."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.census.apply import apply_census
from billing_core.census.diff import CensusDiff, ChangeKind
from billing_core.enrollment import add_months, month_start
from billing_core.invoicing import billing_period_for, prepare_billing_run
from billing_core.models import (
    Adjustment,
    AgeReduction,
    BillingPolicy,
    Coverage,
    Dependent,
    EmployerGroup,
    Invoice,
    Member,
    Plan,
    Product,
    RateAgeBand,
    RateTier,
    RateVersion,
    Upload,
    User,
)
from billing_core.models.enums import InvoiceStatus, UploadStatus
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

    @classmethod
    def from_dict(cls, data: dict) -> PremiumImpact:
        """The impact `as_dict` kept."""
        period = data["next_period"]
        return cls(
            next_period=date.fromisoformat(period) if period else None,
            products=[
                ProductImpact(
                    p["product"],
                    Decimal(p["next_bill_before"]),
                    Decimal(p["next_bill_after"]),
                    Decimal(p["retro"]),
                )
                for p in data["products"]
            ],
            retro_months=[date.fromisoformat(m) for m in data["retro_months"]],
        )

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


def pricing_basis(
    session: Session, group: EmployerGroup, diff: CensusDiff, today: date, upload: Upload
) -> str:
    """A digest of everything `premium_impact` prices from: the day; the upload's bytes and
    columns and what its diff changes; the group's billing policies, plans and rates; its
    invoices, adjustments and approved uploads; and counts of its enrollment rows (enrollment
    only changes by an approved upload, which these also catch). Not the upload's own status:
    the employer's figures are what staff review after the submit. While the digest is the
    same, so is the impact, so a page can show the kept figures instead of pricing the whole
    group again (seconds per view for a group of 20,000)."""
    digest = hashlib.sha256()

    def add(*parts) -> None:
        digest.update(repr(parts).encode())

    add(today, upload.sha256, sorted((upload.column_mapping or {}).items(), key=repr))
    for entry in diff.members:
        if entry.kind is not ChangeKind.UNCHANGED:
            add(
                entry.kind.value,
                entry.member_id,
                entry.employee_id,
                entry.effective_on,
                [(f.field, f.before, f.after) for f in entry.fields],
                [
                    (c.line.value, c.plan_before and c.plan_before.id,
                     c.plan_after and c.plan_after.id, c.tier_before, c.tier_after,
                     c.volume_before, c.volume_after, c.effective_on)
                    for c in entry.coverages
                ],
            )  # fmt: skip
    plan_ids = select(Plan.id).where(Plan.group_id == group.id)
    version_ids = select(RateVersion.id).where(RateVersion.plan_id.in_(plan_ids))
    member_ids = select(Member.id).where(Member.group_id == group.id)
    # Small tables, every column of every row.
    for model, condition in (
        (BillingPolicy, BillingPolicy.group_id == group.id),
        (Plan, Plan.group_id == group.id),
        (RateVersion, RateVersion.plan_id.in_(plan_ids)),
        (RateTier, RateTier.rate_version_id.in_(version_ids)),
        (RateAgeBand, RateAgeBand.rate_version_id.in_(version_ids)),
        (AgeReduction, AgeReduction.rate_version_id.in_(version_ids)),
        (Invoice, Invoice.group_id == group.id),
    ):
        table = model.__table__
        add(*session.execute(select(*table.columns).where(condition).order_by(*table.primary_key)))
    # Large or growing ones, summarised.
    for statement in (
        select(Adjustment.status, func.count(), func.max(Adjustment.id))
        .where(Adjustment.group_id == group.id)
        .group_by(Adjustment.status)
        .order_by(Adjustment.status),
        select(func.count(), func.max(Upload.reviewed_at)).where(
            Upload.group_id == group.id, Upload.status == UploadStatus.APPROVED
        ),
        select(func.count(), func.max(Member.id)).where(Member.group_id == group.id),
        select(func.count(), func.max(Dependent.id), func.count(Dependent.effective_to)).where(
            Dependent.member_id.in_(member_ids)
        ),
        select(func.count(), func.max(Coverage.id), func.count(Coverage.effective_to)).where(
            Coverage.member_id.in_(member_ids)
        ),
    ):
        add(*session.execute(statement))
    return digest.hexdigest()
