"""Column mapping in billing_core: the sender's choice beats the group's saved mapping, which
beats the synonyms; the mapping goes through read_tabular and is kept with the upload, so a
later read (staff review, approval) reads the file the same way; problems are masked."""

from __future__ import annotations

from datetime import date

from billing_core.census.columns import (
    CHOSEN,
    GUESSED,
    SAVED,
    UNKNOWN,
    read_with_columns,
    remember_mapping,
    resolve_columns,
    saved_mapping,
)
from billing_core.census.intake import check_upload
from billing_core.census.problems import problem_rows
from billing_core.census.uploads import upload_diff
from billing_core.errors import RowError
from billing_core.models.enums import Role, UploadKind
from tests.factories import enroll, make_dental_plan, make_group, make_member, make_user

AS_OF = date(2027, 1, 10)
ODD = "Emp Nbr,Given,Family,Natal Day\nE1,Ann,Avery,01/02/1990\n"


def test_the_senders_choice_beats_the_saved_mapping_which_beats_the_synonyms():
    headers = ["Employee ID", "Given", "Natal Day", "DOB", "Family"]
    columns = resolve_columns(
        headers,
        chosen={"Natal Day": "birth_date", "DOB": None, "Elsewhere": "ssn"},
        saved={"Given": "first_name", "Natal Day": "hire_date"},
    )
    by = {c.header: (c.field, c.source) for c in columns.choices}
    assert by == {
        "Employee ID": ("employee_id", GUESSED),
        "Given": ("first_name", SAVED),
        "Natal Day": ("birth_date", CHOSEN),
        "DOB": (None, CHOSEN),  # ignored although the synonyms know it
        "Family": (None, UNKNOWN),
    }
    assert columns.missing == ["Last name"]


def test_a_saved_mapping_is_read_through_read_tabular():
    plain, columns = read_with_columns(ODD.encode(), "odd.csv", kind=None, as_of=AS_OF)
    assert plain.errors and columns.mapping["Natal Day"] is None
    saved = {"Emp Nbr": "employee_id", "Given": "first_name", "Family": "last_name"}
    saved["Natal Day"] = "birth_date"
    census, columns = read_with_columns(
        ODD.encode(), "odd.csv", kind=None, as_of=AS_OF, saved=saved
    )
    assert census.errors == []
    assert census.column_mapping == saved
    assert census.members[0].birth_date == date(1990, 1, 2)


def test_remembered_mappings_merge_and_a_checked_upload_keeps_its_mapping(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    member = make_member(session, group, employee_id="E1", first_name="Ann", last_name="Avery")
    member.birth_date = date(1990, 1, 2)
    enroll(session, member, plan, "EE")
    user = make_user(session, Role.EMPLOYER, groups=[group])
    remember_mapping(session, group.id, {"Old Header": "ssn", "Natal Day": "hire_date"}, actor=user)
    remember_mapping(
        session, group.id, {"Natal Day": "birth_date", "Given": "first_name"}, actor=user
    )
    row = saved_mapping(session, group.id)
    assert row.mapping == {"Old Header": "ssn", "Natal Day": "birth_date", "Given": "first_name"}
    assert row.updated_by_id == user.id

    check = check_upload(
        session, group, ODD.encode(), "odd.csv",
        uploaded_by=user, kind=UploadKind.SNAPSHOT,
        chosen={"Emp Nbr": "employee_id", "Family": "last_name"}, as_of=AS_OF,
    )  # fmt: skip
    assert check.errors == [], check.errors
    assert check.columns.saved_on == row.updated_at
    upload = check.upload
    assert upload.column_mapping == {
        "Emp Nbr": "employee_id",
        "Given": "first_name",
        "Family": "last_name",
        "Natal Day": "birth_date",
    }
    # Read again later (staff review, approval) with the kept mapping, not the synonyms.
    census, diff = upload_diff(session, upload, AS_OF)
    assert census.errors == [] and diff.errors == []


def test_refused_checks_write_nothing_and_list_every_problem(session):
    group = make_group(session)
    user = make_user(session, Role.EMPLOYER, groups=[group])
    check = check_upload(
        session, group, ODD.encode(), "odd.csv",
        uploaded_by=user, kind=None, chosen=None, as_of=AS_OF,
    )  # fmt: skip
    assert check.upload is None
    assert check.message == "odd.csv was refused; nothing from it was applied"
    assert {c.header for c in check.columns.choices} == {"Emp Nbr", "Given", "Family", "Natal Day"}
    assert "Date of birth (or Age)" in check.columns.missing


def test_problem_values_that_are_ssns_are_masked_whatever_the_column():
    errors = [
        RowError(2, "Natal Day", "not a date", "f.csv", "123-45-6789"),
        RowError(3, "Tax Id", "bad", "f.csv", "12345678"),
        RowError(4, "First", "bad", "f.csv", "=cmd"),
        RowError(None, None, "no header row", "f.csv"),
    ]
    columns = resolve_columns(["Tax Id"], chosen={"Tax Id": "ssn"})
    rows = problem_rows(errors, columns)
    assert [r.value for r in rows] == ["***-**-6789", "***-**-5678", "=cmd", None]
    assert rows[3].row == "file"
