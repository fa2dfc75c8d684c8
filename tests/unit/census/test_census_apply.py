"""Approving a census: enrollment changes with history kept, pending adjustments for billed
months within the retro windows, idempotency, four eyes, and the adjustment on the next bill."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core.billing.adjustments import (
    approve_adjustment,
    reject_adjustment,
    reverse_adjustment,
)
from billing_core.billing.bill_bridge import bill_bridge
from billing_core.billing.invoicing import issue_billing_run
from billing_core.census.apply import apply_census
from billing_core.census.diff import diff_census
from billing_core.census.rows import (
    CensusCoverage,
    CensusDependent,
    CensusFile,
    CensusMember,
    Maintenance,
)
from billing_core.errors import AccessDenied, BillingError
from billing_core.models import Adjustment, Coverage, Dependent, Member
from billing_core.models.enums import (
    AdjustmentStatus,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Role,
    Tier,
    UploadFormat,
    UploadKind,
)
from billing_core.money import D
from tests.factories import enroll, make_dental_plan, make_group, make_member, make_user

TODAY = date(2027, 3, 10)
DENTAL = LineOfCoverage.DENTAL


@pytest.fixture
def billed(session):
    """A group billed for Jan, Feb and Mar 2027: Ann FAM (112.40), Bob EE (38.20)."""
    group = make_group(session)
    plan = make_dental_plan(session, group)
    ann = make_member(session, group, first_name="Ann", last_name="Avery")
    bob = make_member(session, group, first_name="Bob", last_name="Brook")
    enroll(session, ann, plan, "FAM")
    enroll(session, bob, plan, "EE")
    for month in (date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)):
        issue_billing_run(session, month, group_numbers=[group.group_number])
    staff = {
        "specialist": make_user(session, Role.BILLING_SPECIALIST),
        "supervisor": make_user(session, Role.SUPERVISOR),
        "other_supervisor": make_user(session, Role.SUPERVISOR),
    }
    return group, plan, ann, bob, staff


def _change_file(*rows) -> CensusFile:
    return CensusFile("changes.csv", UploadFormat.CSV, members=list(rows), kind=UploadKind.CHANGE)


def _term(member, last_day) -> CensusMember:
    return CensusMember(
        source_row=2,
        employee_id=member.employee_id,
        first_name=member.first_name,
        last_name=member.last_name,
        birth_date=member.birth_date,
        maintenance=Maintenance.TERM,
        maintenance_date=last_day,
    )


def _apply(session, group, census, actor):
    diff = diff_census(session, group, census, TODAY)
    assert diff.errors == []
    return apply_census(session, group, diff, actor=actor, today=TODAY, upload_id=None)


def test_late_term_credits_the_billed_months_and_applying_twice_changes_nothing(session, billed):
    group, plan, ann, bob, staff = billed
    census = _change_file(_term(bob, date(2027, 1, 31)))

    first = _apply(session, group, census, staff["specialist"])

    assert [(a.coverage_month, a.amount, a.reason_code) for a in first.adjustments] == [
        (date(2027, 2, 1), D("-38.20"), "late_term"),
        (date(2027, 3, 1), D("-38.20"), "late_term"),
    ]
    assert all(a.status is AdjustmentStatus.PENDING for a in first.adjustments)
    assert all(not a.requires_supervisor for a in first.adjustments)
    session.refresh(bob)
    assert bob.status is MemberStatus.TERMINATED
    assert [c.effective_to for c in bob.coverages] == [date(2027, 1, 31)]  # closed, not deleted

    second = _apply(session, group, census, staff["specialist"])
    assert second.adjustments == [] and second.coverages_closed == 0
    assert (
        len(session.scalars(select(Adjustment).where(Adjustment.group_id == group.id)).all()) == 2
    )


def test_tier_change_keeps_history_and_approved_adjustments_land_on_the_next_bill(session, billed):
    group, plan, ann, bob, staff = billed
    snapshot = CensusFile(
        "census.csv",
        UploadFormat.CSV,
        kind=UploadKind.SNAPSHOT,
        members=[
            CensusMember(
                source_row=2,
                employee_id=ann.employee_id,
                first_name="Ann",
                last_name="Avery",
                birth_date=ann.birth_date,
                coverages=[CensusCoverage(DENTAL, tier=Tier.ES, effective_from=date(2027, 2, 1))],
            ),
            CensusMember(
                source_row=3,
                employee_id=bob.employee_id,
                first_name="Bob",
                last_name="Brook",
                birth_date=bob.birth_date,
                coverages=[CensusCoverage(DENTAL, tier=Tier.EE)],
            ),
        ],
    )
    result = _apply(session, group, snapshot, staff["specialist"])

    coverages = session.scalars(
        select(Coverage).where(Coverage.member_id == ann.id).order_by(Coverage.effective_from)
    ).all()
    assert [(c.tier, c.effective_from, c.effective_to) for c in coverages] == [
        (Tier.FAM, date(2024, 1, 1), date(2027, 1, 31)),
        (Tier.ES, date(2027, 2, 1), None),
    ]
    assert [(a.coverage_month, a.amount, a.reason_code) for a in result.adjustments] == [
        (date(2027, 2, 1), D("-35.50"), "tier_change"),  # ES 76.90 - FAM 112.40
        (date(2027, 3, 1), D("-35.50"), "tier_change"),
    ]
    for adjustment in result.adjustments:
        approve_adjustment(adjustment, actor=staff["specialist"], note="HR confirmed")
    session.flush()

    [april] = issue_billing_run(
        session, date(2027, 4, 1), group_numbers=[group.group_number]
    ).issued
    assert april.retro_total == D("-71.00")
    assert april.current_premium == D("76.90") + D("38.20")
    assert bill_bridge(session, april).step("retro").amount == D("-71.00")


def test_four_eyes_above_the_authority_limit_is_enforced(session, billed):
    group, plan, ann, bob, staff = billed
    big = Adjustment(
        group_id=group.id,
        member_id=ann.id,
        plan_id=plan.id,
        coverage_month=date(2027, 1, 1),
        amount=D("-600.00"),
        reason_code="manual",
        source_type="manual",
        requested_by_id=staff["supervisor"].id,
    )
    session.add(big)
    session.flush()
    with pytest.raises(AccessDenied, match="needs a supervisor"):
        approve_adjustment(big, actor=staff["specialist"])
    with pytest.raises(AccessDenied, match="second person"):
        approve_adjustment(big, actor=staff["supervisor"])
    approve_adjustment(big, actor=staff["other_supervisor"], note="checked the EOB")
    assert (
        big.status is AdjustmentStatus.APPROVED
        and big.decided_by_id == staff["other_supervisor"].id
    )

    small = Adjustment(
        group_id=group.id,
        member_id=bob.id,
        plan_id=plan.id,
        coverage_month=date(2027, 1, 1),
        amount=D("12.00"),
        reason_code="manual",
        source_type="manual",
        requested_by_id=staff["specialist"].id,
    )
    session.add(small)
    session.flush()
    with pytest.raises(BillingError, match="say why"):
        reject_adjustment(small, actor=staff["specialist"], reason="")
    reject_adjustment(small, actor=staff["specialist"], reason="Duplicate of the January credit")
    assert small.status is AdjustmentStatus.REJECTED
    with pytest.raises(BillingError, match="not pending"):
        approve_adjustment(small, actor=staff["other_supervisor"])


def test_late_add_older_than_the_window_needs_a_supervisor(session, billed):
    group, plan, ann, bob, staff = billed
    newbie = CensusMember(
        source_row=2,
        employee_id="LATE-1",
        first_name="Lee",
        last_name="Late",
        birth_date=date(1991, 4, 2),
        maintenance=Maintenance.ADD,
        coverages=[CensusCoverage(DENTAL, tier=Tier.EE, effective_from=date(2027, 1, 1))],
    )
    result = _apply(session, group, _change_file(newbie), staff["specialist"])

    member = session.scalar(select(Member).where(Member.employee_id == "LATE-1"))
    assert member is not None and member.member_key.startswith("M")
    # Add window 30 days before Mar 10 starts in February: January needs an override.
    assert [(a.coverage_month, a.amount, a.requires_supervisor) for a in result.adjustments] == [
        (date(2027, 1, 1), D("38.20"), True),
        (date(2027, 2, 1), D("38.20"), False),
        (date(2027, 3, 1), D("38.20"), False),
    ]
    with pytest.raises(AccessDenied, match="retro window"):
        approve_adjustment(result.adjustments[0], actor=staff["specialist"])
    approve_adjustment(result.adjustments[0], actor=staff["supervisor"])


def test_a_family_add_covers_the_dependents_in_force_and_a_tier_change_covers_them_too(
    session, billed
):
    group, plan, ann, bob, staff = billed
    kids = [
        CensusDependent(3, "Kit", "Kerr", date(2015, 5, 1), Relationship.CHILD),
        CensusDependent(
            4, "Old", "Kerr", date(2001, 5, 1), Relationship.CHILD, effective_to=date(2026, 12, 31)
        ),
    ]
    family = CensusMember(
        source_row=2,
        employee_id="FAM-1",
        first_name="Kay",
        last_name="Kerr",
        birth_date=date(1985, 4, 2),
        maintenance=Maintenance.ADD,
        coverages=[CensusCoverage(DENTAL, tier=Tier.FAM, effective_from=date(2027, 4, 1))],
        dependents=kids,
    )
    upgrade = CensusMember(
        source_row=5,
        employee_id=bob.employee_id,
        first_name=bob.first_name,
        last_name=bob.last_name,
        birth_date=bob.birth_date,
        maintenance=Maintenance.CHANGE,
        maintenance_date=date(2027, 4, 1),
        coverages=[CensusCoverage(DENTAL, tier=Tier.EC, effective_from=date(2027, 4, 1))],
    )
    session.add(Dependent(member_id=bob.id, dependent_key="01", first_name="Bo",
                          last_name="Brook", relationship_to_member=Relationship.CHILD,
                          birth_date=date(2016, 1, 1)))  # fmt: skip
    session.flush()
    result = _apply(session, group, _change_file(family, upgrade), staff["specialist"])
    assert (result.members_added, result.members_changed, result.coverages_opened) == (1, 1, 2)

    session.expire_all()
    kay = session.scalar(select(Member).where(Member.employee_id == "FAM-1"))
    assert [(d.dependent_key, d.first_name) for d in kay.dependents] == [
        ("01", "Kit"),
        ("02", "Old"),
    ]
    [coverage] = kay.coverages
    assert (coverage.tier, coverage.effective_from) == (Tier.FAM, date(2027, 4, 1))
    assert [c.dependent.first_name for c in coverage.covered_dependents] == ["Kit"]
    bob_now = session.get(Member, bob.id)
    before, after = sorted(bob_now.coverages, key=lambda c: c.effective_from)
    assert (before.tier, before.effective_to) == (Tier.EE, date(2027, 3, 31))
    assert (after.tier, after.effective_to) == (Tier.EC, None)
    assert [c.dependent.first_name for c in after.covered_dependents] == ["Bo"]


def test_reversing_a_billed_adjustment_credits_it_on_the_next_bill(session, billed):
    group, plan, ann, bob, staff = billed
    adjustment = Adjustment(
        group_id=group.id,
        member_id=bob.id,
        plan_id=plan.id,
        coverage_month=date(2027, 2, 1),
        amount=D("38.20"),
        reason_code="late_add",
        source_type="manual",
        status=AdjustmentStatus.APPROVED,
    )
    session.add(adjustment)
    session.flush()
    issue_billing_run(session, date(2027, 4, 1), group_numbers=[group.group_number])
    session.refresh(adjustment)
    assert adjustment.status is AdjustmentStatus.BILLED

    with pytest.raises(AccessDenied):
        reverse_adjustment(session, adjustment, actor=staff["specialist"], reason="billed twice")
    opposite = reverse_adjustment(
        session, adjustment, actor=staff["supervisor"], reason="Billed twice by mistake"
    )
    assert opposite.amount == D("-38.20") and opposite.reverses_adjustment_id == adjustment.id
    [may] = issue_billing_run(session, date(2027, 5, 1), group_numbers=[group.group_number]).issued
    assert may.retro_total == D("-38.20")
    assert adjustment.status is AdjustmentStatus.REVERSED and adjustment.invoice_id is not None
    assert Decimal(may.retro_total) == -adjustment.amount


def test_premium_impact_prices_the_next_bill_and_the_retro_and_writes_nothing(session, billed):
    from billing_core.census.impact import premium_impact

    group, plan, ann, bob, staff = billed
    diff = diff_census(session, group, _change_file(_term(bob, date(2027, 1, 31))), TODAY)

    impact = premium_impact(session, group, diff, actor=staff["specialist"], today=TODAY)

    assert impact.next_period == date(2027, 4, 1)
    [dental] = impact.products
    assert (dental.next_bill_before, dental.next_bill_after) == (D("150.60"), D("112.40"))
    assert dental.next_bill_change == D("-38.20") and dental.retro == D("-76.40")
    assert impact.retro_months == [date(2027, 2, 1), date(2027, 3, 1)]
    session.expire_all()
    assert session.scalars(select(Adjustment).where(Adjustment.group_id == group.id)).all() == []
    assert [c.effective_to for c in session.get(Member, bob.id).coverages] == [None]


def _kept_upload(session, group, actor):
    from billing_core.models import Upload
    from billing_core.models.enums import UploadStatus

    upload = Upload(
        group_id=group.id,
        uploaded_by_id=actor.id,
        original_filename="changes.csv",
        file_format=UploadFormat.CSV,
        file_kind=UploadKind.CHANGE,
        content=b"-",
        size_bytes=1,
        sha256="0" * 64,
        status=UploadStatus.RECEIVED,
    )
    session.add(upload)
    session.flush()
    return upload


def test_the_pricing_basis_changes_with_what_the_impact_is_priced_from(session, billed):
    """The digest a kept impact is reused under: the same while nothing changes, different when
    the day, the diff, the rates, the invoices, the adjustments or the enrollment change."""
    from billing_core.census.impact import pricing_basis
    from billing_core.models import RateTier, RateVersion

    group, plan, ann, bob, staff = billed
    upload = _kept_upload(session, group, staff["specialist"])
    term_bob = _change_file(_term(bob, date(2027, 1, 31)))

    def basis(census=term_bob, today=TODAY):
        return pricing_basis(
            session, group, diff_census(session, group, census, today), today, upload
        )

    first = basis()
    assert basis() == first
    seen = {first}

    def changed(value):
        assert value not in seen
        seen.add(value)

    changed(basis(today=date(2027, 3, 11)))
    changed(basis(_change_file(_term(ann, date(2027, 1, 31)))))
    renewal = RateVersion(plan_id=plan.id, effective_from=date(2027, 4, 1))
    session.add(renewal)
    session.flush()
    changed(basis())
    for tier, rate in (("EE", "40.00"), ("ES", "80.00"), ("EC", "88.00"), ("FAM", "118.00")):
        session.add(RateTier(rate_version_id=renewal.id, tier=Tier(tier), monthly_rate=D(rate)))
    session.flush()
    changed(basis())
    session.refresh(renewal)
    renewal.tier_rates[0].monthly_rate = D("41.00")  # not billed yet: corrected in place
    session.flush()
    changed(basis())
    run = issue_billing_run(session, date(2027, 4, 1), group_numbers=[group.group_number])
    assert run.issued, (run.held, run.not_due)
    changed(basis())
    _apply(session, group, _change_file(_term(ann, date(2027, 3, 31))), staff["specialist"])
    changed(basis())


def test_a_kept_impact_reads_back_as_it_was_priced(session, billed):
    from billing_core.census.impact import PremiumImpact, premium_impact

    group, plan, ann, bob, staff = billed
    diff = diff_census(session, group, _change_file(_term(bob, date(2027, 1, 31))), TODAY)
    impact = premium_impact(session, group, diff, actor=staff["specialist"], today=TODAY)
    assert impact.products and impact.retro_months
    assert PremiumImpact.from_dict(impact.as_dict()) == impact
