"""Dependents under enrolled members (issue 15): an 834 dependent loop sent without its
subscriber, a change file's dependent with its own maintenance, files without employee ids
matched by SSN or by name and birth date, and what is no longer silently ignored."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from billing_core.census.apply import apply_census
from billing_core.census.diff import ChangeKind, diff_census
from billing_core.census.rows import (
    CensusCoverage,
    CensusDependent,
    CensusFile,
    CensusMember,
    Maintenance,
)
from billing_core.models import Dependent, Member
from billing_core.models.enums import (
    LineOfCoverage,
    Relationship,
    Role,
    Tier,
    UploadFormat,
    UploadKind,
)
from tests.factories import make_user
from tests.intake_corpus import corpus_group

AS_OF = date(2026, 12, 1)
MEDICAL, DENTAL = LineOfCoverage.MEDICAL, LineOfCoverage.DENTAL


def _file(*rows, kind=UploadKind.CHANGE) -> CensusFile:
    return CensusFile("change.834", UploadFormat.X12_834, members=list(rows), kind=kind)


def _dependents_only(employee_id, *dependents, row="ST 0001, segment 5") -> CensusMember:
    return CensusMember(
        source_row=row, employee_id=employee_id, first_name="", last_name="",
        birth_date=None, dependents=list(dependents), dependents_only=True,
    )  # fmt: skip


def _member(session, employee_id) -> Member:
    return session.scalar(select(Member).where(Member.employee_id == employee_id))


def test_a_dependent_loop_without_its_subscriber_adds_the_dependent(session):
    group = corpus_group(session)
    baby = CensusDependent(
        "ST 0001, segment 9", "Ada", "Worker01", date(2026, 11, 20), Relationship.CHILD,
        maintenance=Maintenance.ADD, maintenance_date=date(2026, 11, 20),
    )  # fmt: skip
    diff = diff_census(session, group, _file(_dependents_only("E1001", baby)), AS_OF)

    assert diff.errors == []
    [entry] = diff.members
    assert entry.kind is ChangeKind.CHANGE and entry.name == "Worker01, Pat"
    assert entry.fields == [] and entry.coverages == []
    assert [(d.kind, d.name, d.effective_on) for d in entry.dependents] == [
        ("add", "Ada Worker01", date(2026, 11, 20))
    ]
    apply_census(
        session, group, diff, actor=make_user(session, Role.BILLING_SPECIALIST), today=AS_OF
    )
    member = _member(session, "E1001")
    session.refresh(member)
    assert [(d.dependent_key, d.first_name, d.effective_from) for d in member.dependents] == [
        ("01", "Sam", date(2024, 1, 1)),
        ("02", "Kim", date(2024, 1, 1)),
        ("03", "Ada", date(2026, 11, 20)),
    ]
    # The family coverages in force now cover her (age-banded rating rates each person).
    covered = {c.dependent.first_name for cov in member.coverages for c in cov.covered_dependents}
    assert "Ada" in covered
    # The same file again changes nothing.
    again = diff_census(session, group, _file(_dependents_only("E1001", baby)), AS_OF)
    assert again.counts["change"] == 0


def test_a_dependent_loop_ends_and_corrects_enrolled_dependents(session):
    group = corpus_group(session)
    ended = CensusDependent(
        "ST 0001, segment 9", "Sam", "Worker01", date(1982, 2, 1), Relationship.SPOUSE,
        maintenance=Maintenance.TERM, maintenance_date=date(2026, 11, 30),
    )  # fmt: skip
    renamed = CensusDependent(
        "ST 0001, segment 14", "Kim", "Worker-Smith", date(2012, 3, 1), Relationship.CHILD,
        maintenance=Maintenance.CHANGE,
    )  # fmt: skip
    diff = diff_census(session, group, _file(_dependents_only("E1001", ended, renamed)), AS_OF)
    [entry] = diff.members
    assert [(d.kind, d.effective_on) for d in entry.dependents] == [
        ("term", date(2026, 11, 30)),
        ("change", AS_OF),
    ]
    assert "last_name Worker01 → Worker-Smith" in entry.dependents[1].describe()
    apply_census(
        session, group, diff, actor=make_user(session, Role.BILLING_SPECIALIST), today=AS_OF
    )
    dependents = session.scalars(
        select(Dependent).where(Dependent.member_id == _member(session, "E1001").id)
        .order_by(Dependent.dependent_key)
    ).all()  # fmt: skip
    assert [(d.first_name, d.last_name, d.effective_to) for d in dependents] == [
        ("Sam", "Worker01", date(2026, 11, 30)),
        ("Kim", "Worker-Smith", None),
    ]


def test_a_dependent_of_an_employee_who_is_not_enrolled_is_an_error(session):
    group = corpus_group(session)
    baby = CensusDependent(
        "ST 0001, segment 9", "Ada", "Nobody", date(2026, 11, 20), Relationship.CHILD,
        maintenance=Maintenance.ADD,
    )  # fmt: skip
    diff = diff_census(session, group, _file(_dependents_only("E9999", baby)), AS_OF)
    [error] = diff.errors
    assert error.value == "E9999" and "no enrolled employee has this id" in error.message


def test_a_file_without_employee_ids_matches_by_ssn_then_by_name_and_birth_date(session):
    group = corpus_group(session)

    def row(first, last, born, ssn=None):
        return CensusMember(
            source_row=2, employee_id="", first_name=first, last_name=last, birth_date=born,
            ssn=ssn, coverages=[CensusCoverage(MEDICAL, tier=Tier.EE),
                                CensusCoverage(DENTAL, tier=Tier.EE)],
        )  # fmt: skip

    census = _file(
        row("Pat", "Worker03", date(1980, 1, 3), ssn="219091003"),  # by SSN
        row("PAT", "worker04", date(1980, 1, 4)),  # by name and birth date, any case
        row("New", "Hire", date(1995, 6, 1)),  # nobody: an add with a new key
        kind=UploadKind.CHANGE,
    )
    diff = diff_census(session, group, census, AS_OF)
    assert [(e.kind, e.employee_id) for e in diff.members] == [
        (ChangeKind.UNCHANGED, "E1003"),
        (ChangeKind.UNCHANGED, "E1004"),  # found whatever the case, and no rename for it
        (ChangeKind.ADD, ""),
    ]
    apply_census(
        session, group, diff, actor=make_user(session, Role.BILLING_SPECIALIST), today=AS_OF
    )
    new = session.scalar(select(Member).where(Member.last_name == "Hire"))
    assert new.employee_id is None and new.member_key.startswith("M")


def test_what_used_to_be_ignored_now_says_so(session):
    group = corpus_group(session)
    ghost = CensusMember(
        source_row=3, employee_id="E7777", first_name="Gus", last_name="Ghost",
        birth_date=date(1970, 1, 1), maintenance=Maintenance.TERM,
        maintenance_date=date(2026, 11, 30),
    )  # fmt: skip
    family_without_family = CensusMember(
        source_row=4, employee_id="N-1", first_name="Fay", last_name="Solo",
        birth_date=date(1990, 1, 1), maintenance=Maintenance.ADD,
        coverages=[CensusCoverage(MEDICAL, tier=Tier.FAM)],
    )  # fmt: skip
    diff = diff_census(session, group, _file(ghost, family_without_family), AS_OF)
    assert diff.errors == []
    messages = [w.message for w in diff.warnings]
    assert any("Gus Ghost is to be ended but is not enrolled" in m for m in messages)
    assert any("Solo, Fay: Medical at tier FAM but a dependent" in m for m in messages)


def test_a_coverage_cancelled_from_inception_bills_nothing(session):
    from billing_core.models import Coverage, Plan

    group = corpus_group(session)
    vision = session.scalar(select(Plan).where(Plan.group_id == group.id, Plan.code == "VIS-1"))
    member = _member(session, "E1005")
    session.add(
        Coverage(member_id=member.id, plan_id=vision.id, tier=Tier.EE,
                 effective_from=date(2026, 12, 1))
    )  # fmt: skip
    session.flush()
    # An 834 line whose DTP*349 equals its DTP*348: the reader ends it the day before it began.
    cancelled = CensusMember(
        source_row="ST 0001, segment 4", employee_id="E1005", first_name="Pat",
        last_name="Worker05", birth_date=date(1980, 1, 5), maintenance=Maintenance.CHANGE,
        coverages=[CensusCoverage(LineOfCoverage.VISION, plan_code="VIS-1", tier=Tier.EE,
                                  effective_from=date(2026, 12, 1),
                                  effective_to=date(2026, 11, 30))],
    )  # fmt: skip
    diff = diff_census(session, group, _file(cancelled), AS_OF)
    assert diff.errors == []
    [entry] = diff.members
    assert [c.describe() for c in entry.coverages] == ["Vision: end VIS-1"]
    apply_census(
        session, group, diff, actor=make_user(session, Role.BILLING_SPECIALIST), today=AS_OF
    )
    session.expire_all()
    left = session.scalars(
        select(Coverage).where(Coverage.member_id == member.id, Coverage.plan_id == vision.id)
    ).all()
    assert left == []  # never in force, so never billed
    # Medical and dental untouched.
    assert len(session.scalars(select(Coverage).where(Coverage.member_id == member.id)).all()) == 2


def test_a_location_code_the_group_does_not_have_changes_nothing_and_says_so(session):
    group = corpus_group(session)
    member = _member(session, "E1003")
    row = CensusMember(
        source_row=7, employee_id="E1003", first_name="Pat", last_name="Worker03",
        birth_date=date(1980, 1, 3), subgroup_code="MBR-55821",
        coverages=[CensusCoverage(MEDICAL, tier=Tier.EE), CensusCoverage(DENTAL, tier=Tier.EE)],
    )  # fmt: skip
    diff = diff_census(session, group, _file(row), AS_OF)
    assert [e.kind for e in diff.members] == [ChangeKind.UNCHANGED]
    [warning] = diff.warnings
    assert warning.value == "MBR-55821" and "NORTH, SOUTH" in warning.message
    assert member.subgroup_id is not None
