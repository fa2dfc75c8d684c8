"""Renewals and rate corrections (issue 22, item 2): the preview's premium change is the
billing runs' difference to the cent; four eyes on the server; a correction's retro differences
land once on the next invoice; approving twice changes nothing; a billed rate version is frozen
by every door (ORM, PostgreSQL trigger, import)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from billing_core.billing.invoicing import issue_billing_run
from billing_core.errors import AccessDenied, BillingError, ImmutableRecord, ValidationFailed
from billing_core.models import (
    Adjustment,
    AuditLog,
    Invoice,
    InvoiceLine,
    Plan,
    RateTier,
    RateVersion,
)
from billing_core.models.enums import AdjustmentStatus, InvoiceSection, Role
from billing_core.models.rate_changes import RateChangeStatus
from billing_core.setup import rate_changes as rc
from billing_core.setup.history import timeline
from tests.factories import (
    cover_dependent,
    enroll,
    make_age_banded_plan,
    make_dental_plan,
    make_group,
    make_life_plan,
    make_member,
    make_user,
)

BANDS = [(0, 20, "150.00"), (21, 39, "280.00"), (40, 64, "390.00")]


def _book(session):
    """A group renewing in March on three bases: dental tiers, age-banded medical with a child
    rate, life per $1,000. Birthdays in May/June: no band is crossed in Feb-Mar 2025."""
    group = make_group(session, renewal_month=3)
    dental = make_dental_plan(session, group)
    medical = make_age_banded_plan(session, group, BANDS, child_rate="120.00")
    life = make_life_plan(session, group)
    a = make_member(session, group, birth_date=date(1980, 5, 17))
    b = make_member(session, group, birth_date=date(1990, 6, 2), annual_salary=Decimal("61000"))
    c = make_member(session, group, birth_date=date(1975, 6, 20))
    enroll(session, a, dental, "EE")
    enroll(session, b, dental, "FAM")
    enroll(session, a, medical, None)
    family = enroll(session, c, medical, None)
    cover_dependent(session, family, "spouse", date(1977, 5, 9))
    cover_dependent(session, family, "child", date(2012, 6, 1))
    enroll(session, b, life, None)
    enroll(session, c, life, None)
    for plan in (dental, medical, life):
        session.refresh(plan)
    return group, dental, medical, life


def _premium_by_plan(session, group, period):
    invoice = session.scalars(
        select(Invoice).where(Invoice.group_id == group.id, Invoice.period_start == period)
    ).one()
    by_plan = defaultdict(lambda: Decimal("0.00"))
    for plan_id, amount in session.execute(
        select(InvoiceLine.plan_id, InvoiceLine.amount).where(
            InvoiceLine.invoice_id == invoice.id, InvoiceLine.section == InvoiceSection.PREMIUM
        )
    ):
        by_plan[plan_id] += amount
    return invoice, by_plan


def _renewal(session, group, dental, medical, life, specialist):
    change = rc.start_renewal(session, group, actor=specialist, today=date(2025, 1, 15))
    assert change.effective_from == date(2025, 3, 1)
    rc.edit_plan_rates(
        session, change, dental.id,
        {"tier_EE": "40.11", "tier_ES": "80.75", "tier_EC": "88.31", "tier_FAM": "118.02"},
        actor=specialist,
    )  # fmt: skip
    rc.edit_plan_rates(
        session, change, medical.id,
        {"age_bands": "0-20: 157.50\n21-39: 294.00\n40-64: 409.50", "child_rate": "126.00"},
        actor=specialist,
    )  # fmt: skip
    form = rc.form_values(next(p for p in change.plans if p.plan_id == life.id).rates,
                          life.product.rating_basis)  # fmt: skip
    rc.edit_plan_rates(session, change, life.id, {**form, "unit_rate": "0.137"}, actor=specialist)
    return change


def test_the_renewal_preview_is_the_difference_of_the_two_billing_runs(session):
    group, dental, medical, life = _book(session)
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    approver = make_user(session, Role.BILLING_SPECIALIST)
    change = _renewal(session, group, dental, medical, life, specialist)
    rc.submit(session, change, actor=specialist)

    preview = rc.impact(session, change, per_member=True)
    assert preview.month == date(2025, 3, 1)
    assert {p.plan.code for p in preview.plans} == {dental.code, medical.code, life.code}
    assert all(p.change > 0 for p in preview.plans)
    assert sum(m.change for m in preview.members) == preview.total_change
    # Nothing the billing run reads changed before approval.
    assert session.scalars(select(RateVersion).where(RateVersion.plan_id == dental.id)).all() == [
        dental.rate_versions[0]
    ]

    rc.approve(session, change, actor=approver)
    issue_billing_run(session, date(2025, 2, 1), group_numbers=[group.group_number])
    issue_billing_run(session, date(2025, 3, 1), group_numbers=[group.group_number])
    feb, feb_plans = _premium_by_plan(session, group, date(2025, 2, 1))
    mar, mar_plans = _premium_by_plan(session, group, date(2025, 3, 1))

    assert mar.current_premium - feb.current_premium == preview.total_change
    assert feb.current_premium == preview.old and mar.current_premium == preview.new
    for plan in preview.plans:
        assert mar_plans[plan.plan.id] - feb_plans[plan.plan.id] == plan.change, plan.plan.code
        assert feb_plans[plan.plan.id] == plan.old and mar_plans[plan.plan.id] == plan.new
    assert preview.retro == 0 and preview.billed_months == []


def test_approval_needs_a_second_staff_member(session):
    group, dental, medical, life = _book(session)
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    change = _renewal(session, group, dental, medical, life, specialist)
    rc.submit(session, change, actor=specialist)

    with pytest.raises(AccessDenied, match="you requested it"):
        rc.approve(session, change, actor=specialist)
    employer = make_user(session, Role.EMPLOYER, groups=[group])
    with pytest.raises(AccessDenied, match="billing staff"):
        rc.approve(session, change, actor=employer)
    # A supervisor who proposed is refused too.
    assert change.status is RateChangeStatus.SUBMITTED
    assert len(dental.rate_versions) == 1

    other = make_user(session, Role.BILLING_SPECIALIST)
    with pytest.raises(AccessDenied, match="who proposed"):
        rc.edit_plan_rates(session, change, dental.id, {"tier_EE": "1.00"}, actor=other)
    rc.approve(session, change, actor=other)
    session.expire_all()
    versions = session.scalars(
        select(RateVersion).where(RateVersion.plan_id == dental.id).order_by(RateVersion.id)
    ).all()
    assert [(v.effective_from, v.effective_to) for v in versions] == [
        (date(2024, 1, 1), date(2025, 2, 28)),
        (date(2025, 3, 1), None),
    ]
    assert {t.tier.value: t.monthly_rate for t in versions[1].tier_rates}["EE"] == Decimal("40.11")

    # Approving again changes nothing.
    before = session.scalar(select(RateVersion.id).order_by(RateVersion.id.desc()).limit(1))
    rc.approve(session, change, actor=other)
    assert session.scalar(select(RateVersion.id).order_by(RateVersion.id.desc()).limit(1)) == (
        before
    )
    approvals = session.scalars(
        select(AuditLog).where(AuditLog.action == "rates.renewal_approved")
    ).all()
    assert len(approvals) == 1
    # The group's history shows who approved, with the rates before and after.
    [event] = [e for e in timeline(session, group.id) if e.what == "Rates: renewal approved"]
    assert event.who == other.email
    assert any(ch.what == dental.code and "40.11" in ch.after for ch in event.changes)


def test_proposed_rates_are_checked_like_the_import(session):
    group, dental, medical, life = _book(session)
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    change = rc.start_renewal(session, group, actor=specialist, today=date(2025, 1, 15))
    with pytest.raises(ValidationFailed) as caught:
        rc.edit_plan_rates(
            session, change, dental.id, {"tier_EE": "abc", "tier_FAM": "-1"}, actor=specialist
        )
    errors = {e.column: e for e in caught.value.errors}
    assert errors["tier_EE"].message == "expected a decimal amount such as 112.40"
    assert errors["tier_FAM"].message == "must be at least 0"
    assert {e.row for e in caught.value.errors} == {dental.code}
    with pytest.raises(ValidationFailed) as caught:
        rc.edit_plan_rates(
            session, change, medical.id,
            {"age_bands": "0-30: 100\n25-64: 200", "child_rate_max_age": "30"},
            actor=specialist,
        )  # fmt: skip
    columns = {e.column for e in caught.value.errors}
    assert columns == {"age_bands", "child_rate_max_age"}
    with pytest.raises(ValidationFailed) as caught:
        rc.edit_plan_rates(session, change, life.id, {"unit_rate": ""}, actor=specialist)
    assert any(e.column == "unit_rate" and "required" in e.message for e in caught.value.errors)


def _billed_dental_group(session, months):
    group = make_group(session)
    dental = make_dental_plan(session, group)
    members = [make_member(session, group) for _ in range(3)]
    for member, tier in zip(members, ["EE", "FAM", "ES"], strict=True):
        enroll(session, member, dental, tier)
    for month in months:
        issue_billing_run(session, month, group_numbers=[group.group_number])
    session.refresh(dental)
    return group, dental


def test_a_correction_queues_the_billed_months_differences_once_on_the_next_invoice(session):
    group, dental = _billed_dental_group(session, [date(2025, 1, 1), date(2025, 2, 1)])
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    supervisor = make_user(session, Role.SUPERVISOR)
    with pytest.raises(ValidationFailed, match="say why"):
        rc.start_correction(
            session, group, actor=specialist, today=date(2025, 2, 10),
            effective_from=date(2025, 1, 1), reason="",
        )  # fmt: skip
    change = rc.start_correction(
        session, group, actor=specialist, today=date(2025, 2, 10),
        effective_from=date(2025, 1, 1), reason="carrier letter: EE and FAM rates were keyed wrong",
    )  # fmt: skip
    rc.edit_plan_rates(
        session, change, dental.id,
        {"tier_EE": "39.20", "tier_ES": "76.90", "tier_EC": "84.10", "tier_FAM": "110.40"},
        actor=specialist,
    )  # fmt: skip
    rc.submit(session, change, actor=specialist)
    preview = rc.impact(session, change)
    # (39.20 - 38.20) + (110.40 - 112.40) + 0 = -1.00 a month, two months billed.
    assert preview.total_change == Decimal("-1.00")
    assert preview.billed_months == [date(2025, 1, 1), date(2025, 2, 1)]
    assert preview.retro == Decimal("-2.00")

    other = make_user(session, Role.BILLING_SPECIALIST)
    with pytest.raises(AccessDenied, match="supervisor"):
        rc.approve(session, change, actor=other)  # a correction needs a supervisor
    rc.approve(session, change, actor=supervisor)
    queued = session.scalars(
        select(Adjustment).where(
            Adjustment.source_type == "rate_change", Adjustment.source_id == change.id
        )
    ).all()
    assert {a.status for a in queued} == {AdjustmentStatus.APPROVED}
    assert sum(a.amount for a in queued) == Decimal("-2.00")
    assert len(queued) == 4  # EE and FAM members, January and February
    rc.approve(session, change, actor=supervisor)  # again: nothing more
    assert (
        len(
            session.scalars(select(Adjustment).where(Adjustment.source_type == "rate_change")).all()
        )
        == 4
    )

    issue_billing_run(session, date(2025, 3, 1), group_numbers=[group.group_number])
    issue_billing_run(session, date(2025, 4, 1), group_numbers=[group.group_number])
    march = session.scalars(
        select(Invoice).where(
            Invoice.group_id == group.id, Invoice.period_start == date(2025, 3, 1)
        )
    ).one()
    april = session.scalars(
        select(Invoice).where(
            Invoice.group_id == group.id, Invoice.period_start == date(2025, 4, 1)
        )
    ).one()
    assert march.retro_total == Decimal("-2.00")
    assert march.current_premium == Decimal("39.20") + Decimal("110.40") + Decimal("76.90")
    assert april.retro_total == 0
    # The billed version kept its rates; it was closed the day before the correction.
    old = dental.rate_versions[0]
    session.refresh(old)
    assert old.effective_to == date(2024, 12, 31)
    assert {t.tier.value: t.monthly_rate for t in old.tier_rates}["EE"] == Decimal("38.20")


def test_a_correction_from_the_first_day_of_a_billed_version_supersedes_it(session):
    group, dental = _billed_dental_group(session, [date(2024, 1, 1), date(2024, 2, 1)])
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    supervisor = make_user(session, Role.SUPERVISOR)
    change = rc.start_correction(
        session, group, actor=specialist, today=date(2024, 2, 10),
        effective_from=date(2024, 1, 1), reason="the renewal's ES rate was wrong from day one",
    )  # fmt: skip
    rc.edit_plan_rates(
        session, change, dental.id,
        {"tier_EE": "38.20", "tier_ES": "70.90", "tier_EC": "84.10", "tier_FAM": "112.40"},
        actor=specialist,
    )  # fmt: skip
    rc.submit(session, change, actor=specialist)
    assert rc.impact(session, change).retro == Decimal("-12.00")
    rc.approve(session, change, actor=supervisor)
    session.expire_all()
    versions = session.scalars(
        select(RateVersion).where(RateVersion.plan_id == dental.id).order_by(RateVersion.id)
    ).all()
    assert [(v.effective_from, v.effective_to, v.revision) for v in versions] == [
        (date(2024, 1, 1), None, 0),  # billed, untouched
        (date(2024, 1, 1), None, 1),  # in force instead
    ]
    plan = session.get(Plan, dental.id)
    assert plan.rate_version_on(date(2024, 3, 1)).id == versions[1].id
    issue_billing_run(session, date(2024, 3, 1), group_numbers=[group.group_number])
    march = session.scalars(
        select(Invoice).where(
            Invoice.group_id == group.id, Invoice.period_start == date(2024, 3, 1)
        )
    ).one()
    assert march.current_premium == Decimal("38.20") + Decimal("112.40") + Decimal("70.90")
    assert march.retro_total == Decimal("-12.00")


def test_withdrawn_changes_write_nothing_and_one_change_is_open_at_a_time(session):
    group, dental = _billed_dental_group(session, [])
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    change = rc.start_renewal(session, group, actor=specialist, today=date(2024, 6, 1))
    assert change.effective_from == date(2025, 1, 1)
    with pytest.raises(BillingError, match="still open"):
        rc.start_renewal(session, group, actor=specialist, today=date(2024, 6, 1))
    rc.withdraw(session, change, actor=specialist)
    assert change.status is RateChangeStatus.WITHDRAWN
    with pytest.raises(BillingError, match="withdrawn"):
        rc.approve(session, change, actor=make_user(session, Role.SUPERVISOR))
    assert (
        len(session.scalars(select(RateVersion).where(RateVersion.plan_id == dental.id)).all()) == 1
    )


def test_a_billed_rate_version_is_frozen_for_the_orm(session):
    group, dental = _billed_dental_group(session, [date(2024, 1, 1)])
    version = dental.rate_versions[0]
    session.refresh(version)
    assert version.first_billed_on is not None
    version.tier_rates[0].monthly_rate = Decimal("1.00")
    with pytest.raises(ImmutableRecord):
        session.flush()
    session.rollback()


def test_postgresql_itself_refuses_to_edit_a_billed_rate_version(connection, session):
    if connection.dialect.name != "postgresql":
        pytest.skip("the triggers exist on PostgreSQL only; the ORM guard covers SQLite")
    group, dental = _billed_dental_group(session, [date(2024, 1, 1)])
    version_id = dental.rate_versions[0].id
    session.flush()
    for sql in (
        f"UPDATE rate_tier SET monthly_rate = 1 WHERE rate_version_id = {version_id}",
        f"DELETE FROM rate_tier WHERE rate_version_id = {version_id}",
        f"INSERT INTO rate_tier (rate_version_id, tier, monthly_rate) VALUES ({version_id}, 'EE', 1)",
        f"UPDATE rate_version SET unit_rate = 1 WHERE id = {version_id}",
        f"UPDATE rate_version SET first_billed_on = NULL WHERE id = {version_id}",
        f"DELETE FROM rate_version WHERE id = {version_id}",
    ):
        with pytest.raises(DBAPIError, match="billed"):
            with connection.begin_nested():
                connection.exec_driver_sql(sql)
    # Closing it is allowed, and so is anything on a version not yet billed.
    with connection.begin_nested():
        connection.exec_driver_sql(
            f"UPDATE rate_version SET effective_to = '2024-12-31' WHERE id = {version_id}"
        )
    unbilled = RateVersion(plan_id=dental.id, effective_from=date(2025, 1, 1))
    unbilled.tier_rates.append(RateTier(tier="EE", monthly_rate=Decimal("40")))
    session.add(unbilled)
    session.flush()
    with connection.begin_nested():
        connection.exec_driver_sql(
            f"UPDATE rate_tier SET monthly_rate = 41 WHERE rate_version_id = {unbilled.id}"
        )


def test_a_renewal_keyed_after_its_month_was_billed_needs_a_supervisor(session):
    group, dental = _billed_dental_group(session, [date(2025, 1, 1)])
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    change = rc.start_renewal(
        session, group, actor=specialist, today=date(2024, 12, 20),
        effective_from=date(2025, 1, 1),
    )  # fmt: skip
    rc.edit_plan_rates(
        session, change, dental.id,
        {"tier_EE": "40.20", "tier_ES": "76.90", "tier_EC": "84.10", "tier_FAM": "112.40"},
        actor=specialist,
    )  # fmt: skip
    rc.submit(session, change, actor=specialist)
    assert rc.impact(session, change).retro == Decimal("2.00")
    with pytest.raises(AccessDenied, match="reaches months already billed"):
        rc.approve(session, change, actor=make_user(session, Role.BILLING_SPECIALIST))
    rc.approve(session, change, actor=make_user(session, Role.SUPERVISOR))
    queued = session.scalars(select(Adjustment).where(Adjustment.source_id == change.id)).all()
    assert [(a.coverage_month, a.amount) for a in queued] == [(date(2025, 1, 1), Decimal("2.00"))]
