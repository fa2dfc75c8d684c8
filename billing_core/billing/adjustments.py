"""Future-bill adjustments: the one place they are made (premium differences queued for a
decision, fees the billing policy charges, reversals, a book's past ones), the reason codes
they carry, how they read on an invoice, and the staff decisions on them (approve with four
eyes, reject, reverse), one line at a time or many in one decision (a selection, or
everything one upload produced).

Approved adjustments that are not yet billed land on the group's next invoice: reason codes in
`FEE_REASONS` in the fees section, every other code in the retro section."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from billing_core import audit
from billing_core.authority import (
    DEFAULT_AUTHORITY_LIMIT,
    SUPERVISING_ROLES,
    Authority,
    Exposure,
    authority,
    gross,
)
from billing_core.billing.retro import premium_differences
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, BillingError
from billing_core.ledger import money_sum
from billing_core.models import Adjustment, EmployerGroup, Member, User
from billing_core.models.enums import AdjustmentStatus
from billing_core.money import ZERO, format_count, format_dollars

REASONS: dict[str, str] = {
    "late_add": "Late-reported addition",
    "late_term": "Late-reported termination",
    "tier_change": "Coverage tier change",
    "plan_change": "Plan or class change",
    "salary_change": "Salary or volume change",
    "rate_correction": "Rate correction",
    "dependent_change": "Dependent change",
    "reinstatement": "Reinstatement",
    "cobra": "COBRA continuation",
    "manual": "Manual adjustment",
    "late_fee": "Late payment fee",
    "returned_payment_fee": "Returned payment fee",
    "reinstatement_fee": "Reinstatement fee",
}

FEE_REASONS = frozenset({"late_fee", "returned_payment_fee", "reinstatement_fee"})

SOURCES: dict[str, str] = {
    "upload": "census upload",
    "remittance": "self-bill remittance",
    "manual": "entered by billing staff",
    "void": "re-billed after a void",
    "reversal": "reversal of an earlier adjustment",
    "payment": "returned payment",
    "collections": "delinquency sweep (late fee)",
    "reinstatement": "reinstatement after cancellation for non-payment",
    "rate_change": "approved rate correction",
}


def reason_label(code: str | None) -> str:
    """Plain words for a reason code (the code itself when unknown)."""
    if not code:
        return ""
    return REASONS.get(code, code.replace("_", " ").capitalize())


def source_label(source_type: str | None) -> str:
    return SOURCES.get(source_type or "", source_type or "")


# --------------------------------------------------------------------------- making them


def _add(session: Session, **columns) -> Adjustment:
    """Every adjustment is made here: a known reason and source, a non-zero amount in dollars
    (whole cents), a coverage month named by its first day."""
    if columns["reason_code"] not in REASONS:
        raise ValueError(f"unknown adjustment reason {columns['reason_code']!r}")
    if columns["source_type"] not in SOURCES:
        raise ValueError(f"unknown adjustment source {columns['source_type']!r}")
    if not columns["amount"]:
        raise ValueError("an adjustment moves a non-zero amount")
    if columns["coverage_month"].day != 1:
        raise ValueError("a coverage month is named by its first day")
    adjustment = Adjustment(**columns)
    session.add(adjustment)
    return adjustment


def queue_premium_differences(
    session: Session,
    group: EmployerGroup,
    member: Member,
    months: list[date],
    *,
    reason_code: str,
    source_type: str,
    source_id: int | None,
    requested_by: User,
    supervisor_before: date | None = None,
) -> list[Adjustment]:
    """One PENDING adjustment per plan and month of `months` (already billed, oldest first)
    where `member`'s enrollment now calls for a premium other than what was billed and queued
    (`retro.premium_differences`: dollars, rounded per line as the billing run rates them),
    requested by `requested_by`. A month before `supervisor_before` (the first month of the
    retro window) is marked for a supervisor's approval. Computing twice queues nothing
    twice."""
    return [
        _add(
            session,
            group_id=group.id,
            subgroup_id=member.subgroup_id,
            member_id=member.id,
            plan_id=plan_id,
            coverage_month=month,
            amount=amount,
            reason_code=reason_code,
            source_type=source_type,
            source_id=source_id,
            status=AdjustmentStatus.PENDING,
            requested_by_id=requested_by.id,
            requires_supervisor=supervisor_before is not None and month < supervisor_before,
        )
        for (plan_id, month), amount in premium_differences(session, group, member, months)
    ]


def charge_fee(
    session: Session,
    group: EmployerGroup,
    *,
    amount: Decimal,
    on: date,
    reason_code: str,
    source_type: str,
    source_id: int | None,
    note: str,
) -> Adjustment:
    """A fee the group's billing policy charges (`FEE_REASONS`: late, returned payment,
    reinstatement), `amount` dollars for the month holding `on`: approved as it is made, since
    the policy decided it, not a person; the next invoice bills it in its fees section."""
    if reason_code not in FEE_REASONS:
        raise ValueError(f"{reason_code!r} is not a fee")
    return _add(
        session,
        group_id=group.id,
        coverage_month=on.replace(day=1),
        amount=amount,
        reason_code=reason_code,
        source_type=source_type,
        source_id=source_id,
        status=AdjustmentStatus.APPROVED,
        decision_note=note,
    )


def bill_reinstated_months(
    session: Session,
    group: EmployerGroup,
    member: Member,
    months: list[date],
    *,
    cancellation_id: int,
    decided_by_id: int | None,
    note: str,
) -> list[Adjustment]:
    """The months a reinstated group was not billed while cancelled (`months`, first days):
    `member`'s premium differences for them (`retro.premium_differences`, so a month already
    billed or queued adds nothing), APPROVED as made (the reinstatement decided them, like a
    fee the policy charges); the next invoice bills them in its retro section."""
    return _approved_differences(
        session, group, member, months, reason_code="reinstatement",
        source=("reinstatement", cancellation_id), decided_by_id=decided_by_id, note=note,
    )  # fmt: skip


def bill_rate_change(
    session: Session,
    group: EmployerGroup,
    member: Member,
    billed: set[tuple[int, date]],
    *,
    rate_change_id: int,
    decided_by_id: int,
    note: str,
) -> list[Adjustment]:
    """A rate change's differences for `member` in the (plan id, coverage month) pairs of
    `billed` (already billed, on the changed plans): `retro.premium_differences` once the new
    rate versions are written, so a month already queued adds nothing. APPROVED as made (the
    rate change's second approver decided them); the next invoice bills them in its retro
    section."""
    months = sorted({month for _plan, month in billed})
    return _approved_differences(
        session, group, member, months, reason_code="rate_correction",
        source=("rate_change", rate_change_id), decided_by_id=decided_by_id, note=note,
        only=billed,
    )  # fmt: skip


def _approved_differences(
    session: Session,
    group: EmployerGroup,
    member: Member,
    months: list[date],
    *,
    reason_code: str,
    source: tuple[str, int],
    decided_by_id: int | None,
    note: str,
    only: set[tuple[int, date]] | None = None,
) -> list[Adjustment]:
    """`member`'s premium differences in `months` (`retro.premium_differences`: a month already
    billed or queued adds nothing), those of the (plan id, month) pairs `only` when given, as
    adjustments APPROVED as made by `decided_by_id` (who decided what caused them)."""
    source_type, source_id = source
    return [
        _add(
            session,
            group_id=group.id,
            subgroup_id=member.subgroup_id,
            member_id=member.id,
            plan_id=plan_id,
            coverage_month=month,
            amount=amount,
            reason_code=reason_code,
            source_type=source_type,
            source_id=source_id,
            status=AdjustmentStatus.APPROVED,
            decided_by_id=decided_by_id,
            decided_at=utcnow(),
            decision_note=note,
        )
        for (plan_id, month), amount in premium_differences(session, group, member, months)
        if only is None or (plan_id, month) in only
    ]


def record_past_differences(
    session: Session,
    group: EmployerGroup,
    member: Member,
    months: list[date],
    *,
    reason_code: str,
    source_type: str,
    requested_by_id: int | None,
    approved_by_id: int | None,
    requested_at: datetime,
    approved_at: datetime,
    note: str,
) -> list[Adjustment]:
    """A book's history (the demo): `member`'s premium differences for `months`, as
    `queue_premium_differences` works them out, already requested at `requested_at` and
    approved at `approved_at` by the people named (not yet billed). No four-eyes check: these
    decisions were taken in the past the book tells."""
    return [
        _add(
            session,
            group_id=group.id,
            member_id=member.id,
            plan_id=plan_id,
            coverage_month=month,
            amount=amount,
            reason_code=reason_code,
            source_type=source_type,
            status=AdjustmentStatus.APPROVED,
            requested_by_id=requested_by_id,
            decided_by_id=approved_by_id,
            decided_at=approved_at,
            decision_note=note,
            created_at=requested_at,
        )
        for (plan_id, month), amount in premium_differences(session, group, member, months)
    ]


# --------------------------------------------------------------------------- decisions

# A source's adjustments from one requester: (source_type, source_id, requested_by_id).
SourceKey = tuple[str, int | None, int | None]


def source_key(adjustment: Adjustment) -> SourceKey:
    return (adjustment.source_type, adjustment.source_id, adjustment.requested_by_id)


def source_words(key: SourceKey) -> str:
    """What a source's pending adjustments are, in words: `the pending adjustments of census
    upload 12 (one requester)`."""
    source_type, source_id, _requester = key
    if source_id is None:
        return f"the pending {source_type.replace('_', ' ')} adjustments of one requester"
    return f"the pending adjustments of {source_label(source_type)} {source_id} (one requester)"


def pending_source_totals(
    session: Session, adjustments: Iterable[Adjustment]
) -> dict[SourceKey, Decimal]:
    """Gross dollars (absolute amounts) still pending from the source and requester of each of
    `adjustments`: what the authority limit is measured on besides the decision itself, so a
    source's lines cannot be approved one by one under the limit."""
    keys = {source_key(a) for a in adjustments}
    if not keys:
        return {}
    rows = session.execute(
        select(
            Adjustment.source_type,
            Adjustment.source_id,
            Adjustment.requested_by_id,
            money_sum(func.abs(Adjustment.amount)),
        )
        .where(
            Adjustment.status == AdjustmentStatus.PENDING,
            Adjustment.source_type.in_({k[0] for k in keys}),
        )
        .group_by(Adjustment.source_type, Adjustment.source_id, Adjustment.requested_by_id)
    )
    totals = {(t, s, r): total for t, s, r, total in rows}
    return {key: totals.get(key, ZERO) for key in keys}


def needs_supervisor(
    adjustment: Adjustment, authority_limit: Decimal, source_total: Decimal | None = None
) -> bool:
    """Above the authority limit (in absolute dollars) on its own or with the rest of its
    source's pending adjustments (`source_total`, from `pending_source_totals`), or older than
    the retro window."""
    return (
        adjustment.requires_supervisor
        or abs(adjustment.amount) > authority_limit
        or (source_total is not None and source_total > authority_limit)
    )


def decision_words(adjustments: Sequence[Adjustment]) -> str:
    if len(adjustments) == 1:
        return f"an adjustment of {format_dollars(adjustments[0].amount)}"
    net = sum((a.amount for a in adjustments), ZERO)
    return f"approving {format_count(len(adjustments), 'adjustment')} ({format_dollars(net)} net)"


def approval_authority(
    session: Session, adjustments: Sequence[Adjustment], authority_limit: Decimal
) -> Authority:
    """Who may approve `adjustments` in one decision: the limit applies to the decision's gross
    total and to each source's pending total (one requester's pending adjustments from one
    upload, payment review or other source); a month older than the retro window needs a
    supervisor whatever the amount; a supervisor who requested any of them may not approve."""
    exposures = [
        Exposure(gross(a.amount for a in adjustments), "the adjustments this decision approves")
    ]
    exposures += [
        Exposure(total, source_words(key))
        for key, total in pending_source_totals(session, adjustments).items()
    ]
    outside = sum(1 for a in adjustments if a.requires_supervisor)
    return authority(
        what=decision_words(adjustments),
        exposures=exposures,
        limit=authority_limit,
        requested_by={a.requested_by_id for a in adjustments},
        supervisor_because=(
            f"{format_count(outside, 'month')} older than the retro window" if outside else ""
        ),
    )


@dataclass
class Decision:
    """What one decision covered: the adjustments, their net and gross dollars."""

    adjustments: list[Adjustment]
    status: AdjustmentStatus

    @property
    def net_total(self) -> Decimal:
        return sum((a.amount for a in self.adjustments), ZERO)

    @property
    def gross_total(self) -> Decimal:
        return gross(a.amount for a in self.adjustments)


def _check_pending(adjustments: Sequence[Adjustment], actor: User) -> None:
    if not actor.role.is_staff:
        raise AccessDenied("only billing staff decide adjustments")
    if not adjustments:
        raise BillingError("choose at least one adjustment")
    for adjustment in adjustments:
        if adjustment.status is not AdjustmentStatus.PENDING:
            raise BillingError(
                f"adjustment {adjustment.id} is {adjustment.status.value}, not pending"
            )


def _decide(adjustment: Adjustment, actor: User, note: str, status: AdjustmentStatus) -> None:
    adjustment.status = status
    adjustment.decided_by_id = actor.id
    adjustment.decided_at = utcnow()
    adjustment.decision_note = note


def _audit_decision(
    session: Session,
    verb: str,
    adjustments: Sequence[Adjustment],
    actor: User,
    note: str,
    ip_address: str | None,
) -> None:
    """One audit row per adjustment decided (`adjustment.<verb>`), each naming the decision it
    was part of (how many lines, their net dollars)."""
    total = sum((a.amount for a in adjustments), ZERO)
    for adjustment in adjustments:
        audit.record(
            session,
            f"adjustment.{verb}",
            actor=actor,
            target=adjustment,
            group_id=adjustment.group_id,
            ip_address=ip_address,
            detail={
                "amount": str(adjustment.amount),
                "note": note[:200],
                "decision_of": len(adjustments),
                "decision_total": str(total),
            },
        )


def approve_adjustments(
    session: Session,
    adjustments: Sequence[Adjustment],
    *,
    actor: User,
    note: str = "",
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
    ip_address: str | None = None,
) -> Decision:
    """Approve pending adjustments in one decision (one, a selection, or all of an upload's) so
    the next invoice bills them. Four eyes by `approval_authority`, enforced here whatever the
    screen showed: all are approved or none. Audited, one row a line."""
    adjustments = list(adjustments)
    _check_pending(adjustments, actor)
    approval_authority(session, adjustments, authority_limit).check(actor)
    for adjustment in adjustments:
        _decide(adjustment, actor, note.strip(), AdjustmentStatus.APPROVED)
    _audit_decision(session, "approve", adjustments, actor, note, ip_address)
    session.flush()
    return Decision(adjustments, AdjustmentStatus.APPROVED)


def reject_adjustments(
    session: Session,
    adjustments: Sequence[Adjustment],
    *,
    actor: User,
    reason: str,
    ip_address: str | None = None,
) -> Decision:
    """Reject pending adjustments with one reason; they stay on record, never billed. Audited."""
    adjustments = list(adjustments)
    _check_pending(adjustments, actor)
    if len(reason.strip()) < 5:
        raise BillingError("say why the adjustment is rejected")
    for adjustment in adjustments:
        _decide(adjustment, actor, reason.strip(), AdjustmentStatus.REJECTED)
    _audit_decision(session, "reject", adjustments, actor, reason, ip_address)
    session.flush()
    return Decision(adjustments, AdjustmentStatus.REJECTED)


def approve_adjustment(
    adjustment: Adjustment,
    *,
    actor: User,
    note: str = "",
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
) -> None:
    """Approve one pending adjustment: `approve_adjustments` with one line (its source's other
    pending lines count towards the limit)."""
    approve_adjustments(
        object_session(adjustment),
        [adjustment],
        actor=actor,
        note=note,
        authority_limit=authority_limit,
    )


def reject_adjustment(adjustment: Adjustment, *, actor: User, reason: str) -> None:
    """Reject one pending adjustment with a reason; it stays on record, never billed."""
    reject_adjustments(object_session(adjustment), [adjustment], actor=actor, reason=reason)


def pending_of_source(session: Session, source_type: str, source_id: int) -> list[Adjustment]:
    """The pending adjustments one source (an upload, a payment) produced, oldest month first."""
    return list(
        session.scalars(
            select(Adjustment)
            .where(
                Adjustment.status == AdjustmentStatus.PENDING,
                Adjustment.source_type == source_type,
                Adjustment.source_id == source_id,
            )
            .order_by(Adjustment.group_id, Adjustment.coverage_month, Adjustment.id)
        )
    )


def reverse_adjustment(
    session: Session,
    adjustment: Adjustment,
    *,
    actor: User,
    reason: str,
    ip_address: str | None = None,
) -> Adjustment | None:
    """Take back an approved adjustment, with a reason; nothing is deleted. Not yet billed: it
    is marked reversed and the next invoice does not bill it. Already billed: an opposite
    adjustment (approved, pointing at it) credits it on the next invoice and is returned; the
    original keeps its invoice and is marked reversed. Audited."""
    if actor.role not in SUPERVISING_ROLES:
        raise AccessDenied("only a supervisor can reverse an approved adjustment")
    if len(reason.strip()) < 5:
        raise BillingError("say why the adjustment is reversed")
    if adjustment.status is AdjustmentStatus.APPROVED and adjustment.invoice_id is None:
        _decide(adjustment, actor, reason.strip(), AdjustmentStatus.REVERSED)
        _audit_decision(session, "reverse", [adjustment], actor, reason, ip_address)
        return None
    if adjustment.status is not AdjustmentStatus.BILLED:
        raise BillingError(
            f"adjustment {adjustment.id} is {adjustment.status.value}; only an "
            "approved or billed adjustment can be reversed"
        )
    opposite = _add(
        session,
        group_id=adjustment.group_id,
        subgroup_id=adjustment.subgroup_id,
        member_id=adjustment.member_id,
        plan_id=adjustment.plan_id,
        coverage_month=adjustment.coverage_month,
        amount=-adjustment.amount,
        reason_code=adjustment.reason_code,
        source_type="reversal",
        source_id=adjustment.id,
        status=AdjustmentStatus.APPROVED,
        requested_by_id=actor.id,
        decided_by_id=actor.id,
        decided_at=utcnow(),
        decision_note=reason.strip(),
        reverses_adjustment_id=adjustment.id,
    )
    adjustment.status = AdjustmentStatus.REVERSED
    _audit_decision(session, "reverse", [adjustment], actor, reason, ip_address)
    session.flush()
    return opposite


def adjustments_by_ids(session: Session, ids: Iterable[int]) -> list[Adjustment]:
    """The adjustments named, in queue order; refused when one no longer exists."""
    wanted = set(ids)
    found = list(
        session.scalars(
            select(Adjustment)
            .where(Adjustment.id.in_(wanted))
            .order_by(Adjustment.group_id, Adjustment.coverage_month, Adjustment.id)
        )
    )
    if len(found) != len(wanted):
        missing = sorted(wanted - {a.id for a in found})
        raise BillingError(f"adjustment {missing[0]} no longer exists")
    return found


def parse_source(text: str) -> tuple[str, int] | None:
    """`upload:12` -> ("upload", 12); None for anything else."""
    kind, _, number = (text or "").partition(":")
    if kind in SOURCES and number.isdigit():
        return kind, int(number)
    return None
