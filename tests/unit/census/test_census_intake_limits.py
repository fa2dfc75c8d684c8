"""Census intake refuses what the database cannot keep or what is not this group's (issue 17,
finding 6): a text field longer than its column is a row error naming the column and the limit
(CSV, XLSX through the same reader, and the 834); an 834 whose ISA header is not valid, or
whose sponsor (N1*P5) is another employer, is refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from billing_core.census.diff import diff_census
from billing_core.census.reader import read_census
from tests.factories import make_group

EDI = (Path(__file__).resolve().parents[2] / "data" / "census" / "add_family_5010.edi").read_text()
HEADER = "Employee ID,First Name,Last Name,Date of Birth,Tier,Zip\n"


def _csv(*rows: str) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode()


@pytest.mark.parametrize(
    ("row", "column", "limit"),
    [
        ("E1,{long},Okafor,04/12/1986,EE,43215", "First Name", 100),
        ("E1,Amara,{long},04/12/1986,EE,43215", "Last Name", 100),
        ("{long},Amara,Okafor,04/12/1986,EE,43215", "Employee ID", 40),
    ],
)
def test_a_text_field_longer_than_its_column_is_a_row_error(row, column, limit):
    long = "x" * 1_000_000  # the probe's megabyte of first name
    census = read_census(_csv(row.format(long=long), "E2,Ben,Ito,01/02/1980,EE,43215"), "c.csv")
    errors = [e for e in census.errors if e.column == column]
    assert len(errors) == 1, census.errors
    assert errors[0].row == 2 and f"at most {limit} characters" in errors[0].message
    assert len(errors[0].value) < 100  # quoted cut short, not a megabyte in the problems list
    assert all(len(str(e)) < 500 for e in census.errors)


def test_values_that_fit_are_read_as_before():
    census = read_census(_csv(f"E1,{'A' * 100},Okafor,04/12/1986,EE,43215"), "c.csv")
    assert census.errors == [] and census.members[0].first_name == "A" * 100


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [
        ("NM1*IL*1*OKAFOR*", f"NM1*IL*1*{'O' * 5000}*", "NM103"),
        ("NM1*IL*1*OKAFOR*AMARA*", f"NM1*IL*1*OKAFOR*{'A' * 101}*", "NM104"),
        ("REF*0F*E10045~", f"REF*0F*{'E' * 41}~", "REF02"),
        ("REF*DX*OHIO-PLANT~", f"REF*DX*{'P' * 21}~", "REF02"),
    ],
)
def test_an_834_field_longer_than_its_column_is_an_error(old, new, column):
    census = read_census(EDI.replace(old, new, 1).encode(), "enroll.834")
    assert any(e.column == column and "characters fit here" in e.message for e in census.errors)


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [
        ("*000004211*0*P*", "*00000421X*0*P*", "ISA13"),
        ("*260115*0930*", "*261399*0930*", "ISA09"),
        ("*260115*0930*", "*260115*2571*", "ISA09"),
        ("*ZZ*ACMEPAYROLL    *", "*ZZ*               *", "ISA06"),
        ("*0*P*:~", "*0*X*:~", "ISA15"),
    ],
)
def test_an_834_whose_isa_is_not_valid_is_refused(old, new, column):
    assert old in EDI
    census = read_census(EDI.replace(old, new, 1).encode(), "enroll.834")
    assert [e.column for e in census.errors if e.column and e.column.startswith("ISA")] == [column]


def test_the_sample_834_reads_without_errors():
    assert read_census(EDI.encode(), "enroll.834").errors == []


@pytest.mark.parametrize(
    ("tax_id", "group_number", "refused"),
    [
        ("36-1234567", "G-77001", False),  # the sponsor's FEIN, with a dash here
        ("361234567", "G-77001", False),
        ("98-7654321", "G-77001", True),  # another employer's tax id
        ("98-7654321", "361234567", False),  # sent the group number instead
    ],
)
def test_an_834_for_another_employer_is_refused(session, tax_id, group_number, refused):
    group = make_group(session, tax_id=tax_id, group_number=group_number)
    census = read_census(EDI.encode(), "enroll.834")
    diff = diff_census(session, group, census, date(2026, 2, 1))
    sponsor = [e for e in diff.errors if e.column == "N104"]
    assert bool(sponsor) is refused
    if refused:
        assert "ACME WIDGETS INC" in sponsor[0].message and sponsor[0].value == "361234567"


def test_an_834_without_a_sponsor_id_is_read_as_before(session):
    group = make_group(session, tax_id="98-7654321")
    text = EDI.replace("N1*P5*ACME WIDGETS INC*FI*361234567~", "N1*P5*ACME WIDGETS INC~", 1)
    diff = diff_census(session, group, read_census(text.encode(), "e.834"), date(2026, 2, 1))
    assert not [e for e in diff.errors if e.column == "N104"]
