"""The BAI2 reader, on inline BAI2 texts (and the sample under tests/data/remittance), and the
invoice/group number finder every remittance reader uses on free text."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing_core.errors import RemittanceFileError
from billing_core.models.enums import PaymentMethod
from billing_core.payments.bai2 import read_bai2
from billing_core.payments.remittance import (
    InvoiceRef,
    find_references,
    parse_invoice_number,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "remittance"

# One account: an 03 summary of $1,000.00, a $1,286.40 check deposit and a $500.00 check paid.
# Account total 100000 + 128640 + 50000 = 278640 cents over 4 records (03, 16, 16, 49); the
# group has 6 records (02 .. 98), the file 8 (01 .. 99).
BASE = """\
01,091000019,HARBORLIFE,270105,0615,27010501,80,,2/
02,HARBORLIFE,091000019,1,270104,2400,USD,2/
03,4400012345,USD,010,100000,,/
16,175,128640,0,BR0001,4021,CHECK DEPOSIT INV G-1001-202701/
16,475,50000,0,BR0002,88214,CHECK PAID/
49,278640,4/
98,278640,1,6/
99,278640,1,8/
"""


def read(text: str, name: str = "bank.bai2"):
    return read_bai2(text.encode(), name)


def one_detail(code: str, amount: str = "250000", rest: str = "0,BR9,CUST9,TEXT") -> str:
    """A file with one 16 record (03 summary 0) and the trailers right for `amount`."""
    total = int(amount) if amount.isdigit() else 0
    return (
        "01,091000019,HARBORLIFE,270105,0615,F1,80,,2/\n"
        "02,HARBORLIFE,091000019,1,270104,2400,USD,2/\n"
        "03,4400012345,USD,010,0,,/\n"
        f"16,{code},{amount},{rest}\n"
        f"49,{total},3/\n"
        f"98,{total},1,5/\n"
        f"99,{total},1,7/\n"
    )


def test_the_base_file_reads_one_check_and_notes_the_debit():
    result = read(BASE)
    assert result.errors == []
    assert result.format == "bai2"
    assert result.source == "bank.bai2"
    assert result.file_id == "27010501"
    assert result.sender_id == "091000019"
    assert result.created_on == date(2027, 1, 5)
    [item] = result.items
    assert item.amount == Decimal("1286.40") and isinstance(item.amount, Decimal)
    assert item.received_on == date(2027, 1, 4)  # the group's as-of date
    assert item.method is PaymentMethod.CHECK
    assert item.reference == "4021"
    assert item.source_line == 4
    assert item.group_number == "G-1001"
    assert item.invoice_refs == (InvoiceRef("G-1001-202701"),)
    assert item.memo == "CHECK DEPOSIT INV G-1001-202701"
    assert item.item_key == "bai2:091000019:4400012345:BR0001:4021"
    assert result.notes == ("line 5: debit 475 of $500.00 ignored",)
    assert result.control_totals == {
        "file_control_total": Decimal("2786.40"),
        "credits_imported": Decimal("1286.40"),
        "debits_ignored": Decimal("500.00"),
    }
    assert result.total == Decimal("1286.40") and result.ok


@pytest.mark.parametrize(
    "code, method",
    [
        ("115", PaymentMethod.LOCKBOX),
        ("116", PaymentMethod.LOCKBOX),
        ("142", PaymentMethod.ACH_CREDIT),
        ("165", PaymentMethod.ACH_CREDIT),
        ("166", PaymentMethod.ACH_CREDIT),
        ("169", PaymentMethod.ACH_CREDIT),
        ("399", PaymentMethod.ACH_CREDIT),
        ("174", PaymentMethod.CHECK),
        ("175", PaymentMethod.CHECK),
        ("301", PaymentMethod.CHECK),
        ("195", PaymentMethod.WIRE),
        ("206", PaymentMethod.WIRE),
        ("208", PaymentMethod.WIRE),
        ("275", PaymentMethod.WIRE),
    ],
)
def test_premium_credit_codes_become_items(code, method):
    result = read(one_detail(code))
    assert result.errors == []
    [item] = result.items
    assert item.method is method
    assert item.amount == Decimal("2500.00")
    # electronic money is known by the bank's reference, checks by their number
    expected = "BR9" if method in (PaymentMethod.ACH_CREDIT, PaymentMethod.WIRE) else "CUST9"
    assert item.reference == expected


@pytest.mark.parametrize(
    "code, note",
    [
        ("475", "line 4: debit 475 of $2,500.00 ignored"),
        ("699", "line 4: debit 699 of $2,500.00 ignored"),
        ("354", "line 4: credit 354 of $2,500.00 is not a premium payment type: not imported"),
        ("108", "line 4: credit 108 of $2,500.00 is not a premium payment type: not imported"),
        (
            "920",
            "line 4: bank-defined or loan transaction 920 of $2,500.00 is not a premium "
            "payment type: not imported",
        ),
    ],
)
def test_debits_and_other_credits_are_noted_not_imported(code, note):
    result = read(one_detail(code))
    assert result.errors == []
    assert result.items == ()
    assert result.notes == (note,)


@pytest.mark.parametrize(
    "rest, bank_ref, customer_ref, text",
    [
        ("0,BR1,C1,PLAIN TEXT", "BR1", "C1", "PLAIN TEXT"),
        ("Z,BR1,C1,", "BR1", "C1", None),
        (",BR1,C1,TEXT, WITH, COMMAS", "BR1", "C1", "TEXT, WITH, COMMAS"),
        ("S,100000,100000,50000,BR1,C1,SPLIT", "BR1", "C1", "SPLIT"),
        ("V,270105,1200,BR1,C1,VALUE DATED", "BR1", "C1", "VALUE DATED"),
        ("D,2,0,150000,1,100000,BR1,C1,DISTRIBUTED", "BR1", "C1", "DISTRIBUTED"),
        ("0,BR1,,/", "BR1", "", None),
    ],
)
def test_funds_types_are_skipped_to_find_the_references(rest, bank_ref, customer_ref, text):
    result = read(one_detail("175", rest=rest))
    assert result.errors == []
    [item] = result.items
    assert item.reference == (customer_ref or bank_ref)
    assert item.memo == text
    assert item.item_key == f"bai2:091000019:4400012345:{bank_ref}:{customer_ref}"


def test_88_continues_a_detail_text_and_counts_as_a_record():
    text = """\
01,091000019,HARBORLIFE,270105,0615,F1,80,,2/
02,HARBORLIFE,091000019,1,270104,2400,USD,2/
03,4400012345,USD,010,0,,/
16,165,1850075,0,BR7,1841234567,ORIG CO NAME:SUMMIT RIDGE VET ORIG ID:1841234567
88,DESC DATE:270104 ENTRY DESCR:PREMIUM
88,IND ID:G-1002 INV G-1002-202701
49,1850075,5/
98,1850075,1,7/
99,1850075,1,9/
"""
    result = read(text)
    assert result.errors == []
    [item] = result.items
    assert item.memo == (
        "ORIG CO NAME:SUMMIT RIDGE VET ORIG ID:1841234567 DESC DATE:270104 ENTRY DESCR:PREMIUM "
        "IND ID:G-1002 INV G-1002-202701"
    )
    assert item.payer_name == "SUMMIT RIDGE VET"
    assert item.group_number == "G-1002"
    assert item.invoice_refs == (InvoiceRef("G-1002-202701"),)
    assert item.method is PaymentMethod.ACH_CREDIT and item.reference == "BR7"


def test_88_continues_the_fields_of_an_account_record():
    text = """\
01,091000019,HARBORLIFE,270105,0615,F1,80,,2/
02,HARBORLIFE,091000019,1,270104,2400,USD,2/
03,4400012345,USD,010,100000,,/
88,015,-20000,,/
16,195,300000,0,BR1,,B/O: NORTHSTAR RETAIL GROUP OBI: G-1008-202701-DC/
49,380000,4/
98,380000,1,6/
99,380000,1,8/
"""
    result = read(text)
    assert result.errors == []  # 100000 - 20000 + 300000 = 380000
    [item] = result.items
    assert item.payer_name == "NORTHSTAR RETAIL GROUP"
    assert (item.group_number, item.subgroup_code) == ("G-1008", "DC")
    assert item.method is PaymentMethod.WIRE


@pytest.mark.parametrize(
    "old, new, column, message",
    [
        (
            "49,278640,4/",
            "49,278641,4/",
            "49-02",
            "account 4400012345 (line 3): the account control total is $2,786.41 but its 03 "
            "and 16 amounts add up to $2,786.40",
        ),
        (
            "98,278640,1,6/",
            "98,278000,1,6/",
            "98-02",
            "group 091000019 (line 2): the group control total is $2,780.00 but its accounts' "
            "amounts add up to $2,786.40",
        ),
        (
            "99,278640,1,8/",
            "99,-5,1,8/",
            "99-02",
            "the file control total is -$0.05 but the file's amounts add up to $2,786.40",
        ),
        (
            "49,278640,4/",
            "49,278640,5/",
            "49-03",
            "account 4400012345 (line 3): records: the trailer counts 5 but 4 were read",
        ),
        (
            "98,278640,1,6/",
            "98,278640,2,6/",
            "98-03",
            "group 091000019 (line 2): accounts: the trailer counts 2 but 1 were read",
        ),
        (
            "98,278640,1,6/",
            "98,278640,1,7/",
            "98-04",
            "group 091000019 (line 2): records: the trailer counts 7 but 6 were read",
        ),
        ("99,278640,1,8/", "99,278640,2,8/", "99-03", "groups: the trailer counts 2 but 1"),
        ("99,278640,1,8/", "99,278640,1,9/", "99-04", "records: the trailer counts 9 but 8"),
        ("49,278640,4/", "49,27864O,4/", "49-02", "expected the account control total in cents"),
        ("99,278640,1,8/", "99,278640,1,x/", "99-04", "expected the number of records"),
    ],
)
def test_control_totals_and_counts_that_do_not_add_up_are_errors(old, new, column, message):
    result = read(BASE.replace(old, new))
    [error] = result.errors
    assert error.column == column
    assert message in error.message
    assert error.source == "bank.bai2"
    assert error.row == BASE.splitlines().index(old) + 1
    assert len(result.items) == 1  # the items are read; the import refuses the file


@pytest.mark.parametrize(
    "amount, value", [("12.50", "12.50"), ("1O0", "1O0"), ("", ""), ("-500", "-500")]
)
def test_a_detail_amount_that_is_not_cents_is_an_error_and_no_item(amount, value):
    result = read(one_detail("175", amount=amount))
    assert result.items == ()
    errors = [e for e in result.errors if e.column == "16-03"]
    assert [(e.row, e.value) for e in errors] == [(4, value)]
    assert "expected the amount in cents, digits only" in errors[0].message


@pytest.mark.parametrize(
    "old, new, column, message",
    [
        ("270104,2400", "270231,2400", "02-05", "expected the as-of date as YYMMDD"),
        ("12345,USD", "12345,CAD", "03-03", "only US dollar (USD) accounts can be imported"),
        ("2400,USD,2/\n03,4400012345,USD", "2400,CAD,2/\n03,4400012345,", "03-03", "only US"),
        ("16,175,", "16,17,", "16-02", "expected a three-digit detail type code"),
        ("16,175,", "16,040,", "16-02", "a summary type code in a detail record"),
        ("01,091000019", "01,091000019", None, None),
    ],
)
def test_header_and_detail_problems_name_the_field(old, new, column, message):
    result = read(one_detail("175").replace(old, new))
    if column is None:
        assert result.errors == [] and len(result.items) == 1
        return
    [error] = result.errors
    assert error.column == column and message in error.message
    assert result.items == ()


def test_a_file_cut_short_reports_each_missing_trailer():
    cut = "".join(BASE.splitlines(keepends=True)[:5])
    result = read(cut)
    assert [e.message for e in result.errors] == [
        "account 4400012345 (line 3) has no 49 account trailer: the file was cut short",
        "group 091000019 (line 2) has no 98 group trailer: the file was cut short",
        "the file has no 99 file trailer: it was cut short",
    ]
    assert len(result.items) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "bank.bai2 is not a BAI2 file: it must start with an 01 file header record"),
        ("deposit_date,amount\n2027-01-04,5.00\n", "is not a BAI2 file"),
        ("02,HARBORLIFE,091000019,1,270104/\n", "is not a BAI2 file"),
    ],
)
def test_a_file_that_is_not_bai2_is_refused(text, message):
    with pytest.raises(RemittanceFileError, match=message):
        read(text)


def test_unknown_records_and_records_after_the_trailer_are_errors():
    result = read(BASE.replace("16,475", "17,475").rstrip("\n") + "\n16,175,1,0,X,Y,Z/\n")
    messages = [(e.row, e.column) for e in result.errors]
    assert (5, "record code") in messages
    assert (9, "16") in messages


def test_lockbox_deposit_totals_give_way_to_their_items():
    text = """\
01,091000019,HARBORLIFE,270105,0615,F1,80,,2/
02,HARBORLIFE,091000019,1,270104,2400,USD,2/
03,4400012345,USD,010,0,,/
16,115,300000,0,LBX1,,LOCKBOX DEPOSIT/
16,116,100000,0,LBX1,1001,G-1001-202701/
16,116,200000,0,LBX1,1002,GRP G-1002/
49,600000,5/
98,600000,1,7/
99,600000,1,9/
"""
    result = read(text)
    assert result.errors == []
    assert [(i.amount, i.reference, i.group_number) for i in result.items] == [
        (Decimal("1000.00"), "1001", "G-1001"),
        (Decimal("2000.00"), "1002", "G-1002"),
    ]
    assert [i.item_key for i in result.items] == [
        "bai2:091000019:4400012345:LBX1:1001",
        "bai2:091000019:4400012345:LBX1:1002",
    ]
    assert "lockbox deposit total $3,000.00 not imported" in result.notes[0]


def test_several_groups_and_accounts():
    text = """\
01,091000019,HARBORLIFE,270105,0615,F2,80,,2/
02,HARBORLIFE,091000019,1,270104,2400,USD,2/
03,111,USD/
16,175,1000,0,A1,11,/
16,175,2000,0,A2,12,/
49,3000,4/
03,222,USD/
16,195,4000,0,A3,,/
49,4000,3/
98,7000,2,9/
02,HARBORLIFE,026009593,1,270105,2400,USD,2/
03,333,USD/
16,165,5000,0,B1,,/
49,5000,3/
98,5000,1,5/
99,12000,2,16/
"""
    result = read(text)
    assert result.errors == []
    assert [(i.amount, i.received_on, i.item_key) for i in result.items] == [
        (Decimal("10.00"), date(2027, 1, 4), "bai2:091000019:111:A1:11"),
        (Decimal("20.00"), date(2027, 1, 4), "bai2:091000019:111:A2:12"),
        (Decimal("40.00"), date(2027, 1, 4), "bai2:091000019:222:A3:"),
        (Decimal("50.00"), date(2027, 1, 5), "bai2:026009593:333:B1:"),
    ]
    assert result.total == Decimal("120.00")


def test_item_keys_are_stable_across_imports_and_differ_by_reference():
    first = [i.item_key for i in read(BASE, "monday.bai2").items]
    again = [i.item_key for i in read(BASE, "monday-copy.bai2").items]
    other = [i.item_key for i in read(BASE.replace("BR0001", "BR0009")).items]
    assert first == again
    assert first != other


def test_without_a_bank_reference_the_key_is_the_file_and_line_and_repeats_are_numbered():
    text = one_detail("175", rest="0,,,").replace(
        "16,175,250000,0,,,\n", "16,175,250000,0,,,\n16,175,0,0,,,\n"
    )
    text = text.replace("49,250000,3/", "49,250000,4/").replace("98,250000,1,5/", "98,250000,1,6/")
    text = text.replace("99,250000,1,7/", "99,250000,1,8/")
    result = read(text)
    assert result.errors == []
    [item] = result.items  # the $0.00 credit is noted, not imported
    assert item.item_key == "bai2:091000019:F1:270105:4400012345:L4"
    assert result.notes == ("line 5: credit 175 of $0.00 ignored",)

    twice = one_detail("175", rest="0,SAME,SAME,").replace(
        "16,175,250000,0,SAME,SAME,\n", "16,175,100000,0,SAME,SAME,\n16,175,150000,0,SAME,SAME,\n"
    )
    twice = twice.replace("49,250000,3/", "49,250000,4/").replace(
        "98,250000,1,5/", "98,250000,1,6/"
    )
    twice = twice.replace("99,250000,1,7/", "99,250000,1,8/")
    keys = [i.item_key for i in read(twice).items]
    assert keys == ["bai2:091000019:4400012345:SAME:SAME", "bai2:091000019:4400012345:SAME:SAME:2"]


def test_the_sample_file_reads_clean():
    result = read_bai2((DATA / "bank_20270104.bai2").read_bytes(), "bank_20270104.bai2")
    assert result.errors == []
    assert [(i.group_number, i.subgroup_code, i.method, i.amount) for i in result.items] == [
        ("G-1001", None, PaymentMethod.CHECK, Decimal("1286.40")),
        ("G-1002", None, PaymentMethod.ACH_CREDIT, Decimal("18500.75")),
        ("G-1008", "DC", PaymentMethod.WIRE, Decimal("98753.10")),
        ("G-1006", None, PaymentMethod.CHECK, Decimal("6422.10")),
    ]
    assert len(result.notes) == 2


# --- invoice and group numbers in free text --------------------------------------------------


@pytest.mark.parametrize(
    "text, group, subgroup, invoices",
    [
        ("INV G-1001-202701", "G-1001", None, ("G-1001-202701",)),
        ("inv g-1001-202701", "G-1001", None, ("G-1001-202701",)),
        ("G-1008-202701-DC", "G-1008", "DC", ("G-1008-202701-DC",)),
        ("G-1008-202701-DC-R2", "G-1008", "DC", ("G-1008-202701-DC-R2",)),
        ("G-1001-202701-R2", "G-1001", None, ("G-1001-202701-R2",)),
        ("G-1001-202612;G-1001-202701", "G-1001", None, ("G-1001-202612", "G-1001-202701")),
        ("G-1001-202701 G-1002-202701", None, None, ("G-1001-202701", "G-1002-202701")),
        ("GRP G-1006 JANUARY", "G-1006", None, ()),
        ("G1006", "G-1006", None, ()),
        ("GROUP NO: T00001", "T00001", None, ()),
        ("GRP#1001", "1001", None, ()),
        ("GROUP G-1002 PAYS G-1001-202701", "G-1002", None, ("G-1001-202701",)),
        ("ACME GROUP INC", None, None, ()),
        ("ACH TRACE 091000019 2027", None, None, ()),
        ("G-1001-202713", None, None, ()),
        ("", None, None, ()),
    ],
)
def test_find_references(text, group, subgroup, invoices):
    refs = find_references(text)
    assert (refs.group_number, refs.subgroup_code, refs.invoice_numbers) == (
        group,
        subgroup,
        invoices,
    )


@pytest.mark.parametrize(
    "number, parts",
    [
        ("G-1001-202701", ("G-1001", date(2027, 1, 1), None, 0)),
        ("G-1008-202701-DC", ("G-1008", date(2027, 1, 1), "DC", 0)),
        ("g-1008-202612-dc-r3", ("G-1008", date(2026, 12, 1), "DC", 3)),
        ("T00001-202701-R2", ("T00001", date(2027, 1, 1), None, 2)),
        ("G-1001", None),
        ("G-1001-202700", None),
        ("INV G-1001-202701", None),
    ],
)
def test_parse_invoice_number(number, parts):
    parsed = parse_invoice_number(number)
    if parts is None:
        assert parsed is None
    else:
        assert (parsed.group_number, parsed.period, parsed.subgroup_code, parsed.reissue) == parts
