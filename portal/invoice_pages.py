"""Invoice pages shared by the employer portal and the admin side: the list, the detail with
its bill bridge and member lines, the htmx fragments, and the downloads. Each view module passes
the tenant-scoped GroupScope and its area ("employer" or "admin") so URLs point back into it."""

from __future__ import annotations

from flask import Response, abort, current_app, render_template, request
from markupsafe import Markup, escape

from billing_core.access import GroupScope
from billing_core.billing.bill_bridge import STEP_LABELS, kept_bridge, kept_counts_seen, kept_rows
from billing_core.billing.invoice_templates import printed
from billing_core.billing.invoices import (
    STATUS_LABELS,
    find_invoice,
    find_invoice_row,
    group_invoice_page,
    invoice_lines_page,
    invoice_products,
    invoice_view,
    period_label,
)
from billing_core.exports import csv_bytes, xlsx_bytes
from billing_core.models import Invoice
from billing_core.money import format_money, format_rate
from billing_core.paging import Page
from billing_core.payments.online import OnlineLimits
from billing_core.reports.invoice_sheets import invoice_lines_sheets, invoice_lines_table
from portal.charts import bridge_waterfall_svg, svg_data_uri
from portal.documents import adjustment_lines, render_invoice_pdf
from portal.extensions import db_session
from portal.web import format_period, render_page_or_fragment, today

LINES_PER_PAGE = 50
BRIDGE_ROWS_SHOWN = 200


def load_invoice(scope: GroupScope, invoice_id: int) -> Invoice:
    """The invoice within the user's scope; anything else is a 404."""
    invoice = find_invoice(db_session(), scope.group.id, invoice_id, scope.subgroup_ids)
    if invoice is None:
        abort(404)
    return invoice


def render_invoice_list(scope: GroupScope, area: str):
    search = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    page = group_invoice_page(
        db_session(),
        scope.group,
        scope.subgroup_ids,
        today(),
        search=search,
        status=status,
        asked_page=request.args.get("page", 1, type=int),
    )
    return render_page_or_fragment(
        f"{area}/group_invoices.html",
        "invoices/_list_rows.html",
        scope=scope,
        page=page,
        search=search,
        status=status,
        statuses=STATUS_LABELS,
        area=area,
        period_label=period_label,
    )


def render_invoice_detail(scope: GroupScope, invoice_id: int, area: str, **extra):
    session = db_session()
    found = find_invoice_row(
        session,
        scope.group.id,
        invoice_id,
        scope.subgroup_ids,
        with_bridge=True,
        with_plan_totals=True,
    )
    if found is None:
        abort(404)
    invoice = found.invoice
    view = invoice_view(session, invoice, today(), found.open_balance, found.plan_totals)
    bridge = kept_bridge(session, invoice, found.bridge_read)
    settings = current_app.config["SETTINGS"]
    remit = settings.remit_instructions
    return render_template(
        f"{area}/invoice.html",
        scope=scope,
        view=view,
        invoice=invoice,
        adjustments=adjustment_lines(session, invoice, scope.subgroup_ids)
        if view.retro_lines or view.fee_lines
        else [],
        remit=remit,
        remit_reference=remit.reference(view.group.group_number, invoice.invoice_number),
        printed=printed(session, invoice, found.kept_print),
        online_limits=OnlineLimits.from_settings(settings),
        bridge=bridge,
        # How many people behind each step the reader may see (their locations' only).
        bridge_counts=kept_counts_seen(session, bridge, scope.subgroup_ids),
        chart_src=svg_data_uri(bridge_waterfall_svg(bridge)),
        lines=_lines_page(scope, invoice, line_count=view.line_count),
        member_line_rows=member_line_rows,
        products=view.product_choices,
        search="",
        product="",
        area=area,
        period_label=period_label,
        **extra,
    )


def _lines_page(scope: GroupScope, invoice: Invoice, line_count: int | None = None) -> Page:
    """The page of member lines the request asks for (search, product, page); `line_count`:
    the bill's premium lines when the caller has read them already."""
    return invoice_lines_page(
        db_session(),
        invoice,
        request.args.get("page", 1, type=int),
        LINES_PER_PAGE,
        search=request.args.get("q", "").strip(),
        product=request.args.get("product", ""),
        subgroup_ids=scope.subgroup_ids,
        line_count=line_count,
    )


def member_line_rows(items) -> Markup:
    """The `<tr>` rows of a page of member lines (`invoices._MEMBER_LINE` rows), as
    invoices/_lines.html wrote them cell by cell: written here, a page of 50 rows cost more
    in the template's per-cell calls and escapes than the rest of the invoice page. Text is
    escaped as the template's autoescape did (None prints "None"); months, money and rates
    are the filters' own words, which need no escaping."""
    html = []
    for (
        last_name,
        first_name,
        member_key,
        employee_id,
        product_name,
        description,
        coverage_month,
        tier,
        volume,
        rate,
        amount,
    ) in items:
        employee = f" · emp {escape(employee_id)}" if employee_id else ""
        html.append(
            f"\n    <tr>\n      <td>{escape(last_name)}, {escape(first_name)}<br>"
            f'<span class="muted">{escape(member_key)}{employee}</span></td>\n'
            f"      <td>{escape(product_name)}<br>"
            f'<span class="muted">{escape(description)}</span></td>\n'
            f'      <td class="nowrap">{format_period(coverage_month)}</td>\n'
            f"      <td>{escape(tier.value) if tier else ''}</td>\n"
            f'      <td class="num">{format_money(volume) if volume is not None else ""}</td>\n'
            f'      <td class="num">{format_rate(rate)}</td>\n'
            f'      <td class="num">{format_money(amount)}</td>\n'
            "    </tr>\n  "
        )
    return Markup("".join(html))  # nosec B704 # each text escaped above


def render_invoice_lines(scope: GroupScope, invoice_id: int, area: str):
    """The member lines table (htmx fragment; the whole page without htmx)."""
    invoice = load_invoice(scope, invoice_id)
    session = db_session()
    return render_page_or_fragment(
        "invoices/lines_page.html",
        "invoices/_lines.html",
        scope=scope,
        invoice=invoice,
        lines=_lines_page(scope, invoice),
        member_line_rows=member_line_rows,
        products=invoice_products(session, invoice),
        search=request.args.get("q", "").strip(),
        product=request.args.get("product", ""),
        area=area,
    )


def render_bridge_step(scope: GroupScope, invoice_id: int, step: str, area: str):
    """The member rows behind one bill-bridge step (htmx fragment)."""
    if step not in STEP_LABELS:
        abort(404)
    invoice = load_invoice(scope, invoice_id)
    session = db_session()
    bridge = kept_bridge(session, invoice)
    seen = kept_counts_seen(session, bridge, scope.subgroup_ids)[step]
    rows = kept_rows(session, bridge, scope.subgroup_ids, step=step, limit=BRIDGE_ROWS_SHOWN)
    return render_page_or_fragment(
        "invoices/bridge_page.html",
        "invoices/_bridge_rows.html",
        scope=scope,
        invoice=invoice,
        step=bridge.step(step),
        rows=rows,
        hidden=max(0, seen - len(rows)),
        limited=not scope.whole_group,
        area=area,
    )


def _download(content: bytes, filename: str, mimetype: str) -> Response:
    return Response(
        content,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # Member names and premium: never kept by a cache (see portal._security_headers).
            "Cache-Control": "no-store, private",
        },
    )


def send_invoice_pdf(scope: GroupScope, invoice_id: int) -> Response:
    invoice = load_invoice(scope, invoice_id)
    pdf = render_invoice_pdf(db_session(), invoice, today(), subgroup_ids=scope.subgroup_ids)
    return _download(pdf, f"invoice-{invoice.invoice_number}.pdf", "application/pdf")


def send_invoice_lines(scope: GroupScope, invoice_id: int, fmt: str) -> Response:
    """The invoice's lines: XLSX with a sheet per section, or CSV as one flat table."""
    invoice = load_invoice(scope, invoice_id)
    session = db_session()
    name = f"invoice-{invoice.invoice_number}-lines"
    if fmt == "xlsx":
        return _download(
            xlsx_bytes(invoice_lines_sheets(session, invoice, subgroup_ids=scope.subgroup_ids)),
            f"{name}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    table = invoice_lines_table(session, invoice, subgroup_ids=scope.subgroup_ids)
    return _download(csv_bytes(table.columns, table.rows), f"{name}.csv", "text/csv")
