"""Printable documents: the invoice as a PDF (WeasyPrint), from the same reads the invoice page
uses (`invoice_view`, `kept_bridge`, `billing_core.billing.member_detail`) and the spreadsheet
downloads use (`reports.invoice_sheets`). Call inside an app context (a view, or
`app.app_context()`).

Decision, for speed and size: the member detail is printed when the (visible) invoice has at
most MEMBER_DETAIL_LIMIT premium lines, about 35 pages; beyond that WeasyPrint takes tens of
seconds and the PDF is a phone book nobody reads, so the PDF says the detail is in the CSV/XLSX
download instead. The same goes for the people behind the bill bridge (BRIDGE_DETAIL_LIMIT).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app, render_template
from sqlalchemy.orm import Session

from billing_core.billing.bill_bridge import kept_bridge, kept_details
from billing_core.billing.groups import subgroup_names
from billing_core.billing.invoice_templates import printed
from billing_core.billing.invoices import invoice_view, period_label
from billing_core.billing.member_detail import group_by_member, member_lines
from billing_core.models import Invoice
from billing_core.models.enums import InvoiceStatus
from billing_core.money import cents, format_money, format_rate
from billing_core.payments.online import OnlineLimits
from billing_core.reports.invoice_sheets import adjustment_line_rows, invoice_summary_rows
from portal.charts import bridge_summary_text, bridge_waterfall_svg, svg_data_uri

__all__ = [
    "MEMBER_DETAIL_LIMIT",
    "adjustment_lines",
    "invoice_document_context",
    "render_invoice_pdf",
    "render_statement_pdf",
    "signed_money",
]

# WeasyPrint lays out about three pages a second: beyond this many premium lines the PDF
# points to the XLSX/CSV download for member detail instead of taking many seconds.
MEMBER_DETAIL_LIMIT = 400
BRIDGE_DETAIL_LIMIT = 200


def signed_money(amount: Decimal) -> str:
    """`+1,234.50` or `-38.20` (the screen's minus), `0.00`: a change, not a balance."""
    amount = cents(amount)
    return f"+{format_money(amount)}" if amount > 0 else format_money(amount)


@dataclass(frozen=True)
class AdjustmentLine:
    section: str
    coverage_month: date | None
    member_key: str
    name: str
    product: str
    reason: str
    amount: Decimal
    description: str


def adjustment_lines(
    session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None = None
) -> list[AdjustmentLine]:
    """The retro and fee lines naming each line's member, product and coverage month, as the
    invoice page and the PDF print them (a location's contact sees their members' lines and
    the group-level ones)."""
    return [AdjustmentLine(*row) for row in adjustment_line_rows(session, invoice, subgroup_ids)]


def invoice_document_context(
    session: Session,
    invoice: Invoice,
    today: date,
    subgroup_ids: frozenset[int] | None = None,
) -> dict:
    """Everything the invoice PDF template shows. `subgroup_ids` (a user limited to some
    locations) limits member lines, adjustments and bridge rows to those locations' members;
    the totals, product table and bridge steps stay the whole bill's, and the PDF says so."""
    view = invoice_view(session, invoice, today)
    period = period_label(invoice.period_start, invoice.period_end)
    bridge = kept_bridge(session, invoice)
    line_count, lines = member_lines(session, invoice, subgroup_ids, MEMBER_DETAIL_LIMIT)
    adjustments = adjustment_lines(session, invoice, subgroup_ids)
    bridge_row_count, bridge_details = kept_details(
        session, bridge, subgroup_ids, BRIDGE_DETAIL_LIMIT
    )
    settings = current_app.config["SETTINGS"]
    remit = settings.remit_instructions
    limits = OnlineLimits.from_settings(settings)
    return {
        "view": view,
        "invoice": invoice,
        "group": view.group,
        "subgroup": view.subgroup,
        "is_void": invoice.status is InvoiceStatus.VOID,
        "period_label": period,
        "summary": invoice_summary_rows(invoice, f"{view.premium_heading}, {period}"),
        "previous_unpaid": invoice.balance_forward - invoice.payments_credits,
        "new_charges": invoice.current_premium + invoice.retro_total + invoice.fees_total,
        "products": view.products,
        "products_total": sum((p.amount for p in view.products), Decimal("0.00")),
        "retro_lines": [a for a in adjustments if a.section != "Fee"],
        "fee_lines": [a for a in adjustments if a.section == "Fee"],
        "bridge": bridge,
        "bridge_chart_src": svg_data_uri(bridge_waterfall_svg(bridge)),
        "bridge_chart_alt": bridge_summary_text(bridge),
        "bridge_details": bridge_details,
        "bridge_row_count": bridge_row_count,
        "bridge_detail_limit": BRIDGE_DETAIL_LIMIT,
        "member_lines": group_by_member(lines),
        "rate": format_rate,
        "member_line_count": line_count,
        "member_detail_limit": MEMBER_DETAIL_LIMIT,
        "subgroup_limited": subgroup_ids is not None,
        "limited_to": subgroup_names(session, subgroup_ids),
        "remit": remit,
        "remit_reference": remit.reference(view.group.group_number, invoice.invoice_number),
        # What the invoice printed from its group's template when it was issued (kept).
        "printed": printed(session, invoice),
        "online_limits": limits,
        "signed": signed_money,
        "today": today,
    }


def render_invoice_pdf(
    session: Session,
    invoice: Invoice,
    today: date,
    subgroup_ids: frozenset[int] | None = None,
) -> bytes:
    """The invoice as a Letter-size PDF: header, bill-to and total due, summary, premium by
    product, retro adjustments and fees, the bill bridge (chart and table), member detail (see
    the module docstring for the limit), how to pay; a VOID watermark and banner when void;
    "Page X of Y" and the invoice number on every page. Reads only."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    html = render_template(
        "documents/invoice.html", **invoice_document_context(session, invoice, today, subgroup_ids)
    )
    # The document needs nothing from outside; refusing every fetch but data: URLs means text
    # from the database can never make the server request a URL.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=False)
    return HTML(string=html, url_fetcher=fetcher).write_pdf(font_config=_font_config())


# --------------------------------------------------------------------------- statement


def statement_document_context(statement) -> dict:
    """Everything the statement PDF shows (`billing_core.reports.statements.Statement`): the
    figures, the charts as data: URLs (billed vs paid by month, the latest bill's bridge) with
    their words for screen readers, and the tables beside them. Aging is a table only: a chart of
    its six figures added drawing time and nothing the table does not say."""
    from billing_core.reports.statement_sheets import statement_summary_rows
    from portal.charts import billed_paid_summary_text, billed_paid_svg

    s = statement
    bridge = s.bridge
    return {
        "s": s,
        "group": s.group,
        "summary": statement_summary_rows(s)[3:],
        "periods": s.period_totals(),
        "products": s.product_totals(),
        "months_chart_src": svg_data_uri(billed_paid_svg(s.months)),
        "months_chart_alt": billed_paid_summary_text(s.months),
        "bridge": bridge,
        "bridge_chart_src": svg_data_uri(bridge_waterfall_svg(bridge)) if bridge else None,
        "bridge_chart_alt": bridge_summary_text(bridge) if bridge else "",
        "bridge_period": period_label(bridge.invoice.period_start, bridge.invoice.period_end)
        if bridge
        else "",
        "day_before_start": date.fromordinal(s.start.toordinal() - 1),
    }


def render_statement_pdf(statement) -> bytes:
    """The paid-vs-billed statement as a Letter-size PDF: the balance owed, credit and net due
    first, the summary that adds up to them, billed vs paid by month (chart and table), each
    coverage period and product, the invoices, the payments with their references, aging, and
    the latest bill's bridge; "Page X of Y" and the group on every page. Reads only."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    html = render_template("statements/document.html", **statement_document_context(statement))
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=False)
    return HTML(string=html, url_fetcher=fetcher).write_pdf(font_config=_font_config())


_fonts = threading.local()


def _font_config():
    """This thread's WeasyPrint FontConfiguration, made once: making one loads fontconfig's
    configuration, about a tenth of a statement PDF's time. Our documents add no @font-face, so
    it never changes; one per thread because Pango's font maps are not shared across threads."""
    config = getattr(_fonts, "config", None)
    if config is None:
        from weasyprint.text.fonts import FontConfiguration

        config = _fonts.config = FontConfiguration()
    return config
