"""Members (keyed by a stable member id, never the SSN), their dependents, and effective-dated
coverages (member x plan x tier or volume). Enrollment history is closed, never overwritten."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import Base, Money, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import Gender, MemberStatus, Relationship, Tier
from billing_core.security import mask_ssn, matches_people, nine_digits, vault


class HasSsn:
    """Encrypted SSN plus the last four (for display) and a keyed digest (for matching)."""

    ssn_encrypted: Mapped[str | None] = mapped_column(String(255))
    ssn_last4: Mapped[str | None] = mapped_column(String(4))
    ssn_digest: Mapped[str | None] = mapped_column(String(64), index=True)

    def set_ssn(self, raw: str | None) -> None:
        """Keep the nine digits a file sent, issued or not (the reader warned about a number
        that is never issued; the member key, not the SSN, identifies the person). Only an
        issued number gets the digest that matches files by SSN: placeholders such as
        123456789 or 999-xx-xxxx are shared by many people and must never match."""
        if not raw:
            self.ssn_encrypted = self.ssn_last4 = self.ssn_digest = None
            return
        digits = nine_digits(raw)
        self.ssn_encrypted = vault().encrypt(digits)
        self.ssn_last4 = digits[-4:]
        self.ssn_digest = vault().digest(digits) if matches_people(digits) else None

    @property
    def ssn_masked(self) -> str:
        return mask_ssn(self.ssn_last4)


class Member(HasSsn, Base):
    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint("group_id", "member_key"),
        UniqueConstraint("group_id", "employee_id"),
        CheckConstraint("annual_salary IS NULL OR annual_salary >= 0", name="salary"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    subgroup_id: Mapped[int | None] = mapped_column(ForeignKey("billing_subgroup.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("benefit_class.id"))
    member_key: Mapped[str] = mapped_column(String(20))  # our stable id, e.g. M0001234
    employee_id: Mapped[str | None] = mapped_column(String(40))  # the employer's HRIS id
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), index=True)
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[Gender] = mapped_column(enum_type(Gender, "gender"), default=Gender.UNKNOWN)
    hire_date: Mapped[date | None] = mapped_column(Date)
    annual_salary: Mapped[Decimal | None] = mapped_column(Money())
    status: Mapped[MemberStatus] = mapped_column(
        enum_type(MemberStatus, "member_status"), default=MemberStatus.ACTIVE
    )
    postal_code: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    dependents: Mapped[list[Dependent]] = relationship(
        back_populates="member", order_by="Dependent.dependent_key"
    )
    coverages: Mapped[list[Coverage]] = relationship(
        back_populates="member", order_by="Coverage.effective_from"
    )
    subgroup: Mapped[BillingSubgroup | None] = relationship()  # noqa: F821
    benefit_class: Mapped[BenefitClass | None] = relationship()  # noqa: F821

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __repr__(self) -> str:
        return f"<Member {self.member_key}>"


class Dependent(HasSsn, Base):
    __tablename__ = "dependent"
    __table_args__ = (UniqueConstraint("member_id", "dependent_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    dependent_key: Mapped[str] = mapped_column(String(4))  # 01, 02 ... under the member
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    relationship_to_member: Mapped[Relationship] = mapped_column(
        enum_type(Relationship, "relationship")
    )
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[Gender] = mapped_column(enum_type(Gender, "gender"), default=Gender.UNKNOWN)
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)

    member: Mapped[Member] = relationship(back_populates="dependents")

    def __repr__(self) -> str:
        return f"<Dependent {self.dependent_key} of member {self.member_id}>"


class Coverage(Base):
    """A member enrolled in a plan from `effective_from` through `effective_to` (inclusive; None
    while in force). A change closes the row and opens a new one, so history stays."""

    __tablename__ = "coverage"
    __table_args__ = (
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_range"
        ),
        CheckConstraint("elected_volume IS NULL OR elected_volume >= 0", name="elected_volume"),
        # A plan's coverages in force on a day, read from the index alone (the employer's
        # dashboard counts each plan's enrolled members).
        Index(
            "ix_coverage_plan_in_force",
            "plan_id",
            "effective_from",
            postgresql_include=["member_id", "effective_to"],
        ),
        # SQLite: a member's coverages in force with the census diff's text of each, kept in
        # the index so the diff's aggregate does not format 600,000 of them per read (the
        # expression must be census.diff.enrollment._held_signature's, word for word).
        Index(
            "ix_coverage_member_signature",
            "member_id",
            "effective_from",
            "effective_to",
            text("printf('%d:%s:%s', plan_id, tier, elected_volume)"),
        ).ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"), index=True)
    tier: Mapped[Tier | None] = mapped_column(enum_type(Tier, "tier"))
    elected_volume: Mapped[Decimal | None] = mapped_column(Money())
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    source_upload_id: Mapped[int | None] = mapped_column(ForeignKey("upload.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    member: Mapped[Member] = relationship(back_populates="coverages")
    plan: Mapped[Plan] = relationship()  # noqa: F821
    covered_dependents: Mapped[list[CoveredDependent]] = relationship(
        back_populates="coverage", cascade="all, delete-orphan"
    )

    def in_force_on(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    @classmethod
    def in_force_at(cls, on: date):
        """`in_force_on` as a SQL condition, for queries."""
        return (cls.effective_from <= on) & (cls.effective_to.is_(None) | (cls.effective_to >= on))


class CoveredDependent(Base):
    """Which dependents a coverage includes (age-banded rating rates each covered person)."""

    __tablename__ = "covered_dependent"
    __table_args__ = (UniqueConstraint("coverage_id", "dependent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coverage_id: Mapped[int] = mapped_column(ForeignKey("coverage.id"), index=True)
    dependent_id: Mapped[int] = mapped_column(ForeignKey("dependent.id"), index=True)

    coverage: Mapped[Coverage] = relationship(back_populates="covered_dependents")
    dependent: Mapped[Dependent] = relationship()
