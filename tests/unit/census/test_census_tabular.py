"""The CSV/XLSX census reader: header matching, messy values, families, tiers, change files, and
every file-level refusal (empty, no header, wrong type, encoding, size, damaged workbook, zip
bomb, duplicate mappings). Sample files live in tests/data/census; workbooks are built here."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from billing_core.census.rows import CensusFile, Maintenance
from billing_core.census.tabular import (
    FIELDS,
    files,
    missing_fields,
    read_sheet,
    read_tabular,
    suggest_mapping,
)
from billing_core.census.tabular.sheet import Sheet
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Tier,
    UploadFormat,
    UploadKind,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "census"
AS_OF = date(2026, 1, 1)
MEDICAL, DENTAL, VISION = LineOfCoverage.MEDICAL, LineOfCoverage.DENTAL, LineOfCoverage.VISION


def read(name: str, **options):
    return read_tabular((DATA / name).read_bytes(), name, as_of=AS_OF, **options)


def read_text(text: str, source: str = "inline.csv", **options):
    options.setdefault("as_of", AS_OF)
    return read_tabular(text.encode(), source, **options)


def workbook(*sheets: tuple[str, list[list]], hidden: tuple[str, ...] = ()) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if title in hidden:
            sheet.sheet_state = "hidden"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def by_id(census):
    return {m.employee_id: m for m in census.members}


def coverage(member, line):
    (found,) = [c for c in member.coverages if c.line is line]
    return found


def only_error(census):
    assert len(census.errors) == 1, [str(e) for e in census.errors]
    return census.errors[0]


# ---------------------------------------------------------------------------------------------
# Header vocabulary


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("emp_id", "employee_id"),
        ("Employee ID", "employee_id"),
        ("EE ID", "employee_id"),
        ("EEID", "employee_id"),
        ("Emp #", "employee_id"),
        ("employee_number", "employee_id"),
        ("SSN", "ssn"),
        ("Social Security Number", "ssn"),
        ("SS#", "ssn"),
        ("Employee SSN", "subscriber_ssn"),  # the employee's SSN, on dependent rows too
        ("Subscriber SSN", "subscriber_ssn"),
        ("SSN_PLAIN", "ssn"),
        ("LAST_NAME1", "last_name"),  # a trailing digit
        ("nam_first", "first_name"),
        ("EMPLOYEE_EXT_ID", "employee_id"),
        ("Empl No", "employee_id"),
        ("DOH", "hire_date"),
        ("DOT", "termination_date"),
        ("RECORDSTARTDATE", "effective_date"),
        ("employer_assigned_family_id", "family_id"),
        ("date_of_birth", "birth_date"),
        ("mailing_zip", "postal_code"),
        ("hbx_id", "member_key"),
        ("employee_relationship", "relationship"),
        ("Date of Birth (MM/DD/YYYY)", "birth_date"),  # a template's label
        ("Relationship\n(EE, Spouse, Domestic Partner, or Child)", "relationship"),
        ("Family ID # \n(to match family members to the EE)\n(optional)", "family_id"),
        ("Coverage \nStart Date", "coverage_effective_date"),
        ("DOB", "birth_date"),
        ("Date of Birth", "birth_date"),
        ("Birth Date", "birth_date"),
        ("D.O.B.", "birth_date"),
        ("Rel", "relationship"),
        ("Relationship", "relationship"),
        ("Relation Code", "relationship"),
        ("Cov Level", "tier"),
        ("Coverage Tier", "tier"),
        ("Tier", "tier"),
        ("Annual Salary", "annual_salary"),
        ("Salary", "annual_salary"),
        ("Annual Earnings", "annual_salary"),
        ("Zip", "postal_code"),
        ("Zip Code", "postal_code"),
        ("Postal Code", "postal_code"),
        ("Status", "status"),
        ("Employment Status", "status"),
        ("Emp Status", "status"),
        ("  first   NAME ", "first_name"),
        ("LAST_NAME", "last_name"),
        ("Spouse Y/N", "spouse"),
        ("# Children", "child_count"),
        ("Number of Children", "child_count"),
        ("Medical Plan", "medical_plan"),
        ("Med Tier", "medical_tier"),
        ("Dental Coverage Level", "dental_tier"),
        ("Vision", "vision_plan"),
        ("Supp Life", "life_volume"),
        ("Basic Life", "basic_life"),
        ("AD&D", "ad_and_d"),
        ("Short-Term Disability", "std"),
        ("LTD", "ltd"),
        ("Term Date", "termination_date"),
        ("Eff Date", "effective_date"),
        ("Coverage Start Date", "coverage_effective_date"),
        ("Action", "action"),
        ("Transaction Type", "action"),
        ("Location", "subgroup_code"),
        ("Division", "subgroup_code"),
        ("Benefit Class", "class_code"),
        ("Pay Frequency", "pay_frequency"),
        ("Hourly Rate", "hourly_rate"),
        ("Member ID", "member_key"),
        ("Favorite Color", None),
        ("Spouse DOB", None),  # alone; with Spouse First Name it is a wide layout's group
        ("Dependent 1 First Name", None),
        ("", None),
    ],
)
def test_suggest_mapping_knows_real_headers(header, field):
    assert suggest_mapping([header]) == {header: field}


def test_every_synonym_and_label_maps_back_to_its_field():
    for spec in FIELDS.values():
        for text in (spec.name, spec.label, *spec.synonyms):
            assert suggest_mapping([text])[text] == spec.name, text


def test_missing_fields_names_required_fields_alternatives_and_companions():
    # No employee id is needed: families link by family id, SSN or row order.
    assert missing_fields({"First": "first_name"}) == ["last_name", "birth_date"]
    complete = {"a": "employee_id", "b": "first_name", "c": "last_name", "d": "birth_date"}
    assert missing_fields(complete) == []
    assert missing_fields({**complete, "d": "age"}) == []  # an age stands in for a DOB
    assert missing_fields({**complete, "p": "pay_rate"}) == ["pay_frequency"]
    assert missing_fields({**complete, "h": "hourly_rate"}) == ["hours_per_week"]


# ---------------------------------------------------------------------------------------------
# Value vocabularies


def one_row(**cells: str):
    """A one-subscriber file with the given extra columns; returns (member, errors)."""
    headers = ["Employee ID", "First Name", "Last Name", *cells]
    values = ["1", "Ann", "Ames", *cells.values()]
    if "DOB" not in cells:
        headers.append("DOB")
        values.append("1980-01-01")
    text = io.StringIO()
    csv.writer(text).writerows([headers, values])
    census = read_text(text.getvalue())
    return (census.members[0] if census.members else None), census.errors


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-15",
        "2024/1/15",
        "01/15/2024",
        "1/15/24",
        "01-15-2024",
        "2024-01-15 00:00:00",
        "2024-01-15T00:00:00",
        "1/15/2024 0:00",
        "1/15/2024 12:00:00 AM",
        "20240115",
        "45306",
        "15-Jan-2024",
        "Jan 15, 2024",
        "January 15 2024",
    ],
)
def test_date_formats(text):
    member, errors = one_row(**{"Hire Date": text})
    assert errors == []
    assert member.hire_date == date(2024, 1, 15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1/15/24", date(2024, 1, 15)),  # not after the reference date: this century
        ("12/31/26", date(1926, 12, 31)),  # would be after today: the century before
        ("7/4/51", date(1951, 7, 4)),
        ("02/29/2000", date(2000, 2, 29)),
    ],
)
def test_two_digit_birth_years_never_land_in_the_future(text, expected):
    member, errors = one_row(DOB=text)
    assert errors == []
    assert member.birth_date == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2/30/2024", "not a real date"),
        ("15/13/2024", "not a real date"),  # neither number is a month
        ("1985", "expected a date such as"),  # a bare year is not an Excel serial
        ("yesterday", "expected a date such as"),
        ("1/1/1899", "cannot be before 1900-01-01"),
    ],
)
def test_unreadable_birth_dates(text, message):
    _, errors = one_row(DOB=text)
    assert [(e.row, e.column, e.value) for e in errors] == [(2, "DOB", text)]
    assert message in errors[0].message


@pytest.mark.parametrize(
    ("text", "relationship"),
    [
        *[(t, None) for t in ("EE", "E", "Self", "Employee", "Subscriber", "18", "")],
        *[(t, Relationship.SPOUSE) for t in ("SP", "S", "Spouse", "01", "wife")],
        *[(t, Relationship.CHILD) for t in ("CH", "C", "Child", "Son", "Daughter", "19")],
        *[(t, Relationship.DOMESTIC_PARTNER) for t in ("DP", "Domestic Partner", "53")],
    ],
)
def test_relationship_codes(text, relationship):
    census = read_text(
        f"Employee ID,Relationship,First,Last,DOB\n1,EE,Ann,Ames,1980-01-01\n"
        f"1,{text},Kim,Ames,2010-01-01\n"
    )
    if relationship is None:  # a second subscriber row with the same id
        assert [e.message for e in census.errors] == [
            "this employee id is also on row 2; expected one row per employee"
        ]
        assert census.members[0].dependents == []
    else:
        assert census.errors == []
        assert [d.relationship for d in census.members[0].dependents] == [relationship]


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Active", MemberStatus.ACTIVE),
        ("A", MemberStatus.ACTIVE),
        ("", MemberStatus.ACTIVE),
        ("COBRA", MemberStatus.COBRA),
        ("C", MemberStatus.COBRA),
        ("Retiree", MemberStatus.RETIREE),
        ("R", MemberStatus.RETIREE),
        ("Terminated", MemberStatus.TERMINATED),
        ("T", MemberStatus.TERMINATED),
    ],
)
def test_status_codes(text, status):
    member, errors = one_row(Status=text)
    assert errors == [] and member.status is status


@pytest.mark.parametrize(
    ("text", "gender"),
    [
        ("M", Gender.MALE),
        ("Male", Gender.MALE),
        ("f", Gender.FEMALE),
        ("Female", Gender.FEMALE),
        ("U", Gender.UNKNOWN),
        ("", Gender.UNKNOWN),
    ],
)
def test_gender_codes(text, gender):
    member, errors = one_row(Gender=text)
    assert errors == [] and member.gender is gender


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("EE", Tier.EE),
        ("Employee Only", Tier.EE),
        ("ES", Tier.ES),
        ("EE+SP", Tier.ES),
        ("Employee and Spouse", Tier.ES),
        ("EC", Tier.EC),
        ("EE + Child(ren)", Tier.EC),
        ("ECH", Tier.EC),
        ("FAM", Tier.FAM),
        ("Family", Tier.FAM),
        ("EE+Family", Tier.FAM),
    ],
)
def test_tier_words(text, tier):
    member, errors = one_row(**{"Medical Plan": "PPO", "Coverage Tier": text})
    assert errors == []
    assert [(c.line, c.tier) for c in member.coverages] == [(MEDICAL, tier)]


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("$1,234.00", Decimal("1234.00")),
        ("1234", Decimal("1234.00")),
        (" $ 55,000 ", Decimal("55000.00")),
        ("52500.505", Decimal("52500.51")),  # half-up to the cent
        ("0", Decimal("0.00")),
    ],
)
def test_salary_amounts(text, amount):
    member, errors = one_row(**{"Annual Salary": text})
    assert errors == []
    assert member.annual_salary == amount and isinstance(member.annual_salary, Decimal)


@pytest.mark.parametrize("text", ["(1,234.00)", "-1234", "-$5"])
def test_negative_salaries_are_refused(text):
    member, errors = one_row(**{"Annual Salary": text})
    assert [(e.column, e.value) for e in errors] == [("Annual Salary", text)]
    assert "cannot be negative" in errors[0].message
    assert member.annual_salary is None


# ---------------------------------------------------------------------------------------------
# A messy snapshot


def test_messy_snapshot_reads_every_value_as_its_text():
    census = read("messy_snapshot.csv")
    assert census.errors == []
    assert census.file_format is UploadFormat.CSV
    assert census.kind is None and census.kind_guess is UploadKind.SNAPSHOT
    assert census.column_mapping["EE ID"] == "employee_id"
    assert census.column_mapping["Cov Level"] == "tier"
    members = by_id(census)
    assert list(members) == ["000123", "000124", "000125", "000126"]  # leading zeros kept

    lopez = members["000123"]
    assert lopez.source_row == 2
    assert lopez.ssn == "123456789"
    assert lopez.birth_date == date(1980, 4, 17)
    assert lopez.hire_date == date(1998, 3, 1)  # 3/1/98: the century nearest as_of
    assert lopez.annual_salary == Decimal("1234.00") and isinstance(lopez.annual_salary, Decimal)
    assert lopez.postal_code == "02134"
    assert lopez.gender is Gender.FEMALE and lopez.status is MemberStatus.ACTIVE
    assert lopez.subgroup_code == "BOS"

    okafor = members["000124"]
    assert okafor.status is MemberStatus.COBRA
    assert okafor.birth_date == date(1951, 7, 4)  # 7/4/51: a birth date is never in the future
    assert okafor.ssn == "234567890"

    chen = members["000125"]
    assert chen.status is MemberStatus.RETIREE
    assert chen.ssn == "345678901"  # "345 67 8901"
    assert chen.annual_salary == Decimal("52500.50")
    assert chen.postal_code == "02139"  # "2139": a ZIP that lost its leading zero
    assert chen.gender is Gender.UNKNOWN

    patel = members["000126"]
    assert patel.postal_code == "07030-1234"
    assert patel.annual_salary == Decimal("91000.00")


def test_families_link_by_employee_id_and_by_row_order():
    members = by_id(read("messy_snapshot.csv"))
    lopez = members["000123"]
    # Jorge and Ana have a blank id under Lopez's row; Leo names 000123 four rows further down.
    assert [(d.first_name, d.relationship, d.source_row) for d in lopez.dependents] == [
        ("Jorge", Relationship.SPOUSE, 3),
        ("Ana", Relationship.CHILD, 4),
        ("Leo", Relationship.CHILD, 8),
    ]
    assert lopez.dependents[0].last_name == "Lopez"  # blank: the subscriber's
    assert lopez.dependents[1].birth_date == date(2015, 2, 3)  # 2/3/15
    assert lopez.dependents[2].birth_date == date(2017, 6, 12)  # 20170612
    chen = members["000125"]
    assert [(d.first_name, d.birth_date) for d in chen.dependents] == [("Kim", date(1952, 3, 9))]
    patel = members["000126"]
    assert [(d.first_name, d.relationship) for d in patel.dependents] == [
        ("Alex", Relationship.DOMESTIC_PARTNER),
        ("Mia", Relationship.CHILD),
    ]
    assert patel.dependents[1].birth_date == date(2024, 1, 15)  # Excel serial 45306
    assert members["000124"].dependents == []


def test_coverages_come_from_the_line_columns_and_dependents_ride_on_family_tiers():
    members = by_id(read("messy_snapshot.csv"))
    lopez = members["000123"]
    assert [(c.line, c.plan_code, c.tier) for c in lopez.coverages] == [
        (MEDICAL, "PPO500", Tier.FAM),  # the row's Cov Level
        (DENTAL, "DEN1", Tier.ES),  # the line's own tier column wins
        (LineOfCoverage.BASIC_LIFE, None, None),
        (LineOfCoverage.SUPPLEMENTAL_LIFE, None, None),
    ]
    assert coverage(lopez, LineOfCoverage.SUPPLEMENTAL_LIFE).elected_volume == Decimal("50000.00")
    assert coverage(lopez, MEDICAL).effective_from == date(2025, 1, 1)
    spouse, child, _ = lopez.dependents
    assert spouse.lines == {MEDICAL, DENTAL}  # FAM medical and ES dental both cover a spouse
    assert child.lines == {MEDICAL}  # ES dental does not cover a child

    chen = members["000125"]  # dental "Waive", "Employee + Spouse"
    assert [(c.line, c.tier) for c in chen.coverages] == [(MEDICAL, Tier.ES)]
    assert chen.dependents[0].lines == {MEDICAL}
    okafor = members["000124"]  # blank dental plan and tier: no dental; Supp Life 0: none
    assert [c.line for c in okafor.coverages] == [MEDICAL]
    patel = members["000126"]  # EE+Child(ren): the partner is on no line, the child on both
    assert coverage(patel, MEDICAL).tier is Tier.EC
    assert [d.lines for d in patel.dependents] == [set(), {MEDICAL, DENTAL}]


def test_spouse_flag_and_child_count_give_the_tier():
    members = by_id(read("spouse_children.csv"))
    assert {eid: coverage(m, MEDICAL).tier for eid, m in members.items()} == {
        "1001": Tier.EE,
        "1002": Tier.ES,
        "1003": Tier.EC,
        "1004": Tier.FAM,
    }
    assert coverage(members["1002"], DENTAL).tier is Tier.ES
    assert [c.line for c in members["1003"].coverages] == [MEDICAL]  # blank dental
    assert [c.line for c in members["1004"].coverages] == [MEDICAL]  # dental waived


def test_tier_and_spouse_child_columns_that_disagree_are_a_row_error():
    census = read_text(
        "Employee ID,First Name,Last Name,DOB,Tier,Spouse,Children,Medical Plan\n"
        "1,Ann,Ames,1980-01-01,FAM,N,0,PPO\n"
        "2,Bob,Birch,1980-01-01,ES,Y,0,PPO\n"
    )
    error = only_error(census)
    assert (error.row, error.column, error.value) == (2, "Tier", "FAM")
    assert "says FAM but spouse/children say EE" in error.message


def test_a_medical_column_holding_tiers_is_read_as_the_medical_tier():
    census = read_text(
        "EEID,First,Last,DOB,Medical,Dental\n"
        "1,Ann,Ames,1980-01-01,Family,DEN\n"
        "2,Bob,Birch,1980-01-01,EE + Spouse,DEN\n"
        "3,Cy,Cole,1980-01-01,Waive,DEN\n"
    )
    assert census.errors == []
    assert census.column_mapping["Medical"] == "medical_tier"
    members = by_id(census)
    assert (coverage(members["1"], MEDICAL).plan_code, coverage(members["1"], MEDICAL).tier) == (
        None,
        Tier.FAM,
    )
    assert coverage(members["2"], MEDICAL).tier is Tier.ES
    assert [c.line for c in members["3"].coverages] == [DENTAL]


def test_without_any_tier_column_the_tier_comes_from_the_dependent_rows():
    census = read_text(
        "EE ID,Relationship,First Name,Last Name,DOB,Medical Plan\n"
        "1,EE,Ann,Ames,1980-01-01,PPO\n"
        "1,SP,Al,Ames,1980-01-01,\n"
        "1,CH,Kid,Ames,2015-01-01,\n"
        "2,EE,Bob,Birch,1980-01-01,PPO\n"
        "2,CH,Kid,Birch,2015-01-01,\n"
        "3,EE,Cy,Cole,1980-01-01,PPO\n"
    )
    assert census.errors == []
    tiers = {eid: coverage(m, MEDICAL).tier for eid, m in by_id(census).items()}
    assert tiers == {"1": Tier.FAM, "2": Tier.EC, "3": Tier.EE}


def test_a_bare_tier_without_line_columns_applies_to_the_tier_lines_given():
    text = "Employee ID,First Name,Last Name,DOB,Coverage Level\n1,Ann,Ames,1980-01-01,ES\n"
    (member,) = read_text(text).members
    assert [(c.line, c.tier) for c in member.coverages] == [(MEDICAL, Tier.ES)]
    (member,) = read_text(text, tier_lines=(DENTAL, VISION)).members
    assert [(c.line, c.tier) for c in member.coverages] == [(DENTAL, Tier.ES), (VISION, Tier.ES)]


def test_salary_from_pay_rate_and_frequency_or_hourly_rate():
    census = read_text(
        "Employee ID,First Name,Last Name,DOB,Pay Rate,Pay Frequency,Hours,Annual Salary\n"
        '1,Ann,Ames,1980-01-01,"$2,000.00",Bi-Weekly,,\n'
        "2,Bob,Birch,1980-01-01,1500.50,Semi-Monthly,,\n"
        "3,Cy,Cole,1980-01-01,25.125,Hourly,40,\n"
        "4,Di,Dunn,1980-01-01,999,Weekly,,60000\n"
        "5,Ed,Ek,1980-01-01,1000,,,\n"
    )
    salaries = {m.employee_id: m.annual_salary for m in census.members}
    assert salaries == {
        "1": Decimal("52000.00"),
        "2": Decimal("36012.00"),
        "3": Decimal("52260.00"),  # 25.125 x 40 x 52 = 52,260.00
        "4": Decimal("60000.00"),  # the annual column wins
        "5": None,
    }
    error = only_error(census)
    assert (error.row, error.column, error.value) == (6, "Pay Frequency", "")
    assert error.message == "a pay rate needs its pay frequency"


def test_age_stands_in_for_a_date_of_birth():
    census = read_text("Employee ID,First Name,Last Name,Age\n1,Ann,Ames,44\n2,Bob,Birch,\n")
    (member,) = [m for m in census.members if m.employee_id == "1"]
    assert member.birth_date is None
    assert census.detail["age_by_row"] == {2: 44}
    error = only_error(census)
    assert (error.row, error.column, error.message) == (
        3,
        "Age",
        "a date of birth is required (or an age)",
    )


# ---------------------------------------------------------------------------------------------
# Change files and the kind


def test_change_file_adds_terms_changes_and_reinstatements():
    census = read("change_file.csv")
    assert census.errors == []
    assert census.kind is None and census.kind_guess is UploadKind.CHANGE
    members = by_id(census)
    added = members["000300"]
    assert (added.maintenance, added.maintenance_date) == (Maintenance.ADD, date(2026, 1, 1))
    assert [(c.line, c.plan_code, c.tier, c.effective_from) for c in added.coverages] == [
        (MEDICAL, "PPO500", Tier.ES, date(2026, 1, 1)),
        (VISION, "VIS", Tier.ES, date(2026, 1, 1)),
        (LineOfCoverage.LTD, None, None, date(2026, 1, 1)),
    ]
    (spouse,) = added.dependents
    assert spouse.lines == {MEDICAL, VISION} and spouse.effective_from == date(2026, 1, 1)

    termed = members["000301"]
    assert (termed.maintenance, termed.maintenance_date) == (Maintenance.TERM, date(2025, 12, 31))
    short = members["000303"]  # action "T", no DOB: a term needs none
    assert (short.maintenance, short.maintenance_date) == (Maintenance.TERM, date(2025, 12, 15))
    changed = members["000302"]
    assert (changed.maintenance, changed.maintenance_date) == (
        Maintenance.CHANGE,
        date(2026, 1, 15),
    )
    assert [(c.line, c.tier) for c in changed.coverages] == [(MEDICAL, Tier.EC)]  # LTD "N"
    back = members["000304"]
    assert back.maintenance is Maintenance.REINSTATE


def test_a_termination_date_without_an_action_is_a_term_in_a_change_file():
    members = by_id(read("change_file.csv"))
    roth = members["000305"]
    assert (roth.maintenance, roth.maintenance_date) == (Maintenance.TERM, date(2026, 1, 31))
    assert coverage(roth, MEDICAL).effective_to == date(2026, 1, 31)


def test_the_subscribers_termination_ends_the_dependents_too():
    census = read_text(
        "Employee ID,Relationship,First Name,Last Name,DOB,Termination Date,Medical Tier\n"
        "1,EE,Ann,Ames,1980-01-01,2026-01-31,ES\n"
        "1,SP,Al,Ames,1980-01-01,,\n"
    )
    (member,) = census.members
    assert member.maintenance is Maintenance.TERM
    assert member.dependents[0].effective_to == date(2026, 1, 31)


def test_a_term_without_a_last_day_is_a_row_error():
    census = read_text(
        "Action,Employee ID,First Name,Last Name,DOB,Term Date\nTerm,1,Ann,Ames,1980-01-01,\n"
    )
    error = only_error(census)
    assert (error.row, error.column, error.value) == (2, "Term Date", "")
    assert "expected a termination date" in error.message


@pytest.mark.parametrize(
    ("text", "guess"),
    [
        ("Employee ID,First,Last,DOB\n1,A,B,1980-01-01\n", UploadKind.SNAPSHOT),
        ("Employee ID,First,Last,DOB,Action\n1,A,B,1980-01-01,\n", UploadKind.SNAPSHOT),
        ("Employee ID,First,Last,DOB,Action\n1,A,B,1980-01-01,Add\n", UploadKind.CHANGE),
        ("Employee ID,First,Last,DOB,Term Date\n1,A,B,1980-01-01,\n", UploadKind.SNAPSHOT),
        ("Employee ID,First,Last,DOB,Term Date\n1,A,B,1980-01-01,12/31/25\n", UploadKind.CHANGE),
    ],
)
def test_kind_guess(text, guess):
    census = read_text(text)
    assert census.errors == []
    assert (census.kind, census.kind_guess) == (None, guess)


def test_a_kind_given_is_kept_and_not_guessed():
    census = read_text(
        "Employee ID,First,Last,DOB,Action\n1,A,B,1980-01-01,Add\n", kind=UploadKind.SNAPSHOT
    )
    assert (census.kind, census.kind_guess) == (UploadKind.SNAPSHOT, None)


def test_effective_dates_must_fall_near_as_of_in_a_change_file():
    census = read_text(
        "Action,Employee ID,First,Last,DOB,Effective Date\n"
        "Add,1,A,B,1980-01-01,01/01/2020\n"
        "Add,2,C,D,1980-01-01,01/01/2028\n"
        "Add,3,E,F,1980-01-01,12/1/25\n"
    )
    assert [(e.row, e.value, e.message) for e in census.errors] == [
        (2, "01/01/2020", "an effective date cannot be before 2024-01-01"),
        (3, "01/01/2028", "an effective date cannot be after 2027-01-01"),
    ]
    assert by_id(census)["3"].maintenance_date == date(2025, 12, 1)


# ---------------------------------------------------------------------------------------------
# XLSX


def test_xlsx_dates_numbers_and_lost_leading_zeros():
    data = workbook(
        (
            "Census",
            [
                ["ACME Corp census"],  # a title row above the header
                [],
                ["Employee ID", "First Name", "Last Name", "Date of Birth", "SSN", "Zip",
                 "Annual Salary", "Hire Date", "Coverage Tier", "Medical Plan"],
                ["000777", "Ann", "Ames", date(1980, 1, 15), 12345678, 2134, 55000.5,
                 "2024-01-15 00:00:00", "EE", "PPO"],
                ["888", "Bob", "Birch", 45306, "234-56-7890", "10001", 60000, 45306, "Family",
                 "PPO"],
            ],
        )
    )  # fmt: skip
    census = read_tabular(data, "census.xlsx", as_of=AS_OF)
    assert census.errors == []
    assert census.file_format is UploadFormat.XLSX
    assert census.detail["header_row"] == 3 and census.detail["sheet"] == "Census"
    ames, birch = census.members
    assert ames.source_row == 4  # the spreadsheet's row number
    assert ames.employee_id == "000777"  # a text cell keeps its zeros
    assert ames.birth_date == date(1980, 1, 15)  # a date cell
    assert ames.ssn == "012345678"  # a numeric cell lost the SSN's leading zero
    assert ames.postal_code == "02134"
    assert ames.annual_salary == Decimal("55000.50")
    assert ames.hire_date == date(2024, 1, 15)  # "2024-01-15 00:00:00" text
    assert birch.employee_id == "888"
    assert birch.birth_date == date(2024, 1, 15)  # Excel serial in a general cell
    assert coverage(birch, MEDICAL).tier is Tier.FAM


def test_xlsx_reads_the_first_visible_sheet_with_data():
    data = workbook(
        ("Instructions", [["Fill in the census sheet"]]),
        ("Empty", []),
        ("Census", [["EE ID", "First", "Last", "DOB"], ["1", "Ann", "Ames", "1980-01-01"]]),
        hidden=("Instructions",),
    )
    census = read_tabular(data, "book.xlsx", as_of=AS_OF)
    assert census.errors == []
    assert census.detail["sheet"] == "Census"
    assert [m.first_name for m in census.members] == ["Ann"]


def test_xlsx_row_errors_name_the_spreadsheet_row():
    data = workbook(
        ("Census", [["EE ID", "First", "Last", "DOB"], ["1", "Ann", "Ames", "not a date"]])
    )
    error = only_error(read_tabular(data, "book.xlsx", as_of=AS_OF))
    assert (error.source, error.row, error.column, error.value) == (
        "book.xlsx",
        2,
        "DOB",
        "not a date",
    )


def test_none_and_nan_cells_are_blank_never_another_rows_value():
    # calamine gives "" for an empty cell; a None or NaN must not borrow a neighbour's value
    # (pandas.factorize codes them -1, which would index the last distinct value).
    grid = files.Grid(
        UploadFormat.XLSX,
        {},
        rows=[
            ["EE ID", "First", "Last", "DOB"],
            ["1", "Ann", None, "1980-01-01"],
            ["2", "Bob", float("nan"), "1980-01-01"],
            ["3", "Cy", "Cole", "1980-01-01"],
        ],
    )
    census = CensusFile(source="x.xlsx", file_format=UploadFormat.XLSX)
    read_sheet(Sheet(census, grid, None, AS_OF, AS_OF, (MEDICAL,)))
    assert [m.last_name for m in census.members] == ["", "", "Cole"]
    assert [(e.row, e.column, e.message) for e in census.errors] == [
        (2, "Last", "a last name is required"),
        (3, "Last", "a last name is required"),
    ]


# ---------------------------------------------------------------------------------------------
# Row errors


def test_row_errors_name_file_row_column_value_and_what_was_expected():
    census = read("row_errors.csv")
    found = [(e.row, e.column, e.value, e.message) for e in census.errors]
    assert all(e.source == "row_errors.csv" for e in census.errors)
    assert found == [
        (
            2,
            "Relationship",
            "Child",
            "a dependent row needs its employee's id, family id or SSN, or must come under its "
            "employee's row; no employee row is above it",
        ),
        (4, "DOB", "13/45/1990", "not a real date; expected a date such as 2026-01-15, "
         "01/15/2026 or 1/15/26"),
        (4, "Annual Salary", "(1,234.00)",
         "an annual salary cannot be negative; expected an amount of 0 or more"),
        (4, "Coverage Tier", "EE+1", "EE+1 does not say spouse or child; expected ES "
         "(employee + spouse) or EC (employee + child(ren))"),
        (5, "DOB", "01/01/2099", f"a date of birth cannot be after {date.today().isoformat()}"),
        (5, "Annual Salary", "abc",
         "expected an annual salary in dollars, e.g. 55000 or $55,000.00"),
        (6, "EE ID", "E1", "this employee id is also on row 3; expected one row per employee"),
        (7, "Relationship", "Cousin", "expected a relationship: EE/Self/Employee, SP/Spouse, "
         "CH/Child or DP/Domestic Partner"),
        (8, "EE ID", "E9", "no employee row in the file has this employee id; expected the "
         "employee's own row (relationship EE) in the same file"),
        (9, "First Name", "", "a first name is required"),
        (9, "DOB", "", "a date of birth is required (or an age)"),
        (10, "Coverage Tier", "", "Medical is elected but its coverage level is blank; "
         "expected EE, ES, EC or FAM"),
    ]  # fmt: skip
    assert str(census.errors[1]) == (
        "row_errors.csv, row 4, column DOB: not a real date; expected a date such as "
        "2026-01-15, 01/15/2026 or 1/15/26 (got '13/45/1990')"
    )
    # Optional fields that cannot be read, and SSNs never issued, are warnings: the file could
    # be applied with them (the field left blank), but a person should look.
    not_issued = (
        "not an issued SSN (area 000, 666 or 9xx, group 00, serial 0000, or a placeholder "
        "such as 123-45-6789); read as sent: check it"
    )
    assert [(w.row, w.column, w.value, w.message) for w in census.warnings] == [
        (3, "SSN", "***-**-6789", not_issued),  # 123-45-6789
        (4, "SSN", "***-**-3456", not_issued),  # 000-12-3456
        (4, "Status", "Z", "expected a status: Active/A, COBRA/C, Retiree/R or Terminated/T; "
         "read as active"),
        (4, "Zip", "ABCDE", "expected a 5-digit ZIP code or ZIP+4, e.g. 02134 or 02134-1234; "
         "left blank"),
        (5, "Gender", "Q", "expected a gender: M/Male, F/Female or U/Unknown; read as unknown"),
        (5, "SSN", "***-**-5678", "an SSN has nine digits, e.g. 123-45-6789; if a spreadsheet "
         "dropped leading zeros, format the SSN column as text; left blank"),
    ]  # fmt: skip
    members = by_id(census)
    assert members["E2"].ssn == "000123456" and members["E2"].postal_code is None
    assert members["E3"].ssn is None and members["E3"].gender is Gender.UNKNOWN
    # Rows with errors still show in the preview; a refused row (repeat id) does not.
    assert [m.employee_id for m in census.members] == ["E1", "E2", "E3", "E5", "E6"]
    assert not census.ok


def test_an_ssn_never_appears_whole_in_an_error_or_warning():
    census = read_text(
        "EE ID,First,Last,DOB,SSN\n1,A,B,1980-01-01,234-56-7890\n2,C,D,1980-01-01,234567890\n"
    )
    # Both employees have an id (their key): the same SSN twice is for a person to look at.
    warning = only_warning(census)
    assert (warning.row, warning.column, warning.value) == (3, "SSN", "***-**-7890")
    assert "the same SSN is on the employee row 2" in warning.message
    assert "234567890" not in str(warning) and "234-56-7890" not in str(warning)
    # Without employee ids the SSN is the key: the same SSN twice is an error.
    census = read_text("First,Last,DOB,SSN\nA,B,1980-01-01,234-56-7890\nC,D,1980-01-01,234567890\n")
    error = only_error(census)
    assert (error.row, error.column, error.value) == (3, "SSN", "***-**-7890")
    assert "an employee without an employee id is matched by SSN" in error.message
    assert "234567890" not in str(error)


def test_the_same_member_id_twice_is_a_row_error():
    census = read_text(
        "EE ID,Member ID,Rel,First,Last,DOB\n1,1-00,EE,A,B,1980-01-01\n1,1-00,SP,C,B,1980-01-01\n"
    )
    error = only_error(census)
    assert (error.row, error.column, error.value) == (3, "Member ID", "1-00")
    assert error.message == "this member id is also on row 2"
    assert census.detail["member_keys"] == {2: "1-00", 3: "1-00"}


def test_dependents_under_a_refused_employee_row_are_not_blamed_twice():
    census = read_text(
        "EE ID,Rel,First,Last,DOB\n1,EE,A,B,1980-01-01\n1,EE,X,Y,1970-01-01\n,SP,C,B,1980-01-01\n"
    )
    error = only_error(census)
    assert (error.row, error.column, error.message) == (
        3,
        "EE ID",
        "this employee id is also on row 2; expected one row per employee",
    )
    assert [len(m.dependents) for m in census.members] == [0]


# ---------------------------------------------------------------------------------------------
# Mapping


def test_a_mapping_given_replaces_the_guess():
    text = "Worker,Given,Family,Born,Notes,Zip\n42,Ann,Ames,1980-01-01,hello,02134\n"
    mapping = {
        "Worker": "employee_id",
        "Given": "first_name",
        "Family": "last_name",
        "Born": "birth_date",
        "Notes": None,
    }
    census = read_text(text, mapping=mapping)
    assert census.errors == []
    (member,) = census.members
    assert (member.employee_id, member.first_name, member.birth_date) == (
        "42",
        "Ann",
        date(1980, 1, 1),
    )
    assert member.postal_code is None  # Zip is not in the mapping given: ignored
    assert census.column_mapping == {
        "Worker": "employee_id",
        "Given": "first_name",
        "Family": "last_name",
        "Born": "birth_date",
    }


def test_semicolon_delimited_cp1252_file():
    data = "Employee ID;First Name;Last Name;DOB\n1;José;Muñoz;1980-01-01\n".encode("cp1252")
    census = read_tabular(data, "export.csv", as_of=AS_OF)
    assert census.errors == []
    assert census.detail["encoding"] == "cp1252" and census.detail["delimiter"] == ";"
    assert (census.members[0].first_name, census.members[0].last_name) == ("José", "Muñoz")


def test_utf8_byte_order_mark_does_not_hide_the_first_header():
    data = "\ufeffEE ID,First,Last,DOB\n1,Zoë,Ames,1980-01-01\n".encode()
    census = read_tabular(data, "bom.csv", as_of=AS_OF)
    assert census.errors == []
    assert census.column_mapping["EE ID"] == "employee_id"
    assert census.members[0].first_name == "Zoë"


# ---------------------------------------------------------------------------------------------
# File-level errors: row None, never an exception


def file_error(census, *fragments: str) -> str:
    error = only_error(census)
    assert (error.row, error.source) == (None, census.source)
    for fragment in fragments:
        assert fragment in error.message, error.message
    assert census.members == []
    return error.message


@pytest.mark.parametrize("data", [b"", b"  \r\n\n", b"\xef\xbb\xbf", b",,,\n,,\n"])
def test_empty_file(data):
    file_error(read_tabular(data, "empty.csv"), "empty", "expected a header row")


def test_header_without_rows():
    file_error(read_text("EE ID,First,Last,DOB\n,,,\n"), "no member rows")


def test_no_header():
    census = read_text("000123,Maria,Lopez,1980-01-01\n")
    file_error(census, "no header row")
    # What a person mapping the columns by hand starts from:
    assert census.detail["headers"] == ["000123", "Maria", "Lopez", "1980-01-01"]


def test_missing_required_columns_are_named():
    census = read_text("EE ID,First Name,Shoe Size\n1,Ann,9\n")
    messages = [e.message for e in census.errors]
    assert len(messages) == 2 and all(e.row is None for e in census.errors)
    assert messages[0].startswith("no column for Last name;")
    assert messages[1].startswith(
        "no column for Date of birth (or Age): premium rating needs each person's age;"
    )


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "Excel 97-2003 (.xls)"),
        (b"<html><body><table><tr><td>EE ID</td></tr></table>", "HTML"),
        (b"ISA*00*          *00*          *ZZ*SENDER~", "X12 834"),
        (b"EE ID,Name\n1,\x00\x01\x02\x03binary", "binary file"),
    ],
)
def test_wrong_file_type(data, what):
    file_error(read_tabular(data, "upload.csv"), what)


def zip_of(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_zip_that_is_not_a_workbook():
    file_error(
        read_tabular(zip_of({"notes/readme.txt": "hello"}), "census.xlsx"),
        "a zip archive that is not an Excel workbook",
    )
    file_error(
        read_tabular(zip_of({"word/document.xml": "<w:document/>"}), "census.xlsx"),
        "a Word document",
    )


@pytest.fixture
def calamine_must_not_open(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the workbook was opened")

    monkeypatch.setattr(files.python_calamine.CalamineWorkbook, "from_filelike", refuse)


def test_zip_bomb_is_refused_before_opening(calamine_must_not_open):
    bomb = zip_of(
        {
            "[Content_Types].xml": "<Types/>",
            "xl/workbook.xml": "<workbook/>",
            "xl/worksheets/sheet1.xml": b"0" * (20 * 1024 * 1024),  # one byte 20M times: ~1000:1
        }
    )
    assert len(bomb) < 100_000
    file_error(read_tabular(bomb, "census.xlsx"), "expands", "zip bomb", "refused unopened")


def test_total_expanded_size_is_limited_before_opening(monkeypatch, calamine_must_not_open):
    monkeypatch.setattr(files, "XLSX_MAX_UNCOMPRESSED", 4096)
    data = workbook(("Census", [["EE ID", "First", "Last", "DOB"]]))
    file_error(read_tabular(data, "census.xlsx"), "would expand to", "more than the 4 KB")


def test_damaged_workbooks():
    good = workbook(("Census", [["EE ID", "First", "Last", "DOB"], ["1", "A", "B", "1980-01-01"]]))
    file_error(read_tabular(good[: len(good) // 2], "cut.xlsx"), "damaged")
    broken = zip_of(
        {
            "[Content_Types].xml": "<Types/>",
            "xl/workbook.xml": "<workbook><sheets><sheet name='x' r:id='rId9'/>",
            "xl/worksheets/sheet1.xml": "<<<not xml",
        }
    )
    file_error(read_tabular(broken, "broken.xlsx"), "the Excel workbook could not be read")


def test_bad_encoding():
    # 0x81 is neither UTF-8 (a stray continuation byte) nor defined in Windows-1252.
    data = b"EE ID,First,Last,DOB\n1,Ana\x81,Ames,1980-01-01\n"
    file_error(read_tabular(data, "latin.csv"), "not UTF-8 or Windows-1252", "CSV UTF-8")
    utf16 = "EE ID,First\n1,Ann\n".encode("utf-16")
    file_error(read_tabular(utf16, "unicode.txt"), "UTF-16", "CSV UTF-8")


def test_mixed_encodings_are_refused_with_the_line():
    data = "EE ID,First,Last,DOB\n1,José,Ames,1980-01-01\n".encode() + b"2,Ren\xe9e,B,1980-01-01\n"
    file_error(read_tabular(data, "mixed.csv"), "not UTF-8 on line 3", "CSV UTF-8")


def test_the_content_decides_the_format():
    data = b"EE ID,First,Last,DOB\n1,Ann,Ames,1980-01-01\n"
    census = read_tabular(data, "named.xlsx", file_format=UploadFormat.XLSX, as_of=AS_OF)
    assert census.errors == [] and census.file_format is UploadFormat.CSV
    file_error(read_tabular(data, "x.edi", file_format=UploadFormat.X12_834), "834")


def test_too_large():
    data = b"EE ID,First,Last,DOB\n" + b"1,Ann,Ames,1980-01-01\n" * 10
    file_error(read_tabular(data, "big.csv", max_bytes=100), "the file is 241 bytes", "100 bytes")


def only_warning(census):
    assert census.errors == [], [str(e) for e in census.errors]
    assert len(census.warnings) == 1, [str(w) for w in census.warnings]
    return census.warnings[0]


def test_two_columns_naming_one_field_read_the_more_direct_one_else_the_first():
    census = read_text("EE ID,First,Last,DOB,Zip,Zip Code\n1,A,B,1980-01-01,02134,10001\n")
    warning = only_warning(census)
    assert (warning.row, warning.column) == (None, "Zip")
    assert "columns 'Zip' and 'Zip Code' both name ZIP code; 'Zip' was read" in warning.message
    assert census.members[0].postal_code == "02134"
    assert census.column_mapping["Zip"] == "postal_code" and "Zip Code" not in census.column_mapping
    # 'Birth Date' names the field itself; 'Employee DOB' only once 'Employee' is dropped.
    census = read_text("EE ID,First,Last,Employee DOB,Birth Date\n1,A,B,1970-01-01,1980-01-01\n")
    assert "'Birth Date' was read and 'Employee DOB' ignored" in only_warning(census).message
    assert census.members[0].birth_date == date(1980, 1, 1)


def test_a_header_repeated_reads_the_first_and_warns():
    census = read_text("EE ID,First,Last,DOB,DOB\n1,A,B,1980-01-01,1990-01-01\n")
    warning = only_warning(census)
    assert "the header 'DOB' appears 2 times (columns D, E); the first (column D)" in (
        warning.message
    )
    assert census.members[0].birth_date == date(1980, 1, 1)
    # A repeated header that names no field is nothing to warn about.
    census = read_text("EE ID,First,Last,DOB,City,City\n1,A,B,1980-01-01,X,Y\n")
    assert census.errors == [] and census.warnings == []


def test_an_unknown_field_in_a_mapping_given():
    census = read_text(
        "EE ID,First,Last,DOB\n1,A,B,1980-01-01\n",
        mapping={"EE ID": "employee_id", "First": "nickname", "Last": "last_name"},
    )
    assert any("'nickname' is not a census field" in e.message for e in census.errors)
    assert census.members == []


def test_a_quote_never_closed():
    file_error(read_text('EE ID,First,Last,DOB\n1,"Ann,Ames,1980-01-01\n'), "malformed")


def test_a_row_with_more_values_than_headers():
    census = read_text("EE ID,First,Last,DOB\n1,A,B,1980-01-01\n2,C,D,1980-01-01,extra,more\n")
    error = only_error(census)
    assert (error.row, error.column, error.value) == (3, None, "extra,more")
    assert "header names 4 columns" in error.message
    assert [m.employee_id for m in census.members] == ["1", "2"]
