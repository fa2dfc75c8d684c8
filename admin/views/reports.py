"""Staff: the reports index, one page that renders any registered report (filters, sort,
pages) and its CSV/XLSX downloads. The reports themselves live in billing_core.reports."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Response, abort, render_template, request, url_for
from markupsafe import Markup, escape

from admin import bp
from billing_core.exports import csv_bytes, xlsx_bytes
from billing_core.money import format_money
from billing_core.reports import (
    REPORTS,
    Report,
    ReportColumn,
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
    DrawnOnce,
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


def _cell_link(key: str, row: dict) -> tuple[str, tuple] | None:
    """Where a cell leads (an endpoint and its arguments): a group to its page, an invoice to
    the invoice, a payment to it."""
    if key in {"group_number", "group_name"} and row.get("group_id"):
        return "admin.group_detail", (("group_id", row["group_id"]),)
    if key == "invoice_number" and row.get("invoice_id"):
        return "admin.invoice_detail", (
            ("group_id", row["group_id"]),
            ("invoice_id", row["invoice_id"]),
        )
    if key in {"reference", "payer_name"} and row.get("payment_id"):
        return "admin.payment_detail", (("payment_id", row["payment_id"]),)
    return None


# The columns _cell_link can lead from: the other cells are not asked.
_LINKED_KEYS = frozenset(
    {"group_number", "group_name", "invoice_number", "reference", "payer_name"}
)


def _cell_class(column: ReportColumn) -> str:
    wraps = column.kind not in ("date", "period") and column.wrap
    return ("num nowrap" if column.numeric else "") + ("" if wraps else " nowrap")


# A kept report's page of cells written once per page of rows (portal.web.DrawnOnce).
_PAGES_WRITTEN = DrawnOnce(32)


def report_cells(columns: Sequence[ReportColumn], rows: Sequence[dict]) -> list[Markup]:
    """`write_cells`, once for the same row objects: a report that keeps its answer (the
    aging, billing_core.kept_reads) hands the same row dicts to every view while nothing it
    read changed, and a new answer's rows are new dicts."""
    return _PAGES_WRITTEN.get((columns, *rows), (), lambda: write_cells(columns, rows))


def write_cells(columns: Sequence[ReportColumn], rows: Sequence[dict]) -> list[Markup]:
    """The `<td>` cells of each row of a page, written in Python rather than per cell in the
    template: a page of 50 rows of a dozen cells spent more CPU in the template's per-cell
    class tests, link lookups and calls than the report spends computing a thousand rows.
    Each column's opening tag and writer (`_CELL_WRITERS`: report_value's text, as HTML) are
    worked out once, only linking columns ask for a link, and a link shared by cells (a
    group's number and name) is built once, by `_Links`."""
    layout = [
        (c.key, _CELL_WRITERS.get(c.kind, _text_html), c.key in _LINKED_KEYS,
         f'<td class="{_cell_class(c)}">')
        for c in columns
    ]  # fmt: skip
    links = _Links()
    html = []
    for row in rows:
        cells = []
        for key, write, linked, td in layout:
            text = write(row[key])
            target = _cell_link(key, row) if linked else None
            if target is None:
                cells.append(f"{td}{text}</td>")
            else:
                cells.append(f'{td}<a href="{links.href(target)}">{text}</a></td>')
        # Each value and link is escaped as written; the classes are the columns' own words.
        html.append(Markup("".join(cells)))  # nosec B704 # values and links escaped above
    return html


class _Links:
    """The escaped hrefs of one page's cell links (endpoint, arguments), each built once. A
    link whose arguments are all ids is written from its route's shape, asked of url_for
    once per endpoint with stand-in ids: url_for costs more than the rest of a cell."""

    STAND_IN = 987_654_320  # + the argument's place: an id no route's words contain

    def __init__(self):
        self.hrefs: dict[tuple, str] = {}
        self.shapes: dict[tuple, list[str] | None] = {}

    def href(self, target: tuple[str, tuple]) -> str:
        found = self.hrefs.get(target)
        if found is None:
            found = self.hrefs[target] = self._build(*target)
        return found

    def _build(self, endpoint: str, arguments: tuple) -> str:
        names = tuple(name for name, _ in arguments)
        values = [value for _, value in arguments]
        if all(type(value) is int for value in values):
            shape = self.shapes.get((endpoint, names), False)
            if shape is False:
                shape = self.shapes[(endpoint, names)] = self._shape(endpoint, names)
            if shape is not None:
                parts = [shape[0]]
                for value, after in zip(values, shape[1:], strict=True):
                    parts += (str(value), after)
                return "".join(parts)
        return str(escape(url_for(endpoint, **dict(arguments))))

    def _shape(self, endpoint: str, names: tuple) -> list[str] | None:
        """The escaped text of the link around each argument, or None when the stand-ins
        are not each found once."""
        stand_ins = [str(self.STAND_IN + i) for i in range(len(names))]
        text = str(escape(url_for(endpoint, **dict(zip(names, map(int, stand_ins), strict=True)))))
        parts = []
        for stand_in in stand_ins:
            if text.count(stand_in) != 1:
                return None
            before, text = text.split(stand_in)
            parts.append(before)
        return [*parts, text]


_NO_BASE = Markup('<span class="muted" title="no base to compare with">n/a</span>')
_MUTED = Markup('<span class="muted">{}</span>')
_MUTED_ZERO = Markup('<span class="muted">0.00</span>')  # the common zero, not formatted per cell


def report_value(kind: str, value) -> Markup | str:
    """One report cell: money (a zero muted), a date, a month, a count, a percent (none:
    "n/a"), else the text, escaped (plain text is escaped by the template). Written in
    Python, not a template macro: a report page renders hundreds of cells and a macro call
    costs about ten times a function's."""
    if value is None:
        return _NO_BASE if kind == "percent" else ""
    if kind == "money":
        text = format_money(value)
        if value == 0:
            return _MUTED_ZERO if text == "0.00" else _MUTED.format(text)
        return text
    if kind == "date":
        return format_date(value)
    if kind == "period":
        return format_period(value)
    if kind == "int":
        return f"{value:,}"
    if kind == "percent":
        return f"{value:,.2f}%"
    return escape(value)


def _money_html(value) -> str:
    if value is None:
        return ""
    text = format_money(value)
    if value == 0:
        return _MUTED_ZERO if text == "0.00" else _MUTED.format(text)
    return text


def _text_html(value) -> str:
    return "" if value is None else escape(value)


# report_value's text of a cell, per column kind, as HTML: numbers, dates and months are
# written in digits and words that need no escaping; text is escaped.
_CELL_WRITERS = {
    "money": _money_html,
    "date": lambda v: "" if v is None else format_date(v),
    "period": lambda v: "" if v is None else format_period(v),
    "int": lambda v: "" if v is None else f"{v:,}",
    "percent": lambda v: _NO_BASE if v is None else f"{v:,.2f}%",
}


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
    page = paginate_list(run.rows, per_page=PER_PAGE)
    response = render_page_or_fragment(
        "admin/reports/report.html",
        "admin/reports/_table.html",
        report=report,
        run=run,
        page=page,
        row_cells=report_cells(report.columns, page.items),
        args=_query_args(run),
        sort_label=sort_label(run),
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
