"""Products (lines of coverage with one rating basis), the plans a group offers, and the
effective-dated rate versions behind them. A rate version that has been billed is frozen:
a renewal or correction is a new version."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import Base, Money, Rate, UTCDateTime, enum_type, utcnow
from billing_core.errors import ImmutableRecord, ValidationFailed
from billing_core.models.enums import AgeReference, LineOfCoverage, RatingBasis, Tier
from billing_core.money import D

# The US small-group child rule's defaults (45 CFR 147.102): children under 21 at the child
# rate, and no more than the three oldest of them charged.
CHILD_RATE_MAX_AGE = 21
MAX_CHARGED_CHILDREN = 3


class Product(Base):
    """A line of coverage as the carrier sells it, e.g. `DEN-PPO` dental, tiered composite."""

    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    line_of_coverage: Mapped[LineOfCoverage] = mapped_column(
        enum_type(LineOfCoverage, "line_of_coverage")
    )
    rating_basis: Mapped[RatingBasis] = mapped_column(enum_type(RatingBasis, "rating_basis"))


class Plan(Base):
    """A group's offering of a product, optionally for one benefit class only."""

    __tablename__ = "plan"
    __table_args__ = (
        UniqueConstraint("group_id", "code"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("benefit_class.id"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)

    product: Mapped[Product] = relationship()
    benefit_class: Mapped[BenefitClass | None] = relationship()  # noqa: F821
    rate_versions: Mapped[list[RateVersion]] = relationship(
        back_populates="plan",
        order_by=lambda: (RateVersion.effective_from, RateVersion.revision),
    )

    def rate_version_on(self, on: date) -> RateVersion | None:
        """The rate version in force on `on`."""
        return version_in_force(reversed(self.rate_versions), on)


def version_in_force(versions_latest_first, on: date):
    """The first of `versions` (anything with `effective_from` and an inclusive, optional
    `effective_to`, latest first) in force on `on`, or None."""
    for version in versions_latest_first:
        if version.effective_from <= on and (
            version.effective_to is None or on <= version.effective_to
        ):
            return version
    return None


class RateVersion(Base):
    """One effective-dated set of rates for a plan. Which fields apply depends on the product's
    rating basis: tier rates, age bands, or a unit rate with its volume rules.

    Units: `unit_rate` is per $1,000 of volume, per $10 of weekly benefit or per $100 of covered
    monthly payroll; amounts are monthly; `weekly_benefit_percent` is a fraction (0.60).

    An age-banded version may carry `child_rate` (monthly, per child): covered children younger
    than `child_rate_max_age` (NULL: 21) are charged that rate instead of their band's, and only
    the `max_charged_children` (NULL: 3) oldest of them are charged. The two limits exist only
    beside a child rate.

    `revision`: a rate correction effective the very day a billed version starts cannot edit it
    nor close it before it began, so it adds a version with the same `effective_from` and the
    next revision; of versions starting the same day the highest revision is in force (the
    lookups order by (effective_from, revision)), the one it supersedes stays as billed."""

    __tablename__ = "rate_version"
    __table_args__ = (
        UniqueConstraint("plan_id", "effective_from", "revision"),
        CheckConstraint("revision >= 0", name="revision"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_range"
        ),
        CheckConstraint("unit_rate IS NULL OR unit_rate >= 0", name="unit_rate"),
        CheckConstraint("child_rate IS NULL OR child_rate >= 0", name="child_rate"),
        CheckConstraint(
            "child_rate_max_age IS NULL OR child_rate_max_age > 0", name="child_rate_max_age"
        ),
        CheckConstraint(
            "max_charged_children IS NULL OR max_charged_children > 0",
            name="max_charged_children",
        ),
        CheckConstraint(
            "child_rate IS NOT NULL"
            " OR (child_rate_max_age IS NULL AND max_charged_children IS NULL)",
            name="child_rule_needs_child_rate",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unit_rate: Mapped[Decimal | None] = mapped_column(Rate())
    volume_flat_amount: Mapped[Decimal | None] = mapped_column(Money())
    volume_salary_multiple: Mapped[Decimal | None] = mapped_column(Money(6, 2))
    volume_maximum: Mapped[Decimal | None] = mapped_column(Money())
    volume_rounding_unit: Mapped[Decimal | None] = mapped_column(Money())
    weekly_benefit_percent: Mapped[Decimal | None] = mapped_column(Money(6, 4))
    weekly_benefit_maximum: Mapped[Decimal | None] = mapped_column(Money())
    covered_payroll_maximum: Mapped[Decimal | None] = mapped_column(Money())
    child_rate: Mapped[Decimal | None] = mapped_column(Rate())
    child_rate_max_age: Mapped[int | None] = mapped_column(Integer)
    max_charged_children: Mapped[int | None] = mapped_column(Integer)
    age_reference: Mapped[AgeReference] = mapped_column(
        enum_type(AgeReference, "age_reference"), default=AgeReference.COVERAGE_MONTH
    )
    first_billed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    plan: Mapped[Plan] = relationship(back_populates="rate_versions")
    tier_rates: Mapped[list[RateTier]] = relationship(
        back_populates="rate_version", cascade="all, delete-orphan"
    )
    age_bands: Mapped[list[RateAgeBand]] = relationship(
        back_populates="rate_version", cascade="all, delete-orphan", order_by="RateAgeBand.min_age"
    )
    age_reductions: Mapped[list[AgeReduction]] = relationship(
        back_populates="rate_version",
        cascade="all, delete-orphan",
        order_by="AgeReduction.from_age",
    )

    @property
    def child_age_limit(self) -> int | None:
        """Children younger than this are rated at `child_rate`; None without a child rate."""
        if self.child_rate is None:
            return None
        return self.child_rate_max_age or CHILD_RATE_MAX_AGE

    @property
    def charged_children_limit(self) -> int | None:
        """How many of those children (the oldest) are charged; None without a child rate."""
        if self.child_rate is None:
            return None
        return self.max_charged_children or MAX_CHARGED_CHILDREN

    def check_child_rule(self) -> None:
        """The child rule's invariants in Python (the CHECK constraints say them again)."""
        if self.child_rate is None:
            if self.child_rate_max_age is not None or self.max_charged_children is not None:
                raise ValidationFailed(
                    "child_rate_max_age and max_charged_children need a child_rate"
                )
            return
        if D(self.child_rate) < 0:
            raise ValidationFailed("child_rate cannot be negative")
        for name in ("child_rate_max_age", "max_charged_children"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValidationFailed(f"{name} must be a whole number from 1 up")

    def guard_insert(self) -> None:
        self.check_child_rule()

    @property
    def was_billed(self) -> bool:
        """True once any invoice used it, judged on the committed value (not a pending edit)."""
        history = inspect(self).attrs.first_billed_on.history
        committed = (history.deleted or history.unchanged or [None])[0]
        return committed is not None

    def refuse_if_billed(self) -> None:
        if self.was_billed:
            raise ImmutableRecord(
                f"rate version effective {self.effective_from:%b %d, %Y} for plan "
                f"{self.plan.code if self.plan else self.plan_id} has been billed and cannot be "
                "edited; create a new rate version instead"
            )

    def guard_update(self, changed: set[str]) -> None:
        self.check_child_rule()
        # Closing the version (effective_to) when a renewal starts, or marking it billed, is allowed.
        if changed <= {"first_billed_on", "effective_to"} and not (
            "first_billed_on" in changed and self.was_billed
        ):
            return
        self.refuse_if_billed()

    def guard_delete(self) -> None:
        self.refuse_if_billed()


class _RateChild:
    """Rates hanging off a version are frozen with it."""

    rate_version: RateVersion

    def _refuse(self) -> None:
        if self.rate_version is not None:
            self.rate_version.refuse_if_billed()

    def guard_insert(self) -> None:
        self._refuse()

    def guard_update(self, changed: set[str]) -> None:
        self._refuse()

    def guard_delete(self) -> None:
        self._refuse()


class RateTier(_RateChild, Base):
    __tablename__ = "rate_tier"
    __table_args__ = (
        UniqueConstraint("rate_version_id", "tier"),
        CheckConstraint("monthly_rate >= 0", name="monthly_rate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_version_id: Mapped[int] = mapped_column(ForeignKey("rate_version.id"), index=True)
    tier: Mapped[Tier] = mapped_column(enum_type(Tier, "tier"))
    monthly_rate: Mapped[Decimal] = mapped_column(Rate())

    rate_version: Mapped[RateVersion] = relationship(back_populates="tier_rates")


class RateAgeBand(_RateChild, Base):
    """Monthly rate per covered person aged `min_age`..`max_age` inclusive."""

    __tablename__ = "rate_age_band"
    __table_args__ = (
        UniqueConstraint("rate_version_id", "min_age"),
        CheckConstraint("min_age >= 0 AND max_age >= min_age", name="age_range"),
        CheckConstraint("monthly_rate >= 0", name="monthly_rate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_version_id: Mapped[int] = mapped_column(ForeignKey("rate_version.id"), index=True)
    min_age: Mapped[int] = mapped_column(Integer)
    max_age: Mapped[int] = mapped_column(Integer)
    monthly_rate: Mapped[Decimal] = mapped_column(Rate())

    rate_version: Mapped[RateVersion] = relationship(back_populates="age_bands")


class AgeReduction(_RateChild, Base):
    """From `from_age` on, volume is reduced to `volume_percent` of the full amount."""

    __tablename__ = "age_reduction"
    __table_args__ = (
        UniqueConstraint("rate_version_id", "from_age"),
        CheckConstraint("volume_percent > 0", name="volume_percent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_version_id: Mapped[int] = mapped_column(ForeignKey("rate_version.id"), index=True)
    from_age: Mapped[int] = mapped_column(Integer)
    volume_percent: Mapped[Decimal] = mapped_column(Money(6, 2))

    rate_version: Mapped[RateVersion] = relationship(back_populates="age_reductions")
