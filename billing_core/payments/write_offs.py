"""Write-offs by hand and the four-eyes rule on them (billing_core.authority). A person writes
off alone only within the authority limit, measured on what they have written off alone on the
same invoice (whenever) and on the same day (any invoice), this write-off included, so three
write-offs of 500.00 are one of 1,500.00. Above it the write-off is a request: nothing posts
until a supervisor who did not ask approves it; the requester may withdraw it meanwhile. The
short-pay tolerance policy writes off without a person (bounded by the group's tolerance).
A request is decided in the shape it shares with refunds (billing_core.payments.decisions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core import ledger
from billing_core.authority import DEFAULT_AUTHORITY_LIMIT, Authority, Exposure, authority
from billing_core.errors import AccessDenied, AllocationError, BillingError
from billing_core.ledger import Chart
from billing_core.models import (
    EmployerGroup,
    Invoice,
    JournalEntry,
    Payment,
    Posting,
    User,
    WriteOffRequest,
)
from billing_core.models.enums import STAFF_ROLES, WriteOffStatus
from billing_core.money import ZERO, format_dollars
from billing_core.payments import decisions
from billing_core.payments.decisions import WRITE_OFF


def written_off_alone(
    session: Session, actor: User, *, invoice_id: int | None = None, on: date | None = None
) -> Decimal:
    """Dollars `actor` wrote off by hand without a second person (not through an approved
    request): on one invoice, or with the entry date `on`."""
    approved = select(WriteOffRequest.journal_entry_id).where(
        WriteOffRequest.journal_entry_id.is_not(None)
    )
    query = (
        select(ledger.money_sum(Posting.debit))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(
            Posting.account_id == ledger.account(session, Chart.WRITE_OFF).id,
            JournalEntry.source_type == "write_off",
            JournalEntry.created_by_id == actor.id,
            JournalEntry.id.not_in(approved),
        )
    )
    if invoice_id is not None:
        query = query.where(JournalEntry.source_id == invoice_id)
    if on is not None:
        query = query.where(JournalEntry.entry_date == on)
    return session.scalar(query)


def write_off_authority(
    session: Session,
    invoice: Invoice,
    amount: Decimal,
    *,
    actor: User,
    on: date,
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
) -> Authority:
    """Whether `actor` may write off `amount` on `invoice` alone on the day `on`: within the
    limit on their write-offs on the invoice and on the day, this one included. Above it the
    write-off needs a supervisor other than `actor` (a supervisor writing off more than the
    limit is a requester too)."""
    exposures = [
        Exposure(
            written_off_alone(session, actor, invoice_id=invoice.id) + amount,
            f"your write-offs on {invoice.invoice_number}, this one included,",
        ),
        Exposure(
            written_off_alone(session, actor, on=on) + amount,
            "your write-offs today, this one included,",
        ),
    ]
    return authority(
        what=f"a write-off of {format_dollars(amount)}",
        exposures=exposures,
        limit=authority_limit,
        requested_by=[actor.id],
    )


def open_on_invoice(session: Session, invoice: Invoice) -> Decimal:
    from billing_core.payments.allocation import open_balances

    group = session.get(EmployerGroup, invoice.group_id)
    return open_balances(session, group).get(invoice.id, ZERO)


def requested_on_invoice(session: Session, invoice: Invoice) -> Decimal:
    """Dollars of write-off requests on the invoice waiting for a decision."""
    return session.scalar(
        select(ledger.money_sum(WriteOffRequest.amount)).where(
            WriteOffRequest.invoice_id == invoice.id,
            WriteOffRequest.status == WriteOffStatus.REQUESTED,
        )
    )


def _check_available(session: Session, invoice: Invoice, amount: Decimal) -> None:
    """Never more than is open, less what write-off requests already ask for."""

    owed = open_on_invoice(session, invoice)
    asked = requested_on_invoice(session, invoice)
    if amount <= 0 or amount > owed - asked:
        held = f", of which {format_dollars(asked)} waits in write-off requests" if asked else ""
        raise AllocationError(
            f"invoice {invoice.invoice_number} has {format_dollars(owed)} open{held}; "
            f"cannot write off {format_dollars(amount)}"
        )


@dataclass
class WriteOffOutcome:
    """What a write-off by hand did: posted (`entry`) or waits for a supervisor (`request`)."""

    amount: Decimal
    rule: Authority
    entry: ledger.JournalEntry | None = None
    request: WriteOffRequest | None = None


def write_off_by_hand(
    session: Session,
    invoice: Invoice,
    amount: Decimal,
    *,
    on: date,
    reason: str,
    actor: User,
    payment: Payment | None = None,
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
) -> WriteOffOutcome:
    """Staff write off `amount` dollars of the invoice's open balance: posted at once within
    the person's authority (`write_off_authority`), else requested for a supervisor's
    approval (nothing posts). Never more than is open, less what other requests hold."""
    from billing_core.payments.allocation import write_off

    _check_available(session, invoice, amount)
    rule = write_off_authority(
        session, invoice, amount, actor=actor, on=on, authority_limit=authority_limit
    )
    if rule.needs_supervisor:
        request = request_write_off(
            session, invoice, amount, reason=reason, actor=actor, payment=payment
        )
        return WriteOffOutcome(amount, rule, request=request)
    entry = write_off(
        session,
        invoice,
        amount,
        on=on,
        reason=reason,
        actor=actor,
        authority_limit=authority_limit,
    )
    return WriteOffOutcome(amount, rule, entry=entry)


def request_write_off(
    session: Session,
    invoice: Invoice,
    amount: Decimal,
    *,
    reason: str,
    actor: User,
    payment: Payment | None = None,
) -> WriteOffRequest:
    """Ask a supervisor to write off `amount` dollars of the invoice (above the requester's
    authority). Posts nothing; refused beyond the open balance less other waiting requests."""
    if actor.role not in STAFF_ROLES:
        raise AccessDenied("only billing staff write off")
    if len((reason or "").strip()) < 3:
        raise BillingError("say why it is written off")
    _check_available(session, invoice, amount)
    request = WriteOffRequest(
        group_id=invoice.group_id,
        invoice_id=invoice.id,
        payment_id=payment.id if payment else None,
        amount=amount,
        reason=reason.strip()[:300],
        requested_by_id=actor.id,
    )
    decisions.record_request(
        session,
        WRITE_OFF,
        request,
        actor=actor,
        detail={"invoice": invoice.invoice_number, "reason": reason},
    )
    return request


def approval_authority(request: WriteOffRequest) -> Authority:
    """A request is above its requester's authority by construction: a supervisor who did not
    ask decides it."""
    return authority(
        what=f"a write-off of {format_dollars(request.amount)}",
        exposures=(),
        limit=DEFAULT_AUTHORITY_LIMIT,
        requested_by=[request.requested_by_id],
        second_person=True,
        supervisor_because="it is above its requester's authority",
    )


def approve_write_off(
    session: Session, request: WriteOffRequest, *, actor: User, on: date, note: str = ""
) -> ledger.JournalEntry:
    """A supervisor who did not ask approves: the write-off posts (Dr premium write-off, Cr
    receivable on the invoice), never more than is still open."""
    from billing_core.payments.allocation import lock_group, post_write_off

    decisions.approve(
        session,
        WRITE_OFF,
        request,
        actor=actor,
        rule=approval_authority(request),
        note=note.strip() or "approved",
    )
    lock_group(session, request.group_id)
    invoice = session.get(Invoice, request.invoice_id)
    requester = session.get(User, request.requested_by_id)
    entry = post_write_off(
        session,
        invoice,
        request.amount,
        on=on,
        reason=f"{request.reason} (asked by {requester.full_name}, approved by {actor.full_name})",
        actor=actor,
    )
    request.journal_entry_id = entry.id
    session.flush()
    return entry


def reject_write_off(
    session: Session, request: WriteOffRequest, *, actor: User, reason: str
) -> None:
    """Someone other than the requester turns it down, with a reason; the balance stays."""
    decisions.reject(session, WRITE_OFF, request, actor=actor, reason=reason)
    session.flush()


def withdraw_write_off(
    session: Session, request: WriteOffRequest, *, actor: User, reason: str
) -> None:
    """The requester takes back a request nobody decided yet (recorded as rejected by them)."""
    decisions.withdraw(session, WRITE_OFF, request, actor=actor, reason=reason)
    session.flush()


def write_off_queue_query(status: str = "requested"):
    """Write-off requests (all, or in `status`), oldest first: rows of (WriteOffRequest,
    Invoice, EmployerGroup)."""
    query = (
        select(WriteOffRequest, Invoice, EmployerGroup)
        .join(Invoice, Invoice.id == WriteOffRequest.invoice_id)
        .join(EmployerGroup, EmployerGroup.id == WriteOffRequest.group_id)
        .order_by(WriteOffRequest.created_at, WriteOffRequest.id)
    )
    if status in {s.value for s in WriteOffStatus}:
        query = query.where(WriteOffRequest.status == WriteOffStatus(status))
    return query


def waiting_write_offs(session: Session) -> tuple[int, Decimal]:
    """How many write-off requests wait for a supervisor, and their dollars."""
    count, total = session.execute(
        select(func.count(WriteOffRequest.id), ledger.money_sum(WriteOffRequest.amount)).where(
            WriteOffRequest.status == WriteOffStatus.REQUESTED
        )
    ).one()
    return count, total
