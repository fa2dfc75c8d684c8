"""Reconciling a census upload with the bill: per product and in total, the premium billed for
the period the file speaks to, the premium the file calls for at current rates, and (self-bill)
what the employer reported; the variance in dollars and percent against the group's tolerance;
month-over-month trend flags; and, member by member, why billed and census disagree.

The census side is priced the way approval and the billing run would price it: the file's diff
is applied inside a savepoint, the period is rated by the billing run's own line builder, and
the savepoint is rolled back. Nothing is written.

Longer than 700 lines on purpose: one report whose parts (the variances, the reported premium,
the trend flags, the per-member reasons) read the same billed and computed lines.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import Date, Integer, Select, bindparam, func, select, true
from sqlalchemy.orm import Session

from billing_core.billing.enrollment import add_months, month_start
from billing_core.billing.invoicing import billing_period_for, rate_period
from billing_core.census.apply import apply_census
from billing_core.census.diff import CensusDiff, ChangeKind, MemberDiff
from billing_core.census.rows import CensusFile, CensusMember
from billing_core.db import built_once, id_chunks, in_ids
from billing_core.ledger import money_sum
from billing_core.models import (
    AuditLog,
    BillingPolicy,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    Member,
    Plan,
    Product,
    RemittanceDetail,
    User,
)
from billing_core.models.enums import (
    InvoiceSection,
    InvoiceStatus,
    MemberStatus,
    PayrollFrequency,
    RatingBasis,
    Tier,
    ToleranceRule,
)
from billing_core.money import ZERO, D, cents, percent

# --------------------------------------------------------------------------- thresholds

# Lives (members with premium) up or down by more than this percent against the previous bill.
LIVES_CHANGE_PERCENT = Decimal("10")
# Premium moving by more than this percent ...
PREMIUM_CHANGE_PERCENT = Decimal("5")
# ... while lives moved by no more than this percent ("without lives moving").
LIVES_STEADY_PERCENT = Decimal("2")
# Total volume (life and AD&D volume, STD weekly benefit, LTD covered payroll) moving by more
# than this percent.
VOLUME_CHANGE_PERCENT = Decimal("20")
# Tiers that cover dependents: a member on one of them with no dependent in the file is flagged.
DEPENDENT_TIERS = frozenset({Tier.ES, Tier.EC, Tier.FAM})
VOLUME_BASES = frozenset(
    {
        RatingBasis.PER_THOUSAND_VOLUME,
        RatingBasis.STD_WEEKLY_BENEFIT,
        RatingBasis.LTD_COVERED_PAYROLL,
    }
)

# --------------------------------------------------------------------------- payroll


PAY_PERIODS_PER_YEAR = {
    PayrollFrequency.WEEKLY: 52,
    PayrollFrequency.BI_WEEKLY: 26,
    PayrollFrequency.SEMI_MONTHLY: 24,
    PayrollFrequency.MONTHLY: 12,
}


def usual_pay_periods(frequency: PayrollFrequency) -> int:
    """Pay dates in most months: weekly 4, bi-weekly 2, semi-monthly 2, monthly 1."""
    return PAY_PERIODS_PER_YEAR[frequency] // 12


def monthly_premium_from_deductions(
    deducted: Decimal, pay_periods: int, frequency: PayrollFrequency
) -> Decimal:
    """The monthly premium that payroll deductions of `deducted` dollars over `pay_periods`
    pay dates stand for: one deduction (deducted / pay_periods) times the pay dates in a year,
    over 12 (weekly 52/12, bi-weekly 26/12, semi-monthly 24/12, monthly 12/12). Rounded half-up
    to the cent once, at the end.

    So a month with three bi-weekly pay dates is not a false variance: 3 x 461.54 = 1,384.62
    deducted -> 461.54 x 26 / 12 = 1,000.00 a month."""
    if pay_periods < 1:
        raise ValueError("a remittance covers at least one pay date")
    return cents(deducted * PAY_PERIODS_PER_YEAR[frequency] / (pay_periods * 12))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ProductVariance:
    """One product (or the total): billed vs computed from the census, in dollars."""

    code: str
    name: str
    billed_lives: int
    census_lives: int
    billed: Decimal
    computed: Decimal
    within_tolerance: bool

    @property
    def variance(self) -> Decimal:
        return self.computed - self.billed

    @property
    def variance_percent(self) -> Decimal | None:
        return percent(self.variance, self.billed)


@dataclass(frozen=True)
class ReportedPremium:
    """A self-bill group's remittance for the period, converted from payroll deductions."""

    deducted: Decimal
    pay_periods: int
    frequency: PayrollFrequency
    months: int
    premium: Decimal  # the period's premium the deductions stand for
    billed: Decimal
    within_tolerance: bool

    @property
    def variance(self) -> Decimal:
        return self.premium - self.billed

    @property
    def variance_percent(self) -> Decimal | None:
        return percent(self.variance, self.billed)

    @property
    def converted(self) -> bool:
        return self.frequency is not PayrollFrequency.MONTHLY


@dataclass(frozen=True)
class TrendFlag:
    kind: str  # lives | premium_without_lives | volume | tier_without_dependents
    product: str  # product name, or "All products"
    message: str


REASONS: dict[str, str] = {
    # DOMAIN.md's order: most common first.
    "terminated_still_billed": "Terminated, still billed",
    "wrong_tier": "Wrong tier",
    "wrong_plan": "Wrong plan or class",
    "rate_error": "Rate error",
    "missing_coverage": "Missing coverage",
    "salary_volume": "Salary or volume error",
    "timing": "Timing (mid-month date)",
    "cobra": "COBRA member",
    "other": "Other difference",
}
REASON_ORDER = {code: n for n, code in enumerate(REASONS)}


@dataclass(frozen=True)
class Discrepancy:
    """One member and product where the bill and the census disagree, with the likely reason."""

    reason: str
    name: str
    employee_id: str
    product: str
    billed: Decimal
    computed: Decimal
    detail: str

    @property
    def difference(self) -> Decimal:
        return self.computed - self.billed

    @property
    def reason_label(self) -> str:
        return REASONS[self.reason]


@dataclass
class Reconciliation:
    period_start: date
    period_end: date
    previous_period: date | None
    invoice_numbers: list[str]
    billed_periods: list[date]
    tolerance: str
    products: list[ProductVariance] = field(default_factory=list)
    total: ProductVariance | None = None
    reported: ReportedPremium | None = None
    flags: list[TrendFlag] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    rating_problems: list[str] = field(default_factory=list)

    @property
    def billed(self) -> bool:
        return bool(self.invoice_numbers)

    @property
    def first_bill(self) -> bool:
        """Nothing billed for the group yet: the period is (or is before) its first bill."""
        return not self.billed_periods

    def reason_counts(self) -> list[tuple[str, int, Decimal]]:
        """(label, members, net difference) per reason, in REASONS order."""
        counts: dict[str, list] = {}
        for d in self.discrepancies:
            entry = counts.setdefault(d.reason, [0, ZERO])
            entry[0] += 1
            entry[1] += d.difference
        return [(REASONS[r], n, amount) for r, (n, amount) in counts.items()]

    def as_kept(self) -> dict:
        """Everything the review page shows, as plain JSON values (money as strings), kept on
        the upload (`Upload.reconciliation`) and read back whole by `from_kept`."""
        return {
            "version": KEPT_VERSION,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "previous_period": _iso(self.previous_period),
            "invoice_numbers": list(self.invoice_numbers),
            "billed_periods": [p.isoformat() for p in self.billed_periods],
            "tolerance": self.tolerance,
            "products": [_variance_kept(p) for p in self.products],
            "total": _variance_kept(self.total) if self.total else None,
            "reported": _reported_kept(self.reported) if self.reported else None,
            "flags": [[f.kind, f.product, f.message] for f in self.flags],
            "discrepancies": [
                [
                    d.reason,
                    d.name,
                    d.employee_id,
                    d.product,
                    str(d.billed),
                    str(d.computed),
                    d.detail,
                ]
                for d in self.discrepancies
            ],  # fmt: skip
            "rating_problems": list(self.rating_problems),
        }

    @classmethod
    def from_kept(cls, data: dict) -> Reconciliation | None:
        """The reconciliation `as_kept` wrote; None when it was kept in another shape (an
        older version of this code): then it is computed again."""
        if data.get("version") != KEPT_VERSION:
            return None
        reported = data["reported"]
        return cls(
            period_start=date.fromisoformat(data["period_start"]),
            period_end=date.fromisoformat(data["period_end"]),
            previous_period=_date(data["previous_period"]),
            invoice_numbers=list(data["invoice_numbers"]),
            billed_periods=[date.fromisoformat(p) for p in data["billed_periods"]],
            tolerance=data["tolerance"],
            products=[_variance_from(p) for p in data["products"]],
            total=_variance_from(data["total"]) if data["total"] else None,
            reported=(
                ReportedPremium(
                    deducted=D(reported["deducted"]),
                    pay_periods=reported["pay_periods"],
                    frequency=PayrollFrequency(reported["frequency"]),
                    months=reported["months"],
                    premium=D(reported["premium"]),
                    billed=D(reported["billed"]),
                    within_tolerance=reported["within_tolerance"],
                )
                if reported
                else None
            ),
            flags=[TrendFlag(*f) for f in data["flags"]],
            discrepancies=[
                Discrepancy(reason, name, employee_id, product, D(billed), D(computed), detail)
                for reason, name, employee_id, product, billed, computed, detail in data[
                    "discrepancies"
                ]
            ],
            rating_problems=list(data["rating_problems"]),
        )

    def as_dict(self) -> dict:
        def money(value):
            return None if value is None else str(value)

        return {
            "period_start": self.period_start.isoformat(),
            "invoices": self.invoice_numbers,
            "products": [
                {
                    "product": p.name,
                    "billed": money(p.billed),
                    "computed": money(p.computed),
                    "variance": money(p.variance),
                    "variance_percent": money(p.variance_percent),
                    "within_tolerance": p.within_tolerance,
                }
                for p in [*self.products, *([self.total] if self.total else [])]
            ],
            "reported": money(self.reported.premium) if self.reported else None,
            "flags": [f.kind for f in self.flags],
            "discrepancies": len(self.discrepancies),
        }


# --------------------------------------------------------------------------- kept

# The shape `Reconciliation.as_kept` writes: a reconciliation kept in another is computed again.
KEPT_VERSION = 1


def _iso(on: date | None) -> str | None:
    return on.isoformat() if on else None


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _variance_kept(p: ProductVariance) -> list:
    return [
        p.code, p.name, p.billed_lives, p.census_lives, str(p.billed), str(p.computed),
        p.within_tolerance,
    ]  # fmt: skip


def _variance_from(row: list) -> ProductVariance:
    code, name, billed_lives, census_lives, billed, computed, within = row
    return ProductVariance(code, name, billed_lives, census_lives, D(billed), D(computed), within)


def _reported_kept(r: ReportedPremium) -> dict:
    return {
        "deducted": str(r.deducted),
        "pay_periods": r.pay_periods,
        "frequency": r.frequency.value,
        "months": r.months,
        "premium": str(r.premium),
        "billed": str(r.billed),
        "within_tolerance": r.within_tolerance,
    }


@dataclass(frozen=True)
class ReviewPeriod:
    """The period a review reconciles against and the pay dates it converts deductions with,
    as asked (`pay_periods` None: the usual count), and whether that is the review's default
    (the period the file speaks to, the usual pay dates): the one reconciliation kept."""

    start: date
    pay_periods: int | None
    default: bool


def review_period(
    session: Session,
    group: EmployerGroup,
    today: date,
    period: date | None = None,
    pay_periods: int | None = None,
) -> ReviewPeriod:
    """`period` (default: `period_for_upload(today)`) resolved to its billing period's start,
    and `pay_periods` None when it is the usual count for the period's payroll frequency (the
    form sends the count it showed), so asking for the default explicitly is the default."""
    policy = group.policy_on(today) or group.policies[-1]
    default = period_for_upload(session, group, today)
    start, _ = billing_period_for(
        group, group.policy_on(period or default) or policy, period or default
    )
    period_policy = group.policy_on(start) or policy
    if pay_periods is not None:
        usual = usual_pay_periods(PayrollFrequency(period_policy.payroll_frequency))
        if pay_periods == usual * period_policy.billing_frequency.months:
            pay_periods = None
    return ReviewPeriod(start, pay_periods, start == default and pay_periods is None)


def reconciliation_basis(
    session: Session, group: EmployerGroup, pricing: str, asked: ReviewPeriod
) -> str:
    """A digest of everything `reconcile_census` reads beyond what the premium impact is
    priced from (`pricing`: census.impact.pricing_basis, which covers the day, the file and
    its diff, the group's policies, plans, rates, invoices, adjustments, approved uploads and
    enrollment counts): the period and pay dates asked; the products of the group's plans
    (names and rating bases the report shows); the period's billed premium lines; the 820
    remittance against the group's invoices; and the group's set-up changes (a set-up import
    can change a member's name or status in place, which enrollment counts do not see). While
    the digest is the same, so is the reconciliation: a constant number of statements,
    whatever the group's size."""
    digest = hashlib.sha256()

    def add(*parts) -> None:
        digest.update(repr(parts).encode())

    add(KEPT_VERSION, pricing, asked.start, asked.pay_periods)
    products, summaries, widths = _basis_statements()
    asked_for = {"group_id": group.id, "period_start": asked.start}
    add(*session.execute(products, asked_for))
    values = session.execute(summaries, asked_for).one()
    for width in widths:  # each summary added as its own row, as read
        add(tuple(values[:width]))
        values = values[width:]
    return digest.hexdigest()


@built_once
def _basis_statements() -> tuple[Select, Select, tuple[int, ...]]:
    """reconciliation_basis's reads, built once (the group and period bound by name at each
    view: building and keying them cost more than running them): the products of the group's
    plans, and in one statement three one-row summaries (the period's billed premium lines,
    the remittance against the group's invoices, the group's set-up changes) with the width
    of each."""
    group_id = bindparam("group_id", type_=Integer())
    plan_products = select(Plan.product_id).where(Plan.group_id == group_id)
    invoice_ids = select(Invoice.id).where(Invoice.group_id == group_id)
    products = (
        select(Product.code, Product.name, Product.rating_basis, Product.line_of_coverage)
        .where(Product.id.in_(plan_products))
        .order_by(Product.code)
    )
    summaries = [
        select(func.count(), func.max(InvoiceLine.id), money_sum(InvoiceLine.amount))
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            Invoice.group_id == group_id,
            Invoice.period_start == bindparam("period_start", type_=Date()),
            Invoice.status != InvoiceStatus.VOID,
            InvoiceLine.section == InvoiceSection.PREMIUM,
        )
        .subquery(),
        select(func.count(), func.max(RemittanceDetail.id), money_sum(RemittanceDetail.amount))
        .where(RemittanceDetail.invoice_id.in_(invoice_ids))
        .subquery(),
        select(func.count(), func.max(AuditLog.id))
        .where(AuditLog.group_id == group_id, AuditLog.action.like("setup.%"))
        .subquery(),
    ]
    joined = summaries[0]
    for summary in summaries[1:]:
        joined = joined.join(summary, true())
    return (
        products,
        select(*summaries).select_from(joined),
        tuple(len(summary.c) for summary in summaries),
    )


# --------------------------------------------------------------------------- lines


class _Line(NamedTuple):
    """One premium line, billed or as rated now (tens of thousands per period: a tuple)."""

    member_id: int
    product_code: str
    plan_code: str
    tier: str | None
    volume: Decimal | None
    rate: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class _Person:
    name: str
    employee_id: str
    status: MemberStatus


def _billed_lines(session: Session, group: EmployerGroup, period_start: date) -> list[_Line]:
    rows = session.execute(
        select(
            InvoiceLine.member_id,
            Product.code,
            Plan.code,
            InvoiceLine.tier,
            InvoiceLine.volume,
            InvoiceLine.rate,
            InvoiceLine.amount,
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .join(Product, Product.id == Plan.product_id)
        .where(
            Invoice.group_id == group.id,
            Invoice.period_start == period_start,
            Invoice.status != InvoiceStatus.VOID,
            InvoiceLine.section == InvoiceSection.PREMIUM,
        )
    )
    return [
        _Line(m, code, plan, tier.value if tier else None, volume, rate, amount)
        for m, code, plan, tier, volume, rate, amount in rows
    ]


def _rated_lines(
    session: Session, group: EmployerGroup, policy: BillingPolicy, start: date, end: date
) -> tuple[list[_Line], list[str]]:
    """The period's premium lines as the billing run rates enrollment now (its own builder)."""
    rated, plans, errors = rate_period(session, group, policy, start, end)
    lines = [
        _Line(
            ln["member_id"],
            plans[ln["plan_id"]].product.code,
            plans[ln["plan_id"]].code,
            ln["tier"],
            ln["volume"],
            ln["rate"],
            ln["amount"],
        )
        for ln in rated
    ]
    return lines, [f"{e.row} {e.column}: {e.message}" for e in errors]


def _people(session: Session, member_ids: set[int]) -> dict[int, _Person]:
    """Who the members are: the few columns a discrepancy shows, not whole ORM members."""
    people = {}
    for chunk in id_chunks(sorted(member_ids)):
        for member_id, last, first, employee_id, key, status in session.execute(
            select(
                Member.id,
                Member.last_name,
                Member.first_name,
                Member.employee_id,
                Member.member_key,
                Member.status,
            ).where(in_ids(Member.id, chunk))
        ):
            people[member_id] = _Person(f"{last}, {first}", employee_id or key, status)
    return people


# --------------------------------------------------------------------------- the period


def billed_periods(session: Session, group: EmployerGroup) -> list[date]:
    """Starts of the group's billing periods with a live (non-void) invoice, newest first."""
    return sorted(
        set(
            session.scalars(
                select(Invoice.period_start).where(
                    Invoice.group_id == group.id, Invoice.status != InvoiceStatus.VOID
                )
            )
        ),
        reverse=True,
    )


def period_for_upload(session: Session, group: EmployerGroup, as_of: date) -> date:
    """The billing period a census read on `as_of` speaks to: the next period when its bill is
    already out (bills go out lead days ahead), else the current one; when neither is billed,
    the latest billed period before them; with no bill at all, the group's first period to be
    billed: the current one, or the group's first when its coverage starts later (a new
    group's first census speaks to its first bill, not to this month's, which it has none of)."""
    policy = group.policy_on(as_of) or group.policies[-1]
    current, _ = billing_period_for(group, policy, month_start(as_of))
    following = add_months(current, policy.billing_frequency.months)
    billed = billed_periods(session, group)
    for start in billed:
        if start <= following:
            return start
    if not billed and group.original_effective_date > as_of:
        first = month_start(group.original_effective_date)
        start, _ = billing_period_for(group, group.policy_on(first) or policy, first)
        return start
    return current


# --------------------------------------------------------------------------- reconcile


def reconcile_census(
    session: Session,
    group: EmployerGroup,
    census: CensusFile,
    diff: CensusDiff,
    *,
    actor: User,
    today: date,
    period: date | None = None,
    pay_periods: int | None = None,
) -> Reconciliation:
    """Billed vs computed vs reported for `period` (default `period_for_upload(today)`), where
    `diff` is the census against enrollment on `today` (what approval would apply).

    Billed: premium lines of the period's live invoices. Computed: the period rated by the
    billing run after applying `diff` (inside a savepoint, rolled back: writes nothing) at the
    rate versions in force in the period. Reported (self-bill): the invoices' reported premium,
    taken as payroll deductions over `pay_periods` pay dates per month (default: the usual
    count) and converted with `monthly_premium_from_deductions`. Variance = computed (or
    reported) - billed; percent of billed; tolerance by the group's policy in force in the
    period. Trend flags compare the census with the previous billed period."""
    policy = group.policy_on(today) or group.policies[-1]
    period = period or period_for_upload(session, group, today)
    start, end = billing_period_for(group, group.policy_on(period) or policy, period)
    policy = group.policy_on(start) or policy
    months = policy.billing_frequency.months
    all_billed = billed_periods(session, group)
    previous = next((p for p in all_billed if p < start), None)

    invoices = session.scalars(
        select(Invoice).where(
            Invoice.group_id == group.id,
            Invoice.period_start == start,
            Invoice.status != InvoiceStatus.VOID,
        )
    ).all()
    billed = _billed_lines(session, group, start)
    before = _billed_lines(session, group, previous) if previous else []
    # Who they are before the savepoint applies the file (a status the file changes shows
    # as it was enrolled).
    people = _people(
        session,
        {ln.member_id for ln in billed if ln.member_id}
        | {e.member_id for e in diff.members if e.member_id is not None},
    )

    savepoint = session.begin_nested()
    try:
        apply_census(session, group, diff, actor=actor, today=today)
        computed, problems = _rated_lines(session, group, policy, start, end)
        people.update(_people(session, {ln.member_id for ln in computed} - set(people)))
    finally:
        savepoint.rollback()

    products = {
        p.code: p
        for p in session.scalars(
            select(Product).where(
                Product.code.in_({ln.product_code for ln in [*billed, *computed, *before]})
            )
        )
    }
    result = Reconciliation(
        period_start=start,
        period_end=end,
        previous_period=previous,
        invoice_numbers=sorted(i.invoice_number for i in invoices),
        billed_periods=all_billed,
        tolerance=_tolerance_text(policy),
        rating_problems=problems,
    )
    result.products, result.total = _variances(policy, products, billed, computed)
    result.reported = _reported(
        policy, invoices, result.total.billed, pay_periods, months
    ) or _remitted(session, policy, invoices, result.total.billed, months)
    result.flags = _trend_flags(products, before, computed) + _dependent_flags(census)
    result.discrepancies = _discrepancies(
        products, billed, computed, people, census, diff, start, end
    )
    return result


def _tolerance_text(policy: BillingPolicy) -> str:
    joiner = "and" if policy.tolerance_rule is ToleranceRule.AND else "or"
    return (
        f"within ${policy.tolerance_amount:,.2f} {joiner} within "
        f"{policy.tolerance_percent.normalize():f}% of billed"
    )


def _sums(lines: list[_Line]) -> tuple[dict[str, Decimal], dict[str, set[int]]]:
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    lives: dict[str, set[int]] = defaultdict(set)
    for ln in lines:
        amounts[ln.product_code] += ln.amount
        lives[ln.product_code].add(ln.member_id)
    return amounts, lives


def _variances(policy, products, billed, computed):
    billed_amounts, billed_lives = _sums(billed)
    computed_amounts, computed_lives = _sums(computed)
    codes = sorted(set(billed_amounts) | set(computed_amounts), key=lambda c: products[c].name)
    rows = []
    for code in codes:
        b, c = billed_amounts.get(code, ZERO), computed_amounts.get(code, ZERO)
        rows.append(
            ProductVariance(
                code,
                products[code].name,
                len(billed_lives.get(code, ())),
                len(computed_lives.get(code, ())),
                b,
                c,
                policy.within_tolerance(c - b, b),
            )
        )
    b = sum(billed_amounts.values(), ZERO)
    c = sum(computed_amounts.values(), ZERO)
    total = ProductVariance(
        "",
        "Total",
        len({ln.member_id for ln in billed}),
        len({ln.member_id for ln in computed}),
        b,
        c,
        policy.within_tolerance(c - b, b),
    )
    return rows, total


def _reported(policy, invoices, billed_total, pay_periods, months) -> ReportedPremium | None:
    reported = [i.reported_premium for i in invoices if i.reported_premium is not None]
    if not reported:
        return None
    frequency = PayrollFrequency(policy.payroll_frequency)
    count = pay_periods or usual_pay_periods(frequency) * months
    # Deductions over `count` pay dates in the period -> a monthly premium -> the period's.
    premium = cents(monthly_premium_from_deductions(sum(reported, ZERO), count, frequency) * months)
    return ReportedPremium(
        deducted=sum(reported, ZERO),
        pay_periods=count,
        frequency=frequency,
        months=months,
        premium=premium,
        billed=billed_total,
        within_tolerance=policy.within_tolerance(premium - billed_total, billed_total),
    )


def _remitted(session, policy, invoices, billed_total, months) -> ReportedPremium | None:
    """The premium the employer reported member by member in an 820 against these invoices:
    already premium per coverage period (not payroll deductions), so no conversion."""
    ids = [i.id for i in invoices]
    if not ids:
        return None
    count, premium = session.execute(
        select(func.count(RemittanceDetail.id), money_sum(RemittanceDetail.amount)).where(
            RemittanceDetail.invoice_id.in_(ids)
        )
    ).one()
    if not count:
        return None
    return ReportedPremium(
        deducted=premium,
        pay_periods=months,
        frequency=PayrollFrequency.MONTHLY,
        months=months,
        premium=premium,
        billed=billed_total,
        within_tolerance=policy.within_tolerance(premium - billed_total, billed_total),
    )


# --------------------------------------------------------------------------- trend


def _moved(before, after) -> Decimal | None:
    return percent(Decimal(after - before), Decimal(before))


def _trend_flags(products, before: list[_Line], computed: list[_Line]) -> list[TrendFlag]:
    """The census against the previous billed period, per product and for all products."""
    if not before:
        return []
    flags = []
    prior_amounts, prior_lives = _sums(before)
    now_amounts, now_lives = _sums(computed)
    scopes = [
        (
            "All products",
            sum(prior_amounts.values(), ZERO),
            sum(now_amounts.values(), ZERO),
            len({ln.member_id for ln in before}),
            len({ln.member_id for ln in computed}),
        )
    ]
    for code in sorted(set(prior_amounts) | set(now_amounts), key=lambda c: products[c].name):
        scopes.append(
            (
                products[code].name,
                prior_amounts.get(code, ZERO),
                now_amounts.get(code, ZERO),
                len(prior_lives.get(code, ())),
                len(now_lives.get(code, ())),
            )
        )
    for name, prior_premium, premium, prior_count, count in scopes:
        lives = _moved(prior_count, count)
        if lives is not None and abs(lives) > LIVES_CHANGE_PERCENT:
            flags.append(
                TrendFlag(
                    "lives",
                    name,
                    f"Lives {prior_count} → {count} ({lives:+}%) against the previous bill; "
                    f"more than ±{LIVES_CHANGE_PERCENT}%.",
                )
            )
        moved = _moved(prior_premium, premium)
        steady = lives is not None and abs(lives) <= LIVES_STEADY_PERCENT
        if moved is not None and abs(moved) > PREMIUM_CHANGE_PERCENT and steady:
            flags.append(
                TrendFlag(
                    "premium_without_lives",
                    name,
                    f"Premium {prior_premium:,.2f} → {premium:,.2f} ({moved:+}%) while lives "
                    f"stayed at {count}: check rates, tiers and volumes.",
                )
            )
    for code in sorted(set(prior_amounts) | set(now_amounts), key=lambda c: products[c].name):
        if products[code].rating_basis not in VOLUME_BASES:
            continue
        prior_volume = sum((ln.volume or ZERO for ln in before if ln.product_code == code), ZERO)
        volume = sum((ln.volume or ZERO for ln in computed if ln.product_code == code), ZERO)
        moved = _moved(prior_volume, volume)
        if moved is not None and abs(moved) > VOLUME_CHANGE_PERCENT:
            flags.append(
                TrendFlag(
                    "volume",
                    products[code].name,
                    f"Volume {prior_volume:,.2f} → {volume:,.2f} ({moved:+}%); "
                    f"more than ±{VOLUME_CHANGE_PERCENT}%.",
                )
            )
    return flags


def _dependent_flags(census: CensusFile) -> list[TrendFlag]:
    flags = []
    for row in census.members:
        tiers = sorted({c.tier.value for c in row.coverages if c.tier in DEPENDENT_TIERS})
        if tiers and not row.dependents:
            flags.append(
                TrendFlag(
                    "tier_without_dependents",
                    ", ".join(c.line.label for c in row.coverages if c.tier in DEPENDENT_TIERS),
                    f"{row.last_name}, {row.first_name} ({row.employee_id}) is on "
                    f"{'/'.join(tiers)} but the file lists no dependents.",
                )
            )
    return flags


# --------------------------------------------------------------------------- members


def _values(lines: list[_Line], attribute: str) -> str:
    values = sorted({str(getattr(ln, attribute) or "—") for ln in lines})
    return "/".join(values)


def _amounts(lines: list[_Line], attribute: str) -> str:
    values = sorted({getattr(ln, attribute) for ln in lines if getattr(ln, attribute) is not None})
    return "/".join(f"{v:,.2f}" for v in values) or "—"


def _day(on: date) -> str:
    return f"{on:%b} {on.day}, {on.year}"


def _driving_date(entry: MemberDiff | None, line_label: str) -> date | None:
    if entry is None or entry.kind is ChangeKind.UNCHANGED:
        return None
    for change in entry.coverages:
        if change.line.label == line_label:
            return change.effective_on
    return entry.effective_on


def _discrepancies(products, billed, computed, people, census, diff, start, end):
    by_key_billed: dict[tuple[int, str], list[_Line]] = defaultdict(list)
    by_key_computed: dict[tuple[int, str], list[_Line]] = defaultdict(list)
    billed_sums: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    computed_sums: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    for ln in billed:
        key = (ln.member_id, ln.product_code)
        by_key_billed[key].append(ln)
        billed_sums[key] += ln.amount
    for ln in computed:
        key = (ln.member_id, ln.product_code)
        by_key_computed[key].append(ln)
        computed_sums[key] += ln.amount
    rows: dict[str, CensusMember] = {r.employee_id: r for r in census.members}
    entries = {e.employee_id: e for e in diff.members}
    found = []
    for key in billed_sums.keys() | computed_sums.keys():
        billed_amount, computed_amount = billed_sums.get(key, ZERO), computed_sums.get(key, ZERO)
        if billed_amount == computed_amount:
            continue
        member_id, code = key
        was, now = by_key_billed.get(key, []), by_key_computed.get(key, [])
        person = people.get(member_id) or _Person("(unknown)", "", MemberStatus.ACTIVE)
        product = products[code]
        row = rows.get(person.employee_id)
        entry = entries.get(person.employee_id)
        reason, detail = _reason(product, was, now, person, row, entry, start, end)
        found.append(
            Discrepancy(
                reason,
                person.name,
                person.employee_id,
                product.name,
                billed_amount,
                computed_amount,
                detail,
            )
        )
    # Employee id breaks a tie of names, so the order is the same on every view (and kept).
    found.sort(key=lambda d: (REASON_ORDER[d.reason], d.name, d.employee_id, d.product))
    return found


def _field_change(entry: MemberDiff | None, field: str, label: str) -> str:
    """`; label before → after` when the file changes `field` for this member, else ''."""
    if entry is None:
        return ""
    return next(
        (f"; {label} {f.before or '—'} → {f.after}" for f in entry.fields if f.field == field),
        "",
    )


def _reason(product, was, now, person, row, entry, start, end) -> tuple[str, str]:
    line = product.line_of_coverage.label
    in_file_status = row.status if row is not None else None
    if MemberStatus.COBRA in (in_file_status, person.status):
        if row is None:
            return "cobra", "Enrolled on COBRA and not in the employer's file."
        if person.status is not MemberStatus.COBRA:
            return "cobra", f"The file lists them on COBRA; enrolled as {person.status.label}."
        return "cobra", "COBRA participant: check the COBRA premium with the administrator."
    when = _driving_date(entry, line)
    mid_month = when is not None and start <= when <= end and when.day != 1
    if not now:
        if mid_month:
            return "timing", f"{line} ends {_day(when)}, within the period."
        if row is None:
            return "terminated_still_billed", "Not in the file, still billed."
        if when is not None:
            return "terminated_still_billed", f"The file ends {line} on {_day(when)}."
        return "terminated_still_billed", f"The file has no {line} for them."
    if not was:
        if mid_month:
            return "timing", f"{line} starts {_day(when)}, within the period."
        since = f" from {_day(when)}" if when else ""
        return "missing_coverage", f"In the file with {line}{since}, not billed."
    if _values(was, "plan_code") != _values(now, "plan_code"):
        klass = _field_change(entry, "class", "class")
        return "wrong_plan", (
            f"Billed plan {_values(was, 'plan_code')}, the file says "
            f"{_values(now, 'plan_code')}{klass}."
        )
    if _values(was, "tier") != _values(now, "tier"):
        return "wrong_tier", f"Billed {_values(was, 'tier')}, the file says {_values(now, 'tier')}."
    if _amounts(was, "volume") != _amounts(now, "volume"):
        salary = _field_change(entry, "annual_salary", "salary")
        return "salary_volume", (
            f"Billed on {_amounts(was, 'volume')}, the file gives "
            f"{_amounts(now, 'volume')}{salary}."
        )
    if _amounts(was, "rate") != _amounts(now, "rate"):
        return "rate_error", (
            f"Billed at {_amounts(was, 'rate')}, the rate in force is {_amounts(now, 'rate')}."
        )
    if mid_month:
        return "timing", f"Changed {_day(when)}, within the period."
    return "other", "Same plan, tier, volume and rate; the premium still differs (age or dates)."
