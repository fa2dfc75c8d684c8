"""Reconciling a census with the bill: variance to the cent per product and in total, the
group's tolerance (AND vs OR), payroll deductions converted to monthly premium, each trend flag
and each reason a member's billed and census premium disagree."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from billing_core.billing.invoicing import issue_billing_run
from billing_core.census.diff import diff_census
from billing_core.census.reconciliation import (
    monthly_premium_from_deductions,
    period_for_upload,
    reconcile_census,
)
from billing_core.census.rows import (
    CensusCoverage,
    CensusDependent,
    CensusFile,
    CensusMember,
    Maintenance,
)
from billing_core.models import Adjustment, BillingPolicy, Coverage, Invoice
from billing_core.models.enums import (
    BillingMethod,
    LineOfCoverage,
    MemberStatus,
    PayrollFrequency,
    Relationship,
    Role,
    Tier,
    ToleranceRule,
    UploadFormat,
    UploadKind,
)
from billing_core.money import D
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_life_plan,
    make_member,
    make_user,
    renew_rates,
)

TODAY = date(2027, 1, 20)
DEC, JAN, FEB = date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)
DENTAL, LIFE = LineOfCoverage.DENTAL, LineOfCoverage.BASIC_LIFE


def _bill(session, group, *months):
    for month in months:
        issue_billing_run(session, month, group_numbers=[group.group_number])


def _row(member=None, *, employee_id=None, first="New", last="Person", **fields) -> CensusMember:
    return CensusMember(
        source_row=2,
        employee_id=member.employee_id if member else employee_id,
        first_name=member.first_name if member else first,
        last_name=member.last_name if member else last,
        birth_date=member.birth_date if member else date(1985, 3, 3),
        **fields,
    )


def _file(*rows, kind=UploadKind.CHANGE) -> CensusFile:
    return CensusFile("census.csv", UploadFormat.CSV, members=list(rows), kind=kind)


def _reconcile(session, group, census, **kwargs):
    diff = diff_census(session, group, census, TODAY)
    assert diff.errors == []
    actor = make_user(session, Role.BILLING_SPECIALIST)
    return reconcile_census(session, group, census, diff, actor=actor, today=TODAY, **kwargs)


@pytest.fixture
def world(session):
    """Billed Dec 2026 and Jan 2027: dental Ann FAM 112.40, Bob EE 38.20, Cat EE 38.20, Dan ES
    76.90 (265.70); basic life Ann 2 x 52,000 = 104,000 at 0.12 = 12.48. Total 278.18.
    The change file: Bob termed Dec 31, Cat EE -> ES from Jan 1 (no dependents listed), Eve
    added Jan 1, Finn added Jan 10, Ann's salary 52,000 -> 65,000 from Jan 1."""
    group = make_group(session)
    dental = make_dental_plan(session, group)
    life = make_life_plan(session, group)
    ann = make_member(session, group, first_name="Ann", last_name="Avery")
    bob = make_member(session, group, first_name="Bob", last_name="Brook")
    cat = make_member(session, group, first_name="Cat", last_name="Cole")
    dan = make_member(session, group, first_name="Dan", last_name="Dorn")
    enroll(session, ann, dental, "FAM")
    enroll(session, ann, life, None)
    enroll(session, bob, dental, "EE")
    enroll(session, cat, dental, "EE")
    enroll(session, dan, dental, "ES")
    _bill(session, group, DEC, JAN)
    census = _file(
        _row(bob, maintenance=Maintenance.TERM, maintenance_date=date(2026, 12, 31)),
        _row(
            cat,
            maintenance=Maintenance.CHANGE,
            maintenance_date=JAN,
            coverages=[CensusCoverage(DENTAL, tier=Tier.ES, effective_from=JAN)],
        ),
        _row(
            employee_id="E-EVE",
            first="Eve",
            last="Evans",
            maintenance=Maintenance.ADD,
            maintenance_date=JAN,
            coverages=[CensusCoverage(DENTAL, tier=Tier.EE, effective_from=JAN)],
        ),
        _row(
            employee_id="E-FINN",
            first="Finn",
            last="Ford",
            maintenance=Maintenance.ADD,
            maintenance_date=date(2027, 1, 10),
            coverages=[CensusCoverage(DENTAL, tier=Tier.EE, effective_from=date(2027, 1, 10))],
        ),
        _row(
            ann,
            maintenance=Maintenance.CHANGE,
            maintenance_date=JAN,
            annual_salary=D("65000.00"),
            dependents=[
                CensusDependent(3, "Al", "Avery", date(1984, 1, 1), Relationship.SPOUSE),
            ],
        ),
    )
    return group, census


def _figures(recon):
    return [
        (p.name, p.billed_lives, p.census_lives, p.billed, p.computed, p.variance)
        + (p.variance_percent, p.within_tolerance)
        for p in [*recon.products, recon.total]
    ]


def test_variance_per_product_and_in_total_to_the_cent(session, world):
    group, census = world
    recon = _reconcile(session, group, census)

    assert recon.period_start == JAN and recon.previous_period == DEC
    assert recon.invoice_numbers == [f"{group.group_number}-202701"]
    assert _figures(recon) == [
        ("Basic Life", 1, 1, D("12.48"), D("15.60"), D("3.12"), D("25.00"), False),
        ("Dental PPO", 4, 5, D("265.70"), D("342.60"), D("76.90"), D("28.94"), False),
        ("Total", 4, 5, D("278.18"), D("358.20"), D("80.02"), D("28.77"), False),
    ]
    # Nothing was written: the census was priced inside a rolled-back savepoint.
    assert session.scalar(select(func.count()).select_from(Adjustment)) == 0
    assert session.scalar(select(func.count()).select_from(Coverage)) == 5


def test_and_needs_both_limits_or_needs_either(session, world):
    """ToleranceRule: inside when within the amount AND/OR within the percent. Life is off by
    3.12 (inside $50) but 25% (outside 10%); dental by 76.90 and 28.94% (outside both)."""
    group, census = world
    assert group.policies[-1].tolerance_rule is ToleranceRule.AND
    recon = _reconcile(session, group, census)
    assert [p.within_tolerance for p in recon.products] == [False, False]

    group.policies[-1].tolerance_rule = ToleranceRule.OR
    session.flush()
    recon = _reconcile(session, group, census)
    assert [p.within_tolerance for p in recon.products] == [True, False]
    assert "or within 10%" in recon.tolerance


def test_each_discrepancy_reason_on_the_change_file(session, world):
    group, census = world
    recon = _reconcile(session, group, census)
    got = [(d.reason, d.name, d.product, d.billed, d.computed) for d in recon.discrepancies]
    assert got == [
        ("terminated_still_billed", "Brook, Bob", "Dental PPO", D("38.20"), D("0")),
        ("wrong_tier", "Cole, Cat", "Dental PPO", D("38.20"), D("76.90")),
        ("missing_coverage", "Evans, Eve", "Dental PPO", D("0"), D("38.20")),
        ("salary_volume", "Avery, Ann", "Basic Life", D("12.48"), D("15.60")),
        ("timing", "Ford, Finn", "Dental PPO", D("0"), D("38.20")),
    ]
    details = {d.reason: d.detail for d in recon.discrepancies}
    assert details["wrong_tier"] == "Billed EE, the file says ES."
    assert "salary 52,000.00 → 65,000.00" in details["salary_volume"]
    assert "Jan 10, 2027" in details["timing"]


def test_each_trend_flag_against_the_previous_bill(session, world):
    group, census = world
    recon = _reconcile(session, group, census)
    flags = sorted((f.kind, f.product) for f in recon.flags)
    assert flags == [
        ("lives", "All products"),  # 4 -> 5 members: +25%
        ("lives", "Dental PPO"),
        ("premium_without_lives", "Basic Life"),  # 12.48 -> 15.60 on the same one life
        ("tier_without_dependents", "Dental"),  # Cat on ES, no dependents in the file
        ("volume", "Basic Life"),  # 104,000 -> 130,000: +25%
    ]
    # Ann's FAM lists a dependent; dental lives moved, so no premium-without-lives for it.
    assert not any("Avery" in f.message for f in recon.flags)


def test_no_trend_flag_when_nothing_moved(session, world):
    group, _census = world
    recon = _reconcile(session, group, _file())
    assert recon.flags == [] and recon.discrepancies == []
    assert recon.total.variance == 0 and recon.total.within_tolerance


def test_rate_error_when_the_bill_used_the_old_rate(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    pat = make_member(session, group, first_name="Pat", last_name="Penn")
    enroll(session, pat, plan, "EE")
    _bill(session, group, JAN)
    renew_rates(session, plan, JAN, {"EE": "40.00", "ES": "80.00", "EC": "88.00", "FAM": "118.00"})

    [found] = _reconcile(session, group, _file()).discrepancies
    assert (found.reason, found.billed, found.computed) == ("rate_error", D("38.20"), D("40.00"))
    assert found.detail == "Billed at 38.20, the rate in force is 40.00."


def test_wrong_plan(session):
    group = make_group(session)
    ppo = make_dental_plan(session, group)
    rich = make_dental_plan(session, group, fam_rate="150.00")
    pat = make_member(session, group, first_name="Pat", last_name="Penn")
    enroll(session, pat, ppo, "FAM")
    _bill(session, group, JAN)
    census = _file(
        _row(
            pat,
            maintenance=Maintenance.CHANGE,
            maintenance_date=JAN,
            coverages=[
                CensusCoverage(DENTAL, plan_code=rich.code, tier=Tier.FAM, effective_from=JAN)
            ],
            dependents=[CensusDependent(3, "Al", "Penn", date(1984, 1, 1), Relationship.SPOUSE)],
        )
    )
    [found] = _reconcile(session, group, census).discrepancies
    assert (found.reason, found.billed, found.computed) == ("wrong_plan", D("112.40"), D("150.00"))
    assert found.detail == f"Billed plan {ppo.code}, the file says {rich.code}."


def test_cobra_member_left_out_of_a_full_file_and_the_next_bill_already_out(session):
    """Feb's bill is out by Jan 20 (lead days), so the file speaks to February."""
    group = make_group(session)
    plan = make_dental_plan(session, group)
    pat = make_member(session, group, first_name="Pat", last_name="Penn")
    cole = make_member(session, group, first_name="Cy", last_name="Cobb", status=MemberStatus.COBRA)
    enroll(session, pat, plan, "EE")
    enroll(session, cole, plan, "EE")
    _bill(session, group, JAN, FEB)
    assert period_for_upload(session, group, TODAY) == FEB
    census = _file(
        _row(pat, coverages=[CensusCoverage(DENTAL, tier=Tier.EE)]), kind=UploadKind.SNAPSHOT
    )
    recon = _reconcile(session, group, census)
    assert recon.period_start == FEB
    [found] = recon.discrepancies
    assert (found.reason, found.name, found.billed, found.computed) == (
        "cobra",
        "Cobb, Cy",
        D("38.20"),
        D("0"),
    )
    assert found.detail == "Enrolled on COBRA and not in the employer's file."


@pytest.mark.parametrize(
    ("deducted", "pay_periods", "frequency", "monthly"),
    [
        ("1384.62", 3, PayrollFrequency.BI_WEEKLY, "1000.00"),  # a three-pay-date month
        ("923.08", 2, PayrollFrequency.BI_WEEKLY, "1000.00"),
        ("1153.85", 5, PayrollFrequency.WEEKLY, "1000.00"),  # 230.77 x 52 / 12
        ("923.08", 4, PayrollFrequency.WEEKLY, "1000.00"),
        ("1000.00", 2, PayrollFrequency.SEMI_MONTHLY, "1000.00"),
        ("1000.00", 1, PayrollFrequency.MONTHLY, "1000.00"),
        ("1384.62", 2, PayrollFrequency.BI_WEEKLY, "1500.01"),  # three deducted, two declared
    ],
)
def test_payroll_deductions_as_monthly_premium(deducted, pay_periods, frequency, monthly):
    assert monthly_premium_from_deductions(D(deducted), pay_periods, frequency) == D(monthly)


def test_three_pay_date_month_is_inside_tolerance(session):
    """Self-bill, bi-weekly payroll: 1,000.00 a month billed, 3 x 461.54 remitted in a month
    with three pay dates. Read as monthly premium it is 1,000.00: no variance. Without the
    conversion it would be 384.62 (38%) over, outside tolerance."""
    group = make_group(session)
    policy = session.scalar(select(BillingPolicy).where(BillingPolicy.group_id == group.id))
    policy.billing_method = BillingMethod.SELF_BILL
    policy.payroll_frequency = PayrollFrequency.BI_WEEKLY
    plan = make_dental_plan(session, group, fam_rate="250.00")
    for n in range(4):
        enroll(session, make_member(session, group, last_name=f"Fam{n}"), plan, "FAM")
    _bill(session, group, JAN)
    session.execute(
        update(Invoice)
        .where(Invoice.group_id == group.id)
        .values(reported_premium=Decimal("1384.62"))
        .execution_options(synchronize_session=False)
    )

    usual = _reconcile(session, group, _file()).reported
    assert (usual.pay_periods, usual.premium, usual.within_tolerance) == (
        2,
        D("1500.01"),
        False,
    )
    three = _reconcile(session, group, _file(), pay_periods=3).reported
    assert (three.deducted, three.billed, three.premium) == (
        D("1384.62"),
        D("1000.00"),
        D("1000.00"),
    )
    assert three.variance == 0 and three.within_tolerance


def test_member_level_820_detail_is_the_reported_premium(session):
    """An 820 with member-level detail is premium per coverage month already: 990.00 reported
    against 1,000.00 billed is a 10.00 variance, inside the $50 / 10% tolerance."""
    from billing_core.models import Payment, RemittanceDetail
    from billing_core.models.enums import PaymentMethod, PaymentSource

    group = make_group(session)
    plan = make_dental_plan(session, group, fam_rate="250.00")
    for n in range(4):
        enroll(session, make_member(session, group, last_name=f"Fam{n}"), plan, "FAM")
    _bill(session, group, JAN)
    invoice = session.scalar(select(Invoice).where(Invoice.group_id == group.id))
    payment = Payment(
        group_id=group.id,
        method=PaymentMethod.ACH_CREDIT,
        source=PaymentSource.REMITTANCE_820,
        amount=D("990.00"),
        received_on=JAN,
    )
    session.add(payment)
    session.flush()
    for n, amount in enumerate(["250.00", "250.00", "250.00", "240.00"]):
        session.add(
            RemittanceDetail(
                payment_id=payment.id,
                group_id=group.id,
                invoice_id=invoice.id,
                employee_id=f"E{n}",
                amount=D(amount),
            )
        )
    session.flush()
    reported = _reconcile(session, group, _file()).reported
    assert (reported.premium, reported.billed, reported.within_tolerance) == (
        D("990.00"),
        D("1000.00"),
        True,
    )
