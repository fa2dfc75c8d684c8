"""Approving a census: the diff becomes enrollment (effective-dated, history kept) and every
month already billed that the changes touch becomes a pending future-bill adjustment.

Enrollment history: a change closes the coverage in force the day before it takes effect and
opens a new one; a term sets the last covered day. Only when a change takes effect on or before
the coverage's own start is that row corrected in place (there is no earlier history to keep;
the upload and the audit log hold what it said).

Retro windows (policy, days before `today`, per transaction type: add, term, change): months
of a late add or change that fall before the window are still queued but marked for a
supervisor's override; a late term's credits are limited to the window (older months are not
credited, DOMAIN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from billing_core.billing.adjustments import queue_premium_differences
from billing_core.billing.enrollment import add_months, month_start
from billing_core.billing.retro import retro_window
from billing_core.census.diff import (
    CensusDiff,
    ChangeKind,
    CoverageChange,
    DependentChange,
    MemberDiff,
)
from billing_core.census.rows import CensusMember
from billing_core.db import id_chunks
from billing_core.models import (
    Adjustment,
    BenefitClass,
    BillingSubgroup,
    Coverage,
    CoveredDependent,
    Dependent,
    EmployerGroup,
    Invoice,
    Member,
    User,
)
from billing_core.models.enums import InvoiceStatus, MemberStatus, Tier

if TYPE_CHECKING:
    from billing_core.census.impact import Landing

REASON_BY_KIND = {
    ChangeKind.ADD: "late_add",
    ChangeKind.TERM: "late_term",
}


@dataclass
class ApplyResult:
    members_added: int = 0
    members_changed: int = 0
    members_termed: int = 0
    coverages_opened: int = 0
    coverages_closed: int = 0
    adjustments: list[Adjustment] = field(default_factory=list)
    # The bill the adds (or, without adds, the changes) first land on: set by the approval
    # (census.uploads.approve_reviewed_upload), for its words.
    lands_on: Landing | None = None

    def as_dict(self) -> dict:
        return {
            "members_added": self.members_added,
            "members_changed": self.members_changed,
            "members_termed": self.members_termed,
            "coverages_opened": self.coverages_opened,
            "coverages_closed": self.coverages_closed,
            "adjustments": len(self.adjustments),
            "adjustments_total": str(sum((a.amount for a in self.adjustments), 0)),
        }


class _MemberKeys:
    """Hands out new member keys (`M0000123`, from one past the highest member id) for one
    apply: the group's keys are read once, not once per added member (a file of thousands of
    adds would otherwise scan the whole group for each)."""

    def __init__(self, session: Session, group: EmployerGroup) -> None:
        self.taken = set(
            session.scalars(select(Member.member_key).where(Member.group_id == group.id))
        )
        self.number = session.scalar(select(func.max(Member.id))) or 0

    def next(self) -> str:
        self.number += 1
        while f"M{self.number:07d}" in self.taken:
            self.number += 1
        key = f"M{self.number:07d}"
        self.taken.add(key)
        return key


def _codes(session: Session, group: EmployerGroup):
    subgroups = {
        s.code: s.id
        for s in session.scalars(
            select(BillingSubgroup).where(BillingSubgroup.group_id == group.id)
        )
    }
    classes = {
        c.code: c.id
        for c in session.scalars(select(BenefitClass).where(BenefitClass.group_id == group.id))
    }
    return subgroups, classes


def _new_member(
    session: Session, group: EmployerGroup, row: CensusMember, codes, keys: _MemberKeys
) -> Member:
    """A new member with its dependents, pending until the next flush (ids are not needed to
    link them: the relationships are)."""
    subgroups, classes = codes
    member = Member(
        group_id=group.id,
        member_key=keys.next(),
        employee_id=row.employee_id or None,  # a file without employee ids: the key is ours
        first_name=row.first_name,
        last_name=row.last_name,
        birth_date=row.birth_date,
        gender=row.gender,
        hire_date=row.hire_date,
        annual_salary=row.annual_salary,
        status=row.status,
        postal_code=row.postal_code,
        subgroup_id=subgroups.get(row.subgroup_code) if row.subgroup_code else None,
        class_id=classes.get(row.class_code) if row.class_code else None,
    )
    member.set_ssn(row.ssn)
    session.add(member)
    for number, dep in enumerate(row.dependents, start=1):
        dependent = Dependent(
            dependent_key=f"{number:02d}",
            first_name=dep.first_name,
            last_name=dep.last_name,
            relationship_to_member=dep.relationship,
            birth_date=dep.birth_date,
            gender=dep.gender,
            effective_from=dep.effective_from,
            effective_to=dep.effective_to,
        )
        dependent.set_ssn(dep.ssn)
        member.dependents.append(dependent)
    return member


def _open(member: Member, change: CoverageChange, upload_id) -> Coverage:
    """A new coverage on the member (pending until the next flush)."""
    coverage = Coverage(
        plan_id=change.plan_after.id,
        tier=Tier(change.tier_after) if change.tier_after else None,
        elected_volume=change.volume_after,
        effective_from=change.effective_on,
        source_upload_id=upload_id,
    )
    member.coverages.append(coverage)
    if change.tier_after and change.tier_after != Tier.EE.value:
        # A family tier covers the member's dependents in force (age-banded rating rates them).
        for dependent in member.dependents:
            if dependent.effective_to is None or dependent.effective_to >= change.effective_on:
                coverage.covered_dependents.append(CoveredDependent(dependent=dependent))
    return coverage


def _apply_dependent(member: Member, change: DependentChange) -> None:
    """Add, end or correct one dependent of an enrolled member. An added dependent is covered
    by the member's coverages in force at a family tier (as `_open` covers a new coverage's);
    an ended one keeps its history, with its last covered day."""
    if change.kind == "add":
        row = change.row
        taken = [int(d.dependent_key) for d in member.dependents if d.dependent_key.isdigit()]
        dependent = Dependent(
            dependent_key=f"{max(taken, default=0) + 1:02d}",
            first_name=row.first_name,
            last_name=row.last_name or member.last_name,
            relationship_to_member=row.relationship,
            birth_date=row.birth_date,
            gender=row.gender,
            effective_from=change.effective_on,
            effective_to=row.effective_to,
        )
        dependent.set_ssn(row.ssn)
        member.dependents.append(dependent)
        for coverage in member.coverages:
            if coverage.effective_to is None and coverage.tier not in (None, Tier.EE):
                coverage.covered_dependents.append(CoveredDependent(dependent=dependent))
        return
    dependent = next(d for d in member.dependents if d.id == change.dependent_id)
    if change.kind == "term":
        dependent.effective_to = max(change.effective_on, dependent.effective_from or date.min)
        return
    for field_change in change.fields:
        setattr(dependent, field_change.field, getattr(change.row, field_change.field))


def _cancel_from_inception(session: Session, member: Member, coverage: Coverage) -> None:
    """Remove a coverage that never took effect (it is enrollment, not money: invoices keep
    their own lines, and the retro difference of the months it was billed credits them);
    its covered dependents go with it (delete-orphan)."""
    session.delete(coverage)
    member.coverages.remove(coverage)


def _in_force(member: Member, change: CoverageChange) -> Coverage | None:
    for coverage in member.coverages:
        if coverage.plan_id == change.plan_before.id and coverage.effective_to is None:
            return coverage
    for coverage in member.coverages:
        if coverage.plan_id == change.plan_before.id and coverage.in_force_on(change.effective_on):
            return coverage
    return None


def _apply_member(
    session: Session,
    group,
    entry: MemberDiff,
    enrolled: dict[int, Member],
    codes,
    keys: _MemberKeys,
    upload_id,
    result: ApplyResult,
) -> Member | None:
    member = enrolled.get(entry.member_id) if entry.member_id is not None else None
    if entry.kind is ChangeKind.ADD and member is None:
        member = _new_member(session, group, entry.row, codes, keys)
        result.members_added += 1
    elif entry.kind is ChangeKind.TERM:
        result.members_termed += 1
    elif entry.kind in (ChangeKind.CHANGE, ChangeKind.ADD):
        result.members_changed += 1
    for f in entry.fields:
        if f.field in ("ssn", "subgroup", "class"):
            subgroups, classes = codes
            if f.field == "ssn":
                member.set_ssn(entry.row.ssn)
            elif f.field == "subgroup":
                member.subgroup_id = subgroups.get(f.after)
            else:
                member.class_id = classes.get(f.after)
        else:
            setattr(member, f.field, getattr(entry.row, f.field))
    for dependent_change in entry.dependents:
        _apply_dependent(member, dependent_change)
    for change in entry.coverages:
        if change.plan_before is not None:
            existing = _in_force(member, change)
            if existing is not None:
                last_day = (
                    change.effective_on
                    if change.plan_after is None
                    else change.effective_on - timedelta(days=1)
                )
                if last_day < existing.effective_from:
                    # Corrected before it ever took effect: no history to keep.
                    if change.plan_after is not None:
                        existing.plan_id = change.plan_after.id
                        existing.tier = Tier(change.tier_after) if change.tier_after else None
                        existing.elected_volume = change.volume_after
                        existing.source_upload_id = upload_id
                        continue
                    # Cancelled from inception (an 834's DTP*348 = DTP*349, a death before
                    # the start): it never covered anyone, so it bills nothing; the upload and
                    # the audit keep what it said, and the retro credits months billed.
                    _cancel_from_inception(session, member, existing)
                    result.coverages_closed += 1
                    continue
                existing.effective_to = last_day
                result.coverages_closed += 1
        if change.plan_after is not None:
            _open(member, change, upload_id)
            result.coverages_opened += 1
    if entry.kind is ChangeKind.TERM and member is not None:
        member.status = MemberStatus.TERMINATED
    return member


def _load_enrollment(session: Session, diff: CensusDiff) -> dict[int, Member]:
    """Every member the diff changes with its coverages and dependents, in a few queries (the
    apply reads and extends them member by member; loading them one member at a time was
    most of an apply)."""
    ids = sorted({e.member_id for e in diff.changes} - {None})
    members: dict[int, Member] = {}
    for chunk in id_chunks(ids):
        for member in session.scalars(
            select(Member)
            .where(Member.id.in_(chunk))
            .options(selectinload(Member.coverages), selectinload(Member.dependents))
        ):
            members[member.id] = member
    return members


def billed_months(session: Session, group: EmployerGroup) -> list[date]:
    """Coverage months on the group's issued (non-void) invoices, oldest first."""
    months: set[date] = set()
    for start, end in session.execute(
        select(Invoice.period_start, Invoice.period_end).where(
            Invoice.group_id == group.id, Invoice.status != InvoiceStatus.VOID
        )
    ):
        month = start
        while month <= end:
            months.add(month)
            month = add_months(month, 1)
    return sorted(months)


def apply_census(
    session: Session,
    group: EmployerGroup,
    diff: CensusDiff,
    *,
    actor: User,
    today: date,
    upload_id: int | None = None,
) -> ApplyResult:
    """Apply every add, term and change of `diff` to enrollment and queue, as PENDING
    adjustments requested by `actor`, the premium difference of each touched member for every
    month already billed from the change's effective month on (see the module docstring for
    retro windows). Applying the same diff twice changes nothing the second time: the
    enrollment then matches and the differences are already queued."""
    codes = _codes(session, group)
    keys = _MemberKeys(session, group)
    result = ApplyResult()
    billed = billed_months(session, group)
    enrolled = _load_enrollment(session, diff)
    for entry in diff.changes:
        member = _apply_member(session, group, entry, enrolled, codes, keys, upload_id, result)
        starts = [
            entry.effective_on,
            *(c.effective_on for c in entry.coverages),
            *(d.effective_on for d in entry.dependents),
        ]
        touched = [m for m in billed if m >= month_start(min(starts))]
        if not touched:
            continue
        session.flush()  # the member's id, and its enrollment as the retro query reads it
        window_start = retro_window(group, entry.kind, today)
        if entry.kind is ChangeKind.TERM:
            touched = [m for m in touched if m >= window_start]
        reason = REASON_BY_KIND.get(entry.kind) or _change_reason(entry)
        result.adjustments += queue_premium_differences(
            session,
            group,
            member,
            touched,
            reason_code=reason,
            source_type="upload" if upload_id else "manual",
            source_id=upload_id,
            requested_by=actor,
            supervisor_before=window_start,
        )
    session.flush()
    return result


def _change_reason(entry: MemberDiff) -> str:
    for change in entry.coverages:
        if (
            change.plan_before
            and change.plan_after
            and change.plan_before.id != change.plan_after.id
        ):
            return "plan_change"
        if change.tier_before != change.tier_after:
            return "tier_change"
        if change.volume_before != change.volume_after:
            return "salary_change"
    if any(f.field == "annual_salary" for f in entry.fields):
        return "salary_change"
    return "manual"
