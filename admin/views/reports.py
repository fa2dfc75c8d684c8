"""Staff: the reports index, one page that renders any registered report (filters, sort,
pages) and its CSV/XLSX downloads. The reports themselves live in billing_core.reports."""

from __future__ import annotations

from flask import Response, abort, render_template, request, url_for
from markupsafe import Markup, escape

from admin import bp
from billing_core.exports import csv_bytes, xlsx_bytes
from billing_core.money import format_money
from billing_core.reports import (
    REPORTS,
    Report,
    ReportRun,
    download_name,
    get_report,
    report_sheet,
    report_sheets,
    run_report,
    sort_label,
)
from portal.extensions import db_session
from portal.web import (
    format_date,
    format_period,
    paginate_list,
    render_page_or_fragment,
    see_other,
    today,
)

PER_PAGE = 50
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _load(name: str) -> Report:
    report = get_report(name)
    if report is None:
        abort(404)
    return report


def _cell_link(key: str, row: dict) -> str | None:
    """Where a cell leads: a group to its page, an invoice to the invoice, a payment to it."""
    if key in {"group_number", "group_name"} and row.get("group_id"):
        return url_for("admin.group_detail", group_id=row["group_id"])
    if key == "invoice_number" and row.get("invoice_id"):
        return url_for(
            "admin.invoice_detail", group_id=row["group_id"], invoice_id=row["invoice_id"]
        )
    if key in {"reference", "payer_name"} and row.get("payment_id"):
        return url_for("admin.payment_detail", payment_id=row["payment_id"])
    return None


_NO_BASE = Markup('<span class="muted" title="no base to compare with">n/a</span>')
_MUTED = Markup('<span class="muted">{}</span>')


def report_value(kind: str, value) -> Markup | str:
    """One report cell: money (a zero muted), a date, a month, a count, a percent (none:
    "n/a"), else the text, escaped (plain text is escaped by the template). Written in
    Python, not a template macro: a report page renders hundreds of cells and a macro call
    costs about ten times a function's."""
    if value is None:
        return _NO_BASE if kind == "percent" else ""
    if kind == "money":
        text = format_money(value)
        return _MUTED.format(text) if value == 0 else text
    if kind == "date":
        return format_date(value)
    if kind == "period":
        return format_period(value)
    if kind == "int":
        return f"{value:,}"
    if kind == "percent":
        return f"{value:,.2f}%"
    return escape(value)


def _query_args(run: ReportRun) -> dict[str, str]:
    """The filters and sort as query arguments (the form's text, so links keep what was typed)."""
    return {**run.form, "sort": run.sort}


@bp.get("/reports")
def report_index():
    return render_template("admin/reports/index.html", reports=list(REPORTS.values()))


@bp.get("/reports/<name>")
def report_view(name: str):
    report = _load(name)
    run = run_report(db_session(), report, request.args, today())
    response = render_page_or_fragment(
        "admin/reports/report.html",
        "admin/reports/_table.html",
        report=report,
        run=run,
        page=paginate_list(run.rows, per_page=PER_PAGE),
        args=_query_args(run),
        sort_label=sort_label(run),
        cell_link=_cell_link,
        value=report_value,
    )
    response = Response(response) if isinstance(response, str) else response
    response.vary.add("HX-Request")
    return response


@bp.get("/reports/<name>/download/<any(csv, xlsx):fmt>")
def report_download(name: str, fmt: str):
    """Every row of the report (all pages, in the page's sort), as CSV or as an XLSX workbook
    (rows, totals, filters). Filters that do not parse send the user back to the page."""
    report = _load(name)
    run = run_report(db_session(), report, request.args, today())
    if run.errors:
        return see_other(url_for("admin.report_view", name=name, **request.args.to_dict()))
    if fmt == "xlsx":
        content, mimetype = xlsx_bytes(report_sheets(run, today())), XLSX_MIMETYPE
    else:
        sheet = report_sheet(run)
        content, mimetype = csv_bytes(sheet.columns, sheet.rows), "text/csv"
    return Response(
        content,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{download_name(run, fmt)}"'},
    )
