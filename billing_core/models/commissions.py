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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import AppendOnly, Base, Money, Rate, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import LineOfCoverage

__all__ = [
    "AchEntry",
    "AchEntryStatus",
    "AchFile",
    "AchFileStatus",
    "BankAccountType",
    "PayeeAccount",
    "PayeeAccountStatus",
    "PayeeKind",
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


# --- Paying agencies (issue 21, item 6; billing_core/commissions/payees.py, ach.py,
# disbursements.py): payee bank details confirmed by a second person, ACH files and their
# entries. Everything below this line belongs to that slice.


class PayeeKind(enum.StrEnum):
    COMPANY = "company"  # paid with a CCD entry
    PERSON = "person"  # paid with a PPD entry


class BankAccountType(enum.StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"


class PayeeAccountStatus(enum.StrEnum):
    PENDING = "pending"  # entered, waiting for a second staff member; pays nothing yet
    ACTIVE = "active"  # confirmed by a second person: payments go here
    SUPERSEDED = "superseded"  # replaced by later confirmed details
    REJECTED = "rejected"  # refused by a second person, or withdrawn by who entered it


class PayeeAccount(Base):
    """Bank details of one payee (an agency, or an employer group owed a refund): the routing
    number as is, the account number encrypted at rest (`security.vault`) with its last four
    digits for the masked display. Rows are never edited into other details: a change is a new
    PENDING row that takes effect only when a staff member other than who entered it confirms
    it (the old ACTIVE row stays in force until then)."""

    __tablename__ = "payee_account"
    __table_args__ = (
        CheckConstraint("(agency_id IS NULL) <> (group_id IS NULL)", name="one_payee"),
        CheckConstraint("length(routing_number) = 9", name="routing_length"),
        CheckConstraint(
            "decided_by_id IS NULL OR status = 'rejected' OR decided_by_id <> entered_by_id",
            name="second_person",
        ),
        CheckConstraint(
            "status NOT IN ('active', 'superseded') OR decided_by_id IS NOT NULL",
            name="confirmed_has_decider",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("broker_agency.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"), index=True)
    payee_kind: Mapped[PayeeKind] = mapped_column(enum_type(PayeeKind, "payee_kind"))
    name_on_account: Mapped[str] = mapped_column(String(22))  # NACHA's receiver name field
    routing_number: Mapped[str] = mapped_column(String(9))
    account_number_encrypted: Mapped[str] = mapped_column(String(255))
    account_last4: Mapped[str] = mapped_column(String(4))
    account_type: Mapped[BankAccountType] = mapped_column(
        enum_type(BankAccountType, "bank_account_type")
    )
    status: Mapped[PayeeAccountStatus] = mapped_column(
        enum_type(PayeeAccountStatus, "payee_account_status"), default=PayeeAccountStatus.PENDING
    )
    source: Mapped[str] = mapped_column(String(200), default="entered by hand")
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(String(300))

    @property
    def account_masked(self) -> str:
        return f"****{self.account_last4}"


class AchFileStatus(enum.StrEnum):
    MADE = "made"  # written, not yet sent to the bank: nothing paid in the ledger
    SENT = "sent"  # sent: each entry's payment posted


class AchFile(Base):
    """One NACHA file paying a batch of payables (`batch_key` names the batch: the same batch
    never makes two files). `content` is the file exactly as made, encrypted by the vault (it
    holds whole account numbers); downloads decrypt it."""

    __tablename__ = "ach_file"
    __table_args__ = (
        CheckConstraint("status <> 'sent' OR sent_on IS NOT NULL", name="sent_has_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_key: Mapped[str] = mapped_column(String(64), unique=True)
    effective_date: Mapped[date] = mapped_column(Date)
    status: Mapped[AchFileStatus] = mapped_column(
        enum_type(AchFileStatus, "ach_file_status"), default=AchFileStatus.MADE
    )
    content: Mapped[str] = mapped_column(Text)
    entry_count: Mapped[int] = mapped_column(Integer)
    total_credit: Mapped[Decimal] = mapped_column(Money())
    made_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_on: Mapped[date | None] = mapped_column(Date)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    entries: Mapped[list[AchEntry]] = relationship(back_populates="file", order_by="AchEntry.id")


class AchEntryStatus(enum.StrEnum):
    IN_FILE = "in_file"  # in a file not yet sent
    PAID = "paid"  # the file was sent: payable debited, cash credited
    RETURNED = "returned"  # the bank returned it (R01 ...): the payment reversed, payable open


class AchEntry(Base):
    """One credit in an ACH file: an agency's commission payable, or an approved refund owed
    to an employer group, to the payee account in force when the file was made."""

    __tablename__ = "ach_entry"
    __table_args__ = (
        CheckConstraint("amount > 0", name="positive_amount"),
        CheckConstraint("(agency_id IS NULL) <> (group_id IS NULL)", name="one_payee"),
        CheckConstraint("status <> 'returned' OR return_code IS NOT NULL", name="return_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("ach_file.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("broker_agency.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refund.id"), index=True)
    payee_account_id: Mapped[int] = mapped_column(ForeignKey("payee_account.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    trace_number: Mapped[str] = mapped_column(String(15), unique=True)
    status: Mapped[AchEntryStatus] = mapped_column(
        enum_type(AchEntryStatus, "ach_entry_status"), default=AchEntryStatus.IN_FILE
    )
    paid_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    return_code: Mapped[str | None] = mapped_column(String(3))
    returned_on: Mapped[date | None] = mapped_column(Date)
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    return_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))

    file: Mapped[AchFile] = relationship(back_populates="entries")
    payee_account: Mapped[PayeeAccount] = relationship()
