"""The adjustment queue as staff read it: the list filtered by status, group and source, what
one source's pending adjustments come to as a single decision, and the group, member, plan
and requester behind each adjustment a confirmation lists. Queries only; the decisions
themselves are in `adjustments`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from billing_core.authority import Authority, gross
from billing_core.billing.adjustments import approval_authority, pending_of_source, source_label
from billing_core.models import Adjustment, EmployerGroup, Member, Plan, User
from billing_core.models.enums import AdjustmentStatus
from billing_core.money import ZERO

STATUSES = [s.value for s in AdjustmentStatus]


def adjustment_queue_query(
    status: str = "pending", group_search: str = "", source: tuple[str, int] | None = None
) -> Select:
    """Rows of (adjustment, group, member or None, plan or None, requester or None) ordered by
    group number, coverage month and id. `status` is one of `STATUSES` (anything else: every
    status); `group_search` matches group number or name; `source` is (kind, id)."""
    requester = aliased(User)
    query = (
        select(Adjustment, EmployerGroup, Member, Plan, requester)
        .join(EmployerGroup, EmployerGroup.id == Adjustment.group_id)
        .outerjoin(Member, Member.id == Adjustment.member_id)
        .outerjoin(Plan, Plan.id == Adjustment.plan_id)
        .outerjoin(requester, requester.id == Adjustment.requested_by_id)
    )
    if status in STATUSES:
        query = query.where(Adjustment.status == AdjustmentStatus(status))
    if group_search:
        like = f"%{group_search}%"
        query = query.where(EmployerGroup.group_number.ilike(like) | EmployerGroup.name.ilike(like))
    if source:
        query = query.where(Adjustment.source_type == source[0], Adjustment.source_id == source[1])
    return query.order_by(EmployerGroup.group_number, Adjustment.coverage_month, Adjustment.id)


@dataclass(frozen=True)
class PendingSource:
    """Everything one source (an upload, a payment review) still has pending, as one decision:
    its count, net and gross dollars, and who may approve it (`rule`)."""

    kind: str
    id: int
    count: int
    net: Decimal
    gross: Decimal
    rule: Authority

    @property
    def label(self) -> str:
        return f"{source_label(self.kind)} {self.id}"


def pending_source(
    session: Session, source: tuple[str, int], authority_limit: Decimal
) -> PendingSource | None:
    """The pending adjustments of `source` as one decision, or None when none are pending."""
    pending = pending_of_source(session, *source)
    if not pending:
        return None
    return PendingSource(
        kind=source[0],
        id=source[1],
        count=len(pending),
        net=sum((a.amount for a in pending), ZERO),
        gross=gross(a.amount for a in pending),
        rule=approval_authority(session, pending, authority_limit),
    )


@dataclass(frozen=True)
class AdjustmentParties:
    """An adjustment with the group, member (None: group level), plan and requester it names."""

    adjustment: Adjustment
    group: EmployerGroup
    member: Member | None
    plan: Plan | None
    requester: User | None


def adjustment_parties(
    session: Session, adjustments: Sequence[Adjustment]
) -> list[AdjustmentParties]:
    """Each of `adjustments` (in their order) with what it names, read through the session's
    identity map (the adjustments an action just queued have not been committed)."""
    return [
        AdjustmentParties(
            adjustment=a,
            group=session.get(EmployerGroup, a.group_id),
            member=session.get(Member, a.member_id) if a.member_id else None,
            plan=session.get(Plan, a.plan_id) if a.plan_id else None,
            requester=session.get(User, a.requested_by_id) if a.requested_by_id else None,
        )
        for a in adjustments
    ]
