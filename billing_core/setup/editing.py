"""Editing a live group on the screens (issue 22, item 4): a draft pre-filled from the group
(group, delinquency plan, subgroups, classes, billing policy, brokers of record, plans; rates
are not edited here, they change on the rate-change pages) goes through the same steps, the
same check and the same `import_setup`, which updates the group's rows in place and writes the
`setup.group_changed` audit row with the group's fields before and after.

What the import does not do for an edit, this module guards: the group number and a live
row's key (a subgroup's code, a broker of record's agency and start) never change, a live row
is never removed (the import never deletes; a row ends with its dates), and a changed billing
policy becomes a NEW policy from a date the person gives (today or later), the one in force
closed the day before: the past is never rewritten."""

from __future__ import annotations

import enum
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core.collections.plans import DEFAULT_CODE, _in_force
from billing_core.db import utcnow
from billing_core.models import (
    BenefitClass,
    BillingPolicy,
    BillingSubgroup,
    BrokerOfRecord,
    EmployerGroup,
    Plan,
    User,
)
from billing_core.models.collections import DelinquencyPlan, GroupDelinquencyPlan
from billing_core.models.setup_draft import GroupSetupDraft
from billing_core.setup.groups import GROUP_FIELDS, POLICY_FIELDS, STATE_PLAN

__all__ = [
    "LIVE_KEYS",
    "delinquency_plan_choices",
    "live_rate_plans",
    "edit_draft_of",
    "live_row_key",
    "policies_for_edit",
    "start_edit",
]

# A row's natural key per list step: what the import matches a live row on.
LIVE_KEYS = {
    "subgroups": ("code",),
    "classes": ("code",),
    "plans": ("code",),
    "brokers": ("agency", "effective_from"),
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _row(pairs: dict[str, Any]) -> dict[str, str]:
    return {k: t for k, v in pairs.items() if (t := _text(v)) is not None and t != ""}


def live_row_key(step: str, row: dict) -> str | None:
    """The key a list step's row is matched on ("MAIN", "HARBOR 2024-01-01"), None if none."""
    names = LIVE_KEYS.get(step)
    if not names or not all(row.get(n) for n in names):
        return None
    return " ".join(str(row[n]).strip() for n in names)


def _policy_row(policy: BillingPolicy) -> dict[str, str]:
    return _row({spec.name: getattr(policy, spec.attr) for spec in POLICY_FIELDS})


def edit_draft_of(session: Session, group_id: int) -> GroupSetupDraft | None:
    """The group's open edit draft (not yet applied), if any."""
    return session.scalar(
        select(GroupSetupDraft)
        .where(GroupSetupDraft.edits_group_id == group_id, GroupSetupDraft.group_id.is_(None))
        .order_by(GroupSetupDraft.id.desc())
        .limit(1)
    )


def start_edit(
    session: Session, group: EmployerGroup, actor: User | None, on: date
) -> GroupSetupDraft:
    """A draft pre-filled from the live `group` as it stands on `on` (its open edit draft, if
    one is already started: resumed, not duplicated)."""
    open_draft = edit_draft_of(session, group.id)
    if open_draft is not None:
        return open_draft
    gid = group.id
    own_plan = session.scalar(
        select(GroupDelinquencyPlan.plan_code)
        .where(GroupDelinquencyPlan.group_id == gid, _in_force(GroupDelinquencyPlan, on))
        .order_by(GroupDelinquencyPlan.effective_from.desc())
        .limit(1)
    )
    policies = list(
        session.scalars(
            select(BillingPolicy)
            .where(BillingPolicy.group_id == gid)
            .order_by(BillingPolicy.effective_from)
        )
    )
    in_force = [
        p for p in policies if p.effective_from <= on and (p.effective_to or date.max) >= on
    ]
    shown = in_force[-1] if in_force else (policies[-1] if policies else None)
    billing = _policy_row(shown) if shown is not None else {}
    subgroups = session.scalars(
        select(BillingSubgroup)
        .where(BillingSubgroup.group_id == gid)
        .order_by(BillingSubgroup.code)
    )
    classes = session.scalars(
        select(BenefitClass).where(BenefitClass.group_id == gid).order_by(BenefitClass.code)
    )
    bors = session.scalars(
        select(BrokerOfRecord)
        .where(BrokerOfRecord.group_id == gid)
        .order_by(BrokerOfRecord.effective_from, BrokerOfRecord.id)
    )
    plans = session.scalars(
        select(Plan)
        .where(Plan.group_id == gid)
        .options(selectinload(Plan.product), selectinload(Plan.benefit_class))
        .order_by(Plan.code)
    )
    document = {
        "group": _row(
            {
                spec.name: getattr(group, spec.attr)
                for spec in GROUP_FIELDS
                if spec.name != "delinquency_plan"
            }
        ),
        "delinquency": {"delinquency_plan": own_plan or STATE_PLAN},
        "subgroups": [
            _row(
                {
                    "code": s.code,
                    "name": s.name,
                    "kind": s.kind,
                    "bill_separately": s.bill_separately,
                }
            )  # fmt: skip
            for s in subgroups
        ],
        "classes": [_row({"code": k.code, "name": k.name}) for k in classes],
        "billing": billing,
        "brokers": [
            _row(
                {
                    "agency": b.agency.code,
                    "writing_broker": b.writing_broker.npn if b.writing_broker else None,
                    "effective_from": b.effective_from,
                    "effective_to": b.effective_to,
                    "commission_split_percent": b.commission_split_percent,
                }
            )
            for b in bors
        ],
        "products": [],
        "plans": [
            _row(
                {
                    "code": p.code,
                    "name": p.name,
                    "product": p.product.code,
                    "class": p.benefit_class.code if p.benefit_class else None,
                    "effective_from": p.effective_from,
                }
            )
            for p in plans
        ],
        "rates": [],
    }
    document["edit"] = {
        "billing_was": dict(billing),
        "policies": [_policy_row(p) for p in policies],
        "live": {
            step: [k for r in document[step] if (k := live_row_key(step, r))] for step in LIVE_KEYS
        },
    }
    draft = GroupSetupDraft(
        name=group.name,
        group_number=group.group_number,
        document=document,
        created_by_id=actor.id if actor is not None else None,
        edits_group_id=group.id,
        updated_at=utcnow(),
    )
    session.add(draft)
    session.flush()
    return draft


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def policies_for_edit(data: dict, on: date) -> tuple[list[dict], tuple[str, str] | None]:
    """The billing policies an edit draft's document holds, and the problem (field, message)
    with the billing step, if any. Unchanged: the live policies as they are. Changed: the live
    policies, the last one closed the day before the new one starts, and the new one, which
    must start today or later and after the last one's start (never rewriting the past)."""
    edit = data.get("edit") or {}
    live = [dict(p) for p in edit.get("policies") or []]
    billing = dict(data.get("billing") or {})
    was = edit.get("billing_was") or {}
    if not billing or billing == was:
        return live, None
    starts = _day(billing.get("effective_from"))
    last = live[-1] if live else None
    last_start = _day(last.get("effective_from")) if last else None
    if starts is None:
        return live, ("effective_from", "required: the day the changed policy takes effect")
    if last_start is not None and starts <= last_start or starts < on:
        after = f" and after {last_start:%Y-%m-%d}" if last_start else ""
        return live, (
            "effective_from",
            f"a changed billing policy takes effect from a new date, today ({on:%Y-%m-%d}) or "
            f"later{after}: the policy in force stays as it was for the past",
        )
    if last is not None:
        ends = _day(last.get("effective_to"))
        if ends is None or ends >= starts:
            last["effective_to"] = (starts - timedelta(days=1)).isoformat()
    return [*live, billing], None


def live_rate_plans(session: Session, group: EmployerGroup | None) -> list[Plan]:
    """The live group's plans with their rate versions (shown, not edited, on an edit)."""
    if group is None:
        return []
    return list(
        session.scalars(
            select(Plan)
            .where(Plan.group_id == group.id)
            .options(selectinload(Plan.rate_versions), selectinload(Plan.product))
            .order_by(Plan.code)
        )
    )


def delinquency_plan_choices(session: Session) -> list[tuple[str, str]]:
    """The delinquency plan step's choices: the state's plan, the standard plan, then every
    other plan by its code."""
    others = sorted(
        set(
            session.scalars(
                select(DelinquencyPlan.code).where(DelinquencyPlan.code != DEFAULT_CODE)
            )
        )
    )
    return [
        (STATE_PLAN, "The state's plan (the standard plan where the state has none)"),
        (DEFAULT_CODE, "The standard plan (31-day grace)"),
    ] + [(code, f"Plan {code}") for code in others]
