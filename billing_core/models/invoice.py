"""Invoices and their lines. An issued invoice is immutable: the only change it admits is being
voided (status, reason, who and when); corrections land on a later invoice or a credit memo."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import AppendOnly, Base, Money, Rate, UTCDateTime, enum_type, utcnow
from billing_core.errors import ImmutableRecord
from billing_core.models.enums import BillingMethod, InvoiceSection, InvoiceStatus, Tier

VOID_COLUMNS = frozenset({"status", "void_reason", "voided_by_id", "voided_at"})


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint(
            "status <> 'void' OR (void_reason IS NOT NULL AND voided_at IS NOT NULL)",
            name="void_has_reason",
        ),
        Index("ix_invoice_account_period", "group_id", "subgroup_id", "period_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_number: Mapped[str] = mapped_column(String(30), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    subgroup_id: Mapped[int | None] = mapped_column(ForeignKey("billing_subgroup.id"), index=True)
    billing_method: Mapped[BillingMethod] = mapped_column(
        enum_type(BillingMethod, "billing_method")
    )
    period_start: Mapped[date] = mapped_column(Date, index=True)
    period_end: Mapped[date] = mapped_column(Date)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    current_premium: Mapped[Decimal] = mapped_column(Money())
    retro_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    fees_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    balance_forward: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    payments_credits: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    # The group's credit used on this billing account when the invoice was issued (dollars,
    # part of payments_credits): allocations dated the issue date (CreditPolicy).
    credit_applied: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0.00"), server_default="0"
    )
    total_due: Mapped[Decimal] = mapped_column(Money())
    reported_premium: Mapped[Decimal | None] = mapped_column(Money())  # self-bill remittance
    status: Mapped[InvoiceStatus] = mapped_column(
        enum_type(InvoiceStatus, "invoice_status"), default=InvoiceStatus.ISSUED
    )
    void_reason: Mapped[str | None] = mapped_column(Text)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice",
        order_by="InvoiceLine.line_number",
        primaryjoin="Invoice.id == foreign(InvoiceLine.invoice_id)",
    )

    def guard_update(self, changed: set[str]) -> None:
        if not changed <= VOID_COLUMNS:
            raise ImmutableRecord(
                f"invoice {self.invoice_number} has been issued and cannot be edited; "
                "correct it with an adjustment on the next bill or a credit memo"
            )

    def guard_delete(self) -> None:
        raise ImmutableRecord(f"invoice {self.invoice_number} cannot be deleted; void it instead")


class InvoiceLine(Base):
    """One line: a member x plan premium for a coverage month, a retro adjustment, or a fee.

    Decision: the references (invoice, member, plan, rate version, adjustment) are checked by a
    trigger, not by foreign keys. A billing run writes hundreds of thousands of lines at once;
    a foreign key checks (and locks) the referenced row once per line per reference, which on
    PostgreSQL took three times as long as writing the lines. The trigger checks each insert
    or update statement's rows against their tables in one set-based query per reference
    (row by row on SQLite, where that is cheap). See migration b2c3d4e5f6a7."""

    __tablename__ = "invoice_line"
    # By invoice, section and line order: the invoice page reads its 50 premium lines (and its
    # retro and fee lines) from the index, not by sorting every line (10,000 on a big bill).
    __table_args__ = (
        Index("ix_invoice_line_invoice_section_line", "invoice_id", "section", "line_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(Integer)
    line_number: Mapped[int] = mapped_column(Integer)
    section: Mapped[InvoiceSection] = mapped_column(enum_type(InvoiceSection, "invoice_section"))
    member_id: Mapped[int | None] = mapped_column(Integer, index=True)
    plan_id: Mapped[int | None] = mapped_column(Integer)
    rate_version_id: Mapped[int | None] = mapped_column(Integer)
    coverage_month: Mapped[date | None] = mapped_column(Date)
    tier: Mapped[Tier | None] = mapped_column(enum_type(Tier, "tier"))
    volume: Mapped[Decimal | None] = mapped_column(Money())
    rate: Mapped[Decimal | None] = mapped_column(Rate())
    amount: Mapped[Decimal] = mapped_column(Money())
    description: Mapped[str] = mapped_column(String(300), default="")
    reason_code: Mapped[str | None] = mapped_column(String(30))
    adjustment_id: Mapped[int | None] = mapped_column(Integer)

    invoice: Mapped[Invoice] = relationship(
        back_populates="lines", primaryjoin="Invoice.id == foreign(InvoiceLine.invoice_id)"
    )

    def guard_update(self, changed: set[str]) -> None:
        raise ImmutableRecord("invoice lines are part of an issued invoice and cannot change")

    def guard_delete(self) -> None:
        raise ImmutableRecord("invoice lines are part of an issued invoice and cannot be deleted")


class InvoicePlanTotal(AppendOnly, Base):
    """An issued invoice's lines summed by section and plan, written with the lines (an issued
    invoice never changes, so neither does this). Statements over years of bills and the
    invoice page read these few rows instead of summing every member line again."""

    __tablename__ = "invoice_plan_total"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    section: Mapped[InvoiceSection] = mapped_column(enum_type(InvoiceSection, "invoice_section"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))  # None: a fee
    amount: Mapped[Decimal] = mapped_column(Money())
    line_count: Mapped[int] = mapped_column(Integer)
    member_count: Mapped[int] = mapped_column(Integer)


class CreditMemo(AppendOnly, Base):
    """The document a void leaves behind: it credits the whole voided invoice, carries the
    reason and the supervisor, and points at the reversing journal entry."""

    __tablename__ = "credit_memo"

    id: Mapped[int] = mapped_column(primary_key=True)
    memo_number: Mapped[str] = mapped_column(String(40), unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(Text)
    issued_on: Mapped[date] = mapped_column(Date)
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    invoice: Mapped[Invoice] = relationship()


class InvoiceBridge(AppendOnly, Base):
    """An invoice's bill bridge as computed when it was issued (`billing.bill_bridge`): from
    the previous non-void invoice of its billing account (`prior_invoice_id`, None: the first
    bill) to it. Both invoices' lines never change, so neither does this; a void that changes
    which invoice comes before keeps this row and a reader computes (and may keep) the bridge
    from the new prior: one row per (invoice, prior) pair."""

    __tablename__ = "invoice_bridge"
    __table_args__ = (Index("ix_invoice_bridge_invoice_prior", "invoice_id", "prior_invoice_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"))
    prior_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoiceBridgeStep(AppendOnly, Base):
    """One step of a kept bridge: its amount (dollars, current - prior) and how many member x
    product differences (or retro lines) make it up."""

    __tablename__ = "invoice_bridge_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    bridge_id: Mapped[int] = mapped_column(ForeignKey("invoice_bridge.id"), index=True)
    step: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money())
    row_count: Mapped[int] = mapped_column(Integer)


class InvoiceBridgeRow(AppendOnly, Base):
    """One member x product (or retro line) behind a kept bridge's step, in the step's order
    (`position`: biggest change first). Names are read from the member when shown, as they
    were before the bridge was kept; `member_id` None is a group-level line."""

    __tablename__ = "invoice_bridge_row"
    __table_args__ = (Index("ix_invoice_bridge_row_bridge_step", "bridge_id", "step", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bridge_id: Mapped[int] = mapped_column(ForeignKey("invoice_bridge.id"))
    step: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)
    product_name: Mapped[str] = mapped_column(String(200), default="")
    prior_amount: Mapped[Decimal] = mapped_column(Money())
    current_amount: Mapped[Decimal] = mapped_column(Money())
    detail: Mapped[str] = mapped_column(Text, default="")
