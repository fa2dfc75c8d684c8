"""A normalised census against enrollment: unchanged, adds, terms, field and coverage changes,
change-file actions, and plans that cannot be told apart."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import event

from billing_core.census.diff import ChangeKind, diff_census
from billing_core.census.diff.enrollment import Enrollment
from billing_core.census.rows import (
    CensusCoverage,
    CensusDependent,
    CensusMember,
    Maintenance,
)
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Tier,
    UploadKind,
)
from tests.factories import (
    census_file,
    census_row,
    enroll,
    make_dental_plan,
    make_group,
    make_life_plan,
    make_member,
)

AS_OF = date(2027, 3, 1)
DENTAL = LineOfCoverage.DENTAL


@pytest.fixture
def enrolled(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    ann = make_member(session, group, first_name="Ann", last_name="Avery")
    bob = make_member(session, group, first_name="Bob", last_name="Brook")
    enroll(session, ann, plan, "FAM")
    enroll(session, bob, plan, "EE")
    return group, plan, ann, bob


def test_the_same_snapshot_changes_nothing(session, enrolled):
    group, plan, ann, bob = enrolled
    diff = diff_census(session, group, census_file(census_row(ann, "FAM"), census_row(bob)), AS_OF)
    assert diff.counts == {"add": 0, "term": 0, "change": 0, "unchanged": 2}
    assert not diff.changes_anything and diff.errors == []


def test_snapshot_adds_terms_and_changes(session, enrolled):
    group, plan, ann, bob = enrolled
    newbie = CensusMember(
        source_row=4,
        employee_id="NEW-1",
        first_name="Cy",
        last_name="Cole",
        birth_date=date(1990, 1, 1),
        coverages=[CensusCoverage(DENTAL, tier=Tier.ES, effective_from=date(2027, 2, 10))],
    )
    raise_and_tier = census_row(ann, "ES", annual_salary=Decimal("61000.00"))

    diff = diff_census(session, group, census_file(raise_and_tier, newbie), AS_OF)

    [add] = diff.of_kind(ChangeKind.ADD)
    assert add.employee_id == "NEW-1" and add.coverages[0].plan_after.id == plan.id
    assert add.coverages[0].effective_on == date(2027, 2, 10)
    [term] = diff.of_kind(ChangeKind.TERM)
    assert term.member.id == bob.id and term.effective_on == date(2027, 2, 28)
    [change] = diff.of_kind(ChangeKind.CHANGE)
    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("annual_salary", "52,000.00", "61,000.00")
    ]
    assert change.coverages[0].describe() == "Dental: tier FAM → ES"


def test_change_file_speaks_only_for_its_rows(session, enrolled):
    group, plan, ann, bob = enrolled
    term = census_row(bob, None, maintenance=Maintenance.TERM, maintenance_date=date(2027, 3, 12))
    diff = diff_census(session, group, census_file(term, kind=UploadKind.CHANGE), AS_OF)
    assert diff.counts == {"add": 0, "term": 1, "change": 0, "unchanged": 0}  # Ann untouched
    [ended] = diff.members
    assert ended.effective_on == date(2027, 3, 12)
    assert ended.coverages[0].plan_before.id == plan.id and ended.coverages[0].plan_after is None


def test_matching_falls_back_to_the_ssn(session, enrolled):
    group, plan, ann, bob = enrolled
    ann.set_ssn("219-09-4321")
    session.flush()
    row = census_row(ann, "FAM", employee_id="RENUMBERED", ssn="219094321")
    diff = diff_census(session, group, census_file(row, census_row(bob)), AS_OF)
    assert diff.counts["unchanged"] == 2


def test_a_plan_that_cannot_be_told_is_an_error_not_a_guess(session, enrolled):
    group, plan, ann, bob = enrolled
    make_dental_plan(session, group)  # a second dental plan
    diff = diff_census(session, group, census_file(census_row(ann, "FAM"), census_row(bob)), AS_OF)
    assert len(diff.errors) == 2
    assert "several dental plans" in str(diff.errors[0]) and "name the plan" in str(diff.errors[0])
    named = census_row(
        ann, None, coverages=[CensusCoverage(DENTAL, plan_code=plan.code, tier=Tier.FAM)]
    )
    wrong = census_row(
        bob, None, coverages=[CensusCoverage(DENTAL, plan_code="NOPE", tier=Tier.EE)]
    )
    diff = diff_census(session, group, census_file(named, wrong), AS_OF)
    [error] = diff.errors
    # The message now lists the group's plans and says where to map the name (issue 15).
    assert str(error).startswith(
        "census.csv, row 2, column Dental plan: no plan 'NOPE' in this group"
    )
    assert error.value == "NOPE"
    assert f"{plan.code} (Dental PPO)" in error.message and "file's page" in error.message
    assert diff.unknown_plans == ["NOPE"]


def test_a_plan_is_found_by_its_code_its_name_or_the_groups_alias(session, enrolled):
    from billing_core.models import CensusColumnMapping

    group, plan, ann, bob = enrolled
    session.add(
        CensusColumnMapping(group_id=group.id, mapping={}, plan_aliases={"Den 2": plan.code})
    )
    session.flush()
    for text in (plan.code.lower(), "dental ppo", "DENTAL-PPO", "den 2", "DEN2"):
        row = census_row(
            ann, None, coverages=[CensusCoverage(DENTAL, plan_code=text, tier=Tier.FAM)]
        )
        diff = diff_census(session, group, census_file(row, census_row(bob)), AS_OF)
        assert diff.errors == [] and diff.counts["unchanged"] == 2, text


def test_a_change_in_a_full_file_is_not_backdated_to_the_original_start(session, enrolled):
    group, plan, ann, bob = enrolled
    original_start = ann.coverages[0].effective_from
    row = census_row(
        ann, None, coverages=[CensusCoverage(DENTAL, tier=Tier.ES, effective_from=original_start)]
    )
    diff = diff_census(session, group, census_file(row, census_row(bob)), AS_OF)
    [change] = diff.of_kind(ChangeKind.CHANGE)
    assert change.coverages[0].effective_on == AS_OF


# --- the quick "unchanged" check must agree with the field-by-field comparison -----------------

LIFE = LineOfCoverage.BASIC_LIFE


@pytest.fixture
def book(session):
    """Members on one of two dental plans (named by code) and basic life with a volume, and the
    file rows that restate, change, add or leave out each of them."""
    group = make_group(session)
    dental_a, dental_b = make_dental_plan(session, group), make_dental_plan(session, group)
    life = make_life_plan(session, group)
    rows, expected = [], {}

    def member(name, kind, tier="EE", volume="50000", ssn=None, **changes):
        enrolled = make_member(session, group, first_name=name, gender=Gender.FEMALE, ssn=ssn)
        enroll(session, enrolled, dental_a, tier)
        held = enroll(session, enrolled, life, None)
        held.elected_volume = Decimal(volume)
        coverages = changes.pop(
            "coverages",
            [
                CensusCoverage(DENTAL, plan_code=dental_a.code, tier=Tier(tier)),
                CensusCoverage(LIFE, plan_code=life.code, elected_volume=Decimal(volume)),
            ],
        )
        fields = dict(
            source_row=len(rows) + 2,
            employee_id=enrolled.employee_id,
            first_name=enrolled.first_name,
            last_name=enrolled.last_name,
            birth_date=enrolled.birth_date,
            gender=Gender.FEMALE,
            annual_salary=enrolled.annual_salary,
            status=MemberStatus.ACTIVE,
            ssn=ssn.replace("-", "") if ssn else None,
            coverages=coverages,
        )
        fields.update(changes)
        if kind is not ChangeKind.TERM:
            rows.append(CensusMember(**fields))
        expected[fields["employee_id"]] = kind
        return enrolled

    def lines(dental_tier="EE", plan=dental_a, volume="50000", **dental):
        return [
            CensusCoverage(DENTAL, plan_code=plan.code, tier=Tier(dental_tier), **dental),
            CensusCoverage(LIFE, plan_code=life.code, elected_volume=Decimal(volume)),
        ]

    member("Same", ChangeKind.UNCHANGED, ssn="219-09-1111")
    member("Blanks", ChangeKind.UNCHANGED, first_name="", gender=Gender.UNKNOWN)
    member("Renamed", ChangeKind.CHANGE, last_name="Newname")
    member("Born", ChangeKind.CHANGE, birth_date=date(1981, 5, 17))
    member("Raise", ChangeKind.CHANGE, annual_salary=Decimal("58000.00"))
    member("Cents", ChangeKind.UNCHANGED, annual_salary=Decimal("52000.0"))
    member("Married", ChangeKind.CHANGE, coverages=lines("ES"))
    spouse = CensusDependent(3, "Sam", "Married", date(1982, 1, 1), Relationship.SPOUSE)
    rows[-1].dependents.append(spouse)
    member("Kids", ChangeKind.CHANGE, tier="FAM", coverages=lines("EC"))
    member("Switched", ChangeKind.CHANGE, coverages=lines(plan=dental_b))
    member("Volume", ChangeKind.CHANGE, coverages=lines(volume="60000"))
    member("NoVolume", ChangeKind.UNCHANGED, coverages=lines()[:1] + [CensusCoverage(LIFE)])
    member("Dropped", ChangeKind.CHANGE, coverages=lines()[:1])
    member("Twice", ChangeKind.CHANGE, coverages=lines()[:1] * 2)
    ended = lines(effective_to=AS_OF.replace(day=15) - timedelta(days=30))
    member("Ended", ChangeKind.CHANGE, coverages=ended)
    member("NewSsn", ChangeKind.CHANGE, ssn="219-09-2222")
    rows[-1].ssn = "219093333"
    member("Renumbered", ChangeKind.UNCHANGED, ssn="219-09-4444", employee_id="R-1")
    # A location code the group does not have is no change (issue 15: an 834's REF*17 may
    # carry anything); the diff warns instead.
    member("Moved", ChangeKind.UNCHANGED, subgroup_code="NOWHERE")
    member("Left", ChangeKind.TERM)
    rows.append(
        CensusMember(
            source_row=99,
            employee_id="NEW-1",
            first_name="Cy",
            last_name="Cole",
            birth_date=date(1990, 1, 1),
            coverages=lines(),
        )
    )
    expected["NEW-1"] = ChangeKind.ADD
    return group, census_file(*rows), expected


def test_a_snapshot_with_one_change_of_each_kind(session, book):
    group, census, expected = book

    diff = diff_census(session, group, census, AS_OF)

    assert diff.errors == []
    assert {m.employee_id: m.kind for m in diff.members} == expected
    said = {
        m.name.split(", ")[1]: [f.field for f in m.fields] + [c.describe() for c in m.coverages]
        for m in diff.of_kind(ChangeKind.CHANGE)
    }
    assert said["Renamed"] == ["last_name"] and said["Born"] == ["birth_date"]
    assert said["Raise"] == ["annual_salary"] and said["NewSsn"] == ["ssn"]
    assert said["Married"] == ["Dental: tier EE → ES"]
    assert said["Volume"] == ["Basic life: volume 50,000.00 → 60,000.00"]
    assert [text.split(" LIFE")[0] for text in said["Dropped"]] == ["Basic life: end"]


def test_the_quick_unchanged_check_agrees_with_the_detailed_comparison(session, book, monkeypatch):
    group, census, _ = book
    check = Enrollment.quick_unchanged
    passed = []

    def spy(enrollment, rows, candidates, *args):
        said = check(enrollment, rows, candidates, *args)
        passed.extend(rows[i].first_name for i, yes in zip(candidates, said, strict=True) if yes)
        return said

    monkeypatch.setattr(Enrollment, "quick_unchanged", spy)
    quick = diff_census(session, group, census, AS_OF)
    monkeypatch.setattr(
        Enrollment, "quick_unchanged", lambda _, rows, at, *args: np.zeros(len(at), dtype=bool)
    )
    detailed = diff_census(session, group, census, AS_OF)

    assert quick.as_dict(include_unchanged=True) == detailed.as_dict(include_unchanged=True)
    assert quick.counts["unchanged"] == 6
    # The quick check itself says yes where every field and line (volumes as stored) is
    # the same, on either database: the others are left to the detailed comparison.
    assert sorted(passed) == ["Cents", "Moved", "Renumbered", "Same"]


def test_an_ssn_that_is_never_issued_is_a_warning_not_an_error(session, enrolled):
    # Issue 15: the SSN is never the member key, so a placeholder or an ITIN only warns.
    group, plan, ann, bob = enrolled
    diff = diff_census(
        session, group, census_file(census_row(ann, "FAM", ssn="987654321"), census_row(bob)), AS_OF
    )

    assert diff.errors == []
    assert [(w.row, w.column, w.value) for w in diff.warnings] == [(2, "ssn", "***-**-4321")]
    assert "not an issued SSN" in diff.warnings[0].message
    assert diff.counts["unchanged"] == 2  # matched by employee id all the same


def test_lines_and_warnings_come_in_file_order_whichever_way_a_row_was_compared(session, enrolled):
    # The rows the quick check passes become lines at once, the others one by one: the diff
    # still lists them (and the SSN warnings) in the file's order, and matches a row without
    # an employee id by its SSN.
    group, plan, ann, bob = enrolled
    cy = make_member(session, group, first_name="Cy", last_name="Cole", ssn="212-45-6789")
    dee = make_member(session, group, first_name="Dee", last_name="Dunn")
    enroll(session, cy, plan, "EE")
    enroll(session, dee, plan, "EE")
    newbie = CensusMember(
        source_row=3,
        employee_id="NEW-1",
        first_name="Eve",
        last_name="Ellis",
        birth_date=date(1990, 1, 2),
        ssn="987654321",
        coverages=[CensusCoverage(DENTAL, tier=Tier.EE)],
    )
    rows = [
        census_row(ann, "FAM", source_row=2),
        newbie,
        census_row(bob, source_row=4, ssn="987654321"),
        census_row(cy, source_row=5, employee_id="", ssn="212-45-6789"),
        census_row(dee, source_row=6, annual_salary=Decimal("61000.00")),
    ]
    diff = diff_census(session, group, census_file(*rows), AS_OF)

    assert [(e.row.source_row, e.kind) for e in diff.members] == [
        (2, ChangeKind.UNCHANGED),
        (3, ChangeKind.ADD),
        (4, ChangeKind.UNCHANGED),
        (5, ChangeKind.UNCHANGED),
        (6, ChangeKind.CHANGE),
    ]
    assert [e.member_id for e in diff.members] == [ann.id, None, bob.id, cy.id, dee.id]
    assert diff.members[3].name == "Cole, Cy" and diff.members[3].employee_id == cy.employee_id
    assert [(w.row, w.column) for w in diff.warnings] == [(3, "ssn"), (4, "ssn")]


def test_on_sqlite_the_coverage_texts_are_read_from_their_index(session, enrolled):
    """The enrollment's coverage signatures (one printf per coverage) are served by the index
    ix_coverage_member_signature, whose expression the statement must repeat word for word:
    a format bound as a parameter, or a changed expression, would format every coverage
    again (half of the statement on a 100,000-member group)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        pytest.skip("an index on the printf expression exists on SQLite only")
    group, plan, ann, bob = enrolled
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "printf" in statement and not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    engine = connection.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        enrollment = Enrollment(session, group, AS_OF)
    finally:
        event.remove(engine, "before_cursor_execute", capture)

    [(statement, parameters)] = seen
    plan_rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    assert any("ix_coverage_member_signature" in row[-1] for row in plan_rows), plan_rows
    ids, held = enrollment.column["id"], enrollment.column["held_signature"]
    signatures = dict(zip(ids.tolist(), held.tolist(), strict=True))
    assert signatures == {ann.id: f"{plan.id}:FAM:", bob.id: f"{plan.id}:EE:"}
