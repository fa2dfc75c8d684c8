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

from billing_core.billing.enrollment import add_months, first_billed_month, month_start
from billing_core.billing.invoicing import billing_period_for, prepare_billing_run
from billing_core.census.apply import apply_census
from billing_core.census.diff import CensusDiff, ChangeKind
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
from billing_core.money import ZERO, format_count


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
    # The bill the changes first land on (landing_period), not always the next one out.
    next_period: date | None
    products: list[ProductImpact] = field(default_factory=list)
    retro_months: list[date] = field(default_factory=list)
    # Not priced, and why in words (PricingCost.over): pricing would cost more than the
    # bounds allow. The products are then empty, not zero.
    unpriced: str | None = None
    # The group has no bill yet: next_period is its first.
    first_bill: bool = False
    # next_period is the next bill not yet out (not a later one the changes start on).
    next_bill: bool = True

    @property
    def next_bill_total(self) -> Decimal:
        """What the changed products come to on that bill with the file (the whole bill
        when it is the group's first: no product was billed before)."""
        return sum((p.next_bill_after for p in self.products), ZERO)

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
            unpriced=data.get("unpriced"),
            first_bill=data.get("first_bill", False),
            next_bill=data.get("next_bill", True),
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
            **({"unpriced": self.unpriced} if self.unpriced else {}),
            **({"first_bill": True} if self.first_bill else {}),
            **({} if self.next_bill else {"next_bill": False}),
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


@dataclass(frozen=True)
class Landing:
    """The bill a census's changes first land on: `period` (its start), whether it is the
    group's first bill (nothing billed yet) and whether it is the next bill not yet out."""

    period: date
    first_bill: bool
    next_bill: bool


def landing_period(
    session: Session,
    group: EmployerGroup,
    diff: CensusDiff,
    today: date,
    *,
    kinds: frozenset[ChangeKind] | None = None,
) -> Landing | None:
    """The billing period the changes of `diff` (of `kinds` only, when given) first land on:
    the first period not yet billed that holds or follows both today's month and the first
    month the changes can bill (an add's first billed month by the coverage-month rule, any
    other change's month), and never before the group's own first period. A change reaching
    back into months already billed lands on the next bill (its retro with it); adds of a
    group whose coverage starts next month land on its first bill, not this month's empty
    one. None without a billing policy or with nothing to bill in two years."""
    policy = group.policy_on(today) or (group.policies[-1] if group.policies else None)
    if policy is None:
        return None
    months = []
    for entry in diff.changes:
        if kinds is not None and entry.kind not in kinds:
            continue
        starts = [
            entry.effective_on,
            *(c.effective_on for c in entry.coverages),
            *(d.effective_on for d in entry.dependents),
        ]
        first = min(starts)
        if entry.kind is ChangeKind.ADD:
            months.append(first_billed_month(first, policy.coverage_month_rule))
        else:
            months.append(month_start(first))
    on = max([today, group.original_effective_date, *([min(months)] if months else [])])
    period = next_unbilled_period(session, group, on)
    if period is None:
        return None
    billed = session.scalar(
        select(func.count())
        .select_from(Invoice)
        .where(Invoice.group_id == group.id, Invoice.status != InvoiceStatus.VOID)
    )
    upcoming = next_unbilled_period(session, group, max(today, group.original_effective_date))
    return Landing(period, first_bill=not billed, next_bill=period == upcoming)


def _next_bill_by_product(session: Session, group: EmployerGroup, period: date) -> dict:
    outcome = prepare_billing_run(session, period, group_numbers=[group.group_number])
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for draft in outcome.drafts:
        for code, (_count, amount) in draft.product_totals().items():
            totals[code] += amount
    return totals


@dataclass(frozen=True)
class PricingLimits:
    """How much pricing one upload may cost (CENSUS_PRICING_MAX_MEMBER_MONTHS and
    CENSUS_PRICING_MAX_RETRO_MEMBERS): see PricingCost. The defaults keep pricing to a few
    seconds on one core; on SQLite it holds the write lock throughout, so other users' saves
    wait for it (up to SQLITE_BUSY_TIMEOUT)."""

    max_member_months: int = 100_000
    max_retro_members: int = 250

    @classmethod
    def from_settings(cls, settings) -> PricingLimits:
        return cls(
            settings.census_pricing_max_member_months, settings.census_pricing_max_retro_members
        )


@dataclass(frozen=True)
class PricingCost:
    """What premium_impact would cost, counted before it starts (a few queries): the billing
    run prices the next period for `members` members (enrolled, not terminated, plus the
    file's adds) over `period_months` months, before and after the changes; and each of
    `retro_members` changed members is repriced on its own for the months already billed its
    change reaches back into (about 20 ms each, a few hundred member-months of the run)."""

    members: int
    period_months: int
    retro_members: int
    next_period: date | None = None

    @property
    def member_months(self) -> int:
        return self.members * self.period_months * 2

    def over(self, limits: PricingLimits) -> str | None:
        """Why it is not priced, in words with the figures and the bounds; None within them."""
        reasons = []
        if self.member_months > limits.max_member_months:
            reasons.append(
                f"the next bill is {format_count(self.members, 'member')} over "
                f"{format_count(self.period_months, 'month')}, priced before and after "
                f"({self.member_months:,} member-months; at most "
                f"{limits.max_member_months:,} are priced here)"
            )
        if self.retro_members > limits.max_retro_members:
            reasons.append(
                f"{format_count(self.retro_members, 'change')} reaching back into months "
                "already billed, each repriced on its own (at most "
                f"{limits.max_retro_members:,} are priced here)"
            )
        if not reasons:
            return None
        return (
            "The premium impact of this file is not priced here: "
            + "; and ".join(reasons)
            + ". Its changes are priced by the billing run once the file is approved, and "
            "the adjustments for months already billed are queued at approval."
        )


def pricing_cost(
    session: Session, group: EmployerGroup, diff: CensusDiff, today: date
) -> PricingCost:
    """What pricing `diff` for `group` as of `today` would cost (see PricingCost): counted
    the way premium_impact and apply_census go about it, without pricing anything."""
    from billing_core.billing.groups import member_counts
    from billing_core.census.apply import billed_months

    landing = landing_period(session, group, diff, today)
    period = landing.period if landing else None
    policy = group.policy_on(today) or (group.policies[-1] if group.policies else None)
    months = policy.billing_frequency.months if period and policy else 0
    changed = diff.changes
    adds = sum(1 for e in changed if e.kind is ChangeKind.ADD)
    billed = billed_months(session, group)
    retro = 0
    if billed:
        last_billed = billed[-1]
        for entry in changed:
            starts = [
                entry.effective_on,
                *(c.effective_on for c in entry.coverages),
                *(d.effective_on for d in entry.dependents),
            ]
            if month_start(min(starts)) <= last_billed:
                retro += 1
    members = member_counts(session, [group.id]).get(group.id, 0) + adds
    return PricingCost(members, months, retro, period)


def premium_impact(
    session: Session, group: EmployerGroup, diff: CensusDiff, *, actor: User, today: date
) -> PremiumImpact:
    """Per product: the premium of the bill the changes first land on (landing_period: the
    next unbilled period, or a later one when the changes start later, such as a new group's
    first) before and after the changes, and the retro adjustments approval would queue.
    Writes nothing (a savepoint, rolled back)."""
    landing = landing_period(session, group, diff, today)
    period = landing.period if landing else None
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
    impact = PremiumImpact(
        next_period=period,
        retro_months=sorted(months),
        first_bill=bool(landing and landing.first_bill),
        next_bill=not landing or landing.next_bill,
    )
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
    for entry in diff.changes:
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
