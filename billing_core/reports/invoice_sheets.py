"""An issued invoice as a download: its member lines, its retro and fee lines and its bottom line
as workbook sheets (`invoice_lines_sheets`) or one flat table for the CSV
(`invoice_lines_table`), written by billing_core.exports. Pure reads that the web layer, the CLI
and jobs can all call; the invoice PDF (portal/documents.py) uses the same summary and
adjustment rows."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from billing_core.billing.adjustments import reason_label
from billing_core.billing.invoice_templates import printed
from billing_core.billing.invoices import invoice_lines_query
from billing_core.exports import Column, Sheet
from billing_core.models import Invoice, InvoiceLine, Member, Plan, Product
from billing_core.models.enums import BillingMethod, InvoiceSection, InvoiceStatus

SECTION_LABELS = {
    InvoiceSection.PREMIUM: "Premium",
    InvoiceSection.RETRO: "Retro adjustment",
    InvoiceSection.FEE: "Fee",
}

MEMBER_LINE_COLUMNS = (
    Column("Line", "integer"),
    Column("Member ID"),
    Column("Employee ID"),
    Column("Last name"),
    Column("First name"),
    Column("Product"),
    Column("Plan"),
    Column("Coverage month", "period"),
    Column("Tier"),
    Column("Volume/benefit", "money"),
    Column("Rate", "rate"),
    Column("Amount", "money"),
    Column("Description"),
)

ADJUSTMENT_COLUMNS = (
    Column("Section"),
    Column("Coverage month", "period"),
    Column("Member ID"),
    Column("Name"),
    Column("Product"),
    Column("Reason"),
    Column("Amount", "money"),
    Column("Description"),
)

SUMMARY_COLUMNS = (Column("Item"), Column("Amount", "money"))
SUBTOTAL_COLUMNS = (
    Column("Members", "integer"),
    Column("Lines", "integer"),
    Column("Premium", "money"),
)

# The CSV's one flat table: every line's section first, its reason code before the amount, the
# member line's columns otherwise (so the two downloads cannot drift apart).
ALL_LINE_COLUMNS = (
    Column("Section"),
    *MEMBER_LINE_COLUMNS[:-2],
    Column("Reason"),
    *MEMBER_LINE_COLUMNS[-2:],
)


def _member_line_fields() -> tuple:
    """The columns read for MEMBER_LINE_COLUMNS, in its order (`invoice_lines_query`'s joins)."""
    return (
        InvoiceLine.line_number,
        Member.member_key,
        Member.employee_id,
        Member.last_name,
        Member.first_name,
        Product.name,
        Plan.name,
        InvoiceLine.coverage_month,
        InvoiceLine.tier,
        InvoiceLine.volume,
        InvoiceLine.rate,
        InvoiceLine.amount,
        InvoiceLine.description,
    )


def premium_heading(invoice: Invoice) -> str:
    """The premium row's label: a self-billed invoice bills what the employer should report."""
    if invoice.billing_method is BillingMethod.SELF_BILL:
        return "Expected premium (self-administered)"
    return "Current premium"


def invoice_summary_rows(
    invoice: Invoice, premium_label: str | None = None
) -> list[tuple[str, Decimal]]:
    """The invoice's bottom line as (label, amount) rows that add up to the total due: payments
    and credits since the last bill are negative. `premium_label` overrides the premium row's."""
    return [
        ("Balance forward from the last bill", invoice.balance_forward),
        ("Payments and credits since the last bill", -invoice.payments_credits),
        (premium_label or premium_heading(invoice), invoice.current_premium),
        ("Retro adjustments", invoice.retro_total),
        ("Fees", invoice.fees_total),
        ("Total due", invoice.total_due),
    ]


def _member_filter(subgroup_ids: frozenset[int] | None):
    """Lines a subgroup-limited user may see: their members' lines and group-level lines."""
    if subgroup_ids is None:
        return None
    return or_(InvoiceLine.member_id.is_(None), Member.subgroup_id.in_(subgroup_ids))


def _member_line_rows(session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None):
    query = invoice_lines_query(invoice, subgroup_ids=subgroup_ids).with_only_columns(
        *_member_line_fields(), maintain_column_froms=True
    )
    yield from session.execute(query)  # each Row is a sequence of the columns' values


def adjustment_line_rows(
    session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None = None
) -> list[tuple]:
    """Retro and fee lines as ADJUSTMENT_COLUMNS rows, in invoice order. A subgroup-limited user
    sees their members' lines and the group-level ones (no member)."""
    query = (
        select(
            InvoiceLine.section,
            InvoiceLine.coverage_month,
            Member.member_key,
            Member.last_name,
            Member.first_name,
            Product.name,
            InvoiceLine.reason_code,
            InvoiceLine.amount,
            InvoiceLine.description,
        )
        .outerjoin(Member, Member.id == InvoiceLine.member_id)
        .outerjoin(Plan, Plan.id == InvoiceLine.plan_id)
        .outerjoin(Product, Product.id == Plan.product_id)
        .where(
            InvoiceLine.invoice_id == invoice.id,
            InvoiceLine.section.in_([InvoiceSection.RETRO, InvoiceSection.FEE]),
        )
        .order_by(InvoiceLine.line_number)
    )
    limit = _member_filter(subgroup_ids)
    if limit is not None:
        query = query.where(limit)
    return [
        (
            SECTION_LABELS[section],
            month,
            key,
            f"{last}, {first}" if last is not None else "",
            product,
            reason_label(reason),
            amount,
            description,
        )
        for section, month, key, last, first, product, reason, amount, description in (
            session.execute(query)
        )
    ]


def invoice_lines_sheets(
    session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None = None
) -> list[Sheet]:
    """The invoice as a workbook: "Member lines" (every premium line, streamed), "Adjustments and
    fees", and "Summary" (the bottom line, adding up to the total due). The CSV download is
    `invoice_lines_table` (every line in one table), not one of these sheets. `subgroup_ids`
    limits the member rows to those subgroups' members (and group-level lines); the summary
    stays the whole invoice's, and says so. The member lines are read while the workbook is
    written, so write it while `session` is open. An invoice issued under a template also has
    its reference fields atop the summary and its kept subtotals as a "Subtotals" sheet."""
    kept = printed(session, invoice)
    summary: list[tuple] = [(f"{label}: {value}", None) for label, value in kept.references]
    summary += list(invoice_summary_rows(invoice))
    if invoice.status is InvoiceStatus.VOID:
        summary.insert(0, (f"VOID: do not pay. Reason: {invoice.void_reason}", None))
    if subgroup_ids is not None:
        summary.append(
            ("Member lines are limited to your locations; totals are the whole bill's", None)
        )
    return [
        Sheet(
            "Member lines", MEMBER_LINE_COLUMNS, _member_line_rows(session, invoice, subgroup_ids)
        ),
        Sheet(
            "Adjustments and fees",
            ADJUSTMENT_COLUMNS,
            adjustment_line_rows(session, invoice, subgroup_ids),
        ),
        Sheet("Summary", SUMMARY_COLUMNS, summary),
    ] + (
        [
            Sheet(
                "Subtotals",
                (Column(kept.subtotal_label), *SUBTOTAL_COLUMNS),
                [(s.label, s.member_count, s.line_count, s.amount) for s in kept.subtotals]
                + [("Total", None, None, invoice.current_premium)],
            )
        ]
        if kept.subtotals
        else []
    )


def invoice_lines_table(
    session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None = None
) -> Sheet:
    """Every line of the invoice as one flat table (the CSV download): premium, retro and fee
    lines in invoice order, told apart by the Section column; same subgroup rule as the sheets.
    An invoice issued under a template with reference fields (PO number, cost centre) has one
    column per field first, its value on every line (what an accounts-payable import keys on)."""
    references = printed(session, invoice).references
    fields = _member_line_fields()
    query = (
        select(InvoiceLine.section, *fields[:-2], InvoiceLine.reason_code, *fields[-2:])
        .outerjoin(Member, Member.id == InvoiceLine.member_id)
        .outerjoin(Plan, Plan.id == InvoiceLine.plan_id)
        .outerjoin(Product, Product.id == Plan.product_id)
        .where(InvoiceLine.invoice_id == invoice.id)
        .order_by(InvoiceLine.line_number)
    )
    limit = _member_filter(subgroup_ids)
    if limit is not None:
        query = query.where(limit)

    values = tuple(value for _, value in references)

    def rows():
        for section, *middle, reason, amount, description in session.execute(query):
            yield (
                *values,
                SECTION_LABELS[section],
                *middle,
                reason_label(reason),
                amount,
                description,
            )

    columns = (*(Column(label) for label, _ in references), *ALL_LINE_COLUMNS)
    return Sheet(f"Invoice {invoice.invoice_number}", columns, rows())
