"""Payments from every source in one shape, and their allocations to invoices (append-only:
an allocation is undone by a negative allocation that points at it)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import AppendOnly, Base, Money, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import PaymentMethod, PaymentStatus


class Payment(Base):
    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount > 0", name="positive_amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"), index=True)
    method: Mapped[PaymentMethod] = mapped_column(enum_type(PaymentMethod, "payment_method"))
    status: Mapped[PaymentStatus] = mapped_column(
        enum_type(PaymentStatus, "payment_status"), default=PaymentStatus.PENDING
    )
    amount: Mapped[Decimal] = mapped_column(Money())
    received_on: Mapped[date] = mapped_column(Date, index=True)
    payer_name: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(100))  # check no., trace no.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)  # Stripe id
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
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Payment] = relationship(back_populates="allocations")
