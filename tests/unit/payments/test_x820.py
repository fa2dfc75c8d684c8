"""The X12 820 premium payment reader (005010X218), on inline 820 texts written the way senders
write them (and the sample under tests/data/remittance)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing_core.errors import RemittanceFileError
from billing_core.models.enums import PaymentMethod
from billing_core.payments.remittance import InvoiceRef, MemberRemittance
from billing_core.payments.x820 import read_820

DATA = Path(__file__).resolve().parents[2] / "data" / "remittance"
ISA = (
    "ISA*00*          *00*          *ZZ*PREMIUMHUB     *ZZ*HARBORLIFE     *270104*0930*^*00501*"
    "000004711*0*P*:"
)

# Organisation level: Birchwood Bakery pays invoice G-1001-202701 by ACH.
ORG = [
    "BPR*C*1286.40*C*ACH*CCP*01*091000019*DA*1234567890*1931234567**01*091000019*DA*4400012345"
    "*20270104",
    "TRN*1*2701040001*1931234567",
    "REF*38*G-1001",
    "DTM*582****RD8*20270101-20270131",
    "N1*PE*HARBOR LIFE AND HEALTH*FI*410000001",
    "N1*PR*BIRCHWOOD BAKERY LLC*FI*931234567",
    "ENT*1*2L*FI*931234567",
    "RMR*IK*G-1001-202701**1286.40*1286.40",
    "DTM*582****RD8*20270101-20270131",
]

# Member level: Northstar's Fort Worth DC pays three members, one a December retro credit.
MEMBERS = [
    "BPR*C*1891.95*C*FWT*CCP*01*111000025*DA*7700012345*1751234567**01*091000019*DA*4400012345"
    "*20270104",
    "TRN*1*FW2701040002*1751234567",
    "REF*38*G-1008",
    "DTM*582****RD8*20270101-20270131",
    "N1*PE*HARBOR LIFE AND HEALTH*FI*410000001",
    "N1*PR*NORTHSTAR RETAIL GROUP*FI*751234567",
    "ENT*1*2J*EI*1008-00012",
    "NM1*IL*1*GARZA*ELENA*M***EI*1008-00012",
    "RMR*IK*G-1008-202701-DC**642.18*642.18",
    "ENT*2*2J*34*123456789",
    "NM1*EY*1*NGUYEN*THANH****34*123456789",
    "REF*0F*1008-00047",
    "RMR*IK*G-1008-202701-DC**1288.52*1288.52",
    "DTM*582****RD8*20270101-20270131",
    "ENT*3*2J*EI*1008-00103",
    "NM1*IL*1*OKAFOR*DAVID****EI*1008-00103",
    "RMR*IK*G-1008-202701-DC**-38.75",
    "DTM*582****RD8*20261201-20261231",
]


def transaction(body: list[str], control: str = "0001", count: int | None = None) -> list[str]:
    segments = [f"ST*820*{control}*005010X218", *body]
    return [*segments, f"SE*{len(segments) + 1 if count is None else count}*{control}"]


def interchange(*sets: list[str], ge: str | None = None, iea: str = "1*000004711") -> list[str]:
    segments = [ISA, "GS*RA*PREMIUMHUB*HARBORLIFE*20270104*0930*4711*X*005010X218"]
    for st in sets:
        segments += st
    return [*segments, f"GE*{len(sets) if ge is None else ge}*4711", f"IEA*{iea}"]


def text(segments: list[str], sep="*", comp=":", term="~", suffix="\n", rep="^") -> bytes:
    """The segments written with other separators (none of the values holds one)."""
    table = str.maketrans({"*": sep, ":": comp, "^": rep})
    return "".join(s.translate(table) + term + suffix for s in segments).encode()


def without(segment: str, segments: list[str]) -> list[str]:
    return [s for s in segments if not s.startswith(segment + "*")]


def read(segments: list[str], name="premium.820", **separators):
    return read_820(text(segments, **separators), name)


def test_an_organisation_level_820_pays_its_invoice():
    result = read(interchange(transaction(ORG)))
    assert result.errors == [] and result.notes == ()
    assert result.format == "x12_820"
    assert (result.file_id, result.sender_id, result.created_on) == (
        "000004711",
        "PREMIUMHUB",
        date(2027, 1, 4),
    )
    assert result.control_numbers == {
        "ISA06": "PREMIUMHUB",
        "ISA08": "HARBORLIFE",
        "ISA13": "000004711",
        "GS06": "4711",
        "ST02": "0001",
    }
    [item] = result.items
    assert item.amount == Decimal("1286.40") and isinstance(item.amount, Decimal)
    assert item.received_on == date(2027, 1, 4)
    assert item.method is PaymentMethod.ACH_CREDIT
    assert item.reference == "2701040001"
    assert item.payer_name == "BIRCHWOOD BAKERY LLC"
    assert (item.group_number, item.subgroup_code) == ("G-1001", None)
    assert item.invoice_refs == (
        InvoiceRef("G-1001-202701", Decimal("1286.40"), Decimal("1286.40")),
    )
    assert item.member_detail == ()
    assert item.source_line == 4  # ISA, GS, ST, BPR
    assert item.item_key == "x12_820:1931234567:2701040001"
    assert not item.advice_only
    assert result.control_totals == {"payments": Decimal("1286.40")}


def test_a_member_level_820_lists_each_members_premium():
    result = read(interchange(transaction(MEMBERS)))
    assert result.errors == []
    [item] = result.items
    assert item.method is PaymentMethod.WIRE
    assert (item.group_number, item.subgroup_code) == ("G-1008", "DC")
    assert item.member_detail == (
        MemberRemittance(
            member_id="1008-00012",
            name="ELENA M GARZA",
            amount=Decimal("642.18"),
            coverage_start=date(2027, 1, 1),  # the header's DTM*582
            coverage_end=date(2027, 1, 31),
            invoice_number="G-1008-202701-DC",
            amount_billed=Decimal("642.18"),
        ),
        MemberRemittance(
            member_id="1008-00047",  # REF*0F: the SSN in ENT04/NM109 is never kept
            name="THANH NGUYEN",
            amount=Decimal("1288.52"),
            coverage_start=date(2027, 1, 1),
            coverage_end=date(2027, 1, 31),
            invoice_number="G-1008-202701-DC",
            amount_billed=Decimal("1288.52"),
        ),
        MemberRemittance(
            member_id="1008-00103",
            name="DAVID OKAFOR",
            amount=Decimal("-38.75"),
            coverage_start=date(2026, 12, 1),
            coverage_end=date(2026, 12, 31),
            invoice_number="G-1008-202701-DC",
        ),
    )
    # no organisation-level RMR: the invoices are the member lines summed
    assert item.invoice_refs == (InvoiceRef("G-1008-202701-DC", Decimal("1891.95"), None),)
    assert "123456789" not in repr(result)


def test_organisation_and_member_levels_together_use_the_organisation_lines():
    body = ORG[:6] + [
        "ENT*1*2L*ZZ*DC",
        "RMR*IK*G-1001-202701-DC**1286.40*1300.00",
        "ENT*2*2J*EI*1001-00001",
        "NM1*IL*1*BAKER*ANNA****EI*1001-00001",
        "RMR*AZ*MED-PPO**1000.00*1000.00",
        "DTM*582*20270101",
        "RMR*AZ*DEN-PPO**286.40*300.00",
    ]
    result = read(interchange(transaction(body)))
    assert result.errors == []
    [item] = result.items
    assert item.subgroup_code == "DC"
    assert item.invoice_refs == (
        InvoiceRef("G-1001-202701-DC", Decimal("1286.40"), Decimal("1300.00")),
    )
    assert [
        (m.plan_code, m.amount, m.coverage_start, m.coverage_end) for m in item.member_detail
    ] == [
        ("MED-PPO", Decimal("1000.00"), date(2027, 1, 1), None),
        ("DEN-PPO", Decimal("286.40"), date(2027, 1, 1), date(2027, 1, 31)),
    ]


@pytest.mark.parametrize(
    "segments, group, subgroup",
    [
        (["ENT*1*2L*ZZ*FAB", "RMR*IK*G-1006-202701**10.00"], "G-1006", "FAB"),
        (["ENT*1*2L*ZZ*G1006", "RMR*1L*G-1006**10.00"], "G-1006", None),
        (["ENT*1*2L*FI*341234567", "REF*DX*ASM", "RMR*11*ACCT9**10.00"], None, "ASM"),
        (["ENT*1*2L", "N1*XX*CORPORATE OFFICE*ZZ*CORP", "RMR*1L*G-1006**10.00"], "G-1006", "CORP"),
        (
            ["ENT*1*2L", "REF*1L*G-1006", "RMR*11*A**4.00", "ENT*2*2L", "RMR*11*B**6.00"],
            "G-1006",
            None,
        ),
        (["RMR*IK*G-1008-202701-HOU**10.00"], "G-1008", "HOU"),
        (["ENT*1*2L*ZZ*FAB", "RMR*IK*X1**4.00", "ENT*2*2L*ZZ*ASM", "RMR*IK*X2**6.00"], None, None),
    ],
)
def test_the_group_and_subgroup_come_from_the_organisation_loops(segments, group, subgroup):
    body = [ORG[0].replace("1286.40", "10.00"), ORG[1], *segments]
    result = read(interchange(transaction(body)))
    assert result.errors == []
    [item] = result.items
    assert (item.group_number, item.subgroup_code) == (group, subgroup)


@pytest.mark.parametrize(
    "separators",
    [
        {"sep": "*", "comp": ":", "term": "~", "suffix": "\n"},
        {"sep": "*", "comp": ":", "term": "~", "suffix": ""},
        {"sep": "|", "comp": ">", "term": "~", "suffix": "\r\n", "rep": "{"},
        {"sep": "^", "comp": "\\", "term": "\n", "suffix": "", "rep": "!"},
        {"sep": "+", "comp": "<", "term": "'", "suffix": "", "rep": "}"},
    ],
)
def test_the_separators_the_isa_declares(separators):
    result = read(interchange(transaction(ORG), transaction(MEMBERS, "0002")), **separators)
    assert result.errors == []
    assert [i.reference for i in result.items] == ["2701040001", "FW2701040002"]
    assert result.items[0].invoice_refs[0].invoice_number == "G-1001-202701"
    assert result.items[1].member_detail[2].coverage_start == date(2026, 12, 1)


def test_a_byte_order_mark_and_blanks_before_the_isa_are_read():
    result = read_820(b"\xef\xbb\xbf\r\n" + text(interchange(transaction(ORG))), "x.820")
    assert result.errors == [] and len(result.items) == 1


@pytest.mark.parametrize(
    "bpr, method",
    [
        ("ACH", PaymentMethod.ACH_CREDIT),
        ("BOP", PaymentMethod.ACH_CREDIT),
        ("CHK", PaymentMethod.CHECK),
        ("FWT", PaymentMethod.WIRE),
    ],
)
def test_payment_methods(bpr, method):
    body = [ORG[0].replace("*ACH*", f"*{bpr}*"), *ORG[1:]]
    assert read(interchange(transaction(body))).items[0].method is method


@pytest.mark.parametrize(
    "old, new, column, message",
    [
        ("BPR*C*1286.40", "BPR*C*12,86.4O", "BPR02", "expected an amount in dollars"),
        ("BPR*C*1286.40", "BPR*C*1286.405", "BPR02", "expected whole cents"),
        ("BPR*C*1286.40", "BPR*C*-1286.40", "BPR02", "expected a positive amount"),
        ("*ACH*CCP", "*XYZ*CCP", "BPR04", "expected ACH, BOP, CHK or FWT"),
        ("*C*ACH*", "*X*ACH*", "BPR03", "expected C (a credit to us)"),
        ("*4400012345*20270104", "*4400012345*20271304", "BPR16", "expected the payment's"),
        ("*4400012345*20270104", "*4400012345", "BPR16", "expected the payment's"),
        ("TRN*1*2701040001*", "TRN*1**", "TRN02", "has no TRN trace number"),
    ],
)
def test_bpr_problems_leave_out_the_item(old, new, column, message):
    body = [s.replace(old, new) for s in ORG]
    result = read(interchange(transaction(body)))
    assert result.items == ()
    [error] = result.errors
    assert (error.row, error.column, error.source) == ("ST 0001, segment 2", column, "premium.820")
    assert message in error.message


@pytest.mark.parametrize(
    "old, new, column, message",
    [
        ("RMR*IK*G-1001-202701**1286.40", "RMR*IK*G-1001-202701**1286.00", "BPR02", "RMR04"),
        ("RMR*IK*G-1001-202701**1286.40", "RMR*IK*G-1001-202701**12x", "RMR04", "expected an"),
        ("RMR*IK*G-1001-202701**1286.40", "RMR*IK*G-1001-202701**", "RMR04", "expected an"),
        ("RMR*IK*G-1001-202701", "RMR**", "RMR01", "expected a reference qualifier"),
        (
            "RMR*IK*G-1001-202701**1286.40*1286.40",
            "RMR*IK*G-1001-202701**1286.40*1.001",
            "RMR05",
            "",
        ),
        ("DTM*582****RD8*20270101-20270131", "DTM*582****RD8*20270131-20270101", "DTM06", ""),
        ("DTM*582****RD8*20270101-20270131", "DTM*582*2027", "DTM02", "expected the coverage"),
        ("N1*PE*", "CUR*PE*CAD*", "CUR02", "only payments in US dollars"),
    ],
)
def test_remittance_detail_problems_are_errors(old, new, column, message):
    body = [s.replace(old, new) for s in ORG]
    result = read(interchange(transaction(body)))
    assert column in [e.column for e in result.errors]
    assert any(message in e.message for e in result.errors if e.column == column)


def test_adjustments_count_toward_the_payment():
    good = [*ORG[:7], "RMR*IK*G-1001-202701**1200.00*1286.40", "ADX*86.40*52"]
    assert read(interchange(transaction(good))).errors == []
    bad = [*ORG[:7], "RMR*IK*G-1001-202701**1200.00*1286.40", "ADX*80.00*52"]
    [error] = read(interchange(transaction(bad))).errors
    assert error.column == "BPR02"
    assert error.message == (
        "the payment is 1,286.40 but the organisation-level RMR04 amounts add up to 1,200.00 "
        "and 80.00 of ADX adjustments"
    )


@pytest.mark.parametrize(
    "segments, column, message",
    [
        (interchange(transaction(ORG, count=9)), "SE01", "the trailer counts 9 segments but 11"),
        (interchange(transaction(ORG)[:-1] + ["SE*11*0002"]), "SE02", "should repeat ST02 0001"),
        (interchange(transaction(ORG), ge="2"), "GE01", "declares 2 transaction sets but has 1"),
        (interchange(transaction(ORG))[:-2] + ["GE*1*9", "IEA*1*000004711"], "GE02", "GS06"),
        (interchange(transaction(ORG), iea="2*000004711"), "IEA01", "declares 2 functional"),
        (interchange(transaction(ORG), iea="1*000000001"), "IEA02", "repeat ISA13 000004711"),
        (interchange(transaction(ORG))[:-1], "IEA", "has no IEA trailer"),
        (without("GE", interchange(transaction(ORG))), "GE", "has no GE trailer"),
        (without("SE", interchange(transaction(ORG))), "SE", "has no SE trailer"),
        (interchange(transaction(ORG)) + ["ST*820*0009"], "ST", "follow the IEA"),
    ],
)
def test_envelope_control_counts_and_numbers(segments, column, message):
    result = read(segments)
    assert [e.column for e in result.errors] == [column]
    assert message in result.errors[0].message
    assert len(result.items) == 1


@pytest.mark.parametrize(
    "old, new, column",
    [
        ("GS*RA*", "GS*BE*", "GS01"),
        ("*X*005010X218", "*X*005010X220A1", "GS08"),
        ("ST*820*", "ST*834*", "ST01"),
    ],
)
def test_a_file_that_is_not_an_820_is_an_error(old, new, column):
    segments = [s.replace(old, new) for s in interchange(transaction(ORG))]
    assert column in [e.column for e in read(segments).errors]


def test_the_4010_guide_is_read_too():
    segments = [s.replace("005010X218", "004010X061A1") for s in interchange(transaction(ORG))]
    result = read(segments)
    assert result.errors == [] and len(result.items) == 1


@pytest.mark.parametrize(
    "change, note",
    [
        ("BPR*P*", "no money moves (BPR01 P"),
        ("*ACH*CCP", "no money moves"),
        ("*C*ACH*", "a debit (BPR03 D)"),
    ],
)
def test_no_money_and_debits_are_noted(change, note):
    replacements = {
        "BPR*P*": ("BPR*C*", "BPR*P*"),
        "*ACH*CCP": ("*ACH*CCP", "*NON*CCP"),
        "*C*ACH*": ("*C*ACH*", "*D*ACH*"),
    }
    old, new = replacements[change]
    result = read(interchange(transaction([s.replace(old, new) for s in ORG])))
    assert result.items == () and result.errors == []
    assert note in result.notes[0]


def test_remittance_advice_only_is_marked():
    result = read(interchange(transaction([ORG[0].replace("BPR*C*", "BPR*I*"), *ORG[1:]])))
    [item] = result.items
    assert item.advice_only
    assert "remittance advice only (BPR01 I)" in result.notes[0]


@pytest.mark.parametrize(
    "data",
    [b"", b"GS*RA*X~", b"not an x12 file", b"ISA*00*"],
)
def test_a_file_without_an_isa_is_refused(data):
    with pytest.raises(RemittanceFileError, match="premium.820: "):
        read_820(data, "premium.820")


def test_several_transactions_and_item_key_stability():
    other = [s.replace("2701040001", "2701040099") for s in ORG]
    segments = interchange(
        transaction(ORG), transaction(MEMBERS, "0002"), transaction(other, "0003")
    )
    first = read(segments, "monday.820")
    again = read(segments, "monday-again.820", suffix="")
    assert first.errors == []
    keys = [i.item_key for i in first.items]
    assert keys == [i.item_key for i in again.items]
    assert keys == [
        "x12_820:1931234567:2701040001",
        "x12_820:1751234567:FW2701040002",
        "x12_820:1931234567:2701040099",
    ]
    assert [i.source_line for i in first.items] == [4, 15, 35]
    assert first.total == Decimal("4464.75")

    repeated = interchange(transaction(ORG), transaction(ORG, "0002"))
    result = read(repeated)
    assert len(result.items) == 1
    [error] = result.errors
    assert error.column == "TRN02" and "same trace number" in error.message


@pytest.mark.parametrize(
    "trn, payer_id, key",
    [
        ("TRN*1*T1*1931234567", "931234567", "x12_820:1931234567:T1"),
        ("TRN*1*T1", "931234567", "x12_820:931234567:T1"),
        ("TRN*1*T1", "", "x12_820:PREMIUMHUB:T1"),
    ],
)
def test_the_originator_of_the_key(trn, payer_id, key):
    body = [ORG[0], trn, *ORG[2:5], f"N1*PR*BIRCHWOOD BAKERY LLC*FI*{payer_id}", *ORG[6:]]
    assert read(interchange(transaction(body))).items[0].item_key == key


def test_the_sample_file_reads_clean():
    result = read_820((DATA / "premium_820_20270104.x12").read_bytes(), "premium.x12")
    assert result.errors == []
    assert [
        (i.group_number, i.subgroup_code, i.amount, len(i.member_detail)) for i in result.items
    ] == [
        ("G-1001", None, Decimal("1286.40"), 0),
        ("G-1008", "DC", Decimal("1891.95"), 3),
    ]
