"""The CSV/XLSX reader on the shapes real senders use (issue 15 point 3): second header rows,
forgiving headers, files without employee ids (families by family id, subscriber SSN or row
order; employees keyed by SSN or name and birth date), wide layouts, day-first dates, `nil`,
exact and conflicting duplicates, and which problems are errors and which are warnings."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest

from billing_core.census.tabular import read_tabular
from billing_core.models.enums import Gender, LineOfCoverage, Relationship, Tier

AS_OF = date(2026, 12, 1)
MEDICAL = LineOfCoverage.MEDICAL


def read_text(text: str, **options):
    options.setdefault("as_of", AS_OF)
    return read_tabular(text.encode(), "inline.csv", **options)


def workbook(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def found(problems) -> list[tuple[object, str | None, str]]:
    return [(p.row, p.column, p.message) for p in problems]


def family(member) -> list[tuple[str, str, Relationship, int]]:
    return [(d.first_name, d.last_name, d.relationship, d.source_row) for d in member.dependents]


# ---------------------------------------------------------------------------------------------
# Headers


def test_a_row_of_labels_and_a_row_of_required_under_the_header_are_skipped():
    census = read_text(
        "Census for Corpus Mfg,,,\n"
        "employee_id,first_name,last_name,dob\n"
        '"Employee ID\n(payroll)",First Name,Last Name,"Date of Birth (MM/DD/YYYY)"\n'
        "Required,Required,Required,Optional\n"
        "E1,Ann,Ames,01/02/1980\n"
    )
    assert census.errors == []
    assert census.detail["header_row"] == 2 and census.detail["label_rows"] == [3, 4]
    (member,) = census.members
    assert (member.source_row, member.employee_id, member.birth_date) == (
        5,
        "E1",
        date(1980, 1, 2),
    )


def test_a_first_data_row_is_not_taken_for_labels():
    census = read_text("EE ID,Rel,First,Last,DOB\nE1,EE,Spouse,Ames,1980-01-01\n")
    assert census.errors == [] and "label_rows" not in census.detail
    assert census.members[0].first_name == "Spouse"


def test_xlsx_labels_with_line_breaks_and_blank_formatted_rows():
    rows = [
        ["Employer census template", None, None, date(2026, 11, 1)],
        ["family_id", "relationship", "first_name", "last_name", "dob", "zip"],
        ["Family ID #\n(optional)", "Relationship\n(EE, Spouse, Child)", "First Name",
         "Last Name", "Date of Birth\n(MM/DD/YYYY)", "ZIP"],
        ["F1", "Employee", "Ann", "Ames", date(1980, 1, 2), 2134],
        ["F1", "Child", "Kit", "Ames", 41000, None],
        *[[None, " ", None, None, None, None] for _ in range(30)],
    ]  # fmt: skip
    census = read_tabular(workbook(rows), "template.xlsx", as_of=AS_OF)
    assert census.errors == [] and census.warnings == []
    (member,) = census.members
    assert (member.source_row, member.postal_code) == (4, "02134")
    assert family(member) == [("Kit", "Ames", Relationship.CHILD, 5)]
    assert member.dependents[0].birth_date == date(2012, 4, 1)  # serial 41000


# ---------------------------------------------------------------------------------------------
# No employee id


def test_families_by_family_id_wherever_the_rows_are():
    census = read_text(
        "Family ID,Relationship,First,Last,DOB,SSN\n"
        "F1,Employee,Ann,Ames,1980-01-01,219-09-1001\n"
        "F2,Employee,Bob,Birch,1981-01-01,219-09-1002\n"
        "F1,Domestic Partner,Cy,Cole,1982-01-01,\n"
        "F2,Child,Di,Dunn,2015-01-01,\n"
        "F9,Child,Ed,Eve,2016-01-01,\n"
    )
    ann, bob = census.members
    assert (ann.employee_id, ann.ssn) == ("", "219091001")
    assert family(ann) == [("Cy", "Cole", Relationship.DOMESTIC_PARTNER, 4)]
    assert family(bob) == [("Di", "Dunn", Relationship.CHILD, 5)]
    assert found(census.errors) == [
        (
            6,
            "Family ID",
            "no employee row in the file has this family id; expected the employee's own row "
            "(relationship EE) in the same file",
        )
    ]


def test_two_employees_with_one_family_id_is_an_error():
    census = read_text(
        "Family ID,Relationship,First,Last,DOB\nF1,EE,Ann,Ames,1980-01-01\n"
        "F1,EE,Bob,Birch,1981-01-01\n"
    )
    assert found(census.errors) == [
        (3, "Family ID", "this family id is also on the employee row 2; expected one employee "
         "row per family")
    ]  # fmt: skip


def test_dependents_name_their_employee_by_subscriber_ssn():
    census = read_text(
        "Subscriber SSN,Relationship,First,Last,DOB\n"
        "219-09-1001,EE,Ann,Ames,1980-01-01\n"
        "219091002,EE,Bob,Birch,1981-01-01\n"
        "219 09 1001,Child,Kit,Ames,2015-01-01\n"
        "219-09-1003,Child,Lost,Kid,2015-01-01\n"
    )
    ann, bob = census.members
    assert (ann.ssn, bob.ssn) == ("219091001", "219091002")  # the employee's own
    assert family(ann) == [("Kit", "Ames", Relationship.CHILD, 4)]
    assert ann.dependents[0].ssn is None  # the subscriber's SSN is not the child's
    assert found(census.errors) == [
        (5, "Subscriber SSN", "no employee row in the file has this subscriber SSN; expected "
         "the employee's own row (relationship EE) in the same file")
    ]  # fmt: skip
    assert census.errors[0].value == "***-**-1003"


def test_without_id_or_ssn_an_employee_is_keyed_by_name_and_birth_date():
    census = read_text(
        "Action,First,Last,DOB,Term Date\n"
        "Add,Ann,Ames,1980-01-01,\n"
        "Term,Bob,Birch,,2026-12-31\n"
        "Add,Ann,Ames,1980-01-01,\n"
        "Add,Ann,Ames,1980-01-01,2026-12-31\n"
    )
    assert found(census.errors) == [
        (3, "DOB", "an employee without an employee id or SSN is matched by name and date of "
         "birth; expected a date of birth (or the employee id or SSN)"),
        (5, "First", "the same name and date of birth are on the employee row 2, and neither row "
         "has an employee id or SSN to tell them apart; expected one row per employee"),
    ]  # fmt: skip
    assert found(census.warnings) == [(4, None, "this row repeats row 2 exactly; it was read once")]
    assert [m.source_row for m in census.members] == [2, 3, 5]


def test_an_employee_without_an_id_in_a_file_with_ids_is_matched_another_way_with_a_warning():
    census = read_text(
        "EE ID,First,Last,DOB,SSN\nE1,Ann,Ames,1980-01-01,\n,Bob,Birch,1981-01-01,219-09-1002\n"
        ",Cy,Cole,1982-01-01,000-00-0000\n"
    )
    assert census.errors == []
    assert [(w.row, w.message) for w in census.warnings] == [
        (3, "no employee id: the employee is matched by SSN"),
        (4, "no employee id: the employee is matched by name and date of birth"),
        (4, "not an issued SSN (area 000, 666 or 9xx, group 00, serial 0000, or a placeholder "
         "such as 123-45-6789); read as sent: check it"),
    ]  # fmt: skip
    assert [m.employee_id for m in census.members] == ["E1", "", ""]


def test_an_unissued_ssn_is_never_the_key():
    census = read_text(
        "First,Last,DOB,SSN\nAnn,Ames,1980-01-01,123-45-6789\nBob,Birch,1981-01-01,123456789\n"
    )
    assert census.errors == []  # the same placeholder twice: keyed by name and birth date
    assert [m.ssn for m in census.members] == ["123456789", "123456789"]


# ---------------------------------------------------------------------------------------------
# Wide layouts


LONG = (
    "Employee ID,Relationship,First Name,Last Name,DOB,Gender,Medical Plan,Medical Tier\n"
    "E1,EE,Ann,Ames,1980-01-01,F,PPO,FAM\n"
    "E1,SP,Al,Ames,1979-05-05,M,,\n"
    "E1,CH,Kit,Ames,2015-06-06,F,,\n"
    "E1,CH,Lu,Ames,2017-07-07,U,,\n"
    "E2,EE,Bob,Birch,1981-01-01,M,PPO,EE\n"
)
WIDE = (
    "Employee ID,First Name,Last Name,DOB,Gender,Medical Plan,Medical Tier,EE Premium,"
    "Spouse First Name,Spouse Last Name,Spouse DOB,Spouse Gender,Spouse Premium,"
    "Dep1 First Name,Dep1 Last Name,Dep1 DOB,Dep1 Gender,Dep1 Relationship,Dep1 Premium,"
    "Dependent 2 First Name,Dependent 2 Last Name,Dependent 2 DOB,Dependent 2 Gender,"
    "Dependent 2 Relationship\n"
    "E1,Ann,Ames,1980-01-01,F,PPO,FAM,610,Al,Ames,1979-05-05,M,300,Kit,Ames,2015-06-06,F,Child,"
    "100,Lu,Ames,2017-07-07,U,child\n"
    "E2,Bob,Birch,1981-01-01,M,PPO,EE,610,,,,,,,,,,,,,,,,\n"
)


def without_rows(census) -> list[dict]:
    members = [m.as_dict() for m in census.members]
    for member in members:
        member.pop("source_row")
        for dependent in member["dependents"]:
            dependent.pop("source_row")
    return members


def test_a_wide_layout_reads_as_the_same_members_as_the_long_one():
    long, wide = read_text(LONG), read_text(WIDE)
    assert long.errors == wide.errors == [] and wide.warnings == []
    assert without_rows(wide) == without_rows(long)
    assert [d.source_row for d in wide.members[0].dependents] == [2, 2, 2]  # the family's row
    assert list(wide.detail["dependent_groups"]) == ["Spouse", "Dependent 1", "Dependent 2"]
    assert "EE Premium" not in wide.column_mapping


def test_a_wide_rows_problems_name_the_dependents_column():
    census = read_text(
        "EE ID,First,Last,DOB,Dep1 First Name,Dep1 DOB,Dep1 Relationship,Dep2 First Name,"
        "Dep2 DOB,Dep2 Relationship\n"
        "E1,Ann,Ames,1980-01-01,Kit,2015-13-45,Child,,1/1/2016,Cousin\n"
    )
    assert found(census.errors) == [
        (2, "Dep1 DOB", "not a real date; expected a date such as 2026-01-15, 01/15/2026 or "
         "1/15/26"),
        (2, "Dep2 Relationship", "expected a relationship: EE/Self/Employee, SP/Spouse, "
         "CH/Child or DP/Domestic Partner"),
    ]  # fmt: skip


def test_dependent_groups_that_say_no_relationship_are_children_with_a_warning():
    census = read_text(
        "EE ID,First,Last,DOB,Dependent 1 First Name,Dependent 1 DOB\n"
        "E1,Ann,Ames,1980-01-01,Kit,2015-01-01\n"
    )
    assert census.errors == []
    assert [d.relationship for d in census.members[0].dependents] == [Relationship.CHILD]
    assert found(census.warnings) == [
        (None, None, "the columns of 'Dependent 1' say no relationship: those dependents were "
         "read as children; a spouse or partner among them needs a relationship column")
    ]  # fmt: skip
    census = read_text(
        "EE ID,First,Last,DOB,Dep1 First Name,Dep1 DOB,Dep1 Relationship\n"
        "E1,Ann,Ames,1980-01-01,Kit,2015-01-01,\n"
    )
    assert found(census.warnings) == [
        (2, "Dep1 Relationship", "the relationship is blank: read as a child")
    ]


def test_a_wide_family_on_a_change_files_add_starts_with_the_family():
    census = read_text(
        "Action,EE ID,First,Last,DOB,Effective Date,Medical Plan,Medical Tier,"
        "Spouse First Name,Spouse DOB\n"
        "Add,E1,Ann,Ames,1980-01-01,12/01/2026,PPO,ES,Al,1979-05-05\n"
    )
    (spouse,) = census.members[0].dependents
    assert (spouse.effective_from, spouse.lines) == (date(2026, 12, 1), {MEDICAL})


# ---------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(
    ("cells", "read"),
    [
        (["18/10/1980", "05/04/1990"], [date(1980, 10, 18), date(1990, 4, 5)]),
        (["20-01-2012", "03-02-2011"], [date(2012, 1, 20), date(2011, 2, 3)]),
        (["10/18/1980", "05/04/1990"], [date(1980, 10, 18), date(1990, 5, 4)]),
        (["18/10/1980", "10/18/1981", "05/04/1990"],
         [date(1980, 10, 18), date(1981, 10, 18), date(1990, 5, 4)]),
        (["18.10.80", "3/4/1990"], [date(1980, 10, 18), date(1990, 4, 3)]),
    ],
)  # fmt: skip
def test_day_first_dates_are_read_by_what_the_column_says(cells, read):
    rows = "".join(f"E{i},A,B,{cell}\n" for i, cell in enumerate(cells))
    census = read_text("EE ID,First,Last,DOB\n" + rows)
    assert census.errors == []
    assert [m.birth_date for m in census.members] == read


def test_the_day_first_decision_is_a_warning_a_person_can_check():
    census = read_text("EE ID,First,Last,DOB\nE1,A,B,18/10/1980\nE2,C,D,05/04/1990\n")
    assert found(census.warnings) == [
        (None, "DOB", "the dates in this column are written day first (DD/MM/YYYY: "
         "'18/10/1980'); dates that could be either, such as '05/04/1990', were read day first "
         "too (1990-04-05 for '05/04/1990')")
    ]  # fmt: skip
    census = read_text(
        "EE ID,First,Last,DOB\nE1,A,B,18/10/1980\nE2,C,D,10/18/1981\nE3,E,F,5/4/90\n"
    )
    assert "were read month first: check them" in census.warnings[0].message


def test_nil_and_null_are_blank_but_nil_as_a_name_is_a_name():
    census = read_text(
        "EE ID,First,Middle,Last,DOB,Gender,Zip\n"
        "E1,Ann,nil,Ames,1980-01-01,nil,NULL\n"
        "E2,Nil,,Birch,1981-01-01,(null),\n"
    )
    assert census.errors == [] and census.warnings == []
    ann, nil = census.members
    assert (ann.gender, ann.postal_code) == (Gender.UNKNOWN, None)
    assert nil.first_name == "Nil"


def test_tabs_and_line_breaks_inside_values():
    census = read_text('EE ID,First,Last,DOB\n"E1\r\n",\tAnn\t,"Mc\tAmes",1980-01-01\n')
    (member,) = census.members
    assert (member.employee_id, member.first_name, member.last_name) == ("E1", "Ann", "Mc Ames")


@pytest.mark.parametrize(
    ("text", "postal", "warned"),
    [
        ("2134", "02134", None),
        ("21341234", "02134-1234", None),  # a ZIP+4 stored as a number
        ("SW1A 1AA", "SW1A 1AA", "not a US ZIP code (a foreign postcode?); kept as written"),
        ("K1A 0B1", "K1A 0B1", "not a US ZIP code (a foreign postcode?); kept as written"),
        ("N/A", None, "expected a 5-digit ZIP code or ZIP+4, e.g. 02134 or 02134-1234; left blank"),
    ],
)
def test_postcodes(text, postal, warned):
    census = read_text(f"EE ID,First,Last,DOB,Zip\nE1,A,B,1980-01-01,{text}\n")
    assert census.errors == []
    assert census.members[0].postal_code == postal
    assert [w.message for w in census.warnings] == ([warned] if warned else [])


def test_optional_fields_that_cannot_be_read_are_warnings_required_ones_errors():
    census = read_text(
        "EE ID,First,Last,DOB,Gender,Hire Date,Status,SSN,Medical Plan,Medical Tier\n"
        "E1,A,B,1980-01-01,Q,someday,On leave?,12-34,PPO,Platinum\n"
    )
    assert [(e.column, e.value) for e in census.errors] == [("Medical Tier", "Platinum")]
    assert [(w.column, w.value) for w in census.warnings] == [
        ("Gender", "Q"),
        ("Hire Date", "someday"),
        ("Status", "On leave?"),
        ("SSN", "***-**-1234"),  # an SSN column's value is always masked
    ]
    (member,) = census.members
    assert (member.gender, member.hire_date, member.ssn) == (Gender.UNKNOWN, None, None)


def test_a_warning_for_one_value_on_many_rows_is_listed_once():
    rows = "".join(f"E{i},A,B,1980-01-01,continuous\n" for i in range(40))
    census = read_text("EE ID,First,Last,DOB,Status\n" + rows)
    (warning,) = census.warnings
    assert warning.row == "rows 2, 3, 4, 5, 6 and 35 more"
    assert str(warning).startswith("inline.csv, rows 2, 3, 4, 5, 6 and 35 more, column Status:")


# ---------------------------------------------------------------------------------------------
# Duplicates


def test_an_exact_repeat_of_a_family_is_read_once():
    census = read_text(
        "EE ID,Rel,First,Last,DOB,Medical Plan,Medical Tier\n"
        "E1,EE,Ann,Ames,1980-01-01,PPO,ES\n"
        ",SP,Al,Ames,1979-01-01,,\n"
        "E1,EE,Ann,Ames,1980-01-01,PPO,ES\n"
        ",SP,Al,Ames,1979-01-01,,\n"
    )
    assert census.errors == []
    assert found(census.warnings) == [
        (4, None, "this row repeats row 2 exactly; it was read once"),
        (5, None, "this row repeats row 3 exactly; it was read once"),
    ]
    (member,) = census.members
    assert family(member) == [("Al", "Ames", Relationship.SPOUSE, 3)]
    assert member.coverages[0].tier is Tier.ES


def test_one_dependent_twice_with_other_values_is_an_error():
    census = read_text(
        "EE ID,Rel,First,Last,DOB,Gender\nE1,EE,Ann,Ames,1980-01-01,F\n"
        "E1,CH,Kit,Ames,2015-01-01,F\nE1,CH,Kit,Ames,2015-01-01,M\n"
    )
    assert found(census.errors) == [
        (4, "First", "the same dependent (name and date of birth) is on row 3 with other values; "
         "expected one row per person")
    ]  # fmt: skip
    assert len(census.members[0].dependents) == 1


# ---------------------------------------------------------------------------------------------
# Files that are not member censuses


def test_an_employer_application_is_refused_as_such():
    census = read_text(
        "Action,FEIN,Legal Name,SIC Code,Zip,Contact First Name,Coverage Start Date\n"
        "Add,12-3456789,Acme Inc.,1522,02134,Roger,2027-01-01\n"
    )
    assert census.members == []
    (error,) = census.errors
    assert error.message.startswith(
        "this looks like an employer (group) application, not a member census: its columns "
        "describe a company ('FEIN', 'Legal Name', 'SIC Code', 'Contact First Name')"
    )
