"""Money that moves on one person's request and another's decision, in one shape for refunds
and write-off requests: a request waits (REQUESTED) and posts nothing; someone allowed by the
four-eyes rule (billing_core.authority: never the requester; above the limit a supervisor)
approves it, and only then does the caller post; or someone other than the requester rejects
it with a reason; or the requester withdraws it while it waits (recorded as rejected by them,
which no decision can be). Who ended it, when, with what note, and the audit row saying so are
recorded here for both."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.authority import DEFAULT_AUTHORITY_LIMIT, Authority, authority
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, PaymentError
from billing_core.models import Refund, User, WriteOffRequest
from billing_core.money import format_dollars

MoneyRequest = Refund | WriteOffRequest


@dataclass(frozen=True)
class RequestKind:
    """How one kind of request is named: `what` in messages ("refund"), `noun` in the four-eyes
    wording ("a refund of $80.00"), `audit` the prefix of its audit actions, `asked` what its
    requester did ("requested a refund")."""

    what: str
    noun: str
    audit: str
    asked: str


REFUND = RequestKind("refund", "refund", "refund", "requested a refund")
WRITE_OFF = RequestKind("write-off request", "write-off", "write_off", "asked for a write-off")


def record_request(
    session: Session, kind: RequestKind, request: MoneyRequest, *, actor: User, detail: dict
) -> None:
    """Keep a new request (REQUESTED: nothing posts) with the audit row `<kind>.requested`."""
    session.add(request)
    session.flush()
    audit.record(
        session,
        f"{kind.audit}.requested",
        actor=actor,
        target=request,
        group_id=request.group_id,
        detail={"amount": str(request.amount), **detail},
    )


def check_waiting(kind: RequestKind, request: MoneyRequest) -> None:
    """Refuse a request that is no longer waiting for a decision."""
    if request.status.value != "requested":
        raise PaymentError(f"this {kind.what} is already {request.status.value}")


def second_person(kind: RequestKind, request: MoneyRequest) -> Authority:
    """The rule for turning a request down: anyone on the staff but its requester."""
    return authority(
        what=f"a {kind.noun} of {format_dollars(request.amount)}",
        exposures=(),
        limit=DEFAULT_AUTHORITY_LIMIT,
        requested_by=[request.requested_by_id],
        second_person=True,
    )


def record_decision(
    session: Session, kind: RequestKind, request: MoneyRequest, actor: User, status, note: str,
    action: str,
) -> None:  # fmt: skip
    """Who ended the request (`status`), when, with what note, and the audit row
    `<kind>.<action>` saying so."""
    request.status = status
    request.decided_by_id = actor.id
    request.decided_at = utcnow()
    request.decision_note = note
    audit.record(
        session,
        f"{kind.audit}.{action}",
        actor=actor,
        target=request,
        group_id=request.group_id,
        detail={"amount": str(request.amount), "note": note},
    )


def approve(
    session: Session, kind: RequestKind, request: MoneyRequest, *, actor: User, rule: Authority,
    note: str,
) -> None:  # fmt: skip
    """Approve a waiting request when `rule` allows `actor` (AccessDenied with the reason
    otherwise). The caller posts what it moves."""
    check_waiting(kind, request)
    rule.check(actor)
    record_decision(session, kind, request, actor, type(request.status).APPROVED, note, "approved")


def reject(
    session: Session, kind: RequestKind, request: MoneyRequest, *, actor: User, reason: str
) -> None:
    """Turn a waiting request down with a reason (at least a few letters), by anyone on the
    staff but its requester. Nothing moves."""
    check_waiting(kind, request)
    if len((reason or "").strip()) < 3:
        raise PaymentError(f"say why the {kind.noun} is rejected")
    second_person(kind, request).check(actor)
    note = reason.strip()[:500]
    record_decision(session, kind, request, actor, type(request.status).REJECTED, note, "rejected")


def withdraw(
    session: Session, kind: RequestKind, request: MoneyRequest, *, actor: User, reason: str
) -> None:
    """The requester takes back a request nobody has decided yet, with a reason."""
    check_waiting(kind, request)
    if actor.id != request.requested_by_id:
        raise AccessDenied(f"only the person who {kind.asked} can withdraw it; reject it")
    if len((reason or "").strip()) < 3:
        raise PaymentError(f"say why the {kind.what} is withdrawn")
    note = reason.strip()[:500]
    record_decision(session, kind, request, actor, type(request.status).REJECTED, note, "withdrawn")
