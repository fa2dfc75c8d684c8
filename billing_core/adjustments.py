"""Future-bill adjustments: the reason codes they carry, how they read on an invoice, and the
staff decisions on them (approve with four eyes, reject, reverse).

Approved adjustments that are not yet billed land on the group's next invoice: reason codes in
`FEE_REASONS` in the fees section, every other code in the retro section."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from billing_core.db import utcnow
from billing_core.errors import AccessDenied, BillingError
from billing_core.models import Adjustment, User
from billing_core.models.enums import AdjustmentStatus, Role

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
}


def reason_label(code: str | None) -> str:
    """Plain words for a reason code (the code itself when unknown)."""
    if not code:
        return ""
    return REASONS.get(code, code.replace("_", " ").capitalize())


def source_label(source_type: str | None) -> str:
    return SOURCES.get(source_type or "", source_type or "")


# --------------------------------------------------------------------------- decisions

DEFAULT_AUTHORITY_LIMIT = Decimal("500.00")
SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


def needs_supervisor(adjustment: Adjustment, authority_limit: Decimal) -> bool:
    """Above the authority limit (in absolute dollars) or older than the retro window."""
    return adjustment.requires_supervisor or abs(adjustment.amount) > authority_limit


def _decide(adjustment: Adjustment, actor: User, note: str, status: AdjustmentStatus) -> None:
    adjustment.status = status
    adjustment.decided_by_id = actor.id
    adjustment.decided_at = utcnow()
    adjustment.decision_note = note


def approve_adjustment(
    adjustment: Adjustment,
    *,
    actor: User,
    note: str = "",
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
) -> None:
    """Approve a pending adjustment so the next invoice bills it. Four eyes: above the
    authority limit, or for a month older than the retro window, only a supervisor who is not
    the requester may approve. Enforced here, whatever the screen showed."""
    if not actor.role.is_staff:
        raise AccessDenied("only billing staff decide adjustments")
    if adjustment.status is not AdjustmentStatus.PENDING:
        raise BillingError(f"adjustment {adjustment.id} is {adjustment.status.value}, not pending")
    if needs_supervisor(adjustment, authority_limit):
        if actor.role not in SUPERVISING_ROLES:
            raise AccessDenied(
                f"an adjustment of {adjustment.amount:,.2f} needs a supervisor's approval "
                f"(authority limit {authority_limit:,.2f}"
                + (", or older than the retro window)" if adjustment.requires_supervisor else ")")
            )
        if adjustment.requested_by_id == actor.id:
            raise AccessDenied("a second person must approve an adjustment you requested")
    _decide(adjustment, actor, note.strip(), AdjustmentStatus.APPROVED)


def reject_adjustment(adjustment: Adjustment, *, actor: User, reason: str) -> None:
    """Reject a pending adjustment with a reason; it stays on record, never billed."""
    if not actor.role.is_staff:
        raise AccessDenied("only billing staff decide adjustments")
    if adjustment.status is not AdjustmentStatus.PENDING:
        raise BillingError(f"adjustment {adjustment.id} is {adjustment.status.value}, not pending")
    if len(reason.strip()) < 5:
        raise BillingError("say why the adjustment is rejected")
    _decide(adjustment, actor, reason.strip(), AdjustmentStatus.REJECTED)


def reverse_adjustment(
    session: Session, adjustment: Adjustment, *, actor: User, reason: str
) -> Adjustment | None:
    """Take back an approved adjustment, with a reason; nothing is deleted. Not yet billed: it
    is marked reversed and the next invoice does not bill it. Already billed: an opposite
    adjustment (approved, pointing at it) credits it on the next invoice and is returned; the
    original keeps its invoice and is marked reversed."""
    if actor.role not in SUPERVISING_ROLES:
        raise AccessDenied("only a supervisor can reverse an approved adjustment")
    if len(reason.strip()) < 5:
        raise BillingError("say why the adjustment is reversed")
    if adjustment.status is AdjustmentStatus.APPROVED and adjustment.invoice_id is None:
        _decide(adjustment, actor, reason.strip(), AdjustmentStatus.REVERSED)
        return None
    if adjustment.status is not AdjustmentStatus.BILLED:
        raise BillingError(
            f"adjustment {adjustment.id} is {adjustment.status.value}; only an "
            "approved or billed adjustment can be reversed"
        )
    opposite = Adjustment(
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
    session.add(opposite)
    adjustment.status = AdjustmentStatus.REVERSED
    session.flush()
    return opposite
