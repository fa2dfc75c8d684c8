"""Future-bill (retro) adjustments: a premium difference for a member x plan x coverage month,
queued pending, decided by staff (four eyes above the authority limit), billed on the next
invoice. Reversal is a new adjustment pointing at the old one; nothing is deleted."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing_core.db import Base, Money, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import AdjustmentStatus


class Adjustment(Base):
    __tablename__ = "adjustment"
    __table_args__ = (CheckConstraint("amount <> 0", name="non_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    subgroup_id: Mapped[int | None] = mapped_column(ForeignKey("billing_subgroup.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    coverage_month: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    reason_code: Mapped[str] = mapped_column(String(30))
    source_type: Mapped[str] = mapped_column(String(30))  # upload, manual, remittance
    source_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[AdjustmentStatus] = mapped_column(
        enum_type(AdjustmentStatus, "adjustment_status"), default=AdjustmentStatus.PENDING
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    # A month older than the retro window: only a supervisor may approve it (an override).
    requires_supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    reverses_adjustment_id: Mapped[int | None] = mapped_column(
        ForeignKey("adjustment.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
