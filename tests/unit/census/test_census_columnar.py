"""A CSV census read as columns and diffed column by column (issue 19, item 4): a messy,
real-shaped file gives the adds, terms and changes a person expects, the rows the quick check
passes are never built, and reading the members as objects first gives the same diff."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing_core.census.diff import ChangeKind, diff_census
from billing_core.census.reader import read_census
from billing_core.census.rows import MemberColumns
from billing_core.models.enums import LineOfCoverage, Relationship, UploadKind
from tests.factories import enroll, make_dental_plan, make_group, make_member

AS_OF = date(2027, 3, 1)

# A title row above the header, headers as an HRIS exports them, names in capitals, dashes
# in SSNs, dollar salaries, US dates, dependents under their employee with a blank last name,
# and a blank line at the end.
FILE = """Acme Corp census as of 3/1/2027,,,,,,,
EE ID,First Name,LAST NAME,DOB,SSN,Relationship,Dental Tier,Annual Salary
E-1,Ann,Avery,05/17/1980,219-09-1001,Employee,FAM,"$52,000.00"
E-1,Sam,,07/04/1981,,Spouse,,
E-1,Kit,,01/15/2015,,Child,,
E-2,BOB,BROOK,5/17/1980,219-09-1002,EE,EE,52000
E-3,Cal,Cole,05/17/1980,219-09-1003,EE,ES,52000
E-3,Cy,,02/02/1982,,SP,,
E-4,Dee,Dunn,05/17/1980,219-09-1004,EE,EE,"61,000"
NEW-1,Fay,Fox,11/30/1991,219-09-1006,EE,EE,48000
E-7,Gus,Gray,05/17/1980,219-09-1007,EE,EE,52000

"""


@pytest.fixture
def group(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    people = [
        ("E-1", "Ann", "Avery", "FAM"),
        ("E-2", "Bob", "Brook", "EE"),
        ("E-3", "Cal", "Cole", "EE"),
        ("E-4", "Dee", "Dunn", "EE"),
        ("E-5", "Eve", "Ende", "EE"),
        ("E-7", "Gus", "Gray", "EE"),
    ]
    for employee_id, first, last, tier in people:
        member = make_member(
            session,
            group,
            employee_id=employee_id,
            first_name=first,
            last_name=last,
            ssn=f"219-09-100{employee_id[-1]}",
        )
        enroll(session, member, plan, tier)
    return group


def _read():
    return read_census(FILE.encode(), "acme.csv", kind=UploadKind.SNAPSHOT, as_of=AS_OF)


def _said(diff) -> dict[str, tuple]:
    return {
        m.employee_id: (
            m.kind.value,
            [(f.field, f.before, f.after) for f in m.fields],
            [c.describe() for c in m.coverages],
        )
        for m in diff.members
    }


def test_a_messy_census_read_as_columns_gives_the_expected_changes(session, group):
    census = _read()
    assert census.errors == [] and isinstance(census.rows, MemberColumns)
    assert (census.employee_count, census.dependent_count) == (6, 3)

    diff = diff_census(session, group, census, AS_OF)

    assert diff.errors == []
    said = _said(diff)
    assert said == {
        "E-1": ("unchanged", [], []),
        "E-2": ("unchanged", [], []),  # capitals rename nobody
        "E-3": ("change", [], ["Dental: tier EE → ES"]),
        "E-4": ("change", [("annual_salary", "52,000.00", "61,000.00")], []),
        "NEW-1": ("add", [], [f"Dental: add {diff.members[4].coverages[0].plan_after.code} EE"]),
        "E-7": ("unchanged", [], []),
        "E-5": ("term", [], [diff.of_kind(ChangeKind.TERM)[0].coverages[0].describe()]),
    }
    assert [m.employee_id for m in diff.members] == [
        "E-1",
        "E-2",
        "E-3",
        "E-4",
        "NEW-1",
        "E-7",
        "E-5",
    ]
    [term] = diff.of_kind(ChangeKind.TERM)
    assert term.row is None and term.effective_on == date(2027, 2, 28)
    assert term.coverages[0].plan_after is None
    [add] = diff.of_kind(ChangeKind.ADD)
    assert add.row.birth_date == date(1991, 11, 30) and add.row.ssn == "219091006"

    # The rows the quick check passed (same fields, SSN and lines) were never built...
    rows = census.rows
    built = [rows._built[i] is not None for i in range(rows.count)]
    assert built == [False, True, True, True, True, False]
    # ...and are the file's rows, dependents and all, when a line's row is read.
    ann = diff.members[0].row
    assert (ann.first_name, ann.source_row, ann.annual_salary) == ("Ann", 3, Decimal("52000.00"))
    assert [(d.first_name, d.last_name, d.relationship) for d in ann.dependents] == [
        ("Sam", "Avery", Relationship.SPOUSE),
        ("Kit", "Avery", Relationship.CHILD),
    ]
    assert all(d.lines == {LineOfCoverage.DENTAL} for d in ann.dependents)
    assert census.members[0] is ann  # the same object the whole list then holds
    assert [m.employee_id for m in census.members] == ["E-1", "E-2", "E-3", "E-4", "NEW-1", "E-7"]


def test_the_same_diff_whether_the_rows_are_built_first_or_not(session, group):
    columnar = diff_census(session, group, _read(), AS_OF)
    built = _read()
    assert len(built.members) == 6  # every object built before the diff
    assert not isinstance(built.rows, MemberColumns)
    by_objects = diff_census(session, group, built, AS_OF)

    assert columnar.as_dict(include_unchanged=True) == by_objects.as_dict(include_unchanged=True)
    assert [m.row.as_dict() if m.row else None for m in columnar.members] == [
        m.row.as_dict() if m.row else None for m in by_objects.members
    ]


def test_unchanged_lines_are_built_only_when_every_line_is_read(session, group):
    """The quick check's unchanged lines (E-1, E-7) are kept as columns: the counts, the
    changes and the loader's waves are known without them, and reading `members` builds them
    in file order among the lines the diff built (E-2, in capitals, was compared field by
    field: an unchanged line of its own)."""
    diff = diff_census(session, group, _read(), AS_OF)

    assert diff._unchanged is not None and len(diff._unchanged) == 2
    assert diff.counts == {"add": 1, "term": 1, "change": 2, "unchanged": 3}
    assert [(m.employee_id, m.kind.value) for m in diff.changes] == [
        ("E-3", "change"),
        ("E-4", "change"),
        ("NEW-1", "add"),
        ("E-5", "term"),
    ]
    assert diff.changes_anything and diff.ending_by_absence == 1
    loader = diff.changes[0].loader
    waves = [list(wave) for wave in loader.waves]
    assert diff._unchanged is not None  # none of that built them

    lines = diff.members
    assert diff._unchanged is None
    assert [(m.employee_id, m.kind.value) for m in lines] == [
        ("E-1", "unchanged"),
        ("E-2", "unchanged"),
        ("E-3", "change"),
        ("E-4", "change"),
        ("NEW-1", "add"),
        ("E-7", "unchanged"),
        ("E-5", "term"),
    ]
    assert diff.members is lines and diff.counts["unchanged"] == 3
    ann = lines[0]
    assert (ann.name, ann.effective_on, ann.member_key) == (
        "Avery, Ann",
        AS_OF,
        ann.member.member_key,
    )
    assert ann.loader is loader and ann.member.employee_id == "E-1" and ann.row.first_name == "Ann"
    # Changed members are loaded first, then the unchanged ones (the built and the deferred).
    assert waves == [
        sorted(m.member_id for m in diff.changes if m.member_id is not None),  # not the add
        sorted(m.member_id for m in lines if m.kind is ChangeKind.UNCHANGED),
    ]
