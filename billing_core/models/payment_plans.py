"""Payment plans on an overdue balance and their installments (issue 20, item 6): the plan a
collector agreed with a group (billing_core.collections.payment_plans) and its schedule, each
installment decided once by the daily sweep (met or missed)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import Base, Money, UTCDateTime, enum_type, utcnow

__all__ = [
    "InstallmentStatus",
    "PaymentPlan",
    "PaymentPlanInstallment",
    "PaymentPlanStatus",
]


class PaymentPlanStatus(enum.StrEnum):
    OPEN = "open"  # in force: the group's clock is paused
    COMPLETED = "completed"  # every installment met: the clock resumed (the group is paid up)
    BROKEN = "broken"  # an installment missed: the clock resumed from the dates it had
    CANCELLED = "cancelled"  # withdrawn by staff: the clock resumed


class InstallmentStatus(enum.StrEnum):
    OPEN = "open"
    MET = "met"  # paid down to what the plan allows after it, by its date plus grace
    MISSED = "missed"  # its date plus grace passed short of it: the plan is broken


ONE_OPEN = "status = 'open'"


class PaymentPlan(Base):
    """A group's plan to pay `balance` dollars (its overdue balance, the cure amount, on
    `starts_on`, the day it was made) by installments (`installments`, their amounts adding
    up to `balance`). While open the group's clock is paused (states.pause_clock, reason
    "payment_plan"); `grace_days` after each installment's date before it counts as missed.
    `decided_on`: the day it was completed, broken or cancelled. One open plan per group
    (the partial unique index)."""

    __tablename__ = "payment_plan"
    __table_args__ = (
        Index("ix_payment_plan_group", "group_id", "id"),
        Index(
            "uq_payment_plan_one_open",
            "group_id",
            unique=True,
            sqlite_where=text(ONE_OPEN),
            postgresql_where=text(ONE_OPEN),
        ),
        CheckConstraint("balance > 0", name="balance"),
        CheckConstraint("grace_days >= 0", name="grace_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    episode: Mapped[int] = mapped_column(Integer, default=0)
    balance: Mapped[Decimal] = mapped_column(Money())
    starts_on: Mapped[date] = mapped_column(Date)
    grace_days: Mapped[int] = mapped_column(Integer, default=5)
    status: Mapped[PaymentPlanStatus] = mapped_column(
        enum_type(PaymentPlanStatus, "payment_plan_status"), default=PaymentPlanStatus.OPEN
    )
    decided_on: Mapped[date | None] = mapped_column(Date)
    made_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    made_by: Mapped[str] = mapped_column(String(254))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str] = mapped_column(String(300), default="")
    closed_reason: Mapped[str] = mapped_column(String(300), default="")

    installments: Mapped[list[PaymentPlanInstallment]] = relationship(
        order_by="PaymentPlanInstallment.seq", back_populates="plan"
    )


class PaymentPlanInstallment(Base):
    """One installment of a plan: `amount` dollars due on `due_on`; `cumulative` is the plan's
    scheduled total through it (so the last one's is the plan's balance). `down_payment`: the
    first, paid up front. Decided once by the sweep (`decided_on`), with the group's overdue
    balance it was judged on (`overdue_then`)."""

    __tablename__ = "payment_plan_installment"
    __table_args__ = (
        UniqueConstraint("plan_id", "seq"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("cumulative >= amount", name="cumulative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plan.id"))
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    cumulative: Mapped[Decimal] = mapped_column(Money())
    down_payment: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[InstallmentStatus] = mapped_column(
        enum_type(InstallmentStatus, "installment_status"), default=InstallmentStatus.OPEN
    )
    decided_on: Mapped[date | None] = mapped_column(Date)
    overdue_then: Mapped[Decimal | None] = mapped_column(Money())

    plan: Mapped[PaymentPlan] = relationship(back_populates="installments")
