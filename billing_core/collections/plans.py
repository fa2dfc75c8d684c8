"""Delinquency plans: which plan version governs a group on a day (the group's own plan, else
its state's, else the default), new versions from a date (history is never overwritten),
moratoriums, and the threshold under which a group is not delinquent.

The default plan (code `standard`) is made on first use by `default_plan`, not by the
migration, so its figures live in one place (DEFAULT_PLAN): 31 calendar days of grace from the
due date of the oldest unpaid bill (DOMAIN.md: the statutory grace of group life and group
accident & sickness), the grace notice 10 days into grace and at least 15 days before
termination, the group's billing-policy tolerance as the enter/exit threshold, no late fee,
30 days to reinstate after a cancellation, coverage ending on the last day of the last month
paid in full, and no extra steps."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Date, bindparam, or_, select
from sqlalchemy.orm import Session

from billing_core.db import built_once
from billing_core.errors import ValidationFailed
from billing_core.models import EmployerGroup
from billing_core.models.collections import (
    CoverageEndRule,
    DelinquencyPlan,
    DelinquencyStep,
    GroupDelinquencyPlan,
    LateFeeKind,
    Moratorium,
)
from billing_core.models.enums import GraceDayKind
from billing_core.models.group import BillingPolicy

DEFAULT_CODE = "standard"
DEFAULT_PLAN = dict(
    code=DEFAULT_CODE,
    version=1,
    name="Standard delinquency plan (31-day grace)",
    jurisdiction=None,
    effective_from=date(2000, 1, 1),
    grace_days=31,
    grace_day_kind=GraceDayKind.CALENDAR,
    notice_day=10,
    notice_days_before_termination=15,
    threshold_amount=None,
    late_fee_kind=LateFeeKind.NONE,
    late_fee_amount=Decimal("0.00"),
    late_fee_percent=Decimal("0.00"),
    late_fee_stages=["in_grace"],
    reinstatement_days=30,
    coverage_end_rule=CoverageEndRule.LAST_PAID_MONTH,
)
PLAN_FIELDS = tuple(k for k in DEFAULT_PLAN if k not in ("code", "version", "effective_from"))


def _in_force(model, on: date):
    return (model.effective_from <= on) & (
        or_(model.effective_to.is_(None), model.effective_to >= on)
    )


def default_plan(session: Session, on: date) -> DelinquencyPlan:
    """The default plan's version in force on `on`; its first version is made (and flushed) when
    the database has none (see the module docstring for its figures)."""
    plan = session.scalar(
        select(DelinquencyPlan)
        .where(DelinquencyPlan.code == DEFAULT_CODE, _in_force(DelinquencyPlan, on))
        .order_by(DelinquencyPlan.effective_from.desc())
        .limit(1)
    )
    if plan is not None:
        return plan
    if session.scalar(select(DelinquencyPlan.id).where(DelinquencyPlan.code == DEFAULT_CODE)):
        raise ValidationFailed(
            f"no version of the {DEFAULT_CODE} delinquency plan is in force on {on}"
        )
    plan = DelinquencyPlan(**DEFAULT_PLAN)
    session.add(plan)
    session.flush()
    return plan


def plan_version(session: Session, code: str, on: date) -> DelinquencyPlan | None:
    """The version of plan `code` in force on `on` (None when none is)."""
    return session.scalar(
        select(DelinquencyPlan)
        .where(DelinquencyPlan.code == code, _in_force(DelinquencyPlan, on))
        .order_by(DelinquencyPlan.effective_from.desc())
        .limit(1)
    )


def plan_for(session: Session, group: EmployerGroup, on: date) -> DelinquencyPlan:
    """The plan governing `group` on `on`: the group's own plan in force then, else the plan of
    its state (jurisdiction), else the default plan."""
    own = session.scalar(
        select(GroupDelinquencyPlan.plan_code)
        .where(GroupDelinquencyPlan.group_id == group.id, _in_force(GroupDelinquencyPlan, on))
        .order_by(GroupDelinquencyPlan.effective_from.desc())
        .limit(1)
    )
    if own is not None:
        plan = plan_version(session, own, on)
        if plan is not None:
            return plan
    if group.state:
        plan = session.scalar(
            select(DelinquencyPlan)
            .where(DelinquencyPlan.jurisdiction == group.state, _in_force(DelinquencyPlan, on))
            .order_by(DelinquencyPlan.effective_from.desc(), DelinquencyPlan.id)
            .limit(1)
        )
        if plan is not None:
            return plan
    return default_plan(session, on)


class PlanBook:
    """`plan_for` for many groups on one day without a query per group (the sweep): every plan
    version in force on `on` (a small table) and the own plans of `group_ids`, read once."""

    def __init__(self, session: Session, group_ids: list[int], on: date):
        from sqlalchemy.orm import selectinload

        from billing_core.db import in_ids

        self.session, self.on = session, on
        self.by_code: dict[str, DelinquencyPlan] = {}
        self.by_state: dict[str, DelinquencyPlan] = {}
        for plan in session.scalars(
            select(DelinquencyPlan)
            .where(_in_force(DelinquencyPlan, on))
            .order_by(DelinquencyPlan.effective_from, DelinquencyPlan.id.desc())
            .options(selectinload(DelinquencyPlan.steps))
        ):
            self.by_code[plan.code] = plan  # the latest start wins, as plan_version
            if plan.jurisdiction:
                self.by_state[plan.jurisdiction] = plan
        self.own: dict[int, str] = {}
        if group_ids:
            for group_id, code in session.execute(
                select(GroupDelinquencyPlan.group_id, GroupDelinquencyPlan.plan_code)
                .where(
                    in_ids(GroupDelinquencyPlan.group_id, group_ids),
                    _in_force(GroupDelinquencyPlan, on),
                )
                .order_by(GroupDelinquencyPlan.effective_from)
            ):
                self.own[group_id] = code
        self._default: DelinquencyPlan | None = None

    def plan_for(self, group: EmployerGroup) -> DelinquencyPlan:
        """As `plan_for(session, group, on)`."""
        code = self.own.get(group.id)
        if code is not None and code in self.by_code:
            return self.by_code[code]
        if group.state and group.state in self.by_state:
            return self.by_state[group.state]
        if self._default is None:
            self._default = self.by_code.get(DEFAULT_CODE) or default_plan(self.session, self.on)
        return self._default


def _check(fields: dict) -> None:
    errors = []
    for name in (
        "grace_days",
        "notice_day",
        "notice_days_before_termination",
        "reinstatement_days",
    ):
        if fields[name] < 0:
            errors.append(f"{name.replace('_', ' ')} cannot be negative")
    if fields["late_fee_kind"] is LateFeeKind.FLAT and fields["late_fee_amount"] <= 0:
        errors.append("a flat late fee needs an amount")
    if fields["late_fee_kind"] is LateFeeKind.PERCENT and not 0 < fields["late_fee_percent"] <= 100:
        errors.append("a late fee percent is more than 0 and at most 100")
    if errors:
        raise ValidationFailed("the delinquency plan is not valid", errors)


def new_plan_version(
    session: Session,
    code: str,
    effective_from: date,
    *,
    steps: list[tuple[int, str, str]] | None = None,
    **changes,
) -> DelinquencyPlan:
    """A new version of plan `code` from `effective_from`: the version in force the day before
    is closed then (its history kept) and copied with `changes`; a new code starts at version 1
    from DEFAULT_PLAN's figures. `steps`: (day after grace start, action, name) replacing the
    copied steps (None keeps them)."""
    before = session.scalar(
        select(DelinquencyPlan)
        .where(DelinquencyPlan.code == code)
        .order_by(DelinquencyPlan.version.desc())
        .limit(1)
    )
    if before is not None and before.effective_from >= effective_from:
        raise ValidationFailed(
            f"plan {code} version {before.version} starts {before.effective_from}: "
            "a new version must start after it"
        )
    base = {k: getattr(before, k) for k in PLAN_FIELDS} if before else dict(DEFAULT_PLAN)
    fields = {k: base[k] for k in PLAN_FIELDS}
    unknown = set(changes) - set(PLAN_FIELDS)
    if unknown:
        raise ValueError(f"not plan fields: {sorted(unknown)}")
    fields.update(changes)
    _check(fields)
    if before is not None and (
        before.effective_to is None or before.effective_to >= effective_from
    ):
        before.effective_to = effective_from - timedelta(days=1)
    plan = DelinquencyPlan(
        code=code,
        version=(before.version + 1) if before else 1,
        effective_from=effective_from,
        **fields,
    )
    session.add(plan)
    session.flush()
    if steps is None and before is not None:
        steps = [(s.day, s.action.value, s.name) for s in before.steps]
    for day, action, name in steps or []:
        session.add(DelinquencyStep(plan_id=plan.id, day=day, action=action, name=name))
    session.flush()
    session.refresh(plan)
    return plan


def set_group_plan(
    session: Session, group: EmployerGroup, plan_code: str, effective_from: date, reason: str
) -> GroupDelinquencyPlan:
    """Govern `group` by plan `plan_code` from `effective_from` (its previous own plan, if
    any, ends the day before)."""
    if not session.scalar(select(DelinquencyPlan.id).where(DelinquencyPlan.code == plan_code)):
        raise ValidationFailed(f"there is no delinquency plan {plan_code}")
    open_row = session.scalar(
        select(GroupDelinquencyPlan).where(
            GroupDelinquencyPlan.group_id == group.id,
            GroupDelinquencyPlan.effective_to.is_(None),
        )
    )
    if open_row is not None:
        open_row.effective_to = effective_from - timedelta(days=1)
    row = GroupDelinquencyPlan(
        group_id=group.id, plan_code=plan_code, effective_from=effective_from, reason=reason
    )
    session.add(row)
    session.flush()
    return row


def add_moratorium(
    session: Session,
    jurisdiction: str,
    starts_on: date,
    ends_on: date | None,
    reason: str,
    *,
    created_by_id: int | None = None,
) -> Moratorium:
    """A regulator's order: no cancellation for non-payment in `jurisdiction` (a two-letter
    state) from `starts_on` to `ends_on` inclusive."""
    if ends_on is not None and ends_on < starts_on:
        raise ValidationFailed("a moratorium ends on or after the day it starts")
    row = Moratorium(
        jurisdiction=jurisdiction.upper(),
        starts_on=starts_on,
        ends_on=ends_on,
        reason=reason,
        created_by_id=created_by_id,
    )
    session.add(row)
    session.flush()
    return row


def moratorium_on(session: Session, jurisdiction: str | None, on: date) -> Moratorium | None:
    """The moratorium covering `jurisdiction` on `on` (the one ending last), or None."""
    if not jurisdiction:
        return None
    return session.scalar(_moratorium_on(), {"jurisdiction": jurisdiction, "on": on})


@built_once
def _moratorium_on():
    """`moratorium_on`'s statement, built once (db.built_once: the employer's clock asks)."""
    on = bindparam("on", type_=Date)
    return (
        select(Moratorium)
        .where(
            Moratorium.jurisdiction == bindparam("jurisdiction"),
            Moratorium.starts_on <= on,
            or_(Moratorium.ends_on.is_(None), Moratorium.ends_on >= on),
        )
        .order_by(Moratorium.ends_on.desc().nulls_first(), Moratorium.id)
        .limit(1)
    )


def threshold(plan: DelinquencyPlan, policy: BillingPolicy | None) -> Decimal:
    """Dollars overdue (after credits and open disputes) at or under which a group is not
    delinquent, entering or leaving: the plan's own threshold, else the group's billing-policy
    tolerance amount, else zero."""
    if plan.threshold_amount is not None:
        return plan.threshold_amount
    if policy is not None:
        return policy.tolerance_amount
    return Decimal("0.00")
