"""The billing run: invoices, lines, ledger, idempotency, coverage-month rules, renewals,
adjustments, balance forward, voids, and the bill bridge adding up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from billing_core import ledger
from billing_core.billing.bill_bridge import bill_bridge, kept_bridge
from billing_core.billing.invoicing import issue_billing_run, prepare_billing_run, void_invoice
from billing_core.billing.retro import premium_differences
from billing_core.errors import AccessDenied, BillingError, ImmutableRecord
from billing_core.models import (
    Adjustment,
    CreditMemo,
    Invoice,
    InvoiceLine,
    JournalEntry,
    Posting,
    RateTier,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    BillingFrequency,
    CoverageMonthRule,
    InvoiceSection,
    InvoiceStatus,
    Role,
    Tier,
)
from billing_core.money import ZERO, D
from tests.factories import (
    cover_dependent,
    enroll,
    make_age_banded_plan,
    make_dental_plan,
    make_group,
    make_life_plan,
    make_member,
    make_subgroup,
    make_user,
    renew_rates,
)

JAN, FEB, MAR = date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)


def _entries_for(session, invoice):
    return session.scalars(select(JournalEntry).where(JournalEntry.source_id == invoice.id)).all()


def _postings(session, entry):
    return session.scalars(select(Posting).where(Posting.entry_id == entry.id)).all()


def _approved_adjustment(session, group, member, plan, amount, reason="late_add", month=JAN):
    adjustment = Adjustment(
        group_id=group.id,
        member_id=member.id,
        plan_id=plan.id,
        coverage_month=month,
        amount=D(amount),
        reason_code=reason,
        source_type="manual",
        status=AdjustmentStatus.APPROVED,
    )
    session.add(adjustment)
    session.flush()
    return adjustment


@pytest.fixture
def dental_group(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    fam = make_member(session, group, last_name="Abbott")
    ee = make_member(session, group, last_name="Baker")
    enroll(session, fam, plan, "FAM")
    enroll(session, ee, plan, "EE")
    return group, plan, fam, ee


def test_run_issues_one_invoice_with_rated_lines_and_a_balanced_entry(session, dental_group):
    group, plan, fam, ee = dental_group
    outcome = issue_billing_run(session, FEB, group_numbers=[group.group_number])

    [invoice] = outcome.issued
    assert invoice.invoice_number == f"{group.group_number}-202702"
    assert (invoice.period_start, invoice.period_end) == (FEB, date(2027, 2, 28))
    assert invoice.due_on == FEB
    assert invoice.issued_on == date(2027, 1, 17)  # 15 lead days before the period
    lines = session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).all()
    assert [(ln.member_id, ln.tier, ln.amount) for ln in lines] == [
        (fam.id, Tier.FAM, D("112.40")),
        (ee.id, Tier.EE, D("38.20")),
    ]
    assert invoice.current_premium == invoice.total_due == D("150.60")

    [entry] = _entries_for(session, invoice)
    postings = _postings(session, entry)
    assert sum(p.debit for p in postings) == sum(p.credit for p in postings) == D("150.60")
    receivable = ledger.account(session, ledger.Chart.RECEIVABLE, group)
    assert ledger.open_item_balances(session, receivable, [invoice.id]) == {invoice.id: D("150.60")}
    # Billing froze the rate version.
    assert plan.rate_versions[0].first_billed_on is not None


def test_running_a_period_twice_issues_nothing_new(session, dental_group):
    group, *_ = dental_group
    issue_billing_run(session, FEB, group_numbers=[group.group_number])
    counts = [
        session.scalar(select(func.count()).select_from(model))
        for model in (Invoice, InvoiceLine, JournalEntry, Posting)
    ]

    again = issue_billing_run(session, FEB, group_numbers=[group.group_number])

    assert again.issued == []
    assert again.already_issued == [f"{group.group_number}-202702"]
    assert counts == [
        session.scalar(select(func.count()).select_from(model))
        for model in (Invoice, InvoiceLine, JournalEntry, Posting)
    ]


def test_dry_run_writes_nothing(session, dental_group):
    group, *_ = dental_group
    outcome = prepare_billing_run(session, FEB, group_numbers=[group.group_number])
    assert outcome.drafts[0].total_due == D("150.60")
    assert session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_editing_a_billed_rate_version_fails_and_a_new_version_is_the_way(session, dental_group):
    group, plan, *_ = dental_group
    issue_billing_run(session, FEB, group_numbers=[group.group_number])
    session.expire_all()
    tier = session.scalars(
        select(RateTier).where(RateTier.rate_version_id == plan.rate_versions[0].id)
    ).first()
    tier.monthly_rate = D("1.00")
    with pytest.raises(ImmutableRecord, match="has been billed .* create a new rate version"):
        session.flush()
    session.rollback()


def test_fifteenth_rule_mid_month_adds_and_terms(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    on_15th = make_member(session, group, last_name="Fifteenth")
    on_16th = make_member(session, group, last_name="Sixteenth")
    termed = make_member(session, group, last_name="Termed")
    enroll(session, on_15th, plan, "EE", effective_from=date(2027, 2, 15))
    enroll(session, on_16th, plan, "EE", effective_from=date(2027, 2, 16))
    coverage = enroll(session, termed, plan, "EE")
    coverage.effective_to = date(2027, 2, 3)  # covered through the end of February
    session.flush()

    feb = issue_billing_run(session, FEB, group_numbers=[group.group_number]).drafts[0]
    mar = issue_billing_run(session, MAR, group_numbers=[group.group_number]).drafts[0]

    assert {ln["member_id"] for ln in feb.lines} == {on_15th.id, termed.id}
    assert {ln["member_id"] for ln in mar.lines} == {on_15th.id, on_16th.id}


def test_daily_proration_prorates_the_rounded_monthly_premium(session, dental_group):
    group, plan, fam, ee = dental_group
    group.policies[0].coverage_month_rule = CoverageMonthRule.DAILY_PRORATION
    ee.coverages[0].effective_to = date(2027, 2, 14)  # 14 of 28 days
    late = make_member(session, group, last_name="Zed")
    enroll(session, late, plan, "FAM", effective_from=date(2027, 2, 20))  # 9 of 28 days
    session.flush()

    draft = prepare_billing_run(session, FEB, group_numbers=[group.group_number]).drafts[0]

    amounts = {ln["member_id"]: ln["amount"] for ln in draft.lines}
    assert amounts[fam.id] == D("112.40")
    assert amounts[ee.id] == D("19.10")  # 38.20 x 14/28
    assert amounts[late.id] == D("36.13")  # 112.40 x 9/28 = 36.128...
    assert "prorated 9/28 days" in next(
        ln["description"] for ln in draft.lines if ln["member_id"] == late.id
    )


def test_quarterly_period_with_a_renewal_mid_period_uses_each_months_rates(session):
    group = make_group(session)
    group.policies[0].billing_frequency = BillingFrequency.QUARTERLY
    plan = make_dental_plan(session, group)
    member = make_member(session, group)
    enroll(session, member, plan, "FAM")
    renew_rates(session, plan, date(2027, 3, 1), {"EE": "40", "ES": "80", "EC": "88", "FAM": "118"})

    off_cycle = prepare_billing_run(session, FEB, group_numbers=[group.group_number])
    assert off_cycle.drafts == [] and "quarterly" in off_cycle.not_due[group.group_number]

    draft = prepare_billing_run(session, JAN, group_numbers=[group.group_number]).drafts[0]
    assert draft.period_end == date(2027, 3, 31)
    assert [(ln["coverage_month"], ln["amount"]) for ln in draft.lines] == [
        (JAN, D("112.40")),
        (FEB, D("112.40")),
        (MAR, D("118.00")),
    ]
    assert draft.current_premium == D("342.80")


def test_life_volume_age_reduction_applies_from_the_birthday_month(session):
    group = make_group(session)
    plan = make_life_plan(session, group)
    member = make_member(
        session, group, birth_date=date(1962, 2, 1), annual_salary=D("40000")
    )  # 65 on Feb 1, 2027
    enroll(session, member, plan, None)
    jan = prepare_billing_run(session, JAN, group_numbers=[group.group_number]).drafts[0]
    feb = prepare_billing_run(session, FEB, group_numbers=[group.group_number]).drafts[0]
    assert jan.lines[0]["amount"] == D("9.60")  # 80,000 at 0.12
    assert feb.lines[0]["amount"] == D("6.24")  # 65%: 52,000 at 0.12


# Bands that rate 45 at 340.00 and 38 at 265.00 (DOMAIN.md's age-banded worked example).
FAMILY_BANDS = [
    (0, 20, "150.00"),
    (21, 29, "210.50"),
    (30, 39, "265.00"),
    (40, 49, "340.00"),
    (50, 64, "480.00"),
    (65, 120, "610.00"),
]


def _born(age: int) -> date:
    """A birth date that is `age` on Feb 1, 2027."""
    return date(2026 - age, 6, 15)


@pytest.fixture
def child_rate_group(session):
    """Abbott: self 45, spouse 38, child 10. Baker: self 45 and four children under 21."""
    group = make_group(session)
    plan = make_age_banded_plan(session, group, FAMILY_BANDS, child_rate="180.00")
    abbott = make_member(session, group, last_name="Abbott", birth_date=_born(45))
    coverage = enroll(session, abbott, plan, None)
    cover_dependent(session, coverage, "spouse", _born(38))
    cover_dependent(session, coverage, "child", _born(10))
    baker = make_member(session, group, last_name="Baker", birth_date=_born(45))
    coverage = enroll(session, baker, plan, None)
    for age in (7, 16, 10, 12):
        cover_dependent(session, coverage, "child", _born(age))
    return group, plan, abbott, baker


def test_age_banded_child_rate_bills_the_worked_example_and_three_of_four_children(
    session, child_rate_group
):
    group, plan, abbott, baker = child_rate_group

    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued

    lines = session.scalars(
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id == invoice.id)
        .order_by(InvoiceLine.line_number)
    ).all()
    assert [(ln.member_id, ln.amount, ln.rate) for ln in lines] == [
        (abbott.id, D("785.00"), D("785.00")),  # 340.00 + 265.00 + 180.00
        (baker.id, D("880.00"), D("880.00")),  # 340.00 + 3 x 180.00: three of four children
    ]
    assert lines[0].description == (
        "age 45 at 340.00 + age 38 at 265.00 + child aged 10 at child rate 180.00"
    )
    assert lines[1].description == (
        "age 45 at 340.00 + 3 children aged 16, 12, 10 at child rate 180.00 each;"
        " not charged: child aged 7 (only the 3 oldest children under 21 are)"
    )
    assert invoice.current_premium == D("1665.00")


def test_a_late_fourth_child_adds_nothing_and_a_child_of_21_is_rated_by_band(
    session, child_rate_group
):
    group, plan, abbott, baker = child_rate_group
    issue_billing_run(session, FEB, group_numbers=[group.group_number])
    # Added after the bill, covered from February: Baker's fifth child under 21 is not among
    # the three oldest; Abbott's 21-year-old is an adult for the rule, rated by band.
    cover_dependent(session, baker.coverages[0], "child", _born(3), effective_from=FEB)
    cover_dependent(session, abbott.coverages[0], "child", _born(21), effective_from=FEB)
    session.expire_all()

    assert premium_differences(session, group, baker, [FEB]) == []
    assert premium_differences(session, group, abbott, [FEB]) == [((plan.id, FEB), D("210.50"))]


def test_subgroup_billed_separately_gets_its_own_invoice(session):
    group = make_group(session)
    east = make_subgroup(session, group, "EAST", bill_separately=True)
    west = make_subgroup(session, group, "WEST")
    plan = make_dental_plan(session, group)
    enroll(session, make_member(session, group, subgroup=east), plan, "EE")
    enroll(session, make_member(session, group, subgroup=west), plan, "FAM")
    enroll(session, make_member(session, group), plan, "ES")

    outcome = issue_billing_run(session, FEB, group_numbers=[group.group_number])

    totals = {i.invoice_number: (i.subgroup_id, i.total_due) for i in outcome.issued}
    assert totals == {
        f"{group.group_number}-202702": (None, D("189.30")),  # west FAM + ungrouped ES
        f"{group.group_number}-202702-EAST": (east.id, D("38.20")),
    }


def test_a_rating_problem_holds_the_whole_group_and_names_the_member(session, dental_group):
    group, plan, fam, ee = dental_group
    life = make_life_plan(session, group)
    no_salary = make_member(session, group, annual_salary=None, member_key="M-NOSAL")
    enroll(session, no_salary, life, None)

    outcome = issue_billing_run(session, FEB, group_numbers=[group.group_number])

    assert outcome.issued == []
    [problem] = outcome.held[group.group_number]
    assert "M-NOSAL" in str(problem) and "annual salary" in str(problem)


def test_approved_adjustments_land_in_retro_and_fees_then_are_billed(session, dental_group):
    group, plan, fam, ee = dental_group
    late_add = _approved_adjustment(session, group, ee, plan, "38.20", "late_add", JAN)
    credit = _approved_adjustment(session, group, fam, plan, "-112.40", "late_term", JAN)
    fee = _approved_adjustment(session, group, fam, plan, "25.00", "late_fee", JAN)
    pending = _approved_adjustment(session, group, ee, plan, "5.00")
    pending.status = AdjustmentStatus.PENDING
    session.flush()

    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued

    assert invoice.retro_total == D("-74.20")
    assert invoice.fees_total == D("25.00")
    assert invoice.total_due == D("150.60") - D("74.20") + D("25.00")
    retro = session.scalars(
        select(InvoiceLine).where(
            InvoiceLine.invoice_id == invoice.id, InvoiceLine.section == InvoiceSection.RETRO
        )
    ).all()
    assert {ln.adjustment_id for ln in retro} == {late_add.id, credit.id}
    assert all(ln.coverage_month == JAN and ln.reason_code for ln in retro)
    for adjustment in (late_add, credit, fee):
        session.refresh(adjustment)
        assert (adjustment.status, adjustment.invoice_id) == (AdjustmentStatus.BILLED, invoice.id)
    session.refresh(pending)
    assert pending.invoice_id is None
    [entry] = _entries_for(session, invoice)
    by_account = {p.account.code: (p.debit, p.credit) for p in _postings(session, entry)}
    assert by_account == {
        "1100": (D("101.40"), ZERO),
        "4000": (ZERO, D("76.40")),
        "4100": (ZERO, D("25.00")),
    }


def test_balance_forward_and_payments_since_the_last_bill(session, dental_group):
    group, *_ = dental_group
    [feb] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    # A payment of 100.00 applied to February's invoice: cash (unapplied) against receivable.
    receivable = ledger.account(session, ledger.Chart.RECEIVABLE, group)
    unapplied = ledger.account(session, ledger.Chart.UNAPPLIED_CASH, group)
    ledger.post_entry(
        session,
        entry_date=date(2027, 2, 3),
        memo="test payment",
        source_type="allocation",
        legs=[
            ledger.Leg(unapplied, D("100.00")),
            ledger.Leg(receivable, D("-100.00"), invoice_id=feb.id),
        ],
    )

    [mar] = issue_billing_run(session, MAR, group_numbers=[group.group_number]).issued

    assert mar.balance_forward == D("150.60")
    assert mar.payments_credits == D("100.00")
    assert mar.total_due == D("150.60") + D("150.60") - D("100.00")
    assert ledger.account_balance(session, receivable) == mar.total_due


def test_void_needs_a_supervisor_leaves_a_reversal_and_a_credit_memo(session, dental_group):
    group, plan, fam, ee = dental_group
    adjustment = _approved_adjustment(session, group, ee, plan, "38.20")
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    supervisor = make_user(session, Role.SUPERVISOR)
    line_count = len(invoice.lines)

    with pytest.raises(AccessDenied):
        void_invoice(session, invoice, reason="wrong tier", actor=specialist, on=FEB)
    with pytest.raises(BillingError, match="reason"):
        void_invoice(session, invoice, reason="", actor=supervisor, on=FEB)
    memo = void_invoice(
        session, invoice, reason="Billed the wrong plan year", actor=supervisor, on=FEB
    )

    assert invoice.status is InvoiceStatus.VOID and invoice.voided_by_id == supervisor.id
    assert memo.amount == D("188.80") and memo.memo_number == f"CM-{invoice.invoice_number}"
    original, reversal = sorted(_entries_for(session, invoice), key=lambda e: e.id)
    assert reversal.reverses_entry_id == original.id
    receivable = ledger.account(session, ledger.Chart.RECEIVABLE, group)
    assert ledger.open_item_balances(session, receivable, [invoice.id])[invoice.id] == ZERO
    assert session.scalar(select(func.count()).select_from(CreditMemo)) == 1
    session.expire_all()
    assert len(invoice.lines) == line_count  # nothing deleted
    with pytest.raises(ImmutableRecord):
        void_invoice(session, invoice, reason="again please", actor=supervisor, on=FEB)

    # The adjustment goes back to the queue and the period can be billed again.
    session.refresh(adjustment)
    assert adjustment.status is AdjustmentStatus.APPROVED and adjustment.invoice_id is None
    [reissue] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    assert reissue.invoice_number.endswith("-R2")
    assert reissue.retro_total == D("38.20")
    assert reissue.balance_forward == ZERO and reissue.total_due == D("188.80")


def test_bill_bridge_explains_every_step_down_to_members(session, dental_group):
    group, plan, fam, ee = dental_group
    other = make_member(session, group, last_name="Steady")
    enroll(session, other, plan, "EC", effective_from=date(2026, 12, 1))
    issue_billing_run(session, JAN, group_numbers=[group.group_number])
    # February: ee terms, a new member, fam moves to ES, and a renewal for everyone.
    ee.coverages[0].effective_to = date(2027, 1, 31)
    newbie = make_member(session, group, last_name="Newman")
    enroll(session, newbie, plan, "EE", effective_from=FEB)
    fam.coverages[0].effective_to = date(2027, 1, 31)
    enroll(session, fam, plan, "ES", effective_from=FEB)
    renew_rates(session, plan, FEB, {"EE": "40.00", "ES": "80.00", "EC": "90.00", "FAM": "118"})
    _approved_adjustment(session, group, newbie, plan, "40.00", month=JAN)
    session.flush()
    [feb] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued

    bridge = bill_bridge(session, feb)

    amounts = {s.key: s.amount for s in bridge.steps}
    assert bridge.prior_billed == D("234.70")  # 112.40 + 38.20 + 84.10
    assert amounts == {
        "adds": D("40.00"),
        "terms": D("-38.20"),
        "tier_plan": D("-32.40"),  # FAM 112.40 -> ES 80.00
        "volume": ZERO,
        "rate": D("5.90"),  # EC 84.10 -> 90.00
        "retro": D("40.00"),
    }
    assert bridge.balances and bridge.current_billed == D("250.00")
    assert [r.member_id for r in bridge.step("terms").rows] == [ee.id]
    assert "EC" not in bridge.step("rate").rows[0].detail
    assert bridge.step("rate").rows[0].detail == "rate 84.10 → 90.00"
    # The bridge kept at issue agrees with the one computed from the lines, step by step.
    totals = kept_bridge(session, feb)
    assert [(s.key, s.amount, s.count) for s in totals.steps] == [
        (s.key, s.amount, len(s.rows)) for s in bridge.steps
    ]
    assert totals.balances and totals.prior_invoice == bridge.prior_invoice


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tiers=st.lists(st.sampled_from(list(Tier)), min_size=1, max_size=6),
    next_tiers=st.lists(st.sampled_from([*Tier, None]), min_size=6, max_size=6),
    adjustments=st.lists(
        st.decimals(min_value=D("-300"), max_value=D("300"), places=2).filter(lambda d: d != 0),
        max_size=4,
    ),
    paid=st.decimals(min_value=D("0"), max_value=D("500"), places=2),
)
def test_property_totals_and_bridge_add_up(session, tiers, next_tiers, adjustments, paid):
    """Any enrollment, changes, adjustments and a payment between two bills: the invoice total is
    the sum of its rounded lines + retro + fees + balance forward - payments/credits, and the
    bridge walks exactly from the prior bill to this one."""
    savepoint = session.begin_nested()
    group = make_group(session)
    plan = make_dental_plan(session, group, fam_rate="112.45")
    members = [make_member(session, group) for _ in tiers]
    coverages = [enroll(session, m, plan, t.value) for m, t in zip(members, tiers, strict=False)]
    [jan] = issue_billing_run(session, JAN, group_numbers=[group.group_number]).issued
    for coverage, member, tier in zip(coverages, members, next_tiers, strict=False):
        if tier is not Tier(coverage.tier):
            coverage.effective_to = date(2027, 1, 31)
            if tier is not None:
                enroll(session, member, plan, tier.value, effective_from=FEB)
    for amount in adjustments:
        _approved_adjustment(session, group, members[0], plan, amount)
    if paid:
        receivable = ledger.account(session, ledger.Chart.RECEIVABLE, group)
        unapplied = ledger.account(session, ledger.Chart.UNAPPLIED_CASH, group)
        ledger.post_entry(
            session,
            entry_date=date(2027, 1, 5),
            memo="payment",
            source_type="allocation",
            legs=[
                ledger.Leg(unapplied, paid),
                ledger.Leg(receivable, -paid, invoice_id=jan.id),
            ],
        )
    session.flush()
    [feb] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued

    lines = session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == feb.id)).all()
    by_section = {
        section: sum((ln.amount for ln in lines if ln.section is section), ZERO)
        for section in InvoiceSection
    }
    assert all(ln.amount == ln.amount.quantize(Decimal("0.01")) for ln in lines)
    assert feb.current_premium == by_section[InvoiceSection.PREMIUM]
    assert feb.retro_total == by_section[InvoiceSection.RETRO] == sum(adjustments, ZERO)
    assert feb.total_due == (
        feb.current_premium
        + feb.retro_total
        + feb.fees_total
        + feb.balance_forward
        - feb.payments_credits
    )
    assert feb.balance_forward == jan.total_due and feb.payments_credits == paid
    bridge = bill_bridge(session, feb)
    assert bridge.balances
    assert [(s.key, s.amount, s.count) for s in kept_bridge(session, feb).steps] == [
        (s.key, s.amount, len(s.rows)) for s in bridge.steps
    ]
    assert bridge.prior_billed + sum((s.amount for s in bridge.steps), ZERO) == (
        feb.current_premium + feb.retro_total
    )
    for step in bridge.steps:
        assert sum((r.change for r in step.rows), ZERO) == step.amount
    entries = session.scalars(select(JournalEntry)).all()
    for entry in entries:
        assert ledger.entry_is_balanced(entry)
    savepoint.rollback()
