"""Payments from every source in one shape, their allocations to invoices (append-only: an
allocation is undone by a negative allocation that points at it), suspense items for cash that
names no group, refunds, write-off requests, online checkouts, processed webhook events and
imported bank files."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from billing_core.db import AppendOnly, Base, Money, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import (
    CheckoutStatus,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
    RefundStatus,
    ReviewCause,
    SuspenseStatus,
    WriteOffStatus,
)

# A payment waiting for manual reconciliation (payments.review.reconciliation_query).
TO_REVIEW = "review_reason IS NOT NULL AND reviewed_at IS NULL"


class Payment(Base):
    """Money received (or on its way: an ACH debit stays pending until it settles). `group_id`
    is empty while the cash sits in suspense. Nothing posts to the ledger until it succeeds."""

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="positive_amount"),
        # The reconciliation queue (staff Today, the queue's page): the few payments flagged
        # and not yet reviewed, found without reading the book's payments.
        Index(
            "ix_payment_to_review",
            "received_on",
            "id",
            sqlite_where=text(TO_REVIEW),
            postgresql_where=text(TO_REVIEW),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"), index=True)
    method: Mapped[PaymentMethod] = mapped_column(enum_type(PaymentMethod, "payment_method"))
    source: Mapped[PaymentSource] = mapped_column(
        enum_type(PaymentSource, "payment_source"), default=PaymentSource.STAFF
    )
    status: Mapped[PaymentStatus] = mapped_column(
        enum_type(PaymentStatus, "payment_status"), default=PaymentStatus.PENDING
    )
    amount: Mapped[Decimal] = mapped_column(Money())
    received_on: Mapped[date] = mapped_column(Date, index=True)
    payer_name: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(100))  # check no., trace no.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)  # Stripe id, file key
    # The invoices the payer chose (ids, in order); empty means the oldest open first.
    invoice_choice: Mapped[list] = mapped_column(JSON, default=list)
    remittance_file_id: Mapped[int | None] = mapped_column(ForeignKey("remittance_file.id"))
    status_reason: Mapped[str | None] = mapped_column(String(300))  # failure / return reason
    returned_on: Mapped[date | None] = mapped_column(Date)
    # Short or over outside tolerance, or a remittance that did not tie out: manual reconciliation.
    review_reason: Mapped[str | None] = mapped_column(String(300))
    # What the flag was about, when the portal can tell it is over (see ReviewCause); and how
    # the review ended: "cleared: invoice ... paid in full on ..." or staff's own note.
    review_cause: Mapped[ReviewCause | None] = mapped_column(enum_type(ReviewCause, "review_cause"))
    review_resolution: Mapped[str | None] = mapped_column(String(300))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    allocations: Mapped[list[PaymentAllocation]] = relationship(back_populates="payment")


class PaymentAllocation(AppendOnly, Base):
    __tablename__ = "payment_allocation"
    __table_args__ = (CheckConstraint("amount <> 0", name="non_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    reverses_allocation_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_allocation.id"), unique=True
    )
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Payment] = relationship(back_populates="allocations")


class SuspenseItem(Base):
    """Cash that could not be tied to a group: open until staff apply it to a group, reverse it
    (the bank took it back) or refund it to the sender."""

    __tablename__ = "suspense_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), unique=True)
    status: Mapped[SuspenseStatus] = mapped_column(
        enum_type(SuspenseStatus, "suspense_status"), default=SuspenseStatus.OPEN
    )
    reason: Mapped[str] = mapped_column(String(300))
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Payment] = relationship()


class Refund(Base):
    """A refund of credit left on a payment, or of cash held in suspense back to its sender
    (`suspense_item_id`; no group): requested by one staff user, approved by another (four
    eyes, billing_core.authority). Card and ACH debit payments refund through Stripe; the rest
    become refunds payable until the check goes out."""

    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount > 0", name="positive_amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    suspense_item_id: Mapped[int | None] = mapped_column(ForeignKey("suspense_item.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[RefundStatus] = mapped_column(
        enum_type(RefundStatus, "refund_status"), default=RefundStatus.REQUESTED
    )
    reason: Mapped[str] = mapped_column(String(300))
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)  # Stripe refund id
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    paid_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Payment] = relationship()


class WriteOffRequest(Base):
    """A write-off by hand above its requester's authority: it waits, posting nothing, until a
    supervisor who did not ask approves it (the write-off then posts: `journal_entry_id`) or
    rejects it; the requester may withdraw it while undecided (recorded as rejected by them)."""

    __tablename__ = "write_off_request"
    __table_args__ = (CheckConstraint("amount > 0", name="positive_amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    # The payment under review that left the balance (for the way back to it), if any.
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[WriteOffStatus] = mapped_column(
        enum_type(WriteOffStatus, "write_off_status"), default=WriteOffStatus.REQUESTED
    )
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    journal_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entry.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Checkout(Base):
    """An employer's request to pay online: the amount and invoices chosen, and the Stripe
    Checkout Session (or local test checkout) that collects it. The payment itself is recorded
    only from the webhook."""

    __tablename__ = "checkout"
    __table_args__ = (CheckConstraint("amount > 0", name="positive_amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    invoice_ids: Mapped[list] = mapped_column(JSON, default=list)
    method: Mapped[PaymentMethod] = mapped_column(enum_type(PaymentMethod, "payment_method"))
    status: Mapped[CheckoutStatus] = mapped_column(
        enum_type(CheckoutStatus, "checkout_status"), default=CheckoutStatus.OPEN
    )
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    session_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    session_url: Mapped[str | None] = mapped_column(Text)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookEvent(AppendOnly, Base):
    """Each Stripe event id processed once: a redelivery finds its row and changes nothing."""

    __tablename__ = "webhook_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(300))
    # Indexed for the last days' events (staff Today's Stripe line reads 30 days of them).
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class RemittanceFile(Base):
    """A bank, lockbox or 820 file as received (the bytes kept; the same file twice is one row)."""

    __tablename__ = "remittance_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_format: Mapped[str] = mapped_column(String(20))
    original_filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RemittanceDetail(AppendOnly, Base):
    """Member-level premium the employer reports paying (820 detail): kept for reconciliation
    as the reported premium."""

    __tablename__ = "remittance_detail"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    employee_id: Mapped[str | None] = mapped_column(String(40))
    member_name: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Money())
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    product_ref: Mapped[str | None] = mapped_column(String(60))
