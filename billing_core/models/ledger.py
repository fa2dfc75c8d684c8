"""The double-entry ledger: accounts, journal entries and their postings. Append-only; a
mistake is corrected by a reversing entry. Debits and credits are positive amounts in separate
columns, exactly one of them non-zero per posting (checked here and by the database)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import AppendOnly, Base, Money, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import AccountKind


class LedgerAccount(Base):
    """An account; `group_id` set for per-group accounts (receivable, unapplied cash).
    `number` is unique: the chart code plus the group number for per-group accounts."""

    __tablename__ = "ledger_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[AccountKind] = mapped_column(enum_type(AccountKind, "account_kind"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"), index=True)


class JournalEntry(AppendOnly, Base):
    __tablename__ = "journal_entry"
    # The entries of one source (an invoice's void, a payment's postings): the statement and
    # the dashboard ask whether each of a group's invoices was voided by a date.
    __table_args__ = (Index("ix_journal_entry_source", "source_type", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_date: Mapped[date] = mapped_column(Date, index=True)
    memo: Mapped[str] = mapped_column(String(300))
    source_type: Mapped[str] = mapped_column(String(30))
    source_id: Mapped[int | None] = mapped_column(Integer)
    reverses_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entry.id"), unique=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    postings: Mapped[list[Posting]] = relationship(back_populates="entry")


class Posting(AppendOnly, Base):
    __tablename__ = "posting"
    __table_args__ = (
        CheckConstraint("debit >= 0 AND credit >= 0", name="non_negative"),
        CheckConstraint(
            "(debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)", name="one_side"
        ),
        # A group's postings per invoice on one account, summed from the index alone (the
        # statement's and the dashboard's billed-vs-paid months).
        Index(
            "ix_posting_account_invoice",
            "account_id",
            "invoice_id",
            postgresql_include=["entry_id", "debit", "credit"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), index=True)
    debit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    credit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")
    account: Mapped[LedgerAccount] = relationship()


class KeptBalance(Base):
    """The balance (debits - credits, dollars) of each per-group account (receivable, unapplied
    cash, refunds payable), kept by `billing_core.ledger.post_entries` in the same transaction
    as the postings that change it, so a page reads a group's balance without summing postings.
    `billing_core.ledger.kept.kept_balance_errors` checks it equals the ledger."""

    __tablename__ = "kept_balance"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    code: Mapped[str] = mapped_column(String(10))
    balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))


KEPT_CREDIT = "open_amount < 0"


class KeptOpenItem(Base):
    """Each invoice with a non-zero balance on its group's receivable (debits - credits,
    dollars; negative is a credit balance) and its due date, kept like KeptBalance: a row is
    deleted when its invoice's balance reaches zero, so aging as of today reads a small table."""

    __tablename__ = "kept_open_item"
    __table_args__ = (
        # The few credit items (a credit bill larger than its payments): staff Today asks
        # whether any is past due before it sums the past-due items the quick way.
        Index(
            "ix_kept_open_item_credit",
            "due_on",
            sqlite_where=text(KEPT_CREDIT),
            postgresql_where=text(KEPT_CREDIT),
        ),
    )

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    open_amount: Mapped[Decimal] = mapped_column(Money())
