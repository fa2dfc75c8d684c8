"""Renewals and mid-year rate corrections (issue 22, item 2): a proposal of new rates for a
group's plans from an effective date, proposed by one staff member and approved by another
(billing_core.setup.rate_changes). Nothing the billing run reads changes until approval, which
writes the new `RateVersion` rows.

The proposed rates of a plan are kept as JSON in the set-up document's own shape (a
`rate_versions` item without its dates: `tier_rates`, `age_bands`, `child_rate` ...): the
import's checker reads it as it is, so a proposal is validated by the import's own rules, and a
draft of four kinds of rows (tiers, bands, reductions, scalars) is not kept twice."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import Base, UTCDateTime, enum_type, utcnow

__all__: list[str] = ["RateChange", "RateChangeKind", "RateChangePlan", "RateChangeStatus"]


class RateChangeKind(enum.StrEnum):
    RENEWAL = "renewal"
    CORRECTION = "correction"


class RateChangeStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # awaiting a second staff member's approval
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"


class RateChange(Base):
    """New rates for a group's plans from `effective_from` (a first of month)."""

    __tablename__ = "rate_change"
    __table_args__ = (
        CheckConstraint(
            "kind <> 'correction' OR length(reason) > 0", name="correction_needs_reason"
        ),
        CheckConstraint(
            "status <> 'approved' OR (approved_by_id IS NOT NULL"
            " AND approved_by_id <> proposed_by_id)",
            name="approved_by_another",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    kind: Mapped[RateChangeKind] = mapped_column(enum_type(RateChangeKind, "rate_change_kind"))
    effective_from: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[RateChangeStatus] = mapped_column(
        enum_type(RateChangeStatus, "rate_change_status"), default=RateChangeStatus.DRAFT
    )
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plans: Mapped[list[RateChangePlan]] = relationship(
        back_populates="rate_change",
        cascade="all, delete-orphan",
        order_by="RateChangePlan.id",
    )
    proposed_by: Mapped[User] = relationship(foreign_keys=[proposed_by_id])  # noqa: F821
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])  # noqa: F821

    @property
    def is_open(self) -> bool:
        return self.status in (RateChangeStatus.DRAFT, RateChangeStatus.SUBMITTED)


class RateChangePlan(Base):
    """One plan's proposed rates in a rate change. `replaces_rate_version_id` is the version in
    force on the effective date when the change was started (approval is refused if another
    version took its place since); `rate_version_id` the version approval wrote."""

    __tablename__ = "rate_change_plan"
    __table_args__ = (UniqueConstraint("rate_change_id", "plan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_change_id: Mapped[int] = mapped_column(ForeignKey("rate_change.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"), index=True)
    replaces_rate_version_id: Mapped[int | None] = mapped_column(ForeignKey("rate_version.id"))
    rates: Mapped[dict] = mapped_column(JSON, default=dict)
    rate_version_id: Mapped[int | None] = mapped_column(ForeignKey("rate_version.id"))

    rate_change: Mapped[RateChange] = relationship(back_populates="plans")
    plan: Mapped[Plan] = relationship()  # noqa: F821
    replaces: Mapped[RateVersion | None] = relationship(  # noqa: F821
        foreign_keys=[replaces_rate_version_id]
    )
