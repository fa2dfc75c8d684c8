"""The six real census files of ../shared/real-files/census (provenance and quirks in its
SOURCES.md), read as they are: each is read, or refused with a reason a person would agree with.
They are not copied into the project (their licences are not ours): the tests skip when the
folder is absent.

Decisions, file by file:
* the ideacrew person record (BOM, CRLF, no final newline, `nil` middle name, DD/MM/YYYY date
  of birth) reads: one employee keyed by SSN (no employee id in the file);
* the ideacrew dependent record is one child with no employee row and nothing naming one (no
  employee id, no family id, no SSN): it cannot be applied, as nobody can say whose child it is,
  so the file is refused with that row's error (its DD-MM-YYYY date of birth reads);
* the MassHealth Community Partner roster is a plan's member roster, not an employer census, but
  its rows are people with names and dates of birth: it is read (employees matched by name and
  date of birth), and refused for the row that has neither first nor last name; its embedded
  CRLF, TABs and lost ZIP zeros are read, its 'continuous' enrollment status is a warning;
* the Health Connector workbook is an employer (group) application: refused as such;
* the OrangeHRM export has no date of birth (nor age) column: refused, as rating needs ages;
* the CoverME template is blank: its header is found under the title row, its misaligned labels
  row is skipped, and it has no member rows.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from billing_core.census.tabular import read_tabular
from billing_core.models.enums import Gender, MemberStatus, UploadFormat

REAL = Path(__file__).resolve().parents[4] / "shared" / "real-files" / "census"
if not REAL.is_dir():  # the working tree may sit elsewhere: the machine's shared folder
    REAL = Path("/work/shared/real-files/census")

pytestmark = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"the real census files are not on this machine ({REAL})"
)

AS_OF = date(2026, 12, 1)


def read(name: str):
    return read_tabular((REAL / name).read_bytes(), name, as_of=AS_OF)


def problems(found) -> list[tuple[object, str | None, str]]:
    return [(p.row, p.column, p.message) for p in found]


def test_person_record_with_bom_nil_and_a_day_first_birth_date_reads():
    census = read("enroll-person-record-bom-ddmmyyyy-nil.csv")
    assert census.errors == [] and census.warnings == []
    assert census.detail["encoding"] == "utf-8"
    assert census.column_mapping["First name"] == "first_name"  # the BOM is not in the header
    (member,) = census.members
    assert member.source_row == 2
    assert member.employee_id == ""  # no employee id in the file: matched by SSN
    assert (member.first_name, member.last_name) == ("Employee", "8")
    assert member.birth_date == date(1980, 10, 18)  # 18/10/1980: 18 cannot be a month
    assert member.ssn == "321457654"
    assert member.gender is Gender.MALE  # "male"
    assert member.dependents == [] and member.coverages == []


def test_a_lone_dependent_with_nothing_naming_its_employee_is_refused():
    census = read("enroll-dependent-record-dd-mm-yyyy.csv")
    assert problems(census.errors) == [
        (
            2,
            "Relationship",
            "a dependent row needs its employee's id, family id or SSN, or must come under its "
            "employee's row; no employee row is above it",
        )
    ]
    assert census.errors[0].value == "Child"
    assert census.members == []
    # The rest of the row was read: its DD-MM-YYYY date and its exchange id raised nothing.
    assert census.column_mapping["hbx_id"] == "member_key"
    assert census.detail["member_keys"] == {2: "19927903"}


def test_the_masshealth_roster_is_read_and_refused_for_its_nameless_member():
    census = read("masshealth-cp-member-roster-wide-dirty.csv")
    assert census.column_mapping == {
        "member_id": "member_key",
        "nam_first": "first_name",
        "nam_last": "last_name",
        "sex": "gender",
        "date_of_birth": "birth_date",
        "mailing_zip": "postal_code",
        "enrollment_status": "status",
    }
    assert problems(census.errors) == [
        (4, "nam_first", "a first name is required"),
        (4, "nam_last", "a last name is required"),
    ]
    assert problems(census.warnings) == [
        (row, "enrollment_status", "expected a status: Active/A, COBRA/C, Retiree/R or "
         "Terminated/T; read as active")
        for row in (2, 3, 5, 6)
    ]  # fmt: skip
    first, second, nameless, fourth, _ = census.members
    assert first.source_row == 2  # the record with an embedded CRLF is one row
    assert census.detail["member_keys"][2] == "M1"  # "M1\r\n"
    assert (first.employee_id, first.first_name, first.last_name) == ("", "F1", "L1")  # "F1\t"
    assert first.birth_date == date(1960, 3, 29)  # 3/29/1960
    assert first.postal_code == "02454"  # 2454: the leading zero lost
    assert first.gender is Gender.MALE and first.status is MemberStatus.ACTIVE
    assert second.birth_date == date(2015, 4, 15)
    assert (nameless.first_name, nameless.last_name) == ("", "")
    assert nameless.status is MemberStatus.TERMINATED
    assert (fourth.first_name, fourth.last_name) == ("F4", "F4")
    assert all(m.dependents == [] for m in census.members)


def test_the_health_connector_workbook_is_an_employer_application():
    census = read("mhc-employer-conversion-tier-contributions.xlsx")
    assert census.file_format is UploadFormat.XLSX
    assert census.members == []
    (error,) = census.errors
    assert error.row is None
    assert error.message.startswith(
        "this looks like an employer (group) application, not a member census: its columns "
        "describe a company ('FEIN', 'Doing Business As', 'Legal Name', 'Issuer assigned "
        "Employer Id') and none names a person"
    )
    # Its three Zip columns are not a reason to refuse it: the first is read, with a warning.
    assert problems(census.warnings) == [
        (
            None,
            "Zip",
            "the header 'Zip' appears 3 times (columns M, R, AC); the first (column M) was read "
            "as ZIP code and the others ignored",
        )
    ]


def test_the_orangehrm_export_without_dates_of_birth_is_refused():
    census = read("orangehrm-2x-hr-import-employees-2024rows.csv")
    assert census.column_mapping == {
        "Empl No": "employee_id",
        "First": "first_name",
        "Last": "last_name",
        "Zip": "postal_code",
        "DOH": "hire_date",
    }
    assert problems(census.errors) == [
        (
            None,
            None,
            "no column for Date of birth (or Age): premium rating needs each person's age; "
            "expected a header such as 'Date of birth', 'DOB', 'Date of Birth', 'Birth Date'",
        )
    ]
    assert census.members == []


def test_the_blank_coverme_template_has_its_header_found_and_no_member_rows():
    census = read("quoting-tool-coverme-census-template-label-shift.xlsx")
    assert census.detail["sheet"] == "Employee Census"
    assert census.detail["header_row"] == 2  # under the title row
    assert census.detail["label_rows"] == [3]  # the human labels, one shifted a column
    assert census.column_mapping["employer_assigned_family_id"] == "family_id"
    assert census.column_mapping["employee_relationship"] == "relationship"
    assert census.column_mapping["dob"] == "birth_date"
    assert problems(census.errors) == [
        (None, None, "the file has a header row but no member rows; expected one row per person")
    ]
    assert census.warnings == []


def test_every_real_file_is_read_or_refused_never_raised():
    for path in sorted(REAL.iterdir()):
        census = read(path.name)
        assert census.members or census.errors, path.name
        assert all(e.source == path.name for e in [*census.errors, *census.warnings])
