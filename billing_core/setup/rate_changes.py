"""Renewals and mid-year rate corrections (issue 22, item 2): one path for the staff pages and
the CLI.

A rate change proposes new rates for a group's plans from an effective date (a first of month:
the engine rates a month by the version in force on its first day). A renewal copies the rates
in force on the renewal date; a correction (past or current, with a reason) copies those in
force on its date. Staff edit each plan's proposed rates, checked by the set-up import's own
rules (`plans.check_rate_version`: the same field specs and messages, naming the plan and the
field); the premium impact on current enrollment is priced by the billing run's engine
(`premium.member_month_premium`) on transient rate versions, never flushed. Nothing the billing
run reads changes until a second staff member approves (`approve`): then the new rate versions
are written (the one in force closed the day before, or, from its very first day, superseded by
the next `revision`; a billed version's rates are never edited), and the months already billed
on the changed plans get their differences queued, approved, for the next invoice's retro
section, once.

Four eyes: the proposer never approves (refused here, whatever the screen showed, and by a
CHECK). A renewal needs any other staff member; a correction, or a renewal keyed late that
reaches months already billed, needs a supervisor (or admin): its retro adjustments are
approved as made, which the authority rule would otherwise put before a supervisor above the
limit."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core import audit
from billing_core.authority import Authority, authority
from billing_core.billing.adjustments import bill_rate_change
from billing_core.billing.enrollment import coverage_months, month_start
from billing_core.billing.premium import member_month_premium
from billing_core.billing.rating import RateTable
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, BillingError, NotFound, RowError, ValidationFailed
from billing_core.models import (
    Adjustment,
    AgeReduction,
    Coverage,
    CoveredDependent,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    Member,
    Plan,
    RateAgeBand,
    RateTier,
    RateVersion,
    User,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    CoverageMonthRule,
    InvoiceSection,
    InvoiceStatus,
    RatingBasis,
    Relationship,
    Tier,
)
from billing_core.models.rate_changes import (
    RateChange,
    RateChangeKind,
    RateChangePlan,
    RateChangeStatus,
)
from billing_core.money import ZERO
from billing_core.setup.document import Checker
from billing_core.setup.plans import BASIS_ACCEPTS, RATE_NESTED, check_rate_version

__all__ = [
    "FORM_FIELDS",
    "Impact",
    "approve",
    "edit_plan_rates",
    "form_values",
    "impact",
    "impact_or_problem",
    "next_renewal_date",
    "plans_with_rates",
    "rate_change_of",
    "rate_changes_of",
    "start_correction",
    "start_renewal",
    "submit",
    "version_rates",
    "withdraw",
]

MIN_REASON = 5

# --------------------------------------------------------------------------- the form's fields

# The fields a plan's proposed rates show on the page, per rating basis: (name, label, kind).
# `lines` fields are textareas, one band or reduction a line (as the set-up screens write them).
_TIERS = [(f"tier_{t.value}", f"{t.value} monthly rate", "money") for t in Tier]
FORM_FIELDS: dict[RatingBasis, list[tuple[str, str, str]]] = {
    RatingBasis.TIERED_COMPOSITE: _TIERS,
    RatingBasis.AGE_BANDED: [
        ("age_bands", "Age bands (one a line: 18-29: 312.40)", "lines"),
        ("child_rate", "Child rate (monthly, per child)", "money"),
        ("child_rate_max_age", "Child rate below age", "int"),
        ("max_charged_children", "Children charged at most", "int"),
    ],
    RatingBasis.PER_THOUSAND_VOLUME: [
        ("unit_rate", "Rate per $1,000 of volume", "money"),
        ("volume_flat_amount", "Flat volume ($)", "money"),
        ("volume_salary_multiple", "Volume as a multiple of salary", "money"),
        ("volume_maximum", "Volume maximum ($)", "money"),
        ("volume_rounding_unit", "Volume rounded up to ($)", "money"),
        ("age_reductions", "Age reductions (one a line: 65: 65)", "lines"),
    ],
    RatingBasis.STD_WEEKLY_BENEFIT: [
        ("unit_rate", "Rate per $10 of weekly benefit", "money"),
        ("weekly_benefit_percent", "Weekly benefit (fraction of salary, 0.60)", "money"),
        ("weekly_benefit_maximum", "Weekly benefit maximum ($)", "money"),
    ],
    RatingBasis.LTD_COVERED_PAYROLL: [
        ("unit_rate", "Rate per $100 of covered payroll", "money"),
        ("covered_payroll_maximum", "Covered monthly payroll maximum ($)", "money"),
    ],
}


def _text(value: Any) -> str:
    """A value as the form shows it; an amount without the zeros of its column's scale beyond
    the cents (38.200000 -> 38.20, 0.120000 -> 0.12, 0.137 stays)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        trimmed = value.normalize()
        if trimmed.as_tuple().exponent > -2:
            trimmed = value.quantize(Decimal("0.01"))
        return f"{trimmed:f}"
    return str(value)


def version_rates(version: RateVersion, basis: RatingBasis) -> dict:
    """A rate version's rates in the set-up document's shape (text amounts), the fields its
    basis accepts and the age reference: what a proposal starts from."""
    accepts = BASIS_ACCEPTS[basis]
    rates: dict[str, Any] = {"age_reference": version.age_reference.value}
    for name in accepts - set(RATE_NESTED):
        value = getattr(version, name)
        if value is not None:
            rates[name] = _text(value)
    if "tier_rates" in accepts:
        rates["tier_rates"] = {t.tier.value: _text(t.monthly_rate) for t in version.tier_rates}
    if "age_bands" in accepts:
        rates["age_bands"] = sorted(
            [b.min_age, b.max_age, _text(b.monthly_rate)] for b in version.age_bands
        )
    if "age_reductions" in accepts:
        rates["age_reductions"] = sorted(
            [r.from_age, _text(r.volume_percent)] for r in version.age_reductions
        )
    return rates


def form_values(rates: dict, basis: RatingBasis) -> dict[str, str]:
    """A plan's proposed rates as the form's text fields."""
    values: dict[str, str] = {}
    for name, _label, _kind in FORM_FIELDS[basis]:
        if name.startswith("tier_"):
            values[name] = _text((rates.get("tier_rates") or {}).get(name[5:]))
        elif name == "age_bands":
            values[name] = "\n".join(f"{lo}-{hi}: {r}" for lo, hi, r in rates.get(name) or [])
        elif name == "age_reductions":
            values[name] = "\n".join(f"{a}: {p}" for a, p in rates.get(name) or [])
        else:
            values[name] = _text(rates.get(name))
    return values


_BAND = re.compile(r"(\d+)\s*-\s*(\d+)\s*:\s*(\S+)")
_REDUCTION = re.compile(r"(\d+)\s*:\s*(\S+)")


def _rates_from_form(values: dict[str, str], basis: RatingBasis, old: dict, plan_code: str):
    """The form's text fields into the document's shape; unreadable lines as RowErrors."""
    errors: list[RowError] = []
    rates: dict[str, Any] = {"age_reference": old.get("age_reference", "coverage_month")}
    for name, _label, kind in FORM_FIELDS[basis]:
        raw = str(values.get(name) or "").strip()
        if name.startswith("tier_"):
            if raw:
                rates.setdefault("tier_rates", {})[name[5:]] = raw
        elif kind == "lines":
            pattern, example = (
                (_BAND, "18-29: 312.40") if name == "age_bands" else (_REDUCTION, "65: 65")
            )
            rows = []
            for n, line in enumerate(raw.splitlines(), start=1):
                line = line.strip()
                if not line:
                    continue
                m = pattern.fullmatch(line)
                if m is None:
                    errors.append(
                        RowError(plan_code, name, f"line {n}: write it as {example}", value=line)
                    )
                    continue
                rows.append([int(g) if g.isdigit() and i < len(m.groups()) - 1 else g
                             for i, g in enumerate(m.groups())])  # fmt: skip
            rates[name] = rows
        elif raw:
            rates[name] = int(raw) if kind == "int" and raw.isdigit() else raw
    return rates, errors


def _field_of(path: str) -> str:
    """A checker path under `rates` (rates.tier_rates.EE, rates.age_bands[2][2]) as the form's
    field name (tier_EE, age_bands)."""
    rest = path.split(".", 1)[1] if "." in path else ""
    if rest.startswith("tier_rates."):
        return "tier_" + rest.split(".")[1].split("[")[0]
    return re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else ""


def _line_of(path: str) -> str:
    """`line 2: ` for a problem of one age band or reduction (rates.age_bands[1][2])."""
    m = re.search(r"\.age_(?:bands|reductions)\[(\d+)\]", path)
    return f"line {int(m[1]) + 1}: " if m else ""


def _check(rates: dict, basis: RatingBasis, effective_from: date, plan_code: str) -> dict:
    """The import's own check of one rate version (field specs, basis rules, child rule).
    Raises ValidationFailed naming the plan and each field; returns the checked values."""
    c = Checker(f"plan {plan_code}")
    item = {**rates, "effective_from": effective_from.isoformat()}
    values = check_rate_version(c, item, "rates", basis)
    if c.errors or values is None:
        raise ValidationFailed(
            f"the proposed rates of plan {plan_code} are not right",
            [
                RowError(
                    plan_code,
                    _field_of(str(e.row)) or None,
                    _line_of(str(e.row)) + e.message,
                    value=e.value,
                )
                for e in c.errors
            ],  # fmt: skip
        )
    return values


def _transient_version(values: dict, plan: Plan) -> RateVersion:
    """A RateVersion holding checked `values`, never added to a session (no plan relationship
    set, so nothing cascades it in): what the premium engine prices a proposal on."""
    scalars = {k: v for k, v in values.items() if k not in RATE_NESTED and k != "effective_to"}
    version = RateVersion(plan_id=plan.id, **scalars)
    for tier, rate in (values.get("tier_rates") or {}).items():
        version.tier_rates.append(RateTier(tier=Tier(tier), monthly_rate=rate))
    for lo, hi, rate in values.get("age_bands") or []:
        version.age_bands.append(RateAgeBand(min_age=lo, max_age=hi, monthly_rate=rate))
    for age, pct in values.get("age_reductions") or []:
        version.age_reductions.append(AgeReduction(from_age=age, volume_percent=pct))
    return version


# --------------------------------------------------------------------------- reading them


def rate_change_of(session: Session, change_id: int, group_id: int | None = None) -> RateChange:
    change = session.scalar(
        select(RateChange)
        .where(RateChange.id == change_id)
        .options(selectinload(RateChange.plans).selectinload(RateChangePlan.plan))
    )
    if change is None or (group_id is not None and change.group_id != group_id):
        raise NotFound(f"no rate change {change_id}")
    return change


def rate_changes_of(session: Session, group: EmployerGroup) -> list[RateChange]:
    """The group's rate changes, newest first."""
    return list(
        session.scalars(
            select(RateChange)
            .where(RateChange.group_id == group.id)
            .options(selectinload(RateChange.proposed_by), selectinload(RateChange.approved_by))
            .order_by(RateChange.id.desc())
        )
    )


def plans_with_rates(session: Session, group_id: int) -> list[Plan]:
    """The group's plans with every rate version and its rates, by code."""
    return list(
        session.scalars(
            select(Plan)
            .where(Plan.group_id == group_id)
            .options(
                selectinload(Plan.product),
                selectinload(Plan.rate_versions).selectinload(RateVersion.tier_rates),
                selectinload(Plan.rate_versions).selectinload(RateVersion.age_bands),
                selectinload(Plan.rate_versions).selectinload(RateVersion.age_reductions),
            )
            .order_by(Plan.code)
        )
    )


# --------------------------------------------------------------------------- starting one


def next_renewal_date(group: EmployerGroup, today: date) -> date:
    """The first of the group's renewal month after `today`."""
    this_year = date(today.year, group.renewal_month, 1)
    return this_year if this_year > today else date(today.year + 1, group.renewal_month, 1)


def _audit(
    session: Session, change: RateChange, action: str, actor: User, ip_address, **detail
) -> None:
    """One audit row of a rate change's step, on its group (the group's history reads it)."""
    audit.record(
        session,
        action,
        actor=actor,
        target=change,
        group_id=change.group_id,
        ip_address=ip_address,
        detail={"rate_change": change.id, **detail},
    )


def _require_staff(actor: User | None) -> User:
    if actor is None or not actor.role.is_staff:
        raise AccessDenied("only billing staff change rates")
    return actor


def _start(
    session: Session,
    group: EmployerGroup,
    kind: RateChangeKind,
    effective_from: date,
    reason: str,
    actor: User,
    ip_address: str | None,
) -> RateChange:
    _require_staff(actor)
    if effective_from.day != 1:
        raise ValidationFailed(
            "rates change on the first of a month",
            [RowError(None, "effective_from", "must be the first of a month")],
        )
    open_change = session.scalar(
        select(RateChange.id).where(
            RateChange.group_id == group.id,
            RateChange.status.in_([RateChangeStatus.DRAFT, RateChangeStatus.SUBMITTED]),
        )
    )
    if open_change is not None:
        raise BillingError(
            f"rate change {open_change} of this group is still open: approve or withdraw it first"
        )
    change = RateChange(
        group_id=group.id,
        kind=kind,
        effective_from=effective_from,
        reason=reason,
        status=RateChangeStatus.DRAFT,
        proposed_by_id=actor.id,
        proposed_at=utcnow(),
    )
    for plan in plans_with_rates(session, group.id):
        if plan.effective_from > effective_from or (
            plan.effective_to is not None and plan.effective_to < effective_from
        ):
            continue
        version = plan.rate_version_on(effective_from)
        source = version or next(
            (v for v in reversed(plan.rate_versions) if v.effective_from < effective_from), None
        )
        if source is None:
            continue
        change.plans.append(
            RateChangePlan(
                plan_id=plan.id,
                replaces_rate_version_id=version.id if version is not None else None,
                rates=version_rates(source, plan.product.rating_basis),
            )
        )
    if not change.plans:
        raise BillingError(f"no plan of this group has rates on {effective_from:%b %d, %Y}")
    session.add(change)
    session.flush()
    _audit(
        session,
        change,
        f"rates.{kind.value}_started",
        actor,
        ip_address,
        effective=effective_from.isoformat(),
        reason=reason,
        plans=[p.plan.code for p in change.plans],
    )
    return change


def start_renewal(
    session: Session,
    group: EmployerGroup,
    *,
    actor: User,
    today: date,
    effective_from: date | None = None,
    ip_address: str | None = None,
) -> RateChange:
    """A renewal draft: the rates in force on `effective_from` (default: the group's next
    renewal month, the 1st) copied into a proposal per plan in force that day."""
    effective_from = effective_from or next_renewal_date(group, today)
    return _start(session, group, RateChangeKind.RENEWAL, effective_from, "", actor, ip_address)


def start_correction(
    session: Session,
    group: EmployerGroup,
    *,
    actor: User,
    today: date,
    effective_from: date,
    reason: str,
    ip_address: str | None = None,
) -> RateChange:
    """A correction draft from a past or current month (with a reason): the rates in force then
    copied into a proposal per plan."""
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise ValidationFailed(
            "say why the rates are corrected",
            [RowError(None, "reason", "say why the rates are corrected")],
        )
    if effective_from > month_start(today):
        raise ValidationFailed(
            "a correction starts in a past or the current month",
            [
                RowError(
                    None,
                    "effective_from",
                    "a correction starts in a past or the current month; a future change is "
                    "a renewal",
                )
            ],
        )
    return _start(
        session, group, RateChangeKind.CORRECTION, effective_from, reason[:500], actor, ip_address
    )


# --------------------------------------------------------------------------- editing


def _editable(change: RateChange, actor: User) -> None:
    _require_staff(actor)
    if not change.is_open:
        raise BillingError(f"rate change {change.id} is {change.status.value}: it cannot change")
    if actor.id != change.proposed_by_id:
        raise AccessDenied(
            "only the staff member who proposed these rates edits them (an approver who edited "
            "them would approve their own numbers)"
        )


def _change_plan(change: RateChange, plan_id: int) -> RateChangePlan:
    for item in change.plans:
        if item.plan_id == plan_id:
            return item
    raise NotFound(f"plan {plan_id} is not in rate change {change.id}")


def edit_plan_rates(
    session: Session,
    change: RateChange,
    plan_id: int,
    values: dict[str, str],
    *,
    actor: User,
    ip_address: str | None = None,
) -> RateChangePlan:
    """Set one plan's proposed rates from the form's fields (`FORM_FIELDS` of its basis),
    checked like the import; a submitted change goes back to draft. Audited with the rates
    before and after."""
    _editable(change, actor)
    item = _change_plan(change, plan_id)
    basis = item.plan.product.rating_basis
    rates, errors = _rates_from_form(values, basis, item.rates, item.plan.code)
    if errors:
        raise ValidationFailed(f"the proposed rates of plan {item.plan.code} are not right", errors)
    _check(rates, basis, change.effective_from, item.plan.code)
    before = form_values(item.rates, basis)
    item.rates = rates
    after = form_values(rates, basis)
    if change.status is RateChangeStatus.SUBMITTED:
        change.status = RateChangeStatus.DRAFT
        change.submitted_at = None
    session.flush()
    changed = {k for k in after if before.get(k) != after.get(k)}
    _audit(
        session,
        change,
        "rates.proposal_edited",
        actor,
        ip_address,
        plan=item.plan.code,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return item


# --------------------------------------------------------------------------- impact

VersionPick = Callable[[Plan, date], tuple[int, RateTable] | None]


@dataclass
class PlanImpact:
    plan: Plan
    members: int = 0
    old: Decimal = ZERO
    new: Decimal = ZERO
    retro: Decimal = ZERO  # a change reaching billed months: the differences approval queues

    @property
    def change(self) -> Decimal:
        return self.new - self.old

    @property
    def percent(self) -> Decimal | None:
        if not self.old:
            return None
        return (self.change * 100 / self.old).quantize(Decimal("0.01"))


@dataclass
class MemberImpact:
    member_key: str
    name: str
    plan_code: str
    old: Decimal
    new: Decimal

    @property
    def change(self) -> Decimal:
        return self.new - self.old


@dataclass
class Impact:
    """The premium of the effective month on current enrollment under the rates in force and
    under the proposal, per plan and in total (per member on request); for a change reaching
    months already billed, the differences approval would queue for them."""

    change: RateChange
    month: date
    plans: list[PlanImpact]
    members: list[MemberImpact] = field(default_factory=list)
    billed_months: list[date] = field(default_factory=list)

    @property
    def old(self) -> Decimal:
        return sum((p.old for p in self.plans), ZERO)

    @property
    def new(self) -> Decimal:
        return sum((p.new for p in self.plans), ZERO)

    @property
    def total_change(self) -> Decimal:
        return self.new - self.old

    @property
    def percent(self) -> Decimal | None:
        if not self.old:
            return None
        return (self.total_change * 100 / self.old).quantize(Decimal("0.01"))

    @property
    def retro(self) -> Decimal:
        return sum((p.retro for p in self.plans), ZERO)


def _premiums(
    session: Session,
    group: EmployerGroup,
    plans: dict[int, Plan],
    months: list[date],
    pick: VersionPick,
) -> dict[tuple[int, int, date], Decimal]:
    """(member id, plan id, month) -> the premium the billing run's engine prices for the
    coverages of `plans` in force in `months`, on the version `pick` gives."""
    if not months or not plans:
        return {}
    first, last_month = months[0], months[-1]
    last = (last_month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    coverages = session.scalars(
        select(Coverage)
        .join(Member, Member.id == Coverage.member_id)
        .where(
            Member.group_id == group.id,
            Coverage.plan_id.in_(plans),
            Coverage.effective_from <= last,
            (Coverage.effective_to.is_(None)) | (Coverage.effective_to >= first),
        )
        .options(
            selectinload(Coverage.member),
            selectinload(Coverage.covered_dependents).selectinload(CoveredDependent.dependent),
        )
    ).all()
    wanted = set(months)
    out: dict[tuple[int, int, date], Decimal] = defaultdict(lambda: ZERO)
    for coverage in coverages:
        member = coverage.member
        rule = CoverageMonthRule(group.policy_on(first).coverage_month_rule)
        covered = [
            (d.birth_date, d.effective_from, d.effective_to,
             d.relationship_to_member == Relationship.CHILD)
            for d in (c.dependent for c in coverage.covered_dependents)
        ]  # fmt: skip
        for month in coverage_months(
            coverage.effective_from, coverage.effective_to, first, last, rule
        ):
            if month not in wanted:
                continue
            picked = pick(plans[coverage.plan_id], month)
            if picked is None:
                continue
            version_id, table = picked
            out[(member.id, coverage.plan_id, month)] += member_month_premium(
                version_id,
                table,
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
    return out


def _in_force_pick(plan: Plan, month: date) -> tuple[int, RateTable] | None:
    version = plan.rate_version_on(month)
    if version is None:
        return None
    return version.id, RateTable.from_version(version, plan.product.rating_basis)


def _proposal_pick(change: RateChange) -> VersionPick:
    tables: dict[int, RateTable] = {}
    for item in change.plans:
        basis = item.plan.product.rating_basis
        values = _check(item.rates, basis, change.effective_from, item.plan.code)
        tables[item.plan_id] = RateTable.from_version(_transient_version(values, item.plan), basis)

    def pick(plan: Plan, month: date) -> tuple[int, RateTable] | None:
        table = tables.get(plan.id)
        if table is None or month < change.effective_from:
            return _in_force_pick(plan, month)
        # The proposal runs until the plan's next version after the effective date.
        later = [v for v in plan.rate_versions if v.effective_from > change.effective_from]
        if later and month >= min(v.effective_from for v in later):
            return _in_force_pick(plan, month)
        return -plan.id, table  # a transient version: no id, its own memo key

    return pick


def billed_pairs(session: Session, change: RateChange) -> dict[int, set[tuple[int, date]]]:
    """member id -> the (plan id, coverage month) pairs of the change's plans billed from its
    effective month on (premium lines of non-void invoices)."""
    rows = session.execute(
        select(InvoiceLine.member_id, InvoiceLine.plan_id, InvoiceLine.coverage_month)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            Invoice.group_id == change.group_id,
            Invoice.status != InvoiceStatus.VOID,
            InvoiceLine.section == InvoiceSection.PREMIUM,
            InvoiceLine.plan_id.in_([p.plan_id for p in change.plans]),
            InvoiceLine.coverage_month >= change.effective_from,
            InvoiceLine.member_id.is_not(None),
        )
        .distinct()
    )
    out: dict[int, set[tuple[int, date]]] = defaultdict(set)
    for member_id, plan_id, month in rows:
        out[member_id].add((plan_id, month))
    return out


def _billed_so_far(session: Session, change: RateChange, pairs) -> dict[tuple, Decimal]:
    """(member, plan, month) -> what was billed and queued (premium lines of non-void invoices
    and pending, approved or billed adjustments), as `retro.premium_differences` reads it."""
    members = list(pairs)
    out: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    if not members:
        return out
    plan_ids = [p.plan_id for p in change.plans]
    for member_id, plan_id, month, amount in session.execute(
        select(InvoiceLine.member_id, InvoiceLine.plan_id, InvoiceLine.coverage_month,
               InvoiceLine.amount)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            Invoice.group_id == change.group_id,
            Invoice.status != InvoiceStatus.VOID,
            InvoiceLine.section == InvoiceSection.PREMIUM,
            InvoiceLine.plan_id.in_(plan_ids),
            InvoiceLine.coverage_month >= change.effective_from,
        )
    ):  # fmt: skip
        out[(member_id, plan_id, month)] += amount
    for member_id, plan_id, month, amount in session.execute(
        select(Adjustment.member_id, Adjustment.plan_id, Adjustment.coverage_month,
               Adjustment.amount)
        .where(
            Adjustment.group_id == change.group_id,
            Adjustment.plan_id.in_(plan_ids),
            Adjustment.coverage_month >= change.effective_from,
            Adjustment.status.in_(
                [AdjustmentStatus.PENDING, AdjustmentStatus.APPROVED, AdjustmentStatus.BILLED]
            ),
        )
    ):  # fmt: skip
        out[(member_id, plan_id, month)] += amount
    return out


def impact(session: Session, change: RateChange, *, per_member: bool = False) -> Impact:
    """The premium impact of `change` (see `Impact`), priced by `member_month_premium` on the
    rate versions in force and on transient versions of the proposal (never flushed)."""
    group = session.get(EmployerGroup, change.group_id)
    plans = {p.id: p for p in plans_with_rates(session, change.group_id)}
    changed = {item.plan_id: plans[item.plan_id] for item in change.plans}
    month = change.effective_from
    old = _premiums(session, group, changed, [month], _in_force_pick)
    pick_new = _proposal_pick(change)
    new = _premiums(session, group, changed, [month], pick_new)
    by_plan = {pid: PlanImpact(plan) for pid, plan in changed.items()}
    members_of: dict[int, set[int]] = defaultdict(set)
    for (member_id, plan_id, _m), amount in old.items():
        by_plan[plan_id].old += amount
        members_of[plan_id].add(member_id)
    for (member_id, plan_id, _m), amount in new.items():
        by_plan[plan_id].new += amount
        members_of[plan_id].add(member_id)
    for plan_id, members in members_of.items():
        by_plan[plan_id].members = len(members)
    result = Impact(
        change, month, [by_plan[pid] for pid in sorted(by_plan, key=lambda i: changed[i].code)]
    )
    pairs = billed_pairs(session, change)
    if pairs:
        months = sorted({m for member in pairs.values() for _p, m in member})
        result.billed_months = months
        should = _premiums(session, group, changed, months, pick_new)
        billed = _billed_so_far(session, change, pairs)
        for member_id, member_pairs in pairs.items():
            for plan_id, m in member_pairs:
                key = (member_id, plan_id, m)
                by_plan[plan_id].retro += should.get(key, ZERO) - billed.get(key, ZERO)
    if per_member:
        keys = sorted(set(old) | set(new))
        names = {
            m.id: m
            for m in session.scalars(select(Member).where(Member.id.in_({k[0] for k in keys})))
        }
        result.members = sorted(
            (
                MemberImpact(
                    names[mid].member_key,
                    f"{names[mid].last_name}, {names[mid].first_name}",
                    changed[pid].code,
                    old.get((mid, pid, m), ZERO),
                    new.get((mid, pid, m), ZERO),
                )
                for mid, pid, m in keys
            ),
            key=lambda r: (r.name.lower(), r.member_key, r.plan_code),
        )
    return result


def impact_or_problem(
    session: Session, change: RateChange, *, per_member: bool = False
) -> tuple[Impact | None, str | None]:
    """`impact`, or why it cannot be priced (a member fact or rate the engine needs is
    missing): what a page shows instead of the figures."""
    try:
        return impact(session, change, per_member=per_member), None
    except BillingError as error:
        return None, str(error).splitlines()[0]


# --------------------------------------------------------------------------- deciding


def submit(
    session: Session, change: RateChange, *, actor: User, ip_address: str | None = None
) -> RateChange:
    """Ask a second staff member to approve: every plan's proposal must pass the check."""
    _editable(change, actor)
    if change.status is RateChangeStatus.SUBMITTED:
        return change
    for item in change.plans:
        _check(item.rates, item.plan.product.rating_basis, change.effective_from, item.plan.code)
    change.status = RateChangeStatus.SUBMITTED
    change.submitted_at = utcnow()
    session.flush()
    _audit(
        session, change, "rates.change_submitted", actor, ip_address,
        kind=change.kind.value, effective=change.effective_from.isoformat(),
    )  # fmt: skip
    return change


def approval_authority(session: Session, change: RateChange) -> Authority:
    """Who may approve: never the proposer; a supervisor (or admin) for a correction, and for
    a renewal reaching months already billed (keyed late): either queues retro differences
    approved as made."""
    what = f"the rate {change.kind.value} effective {change.effective_from:%b %-d, %Y}"
    because = ""
    if change.kind is RateChangeKind.CORRECTION:
        because = "a correction changes months already billed"
    elif billed_pairs(session, change):
        because = "it reaches months already billed"
    return authority(
        what=what,
        exposures=[],
        limit=Decimal("Infinity"),
        requested_by=[change.proposed_by_id],
        second_person=True,
        supervisor_because=because,
    )


def _day_before(day: date) -> date:
    return day - timedelta(days=1)


def _write_version(session: Session, plan: Plan, item: RateChangePlan, on: date) -> RateVersion:
    basis = plan.product.rating_basis
    values = _check(item.rates, basis, on, plan.code)
    in_force = plan.rate_version_on(on)
    if (in_force.id if in_force else None) != item.replaces_rate_version_id:
        raise BillingError(
            f"the rates of plan {plan.code} on {on:%b %d, %Y} changed since this rate change "
            "was started: withdraw it and start again"
        )
    later = [v.effective_from for v in plan.rate_versions if v.effective_from > on]
    ends = _day_before(min(later)) if later else (in_force.effective_to if in_force else None)
    revision = 0
    if in_force is not None and in_force.effective_from == on:
        # Superseded from its very first day: it keeps its rates (and its bills); the next
        # revision starting the same day is in force instead.
        revision = max(v.revision for v in plan.rate_versions if v.effective_from == on) + 1
    elif in_force is not None:
        in_force.effective_to = _day_before(on)  # closing is all a billed version allows
    version = _transient_version(values, plan)
    version.effective_from = on
    version.effective_to = ends
    version.revision = revision
    session.add(version)
    session.flush()
    item.rate_version_id = version.id
    return version


def approve(
    session: Session,
    change: RateChange,
    *,
    actor: User | None,
    ip_address: str | None = None,
) -> RateChange:
    """Approve a submitted rate change (four eyes: `approval_authority`, enforced here). Writes
    the new rate versions and queues, approved, the differences of the months already billed
    on the changed plans (once: they count as billed after). Approving an approved change
    again changes nothing."""
    # The change's row locked and read again: of two approvers at the same moment, the second
    # finds it approved and changes nothing.
    session.refresh(change, with_for_update=True)
    if change.status is RateChangeStatus.APPROVED:
        return change
    approval_authority(session, change).check(actor)
    if change.status is not RateChangeStatus.SUBMITTED:
        raise BillingError(
            f"rate change {change.id} is {change.status.value}: only a submitted change is approved"
        )
    group = session.get(EmployerGroup, change.group_id)
    plans = {p.id: p for p in plans_with_rates(session, change.group_id)}
    for item in change.plans:
        _write_version(session, plans[item.plan_id], item, change.effective_from)
    for plan in plans.values():
        session.expire(plan, ["rate_versions"])
    change.status = RateChangeStatus.APPROVED
    change.approved_by_id = actor.id
    change.approved_at = utcnow()
    session.flush()
    queued = []
    pairs = billed_pairs(session, change)
    if pairs:
        members = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(pairs)))}
        for member_id, member_pairs in sorted(pairs.items()):
            queued += bill_rate_change(
                session,
                group,
                members[member_id],
                member_pairs,
                rate_change_id=change.id,
                decided_by_id=actor.id,
                note=f"rate {change.kind.value} {change.id}: {change.reason}"[:200],
            )
    session.flush()
    _audit(
        session,
        change,
        f"rates.{change.kind.value}_approved",
        actor,
        ip_address,
        effective=change.effective_from.isoformat(),
        proposed_by=change.proposed_by.email if change.proposed_by else None,
        reason=change.reason,
        before={
            item.plan.code: form_values(
                version_rates(item.replaces, item.plan.product.rating_basis),
                item.plan.product.rating_basis,
            )
            if item.replaces
            else None
            for item in change.plans
        },
        after={
            item.plan.code: form_values(item.rates, item.plan.product.rating_basis)
            for item in change.plans
        },
        retro_adjustments=len(queued),
        retro_total=str(sum((a.amount for a in queued), ZERO)),
    )
    return change


def withdraw(
    session: Session,
    change: RateChange,
    *,
    actor: User,
    ip_address: str | None = None,
) -> RateChange:
    """Withdraw an open rate change: nothing it proposed is written. Any staff member."""
    _require_staff(actor)
    if change.status is RateChangeStatus.WITHDRAWN:
        return change
    if not change.is_open:
        raise BillingError(
            f"rate change {change.id} is {change.status.value}: it cannot be withdrawn"
        )
    change.status = RateChangeStatus.WITHDRAWN
    change.withdrawn_by_id = actor.id
    change.withdrawn_at = utcnow()
    session.flush()
    _audit(
        session, change, "rates.change_withdrawn", actor, ip_address,
        kind=change.kind.value, effective=change.effective_from.isoformat(),
    )  # fmt: skip
    return change
