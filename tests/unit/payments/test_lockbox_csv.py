"""The lockbox CSV reader (docs/lockbox_csv.md), on inline CSV texts and the sample under
tests/data/remittance."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing_core.errors import RemittanceFileError
from billing_core.models.enums import PaymentMethod
from billing_core.payments.lockbox_csv import read_lockbox_csv
from billing_core.payments.remittance import InvoiceRef

DATA = Path(__file__).resolve().parents[2] / "data" / "remittance"
HEADER = "deposit_date,check_number,amount,payer_name,group_number,invoice_number,amount_applied\n"


def read(text: str, name: str = "lockbox.csv", encoding: str = "utf-8"):
    return read_lockbox_csv(text.encode(encoding), name)


def test_one_row_becomes_one_item():
    result = read(
        HEADER + '2027-01-05,4021,"$1,286.40",Birchwood Bakery LLC,G-1001,G-1001-202701,\n'
    )
    assert result.errors == [] and result.notes == ()
    assert result.format == "lockbox_csv" and result.source == "lockbox.csv"
    assert (result.file_id, result.sender_id, result.created_on) == (None, None, None)
    [item] = result.items
    assert item.amount == Decimal("1286.40") and isinstance(item.amount, Decimal)
    assert item.received_on == date(2027, 1, 5)
    assert item.method is PaymentMethod.LOCKBOX
    assert item.reference == "4021"
    assert item.payer_name == "Birchwood Bakery LLC"
    assert item.group_number == "G-1001"
    assert item.invoice_refs == (InvoiceRef("G-1001-202701"),)
    assert item.source_line == 2
    assert item.item_key == "lockbox_csv:2027-01-05:4021:1286.40:G-1001"
    assert result.control_totals == {"deposits": Decimal("1286.40")}


@pytest.mark.parametrize(
    "amount, expected",
    [
        ('"$1,286.40"', "1286.40"),
        ("1286.4", "1286.40"),
        ("1286", "1286.00"),
        (" $12.00 ", "12.00"),
        ('"1,000,000.01"', "1000000.01"),
    ],
)
def test_amounts_allow_dollar_signs_and_commas(amount, expected):
    result = read(HEADER + f"2027-01-05,1,{amount},,,,\n")
    assert result.errors == []
    assert result.items[0].amount == Decimal(expected)


@pytest.mark.parametrize("value", ["2027-01-05", "01/05/2027", "1/5/2027", "20270105"])
def test_deposit_date_formats(value):
    result = read(HEADER + f"{value},1,5.00,,,,\n")
    assert result.errors == []
    assert result.items[0].received_on == date(2027, 1, 5)


@pytest.mark.parametrize(
    "row, column, value, message",
    [
        ("2027-01-05,1,12.345,,,,", "amount", "12.345", "expected whole cents"),
        ("2027-01-05,1,-5.00,,,,", "amount", "-5.00", "expected a positive amount"),
        ("2027-01-05,1,0,,,,", "amount", "0", "expected a positive amount"),
        ("2027-01-05,1,twelve,,,,", "amount", "twelve", "expected an amount in dollars"),
        ("2027-01-05,1,,,,,", "amount", "", "expected an amount in dollars"),
        ("2027-13-05,1,5.00,,,,", "deposit_date", "2027-13-05", "expected a date as 2027-01-04"),
        ("yesterday,1,5.00,,,,", "deposit_date", "yesterday", "expected a date"),
        ("2027-01-05,,5.00,,,,", "check_number", "", "expected the check number"),
        (
            "2027-01-05,1,5.00,,,A;B,1.00",
            "amount_applied",
            "1.00",
            "expected one amount per invoice number (2)",
        ),
        (
            "2027-01-05,1,5.00,,,A;B,3.00;3.00",
            "amount_applied",
            "3.00;3.00",
            "the amounts applied add up to 6.00, more than the check's 5.00",
        ),
        ("2027-01-05,1,5.00,,,A,x", "amount_applied", "x", "expected an amount in dollars"),
        ("2027-01-05,1,5.00,,,A;A,", "invoice_number", "A;A", "an invoice number is listed twice"),
        (
            "2027-01-05,1,5.00,,G-1001,G-1002-202701,",
            "invoice_number",
            "G-1002-202701",
            "invoice G-1002-202701 is group G-1002's, not G-1001's",
        ),
    ],
)
def test_row_problems_name_the_row_column_value_and_expectation(row, column, value, message):
    result = read(HEADER + "2027-01-05,100,5.00,,,,\n" + row + "\n")
    assert len(result.items) == 1  # the good row still reads
    [error] = result.errors
    assert (error.source, error.row, error.column, error.value) == (
        "lockbox.csv",
        3,
        column,
        value,
    )
    assert message in error.message
    assert str(error).startswith(f"lockbox.csv, row 3, column {column}: ")


def test_every_problem_of_every_row_is_reported_at_once():
    result = read(HEADER + "bad,,x,,,,\n2027-01-05,2,5.00,,,,\n,3,-1,,,,\n")
    assert [(e.row, e.column) for e in result.errors] == [
        (2, "deposit_date"),
        (2, "check_number"),
        (2, "amount"),
        (4, "deposit_date"),
        (4, "amount"),
    ]
    assert [i.reference for i in result.items] == ["2"]


@pytest.mark.parametrize(
    "header, missing",
    [
        ("check_number,amount", ["deposit_date"]),
        ("deposit_date,payer_name", ["check_number", "amount"]),
        ("payer_name,notes", ["deposit_date", "check_number", "amount"]),
    ],
)
def test_a_missing_required_column_refuses_the_file_naming_each(header, missing):
    with pytest.raises(RemittanceFileError) as caught:
        read(header + "\nx,y\n")
    assert [e.column for e in caught.value.errors] == missing
    assert "lockbox.csv is missing the required column" in str(caught.value)
    assert all(e.row == 1 and e.source == "lockbox.csv" for e in caught.value.errors)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "lockbox.csv is empty"),
        (b"\n\n", "lockbox.csv is empty"),
        ("deposit_date,amount".encode("utf-16"), "is not CSV text"),
        (b"PK\x03\x04\x00\x00", "is not CSV text"),
    ],
)
def test_files_that_are_not_csv_text_are_refused(data, message):
    with pytest.raises(RemittanceFileError, match=message):
        read_lockbox_csv(data, "lockbox.csv")


def test_an_unquoted_amount_with_a_comma_is_named():
    with pytest.raises(RemittanceFileError) as caught:
        read(HEADER + "2027-01-05,1,5.00,,,,\n2027-01-05,4021,$1,286.40,,,,\n")
    [error] = caught.value.errors
    assert error.row == 3
    assert "row 3 has 8 values but the header has 7 columns: put quotes" in error.message


def test_header_names_are_matched_loosely_and_extra_columns_noted():
    text = (
        "\ufeffDeposit Date,Check #,Amount,Payer-Name,Group Number,Lockbox\n"
        "01/05/2027,4021,$5.00,Birchwood,G-1001,LB7\n"
        "\n"
        "01/05/2027,4022,$6.00,Birchwood,G-1001,LB7\n"
    )
    result = read(text)
    assert result.errors == []
    assert [(i.reference, i.source_line) for i in result.items] == [("4021", 2), ("4022", 4)]
    assert result.notes == ("columns not in the layout, ignored: Lockbox",)


def test_trace_number_is_an_alias_and_method_is_optional():
    text = (
        "deposit_date,trace_number,amount,method\n"
        "2027-01-05,091000010001234,100.00,ach\n"
        "2027-01-05,FW1234,200.00,WIRE\n"
        "2027-01-05,5511,300.00,check\n"
        "2027-01-05,5512,400.00,\n"
        "2027-01-05,5513,500.00,cash\n"
    )
    result = read(text)
    assert [i.method for i in result.items] == [
        PaymentMethod.ACH_CREDIT,
        PaymentMethod.WIRE,
        PaymentMethod.CHECK,
        PaymentMethod.LOCKBOX,
    ]
    [error] = result.errors
    assert (error.row, error.column, error.value) == (6, "method", "cash")


def test_several_invoices_with_amounts_applied_and_the_group_from_the_invoices():
    text = HEADER + (
        '2027-01-05,88310,"$24,310.55",Bayview USD,,G-1007-202612;g-1007-202701,'
        '"4,310.55;20,000.00"\n'
        "2027-01-05,7719,3118.92,Northstar,,G-1008-202701-DC,\n"
    )
    result = read(text)
    assert result.errors == []
    bayview, northstar = result.items
    assert bayview.group_number == "G-1007" and bayview.subgroup_code is None
    assert bayview.invoice_refs == (
        InvoiceRef("G-1007-202612", amount_paid=Decimal("4310.55")),
        InvoiceRef("G-1007-202701", amount_paid=Decimal("20000.00")),
    )
    assert (northstar.group_number, northstar.subgroup_code) == ("G-1008", "DC")
    assert northstar.invoice_refs == (InvoiceRef("G-1008-202701-DC"),)


def test_cp1252_text_is_read():
    result = read(HEADER + "2027-01-05,1,5.00,Caf\xe9 Mu\xf1oz,,,\n", encoding="cp1252")
    assert result.items[0].payer_name == "Caf\xe9 Mu\xf1oz"


def test_item_keys_are_stable_and_the_same_check_twice_is_an_error():
    text = HEADER + "2027-01-05,4021,5.00,Birchwood,,,\n2027-01-05,4022,5.00,Birchwood,,,\n"
    first = [i.item_key for i in read(text, "a.csv").items]
    again = [i.item_key for i in read(text, "renamed.csv").items]
    assert (
        first
        == again
        == [
            "lockbox_csv:2027-01-05:4021:5.00:BIRCHWOOD",
            "lockbox_csv:2027-01-05:4022:5.00:BIRCHWOOD",
        ]
    )
    assert len(set(first)) == 2

    result = read(HEADER + "2027-01-05,4021,5.00,Birchwood,,,\n2027-01-05,4021,5.00,BIRCHWOOD,,,\n")
    assert len(result.items) == 1
    [error] = result.errors
    assert (error.row, error.column) == (3, "check_number")
    assert "is on row 2" in error.message


def test_the_sample_file_reads_clean():
    result = read_lockbox_csv((DATA / "lockbox_20270105.csv").read_bytes(), "lockbox.csv")
    assert result.errors == []
    assert [(i.group_number, i.amount) for i in result.items] == [
        ("G-1001", Decimal("1286.40")),
        ("G-1006", Decimal("6422.10")),
        ("G-1007", Decimal("24310.55")),
        ("G-1008", Decimal("3118.92")),
        (None, Decimal("412.00")),
    ]
    assert result.total == Decimal("35549.97")
