"""Commission schedules (per product line and agency, effective-dated, with their rates), the
monthly commission run and its lines (issue 21). Lines are append-only: a run adds what changed
since the runs before it, so a correction is a new line, never an edit of a closed statement."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import AppendOnly, Base, Money, Rate, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import LineOfCoverage

__all__ = [
    "CommissionBasis",
    "CommissionKind",
    "CommissionLine",
    "CommissionLineKind",
    "CommissionRate",
    "CommissionRun",
    "CommissionRunStatus",
    "CommissionSchedule",
    "PolicyYear",
]


class CommissionKind(enum.StrEnum):
    FLAT = "flat"  # a percent of premium
    GRADED = "graded"  # percents by band of the policy year's premium
    PER_EMPLOYEE = "per_employee"  # dollars per employee per month


class CommissionBasis(enum.StrEnum):
    COLLECTED = "collected"  # cash applied to premium (the default)
    BILLED = "billed"  # premium billed, less what is written off


class PolicyYear(enum.StrEnum):
    FIRST_YEAR = "first_year"  # the 12 months from the group's original effective date
    RENEWAL = "renewal"


class CommissionLineKind(enum.StrEnum):
    EARNED = "earned"  # commission on premium newly collected (or billed)
    ADJUSTMENT = "adjustment"  # a change to commission already stated on a closed statement
    CHARGEBACK = "chargeback"  # premium refunded, written off or credited back
    HOLD = "hold"  # commission kept back while the group is delinquent
    RELEASE = "release"  # a hold released (group cured, or used against a chargeback)


class CommissionRunStatus(enum.StrEnum):
    OPEN = "open"  # run (maybe more than once), waiting for a supervisor's approval
    APPROVED = "approved"  # closed: its statements never change; payables released


class CommissionSchedule(Base):
    """How an agency (or, with no agency, every agency without its own) earns on one product
    line from `effective_from` to `effective_to` (inclusive; open-ended when None)."""

    __tablename__ = "commission_schedule"
    __table_args__ = (
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_range"
        ),
        Index("ix_commission_schedule_line", "line_of_coverage", "agency_id", "effective_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("broker_agency.id"))
    line_of_coverage: Mapped[LineOfCoverage] = mapped_column(
        enum_type(LineOfCoverage, "line_of_coverage")
    )
    kind: Mapped[CommissionKind] = mapped_column(enum_type(CommissionKind, "commission_kind"))
    basis: Mapped[CommissionBasis] = mapped_column(
        enum_type(CommissionBasis, "commission_basis"), default=CommissionBasis.COLLECTED
    )
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    rates: Mapped[list[CommissionRate]] = relationship(
        back_populates="schedule",
        order_by="(CommissionRate.policy_year, CommissionRate.band_floor)",
        cascade="all, delete-orphan",
    )


class CommissionRate(Base):
    """One rate of a schedule for first-year or renewal months: a percent (flat, graded) or
    dollars per employee per month; a graded band applies from `band_floor` dollars of the
    policy year's premium up to the next band's floor."""

    __tablename__ = "commission_rate"
    __table_args__ = (
        UniqueConstraint("schedule_id", "policy_year", "band_floor"),
        CheckConstraint("band_floor >= 0", name="band_floor"),
        CheckConstraint("rate >= 0", name="rate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("commission_schedule.id"), index=True)
    policy_year: Mapped[PolicyYear] = mapped_column(enum_type(PolicyYear, "policy_year"))
    band_floor: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    rate: Mapped[Decimal] = mapped_column(Rate())

    schedule: Mapped[CommissionSchedule] = relationship(back_populates="rates")


class CommissionRun(Base):
    """The commission run of one month: events dated up to `as_of` (the month's last day) are
    counted. Run again while open it adds only what changed; approved, it is closed."""

    __tablename__ = "commission_run"
    __table_args__ = (
        CheckConstraint("as_of >= month", name="as_of"),
        CheckConstraint(
            "status <> 'approved' OR approved_at IS NOT NULL", name="approved_has_time"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date, unique=True)
    as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[CommissionRunStatus] = mapped_column(
        enum_type(CommissionRunStatus, "commission_run_status"), default=CommissionRunStatus.OPEN
    )
    passes: Mapped[int] = mapped_column(Integer, default=0)
    run_by: Mapped[str] = mapped_column(String(254))  # emails (or "cli") of who ran it
    run_by_ids: Mapped[str] = mapped_column(String(500), default="")  # ",3,7," user ids
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def ran(self, user_id: int | None) -> bool:
        return user_id is not None and f",{user_id}," in self.run_by_ids


class CommissionLine(AppendOnly, Base):
    """One line of an agency's statement: commission (signed dollars) on one group's product
    for one coverage month, owed to the agency (and writing broker) of record for that month.
    `premium_basis` is the premium this line earns on (its change since the lines before it),
    `rate` the schedule's percent (or dollars per employee; for graded, the effective percent)."""

    __tablename__ = "commission_line"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="non_zero"),
        Index("ix_commission_line_key", "group_id", "product_id", "coverage_month"),
        Index("ix_commission_line_run_agency", "run_id", "agency_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("commission_run.id"))
    run_pass: Mapped[int] = mapped_column(Integer)
    agency_id: Mapped[int] = mapped_column(ForeignKey("broker_agency.id"), index=True)
    broker_id: Mapped[int | None] = mapped_column(ForeignKey("broker.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    coverage_month: Mapped[date] = mapped_column(Date)
    kind: Mapped[CommissionLineKind] = mapped_column(
        enum_type(CommissionLineKind, "commission_line_kind")
    )
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("commission_schedule.id"))
    premium_basis: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    employees: Mapped[int | None] = mapped_column(Integer)
    rate: Mapped[Decimal | None] = mapped_column(Rate())
    split_percent: Mapped[Decimal] = mapped_column(Money(6, 2), default=Decimal("100.00"))
    amount: Mapped[Decimal] = mapped_column(Money())
    note: Mapped[str] = mapped_column(String(200), default="")
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
