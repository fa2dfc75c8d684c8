"""The staff reports pages: the index, any report as a table (filters, sort, pages, totals),
the CSV and XLSX downloads of the same rows, and staff-only access."""

from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from billing_core.money import D
from tests.factories import make_group, make_invoice

AS_OF = "as_of=2027-01-31"


def body(response) -> str:
    return response.get_data(as_text=True)


def table_rows(html: str) -> list[str]:
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", tbody, re.S)


@pytest.fixture
def staff(client, cast, login_as):
    login_as(cast.users["billing_specialist"])
    return cast


def test_index_lists_every_report(client, staff):
    from billing_core.reports import REPORTS

    html = body(client.get("/admin/reports"))
    for report in REPORTS.values():
        assert f'href="/admin/reports/{report.name}"' in html
        assert report.title in html
    assert 'href="/admin/reports">Reports</a>' in html  # the nav link


def test_aging_page_shows_groups_buckets_and_book_totals(client, staff):
    # The scenario's January bills (A 150.60, B 76.90) were due Jan 1: 30 days past due.
    html = body(client.get(f"/admin/reports/aging?{AS_OF}"))
    rows = table_rows(html)
    assert len(rows) == 2
    assert staff.group_a.group_number in rows[0] and "150.60" in rows[0]
    assert staff.group_b.group_number in rows[1] and "76.90" in rows[1]
    tfoot = html.split("<tfoot>", 1)[1]
    assert "Total" in tfoot and "227.50" in tfoot and "100.00%" in tfoot
    assert f'href="/admin/groups/{staff.group_a.id}"' in rows[0]  # a row leads to its group
    assert 'value="2027-01-31"' in html  # the filter keeps what was asked
    # Before the bills were issued there is nothing to age: an empty state that says what to do.
    early = body(client.get("/admin/reports/aging?as_of=2026-12-01"))
    assert "Nothing to report for these filters" in early


def test_sorting_by_a_column_both_ways(client, staff):
    a, b = staff.group_a.group_number, staff.group_b.group_number
    high_first = table_rows(body(client.get(f"/admin/reports/aging?{AS_OF}&sort=-total_open")))
    assert [a in r for r in high_first] == [True, False]
    low_first = body(client.get(f"/admin/reports/aging?{AS_OF}&sort=total_open"))
    assert [b in r for r in table_rows(low_first)] == [True, False]
    assert 'aria-sort="ascending"' in low_first
    # The sorted column's heading link flips the direction and keeps the filters.
    assert "sort=-total_open" in low_first and "as_of=2027-01-31" in low_first


def test_group_filter(client, staff):
    html = body(client.get(f"/admin/reports/aging?{AS_OF}&group={staff.group_b.group_number}"))
    rows = table_rows(html)
    assert len(rows) == 1 and staff.group_b.group_number in rows[0]


def test_bad_filter_is_shown_next_to_the_field_and_download_goes_back(client, staff):
    response = client.get("/admin/reports/aging?as_of=31%2F01%2F2027")
    assert response.status_code == 200
    html = body(response)
    assert "Enter a date as YYYY-MM-DD" in html and 'aria-invalid="true"' in html
    assert "Correct the filters above" in html
    download = client.get("/admin/reports/aging/download/csv?as_of=nonsense")
    assert download.status_code == 303
    assert "/admin/reports/aging?as_of=nonsense" in download.headers["Location"]


def test_unknown_report_is_404(client, staff):
    assert client.get("/admin/reports/payroll").status_code == 404
    assert client.get("/admin/reports/payroll/download/csv").status_code == 404
    assert client.get("/admin/reports/aging/download/pdf").status_code == 404


def test_pages_of_fifty_with_totals_over_every_page(client, staff, session):
    for n in range(53):
        group = make_group(session, group_number=f"PG{n:03d}", name=f"Paged {n:03d}")
        make_invoice(session, group, D("10.00"), staff.invoice_a.due_on)
    session.commit()
    first = body(client.get(f"/admin/reports/aging?{AS_OF}&sort=group_number"))
    assert len(table_rows(first)) == 50
    assert "Page 1 of 2" in first and "The total row covers every page" in first
    assert "757.50" in first.split("<tfoot>", 1)[1]  # 53 x 10.00 + 227.50
    second = body(client.get(f"/admin/reports/aging?{AS_OF}&sort=group_number&page=2"))
    assert len(table_rows(second)) == 5
    assert "Page 2 of 2" in second


def test_csv_download_is_every_row_in_the_page_sort(client, staff):
    response = client.get(f"/admin/reports/aging/download/csv?{AS_OF}&sort=-total_open")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="aging-2027-01-31.csv"' in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    header = lines[0]
    assert header[:3] == ["Group", "Employer", "Current"]
    first = dict(zip(header, lines[1], strict=True))
    assert first["Group"] == staff.group_a.group_number
    assert first["1–30 days"] == "150.60" and first["Open receivable"] == "150.60"
    assert first["% past due"] == "100"  # a number, written like a rate
    assert len(lines) == 3


def test_xlsx_download_is_a_typed_workbook(client, staff):
    response = client.get(f"/admin/reports/cash_receipts/download/xlsx?{AS_OF}")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    workbook = load_workbook(io.BytesIO(response.get_data()))
    assert workbook.sheetnames[0] == "Cash receipts"
    aging = client.get(f"/admin/reports/aging/download/xlsx?{AS_OF}")
    sheet = load_workbook(io.BytesIO(aging.get_data()))["Receivables aging"]
    values = list(sheet.iter_rows(values_only=True))
    row = dict(zip(values[0], values[1], strict=True))
    assert row["1–30 days"] == pytest.approx(150.60)
    assert isinstance(row["Open receivable"], int | float)


def test_htmx_request_gets_the_table_fragment(client, staff):
    response = client.get(f"/admin/reports/aging?{AS_OF}", headers={"HX-Request": "true"})
    html = body(response)
    assert "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<div id="report-table">') and "<form" not in html


@pytest.mark.parametrize("role", ["employer_a", "broker_a"])
@pytest.mark.parametrize(
    "path",
    ["/admin/reports", "/admin/reports/aging", "/admin/reports/aging/download/xlsx"],
)
def test_employers_and_brokers_are_refused(client, cast, login_as, role, path):
    login_as(cast.users[role])
    assert client.get(path).status_code == 403


def test_anonymous_is_sent_to_login(client, cast):
    response = client.get("/admin/reports/aging/download/csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_stripe_events_lists_what_the_webhook_did_with_each_event(client, staff, session):
    from billing_core.models import WebhookEvent

    for n, (kind, outcome) in enumerate(
        [
            ("checkout.session.completed", "payment 7 recorded, succeeded: $150.60 to group G-1"),
            ("customer.created", "ignored: not an event the portal acts on"),
            ("charge.refunded", "not applied, needs staff: payment 9 is already returned"),
        ]
    ):
        session.add(WebhookEvent(event_id=f"evt_report_{n}", event_type=kind, outcome=outcome))
    session.commit()

    html = body(client.get("/admin/reports/stripe_events"))
    assert len(table_rows(html)) == 3
    for label in ("Acted on", "Ignored", "Not applied: needs staff"):
        assert label in html
    attention = table_rows(body(client.get("/admin/reports/stripe_events?show=attention")))
    assert len(attention) == 1 and "evt_report_2" in attention[0]
    assert "payment 9 is already returned" in attention[0]

    response = client.get("/admin/reports/stripe_events/download/csv?show=ignored")
    lines = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert lines[0] == [
        "Received (UTC)",
        "Event",
        "Result",
        "What the portal did",
        "Stripe event id",
    ]
    assert [line[1:] for line in lines[1:]] == [
        ["customer.created", "Ignored", "ignored: not an event the portal acts on", "evt_report_1"]
    ]


@pytest.mark.parametrize(
    ("kind", "value", "html"),
    [
        ("money", D("1234567.891"), "1,234,567.89"),
        ("money", D("-1234.5"), "-1,234.50"),
        ("money", D("0"), '<span class="muted">0.00</span>'),
        ("money", D("-0"), '<span class="muted">-0.00</span>'),
        ("percent", None, '<span class="muted" title="no base to compare with">n/a</span>'),
        ("percent", D("12.50"), "12.50%"),
        ("money", None, ""),
        ("int", 1234567, "1,234,567"),
        ("text", "Smith & <Sons>", "Smith &amp; &lt;Sons&gt;"),
    ],
)
def test_a_report_cell_is_formatted_and_escaped(kind, value, html):
    """Every report's cells go through one Python function (not a template macro: hundreds
    per page): money to the cent with zeros muted, "n/a" for a percent without a base, text
    escaped."""
    from admin.views.reports import report_value

    assert str(report_value(kind, value)) == html


def test_report_cells_link_classes_and_escaping(web_app):
    """A page's cells are written by one Python function (admin/views/reports.py::
    report_cells): a group's number and name lead to its page, numbers are right-aligned and
    unbroken, codes unbroken, text escaped; cells without a link are plain."""
    from admin.views.reports import report_cells
    from billing_core.reports import get_report

    report = get_report("aging")
    row = {column.key: D("0") for column in report.columns}
    row.update(
        group_id=7, group_number="G-7", group_name="A & B <Co>", current=D("12.5"),
        past_due_percent=None,
    )  # fmt: skip
    with web_app.test_request_context():
        (cells,) = report_cells(report.columns, [row])
    assert str(cells).startswith(
        '<td class=" nowrap"><a href="/admin/groups/7">G-7</a></td>'
        '<td class=""><a href="/admin/groups/7">A &amp; B &lt;Co&gt;</a></td>'
        '<td class="num nowrap">12.50</td>'
        '<td class="num nowrap"><span class="muted">0.00</span></td>'
    )
    assert str(cells).endswith(
        '<td class="num nowrap"><span class="muted" title="no base to compare with">n/a</span></td>'
    )


def test_a_totals_row_that_leaves_a_column_out_shows_it_empty(client, staff, monkeypatch):
    """A report's totals need not name every column (the commission holds' leave the first
    month held out): the page shows that cell empty, as the workbook's totals sheet does,
    instead of failing on a month it cannot format."""
    from datetime import date

    from billing_core.reports import REPORTS, Report, ReportColumn, ReportResult

    report = Report(
        name="totals_gap",
        title="Totals gap",
        description="",
        columns=(
            ReportColumn("label", "Label"),
            ReportColumn("month", "Month", "period"),
            ReportColumn("amount", "Amount", "money", total=True),
        ),
        filters=(),
        rows=lambda session, filters: ReportResult(
            [{"label": "A", "month": date(2027, 1, 1), "amount": D("5")}],
            totals={"label": "Total", "amount": D("5")},
        ),  # fmt: skip
        default_sort="label",
    )
    monkeypatch.setitem(REPORTS, report.name, report)
    response = client.get("/admin/reports/totals_gap")
    assert response.status_code == 200
    footer = body(response).split("<tfoot>", 1)[1].split("</tfoot>", 1)[0]
    assert re.findall(r"<td[^>]*>(.*?)</td>", footer) == ["Total", "", "5.00"]
