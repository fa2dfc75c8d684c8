"""Outside collections (referrals to an agency, the recoveries it reports and its fee), the
charge-off of a group's balance to bad debt (a request a supervisor approves) and bankruptcy
filings (the automatic stay over the pre-petition balance) (issue 20, items 8-9)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing_core.db import AppendOnly, Base, Money, UTCDateTime, enum_type, utcnow

__all__ = [
    "BankruptcyFiling",
    "BankruptcyStatus",
    "ChargeOff",
    "ChargeOffStatus",
    "CollectionRecovery",
    "CollectionReferral",
    "ReferralStatus",
]


class ReferralStatus(enum.StrEnum):
    REFERRED = "referred"  # sent to the agency
    IN_COLLECTION = "in_collection"  # the agency is working it
    RECOVERED = "recovered"  # the agency collected it
    CLOSED = "closed"  # the agency stopped (uncollectible)
    RETURNED = "returned"  # the agency sent it back to us


OPEN_REFERRAL = (ReferralStatus.REFERRED, ReferralStatus.IN_COLLECTION)


class CollectionReferral(Base):
    """A group referred to an outside collection agency on `referred_on` with the balance then
    open (`balance_referred`, dollars); its status as the agency reports it (`status_on`: the
    day it last changed), notes, and a decision to sue (the day, who, why)."""

    __tablename__ = "collection_referral"
    __table_args__ = (
        Index("ix_collection_referral_group", "group_id", "id"),
        CheckConstraint("balance_referred >= 0", name="balance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    agency: Mapped[str] = mapped_column(String(200))
    referred_on: Mapped[date] = mapped_column(Date)
    balance_referred: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[ReferralStatus] = mapped_column(
        enum_type(ReferralStatus, "referral_status"), default=ReferralStatus.REFERRED
    )
    status_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    referred_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    referred_by: Mapped[str] = mapped_column(String(254))
    suit_decided_on: Mapped[date | None] = mapped_column(Date)
    suit_decided_by: Mapped[str | None] = mapped_column(String(254))
    suit_note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CollectionRecovery(AppendOnly, Base):
    """Money recovered on a group's delinquent balance, as the agency reports it (`referral_id`)
    or paid by the group after its charge-off: `amount` the dollars recovered (gross), `fee`
    the agency's fee kept out of it (a collection expense), the net arriving as `payment_id`
    through the payments path. `after_charge_off`: posted to recoveries, not the receivable."""

    __tablename__ = "collection_recovery"
    __table_args__ = (
        Index("ix_collection_recovery_group", "group_id", "id"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("fee >= 0 AND fee <= amount", name="fee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("collection_referral.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    received_on: Mapped[date] = mapped_column(Date)
    after_charge_off: Mapped[bool] = mapped_column(default=False)
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_by: Mapped[str] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChargeOffStatus(enum.StrEnum):
    REQUESTED = "requested"  # waits for a supervisor who did not ask
    APPROVED = "approved"  # posted to bad debt
    REJECTED = "rejected"  # by a supervisor, or withdrawn by the requester


class ChargeOff(Base):
    """A request to charge off a group's open receivable (`amount`, dollars) to bad debt: it
    posts nothing until a supervisor who did not ask approves it (`journal_entry_id`, dated
    `charged_off_on`). The decision's columns are billing_core.payments.decisions' shape."""

    __tablename__ = "charge_off"
    __table_args__ = (
        Index("ix_charge_off_group", "group_id", "id"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[ChargeOffStatus] = mapped_column(
        enum_type(ChargeOffStatus, "charge_off_status"), default=ChargeOffStatus.REQUESTED
    )
    requested_on: Mapped[date] = mapped_column(Date)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    charged_off_on: Mapped[date | None] = mapped_column(Date)
    journal_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entry.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BankruptcyStatus(enum.StrEnum):
    FILED = "filed"  # the automatic stay holds the pre-petition balance
    DISMISSED = "dismissed"  # the case ended without discharge: collect everything again
    DISCHARGED = "discharged"  # the pre-petition debt is discharged: never collected


class BankruptcyFiling(Base):
    """A group's bankruptcy case: filed on `filed_on` under `chapter` (7, 11 or 13) as
    `case_number`. Bills for periods starting before `filed_on` are pre-petition: while the
    case is filed or discharged they are not collected (no notice, fee, step or call); the
    record and the balance stay. `status_on`: the day of the dismissal or discharge."""

    __tablename__ = "bankruptcy_filing"
    __table_args__ = (
        Index("ix_bankruptcy_filing_group", "group_id", "id"),
        CheckConstraint("chapter IN (7, 11, 13)", name="chapter"),
        CheckConstraint("status_on IS NULL OR status_on >= filed_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    filed_on: Mapped[date] = mapped_column(Date)
    chapter: Mapped[int] = mapped_column(Integer)
    case_number: Mapped[str] = mapped_column(String(60))
    court: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[BankruptcyStatus] = mapped_column(
        enum_type(BankruptcyStatus, "bankruptcy_status"), default=BankruptcyStatus.FILED
    )
    status_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(1000), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
