"""A group's invoice template (issue 22, item 3) and what an issued invoice kept of it.

`InvoiceTemplate` is the group's current choice (edited by staff, every change audited with
before and after). An invoice issued while the group had one keeps what it printed in
`InvoicePrint` (sections, subtotal dimension, reference fields, remit-to, message) and its
subtotals in `InvoiceSubtotal`, computed once at issue from its rounded premium lines: a later
change to the template never changes how an issued invoice reads. An invoice without an
`InvoicePrint` row was issued without a template and prints as every invoice did before."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing_core.db import AppendOnly, Base, Money, UTCDateTime, utcnow

__all__: list[str] = ["InvoicePrint", "InvoiceSubtotal", "InvoiceTemplate"]


class InvoiceTemplate(Base):
    """One group's invoice template. `sections`: the optional sections shown (keys of
    `billing.invoice_templates.SECTIONS`); `subtotal_by`: None or one dimension;
    `subgroup_billing`: how subgroups are billed from the next run; `reference_fields`: a few
    [label, value] pairs printed on the bill's header."""

    __tablename__ = "invoice_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), unique=True)
    sections: Mapped[list] = mapped_column(JSON, default=list)
    subtotal_by: Mapped[str | None] = mapped_column(String(20))
    subgroup_billing: Mapped[str] = mapped_column(String(20), default="per_subgroup")
    reference_fields: Mapped[list] = mapped_column(JSON, default=list)
    remit_to: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoicePrint(AppendOnly, Base):
    """What an invoice printed from its group's template when it was issued (never changes)."""

    __tablename__ = "invoice_print"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), unique=True)
    sections: Mapped[list] = mapped_column(JSON, default=list)
    subtotal_by: Mapped[str | None] = mapped_column(String(20))
    reference_fields: Mapped[list] = mapped_column(JSON, default=list)
    remit_to: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)


class InvoiceSubtotal(AppendOnly, Base):
    """One subtotal row of an issued invoice's premium (by the dimension its `InvoicePrint`
    names): the label as it read at issue, the sum of its rounded premium lines, in order."""

    __tablename__ = "invoice_subtotal"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Money())
    line_count: Mapped[int] = mapped_column(Integer)
    member_count: Mapped[int] = mapped_column(Integer)
