"""A new group's first census speaks to its first bill: the premium impact prices the bill its
adds first land on (not this month's, which the group has none of), the reconciliation defaults
to that period, and a change starting after the next bill is priced on the bill it reaches."""

from __future__ import annotations

from datetime import date

from billing_core.billing.invoicing import issue_billing_run
from billing_core.census.diff import diff_census
from billing_core.census.impact import PremiumImpact, landing_period, premium_impact
from billing_core.census.reconciliation import period_for_upload, reconcile_census
from billing_core.census.rows import CensusCoverage, CensusFile, CensusMember, Maintenance
from billing_core.models.enums import LineOfCoverage, Role, Tier, UploadFormat, UploadKind
from billing_core.money import D
from tests.factories import enroll, make_dental_plan, make_group, make_member, make_user

TODAY = date(2026, 12, 7)
DEC, JAN, FEB, MAR = date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)
DENTAL = LineOfCoverage.DENTAL


def _add(employee_id: str, tier: Tier, start: date) -> CensusMember:
    return CensusMember(
        source_row=2,
        employee_id=employee_id,
        first_name="New",
        last_name=f"Hire {employee_id}",
        birth_date=date(1985, 3, 3),
        maintenance=Maintenance.ADD,
        maintenance_date=start,
        coverages=[CensusCoverage(DENTAL, tier=tier, effective_from=start)],
    )


def _file(*rows) -> CensusFile:
    return CensusFile("first.csv", UploadFormat.CSV, members=list(rows), kind=UploadKind.CHANGE)


def _new_group(session):
    """Set up today, coverage from the first of next month; nothing enrolled, nothing billed."""
    group = make_group(session, original_effective_date=JAN)
    make_dental_plan(session, group)
    return group


def test_a_new_groups_first_census_is_priced_on_its_first_bill(session):
    group = _new_group(session)
    census = _file(_add("N1", Tier.EE, JAN), _add("N2", Tier.FAM, JAN))
    diff = diff_census(session, group, census, TODAY)
    assert diff.errors == [] and diff.enrolled_employees == 0

    landing = landing_period(session, group, diff, TODAY)
    assert (landing.period, landing.first_bill, landing.next_bill) == (JAN, True, True)

    actor = make_user(session, Role.BILLING_SPECIALIST)
    impact = premium_impact(session, group, diff, actor=actor, today=TODAY)
    # Before: "No change to the Dec 2026 bill". Now the first bill with the adds on it.
    assert impact.next_period == JAN and impact.first_bill
    [dental] = impact.products
    assert (dental.next_bill_before, dental.next_bill_after) == (D("0"), D("150.60"))
    assert impact.next_bill_total == D("150.60")  # 38.20 EE + 112.40 FAM
    kept = PremiumImpact.from_dict(impact.as_dict())
    assert (kept.first_bill, kept.next_bill, kept.next_bill_total) == (True, True, D("150.60"))


def test_a_new_groups_first_census_reconciles_against_its_first_period(session):
    group = _new_group(session)
    assert period_for_upload(session, group, TODAY) == JAN
    census = _file(_add("N1", Tier.EE, JAN))
    diff = diff_census(session, group, census, TODAY)
    actor = make_user(session, Role.BILLING_SPECIALIST)
    recon = reconcile_census(session, group, census, diff, actor=actor, today=TODAY)
    assert recon.period_start == JAN
    assert not recon.billed and recon.first_bill
    assert (recon.total.billed, recon.total.computed, recon.total.census_lives) == (
        D("0"),
        D("38.20"),
        1,
    )


def test_a_live_groups_change_starting_after_the_next_bill_is_priced_on_the_bill_it_reaches(
    session,
):
    """Dec is billed, Jan is the next bill; an add from Mar 1 first lands on Mar's bill (Jan
    and Feb do not change), and it is neither the first nor the next bill."""
    group = make_group(session)
    plan = make_dental_plan(session, group)
    ann = make_member(session, group)
    enroll(session, ann, plan, "EE")
    issue_billing_run(session, DEC, group_numbers=[group.group_number])
    diff = diff_census(session, group, _file(_add("N9", Tier.EE, MAR)), TODAY)

    landing = landing_period(session, group, diff, TODAY)
    assert (landing.period, landing.first_bill, landing.next_bill) == (MAR, False, False)
    actor = make_user(session, Role.BILLING_SPECIALIST)
    impact = premium_impact(session, group, diff, actor=actor, today=TODAY)
    [dental] = impact.products
    assert impact.next_period == MAR and not impact.next_bill and not impact.first_bill
    assert (dental.next_bill_before, dental.next_bill_after) == (D("38.20"), D("76.40"))
    # An add from the 20th bills the month after (the 15th-of-month rule).
    late = diff_census(session, group, _file(_add("N8", Tier.EE, date(2027, 1, 20))), TODAY)
    assert landing_period(session, group, late, TODAY).period == FEB
    # A group already billed: the period the file speaks to is unchanged by the new rule.
    assert period_for_upload(session, group, TODAY) == DEC
