"""The paid-vs-billed statement pages shared by the employer portal and the admin side: the page
with its range form, chart and tables, and the PDF, XLSX and CSV downloads. Each view module
passes the tenant-scoped GroupScope and its area ("employer" or "admin") so links stay in it.

The statement is the group's account (the ledger keeps one receivable per group); a user
limited to some locations gets the statement of the bills and payments they see, without the
group's credit (billing_core.reports.statements), as on their payments page."""

from __future__ import annotations

import io

from flask import Response, render_template, request, send_file, url_for

from billing_core.access import GroupScope
from billing_core.billing.enrollment import month_end, month_start
from billing_core.errors import StatementRangeError
from billing_core.exports import csv_bytes, xlsx_bytes
from billing_core.reports.statement_sheets import (
    STATEMENT_SECTIONS,
    statement_sheets,
    statement_table,
)
from billing_core.reports.statements import Statement, default_range, paid_vs_billed
from portal.charts import billed_paid_summary_text, billed_paid_svg, svg_data_uri
from portal.documents import render_statement_pdf
from portal.extensions import db_session
from portal.forms import StatementRangeForm
from portal.web import attempt, see_other, today

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def load_statement(
    scope: GroupScope, *, with_bridge: bool
) -> tuple[StatementRangeForm, Statement | None]:
    """The range form read from the query string and the statement it asks for (None, with the
    form's errors, when the range cannot be drawn). Balances as of the last day of the `to`
    month, or today while that month is still running."""
    form = StatementRangeForm(formdata=request.args)
    now = today()
    if not form.validate():
        return form, None
    first, last = form.months(default_range(now)[0], month_start(now))
    end = min(month_end(last), now)
    if first > now:
        form.start.errors.append("Choose a month that has started.")
        return form, None
    statement, refused = attempt(
        lambda: paid_vs_billed(
            db_session(),
            scope.group,
            first,
            end,
            now,
            with_bridge=with_bridge,
            subgroup_ids=scope.subgroup_ids,
            user_id=scope.user_id,
        ),
        StatementRangeError,
    )
    if refused is not None:
        message = str(refused)
        form.end.errors.append(f"{message[0].upper()}{message[1:]}.")
    return form, statement


def _range_args(statement: Statement) -> dict:
    return {"start": f"{statement.start:%Y-%m}", "end": f"{statement.end:%Y-%m}"}


def _back_to_page(area: str, scope: GroupScope) -> Response:
    return see_other(
        url_for(f"{area}.statement_view", group_id=scope.group.id, **request.args.to_dict())
    )


def _filename(statement: Statement, suffix: str) -> str:
    return (
        f"statement-{statement.group.group_number}-{statement.start:%Y-%m}"
        f"-to-{statement.end:%Y-%m-%d}{suffix}"
    )


def _download(data: bytes, filename: str, mimetype: str) -> Response:
    return send_file(
        io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=filename
    )


def render_statement_page(scope: GroupScope, area: str, template: str):
    form, statement = load_statement(scope, with_bridge=False)
    context = {"scope": scope, "area": area, "form": form, "s": statement}
    if statement is not None:
        form.start.data = form.start.data or statement.start
        form.end.data = form.end.data or month_start(statement.end)
        context.update(
            range_args=_range_args(statement),
            periods=statement.period_totals(),
            chart_src=svg_data_uri(billed_paid_svg(statement.months)),
            chart_alt=billed_paid_summary_text(statement.months),
        )
    return render_template(template, **context)


def send_statement_pdf(scope: GroupScope, area: str) -> Response:
    form, statement = load_statement(scope, with_bridge=True)
    if statement is None:
        return _back_to_page(area, scope)
    pdf = render_statement_pdf(statement)
    return _download(pdf, _filename(statement, ".pdf"), "application/pdf")


def send_statement_download(scope: GroupScope, area: str, fmt: str) -> Response:
    """XLSX: every section, a sheet each. CSV: one section (`?section=`, default the period x
    product lines; see STATEMENT_SECTIONS)."""
    form, statement = load_statement(scope, with_bridge=False)
    if statement is None:
        return _back_to_page(area, scope)
    if fmt == "xlsx":
        data = xlsx_bytes(statement_sheets(statement))
        return _download(data, _filename(statement, ".xlsx"), XLSX_MIMETYPE)
    section = request.args.get("section", "lines")
    if section not in STATEMENT_SECTIONS:
        section = "lines"
    table = statement_table(statement, section)
    suffix = "" if section == "lines" else f"-{section}"
    return _download(
        csv_bytes(table.columns, table.rows), _filename(statement, f"{suffix}.csv"), "text/csv"
    )


def dashboard_context(scope: GroupScope) -> dict:
    """What the employer's group page adds for its dashboard: the account, billed vs paid for
    the last 12 months (chart and numbers) and the latest census upload."""
    from billing_core.reports.dashboard import group_dashboard

    dashboard = group_dashboard(
        db_session(),
        scope.group,
        today(),
        subgroup_ids=scope.subgroup_ids,
        user_id=scope.user_id,
    )
    return {
        "dashboard": dashboard,
        "dashboard_chart_src": svg_data_uri(billed_paid_svg(dashboard.months)),
        "dashboard_chart_alt": billed_paid_summary_text(dashboard.months),
    }
