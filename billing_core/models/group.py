"""Employer groups, their effective-dated billing policy, billing subgroups and benefit classes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from billing_core.db import Base, Money, UTCDateTime, built_once, enum_type, utcnow
from billing_core.models.enums import (
    BillingFrequency,
    BillingMethod,
    CoverageMonthRule,
    CreditPolicy,
    GraceDayKind,
    PayrollFrequency,
    ShortPayPolicy,
    SubgroupKind,
    ToleranceRule,
)


class EmployerGroup(Base):
    """The employer's policy with the carrier: identity only; how it is billed lives in
    BillingPolicy versions so a change never overwrites history."""

    __tablename__ = "employer_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_number: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    tax_id: Mapped[str] = mapped_column(String(10), index=True)
    original_effective_date: Mapped[date] = mapped_column(Date)
    renewal_month: Mapped[int] = mapped_column(Integer, default=1)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    state: Mapped[str | None] = mapped_column(String(2))
    # The mailing/billing address and the billing contact (issue 22, item 1); all optional on
    # the table (groups imported before had none), required to go live on the screens.
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    address_state: Mapped[str | None] = mapped_column(String(2))
    zip_code: Mapped[str | None] = mapped_column(String(10))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    # Its employer users must log in with a second factor (staff always do).
    require_second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    policies: Mapped[list[BillingPolicy]] = relationship(
        back_populates="group", order_by="BillingPolicy.effective_from"
    )
    subgroups: Mapped[list[BillingSubgroup]] = relationship(
        back_populates="group", order_by="BillingSubgroup.code"
    )
    classes: Mapped[list[BenefitClass]] = relationship(
        back_populates="group", order_by="BenefitClass.code"
    )

    __table_args__ = (CheckConstraint("renewal_month BETWEEN 1 AND 12", name="renewal_month"),)

    @property
    def address_lines(self) -> list[str]:
        """The mailing address as a document prints it: the street lines, then
        "City, ST 12345"; empty when the group has no address."""
        last = " ".join(
            part
            for part in (
                ", ".join(p for p in (self.city, self.address_state) if p),
                self.zip_code or "",
            )
            if part
        )
        return [line for line in (self.address_line1, self.address_line2, last) if line]

    def policy_on(self, on: date) -> BillingPolicy | None:
        """The billing policy in force on `on` (effective_from inclusive, effective_to inclusive)."""
        for policy in reversed(self.policies):
            if policy.effective_from <= on and (
                policy.effective_to is None or on <= policy.effective_to
            ):
                return policy
        return None

    def current_policy(self, session: Session, on: date) -> BillingPolicy | None:
        return session.scalar(_policy_in_force(), {"group_id": self.id, "on": on})

    def __repr__(self) -> str:
        return f"<EmployerGroup {self.group_number}>"


class BillingPolicy(Base):
    """How a group is billed from `effective_from` to `effective_to` (inclusive, open-ended when
    None): method, frequency, lead days, tolerance, retro windows, coverage-month rule, grace."""

    __tablename__ = "billing_policy"
    __table_args__ = (
        UniqueConstraint("group_id", "effective_from"),
        CheckConstraint("lead_days >= 0 AND lead_days <= 90", name="lead_days"),
        CheckConstraint("tolerance_amount >= 0", name="tolerance_amount"),
        # Only sign checks on money columns: SQLite stores them as scaled integers, so a
        # literal bound such as 100 would compare against cents. Upper bounds are checked in Python.
        CheckConstraint("tolerance_percent >= 0", name="tolerance_percent"),
        CheckConstraint(
            "retro_add_days >= 0 AND retro_term_days >= 0 AND retro_change_days >= 0",
            name="retro_windows",
        ),
        CheckConstraint("grace_days >= 0", name="grace_days"),
        CheckConstraint("returned_payment_fee >= 0", name="returned_payment_fee"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    billing_method: Mapped[BillingMethod] = mapped_column(
        enum_type(BillingMethod, "billing_method")
    )
    billing_frequency: Mapped[BillingFrequency] = mapped_column(
        enum_type(BillingFrequency, "billing_frequency")
    )
    lead_days: Mapped[int] = mapped_column(Integer, default=15)
    tolerance_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("50.00"))
    tolerance_percent: Mapped[Decimal] = mapped_column(Money(6, 2), default=Decimal("10.00"))
    tolerance_rule: Mapped[ToleranceRule] = mapped_column(
        enum_type(ToleranceRule, "tolerance_rule"), default=ToleranceRule.AND
    )
    retro_add_days: Mapped[int] = mapped_column(Integer, default=30)
    retro_term_days: Mapped[int] = mapped_column(Integer, default=60)
    retro_change_days: Mapped[int] = mapped_column(Integer, default=30)
    coverage_month_rule: Mapped[CoverageMonthRule] = mapped_column(
        enum_type(CoverageMonthRule, "coverage_month_rule"), default=CoverageMonthRule.FIFTEENTH
    )
    grace_days: Mapped[int] = mapped_column(Integer, default=31)
    grace_day_kind: Mapped[GraceDayKind] = mapped_column(
        enum_type(GraceDayKind, "grace_day_kind"), default=GraceDayKind.CALENDAR
    )
    payroll_frequency: Mapped[PayrollFrequency] = mapped_column(
        enum_type(PayrollFrequency, "payroll_frequency"), default=PayrollFrequency.MONTHLY
    )
    short_pay_policy: Mapped[ShortPayPolicy] = mapped_column(
        enum_type(ShortPayPolicy, "short_pay_policy"), default=ShortPayPolicy.WRITE_OFF
    )
    credit_policy: Mapped[CreditPolicy] = mapped_column(
        enum_type(CreditPolicy, "credit_policy"),
        default=CreditPolicy.APPLY_TO_NEXT_BILL,
        server_default=CreditPolicy.APPLY_TO_NEXT_BILL.value,
    )
    # Charged on the next bill when a payment comes back (NSF, ACH return, chargeback); 0 = none.
    returned_payment_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    group: Mapped[EmployerGroup] = relationship(back_populates="policies")

    def within_tolerance(self, difference: Decimal, base: Decimal) -> bool:
        """Is `difference` (dollars, either sign) against `base` (dollars billed) inside the
        group's tolerance? AND: within the amount and within the percent; OR: within either.
        Against a zero base any non-zero difference is 100% off."""
        difference = abs(difference)
        within_amount = difference <= self.tolerance_amount
        if base == 0:
            within_percent = difference == 0
        else:
            within_percent = difference * 100 / abs(base) <= self.tolerance_percent
        if self.tolerance_rule is ToleranceRule.OR:
            return within_amount or within_percent
        return within_amount and within_percent


class BillingSubgroup(Base):
    """A division, location or class billed on its own invoice or consolidated with the group."""

    __tablename__ = "billing_subgroup"
    __table_args__ = (UniqueConstraint("group_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SubgroupKind] = mapped_column(enum_type(SubgroupKind, "subgroup_kind"))
    bill_separately: Mapped[bool] = mapped_column(Boolean, default=False)

    group: Mapped[EmployerGroup] = relationship(back_populates="subgroups")


class BenefitClass(Base):
    """An eligibility class (e.g. salaried, hourly, executives) that plans and volumes key on."""

    __tablename__ = "benefit_class"
    __table_args__ = (UniqueConstraint("group_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))

    group: Mapped[EmployerGroup] = relationship(back_populates="classes")


@built_once
def _policy_in_force():
    """`EmployerGroup.current_policy`'s statement (the group pages ask on every view)."""
    on = bindparam("on", type_=Date)
    return (
        select(BillingPolicy)
        .where(BillingPolicy.group_id == bindparam("group_id"), BillingPolicy.effective_from <= on)
        .where((BillingPolicy.effective_to.is_(None)) | (BillingPolicy.effective_to >= on))
        .order_by(BillingPolicy.effective_from.desc())
    )
