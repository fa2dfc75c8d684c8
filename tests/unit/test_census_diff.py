"""A normalised census against enrollment: unchanged, adds, terms, field and coverage changes,
change-file actions, and plans that cannot be told apart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing_core.census.diff import ChangeKind, diff_census
from billing_core.census.rows import CensusCoverage, CensusFile, CensusMember, Maintenance
from billing_core.models.enums import LineOfCoverage, Tier, UploadFormat, UploadKind
from tests.factories import enroll, make_dental_plan, make_group, make_member

AS_OF = date(2027, 3, 1)
DENTAL = LineOfCoverage.DENTAL


def _row(member, tier="EE", **overrides) -> CensusMember:
    fields = dict(
        source_row=2,
        employee_id=member.employee_id,
        first_name=member.first_name,
        last_name=member.last_name,
        birth_date=member.birth_date,
        annual_salary=member.annual_salary,
        coverages=[CensusCoverage(DENTAL, tier=Tier(tier))] if tier else [],
    )
    fields.update(overrides)
    return CensusMember(**fields)


def _file(*rows, kind=UploadKind.SNAPSHOT) -> CensusFile:
    return CensusFile(
        source="census.csv", file_format=UploadFormat.CSV, members=list(rows), kind=kind
    )


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
    diff = diff_census(session, group, _file(_row(ann, "FAM"), _row(bob)), AS_OF)
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
    raise_and_tier = _row(ann, "ES", annual_salary=Decimal("61000.00"))

    diff = diff_census(session, group, _file(raise_and_tier, newbie), AS_OF)

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
    term = _row(bob, None, maintenance=Maintenance.TERM, maintenance_date=date(2027, 3, 12))
    diff = diff_census(session, group, _file(term, kind=UploadKind.CHANGE), AS_OF)
    assert diff.counts == {"add": 0, "term": 1, "change": 0, "unchanged": 0}  # Ann untouched
    [ended] = diff.members
    assert ended.effective_on == date(2027, 3, 12)
    assert ended.coverages[0].plan_before.id == plan.id and ended.coverages[0].plan_after is None


def test_matching_falls_back_to_the_ssn(session, enrolled):
    group, plan, ann, bob = enrolled
    ann.set_ssn("219-09-4321")
    session.flush()
    row = _row(ann, "FAM", employee_id="RENUMBERED", ssn="219094321")
    diff = diff_census(session, group, _file(row, _row(bob)), AS_OF)
    assert diff.counts["unchanged"] == 2


def test_a_plan_that_cannot_be_told_is_an_error_not_a_guess(session, enrolled):
    group, plan, ann, bob = enrolled
    make_dental_plan(session, group)  # a second dental plan
    diff = diff_census(session, group, _file(_row(ann, "FAM"), _row(bob)), AS_OF)
    assert len(diff.errors) == 2
    assert "several dental plans" in str(diff.errors[0]) and "name the plan" in str(diff.errors[0])
    named = _row(ann, None, coverages=[CensusCoverage(DENTAL, plan_code=plan.code, tier=Tier.FAM)])
    wrong = _row(bob, None, coverages=[CensusCoverage(DENTAL, plan_code="NOPE", tier=Tier.EE)])
    diff = diff_census(session, group, _file(named, wrong), AS_OF)
    assert [str(e) for e in diff.errors] == [
        "census.csv, row 2, column dental: no plan 'NOPE' in this group"
    ]


def test_a_change_in_a_full_file_is_not_backdated_to_the_original_start(session, enrolled):
    group, plan, ann, bob = enrolled
    original_start = ann.coverages[0].effective_from
    row = _row(
        ann, None, coverages=[CensusCoverage(DENTAL, tier=Tier.ES, effective_from=original_start)]
    )
    diff = diff_census(session, group, _file(row, _row(bob)), AS_OF)
    [change] = diff.of_kind(ChangeKind.CHANGE)
    assert change.coverages[0].effective_on == AS_OF
