"""Delinquency plans: the default made once on first use, versions that close the one before
(history kept), the plan governing a group (its own, else its state's, else the default), the
threshold, the late fee's rounding, and a plan that does not make sense refused whole."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing_core.collections import plans
from billing_core.collections.sweep import late_fee_amount, sweep_job
from billing_core.errors import ValidationFailed
from billing_core.models import DelinquencyPlan, GroupDelinquency
from billing_core.models.collections import DelinquencyState, LateFeeKind
from billing_core.models.enums import GraceDayKind
from tests.factories import make_group, make_invoice


def test_the_default_plan_is_made_once_with_the_documented_figures(session):
    first = plans.default_plan(session, date(2027, 1, 1))
    again = plans.default_plan(session, date(2030, 6, 1))
    assert first.id == again.id
    assert (first.grace_days, first.grace_day_kind) == (31, GraceDayKind.CALENDAR)
    assert (first.notice_day, first.notice_days_before_termination) == (10, 15)
    assert first.late_fee_kind is LateFeeKind.NONE and first.threshold_amount is None
    count = session.scalar(
        select(func.count()).select_from(DelinquencyPlan).where(DelinquencyPlan.code == "standard")
    )
    assert count == 1


def test_a_new_version_closes_the_one_before_and_keeps_its_steps(session):
    v1 = plans.new_plan_version(
        session, "ny", date(2026, 1, 1), jurisdiction="NY", steps=[(20, "task", "Call")]
    )
    v2 = plans.new_plan_version(session, "ny", date(2027, 3, 1), grace_days=45)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.effective_to == date(2027, 2, 28) and v2.effective_to is None
    assert (v2.jurisdiction, v2.grace_days) == ("NY", 45)
    assert [(s.day, s.action.value, s.name) for s in v2.steps] == [(20, "task", "Call")]
    assert plans.plan_version(session, "ny", date(2027, 2, 28)).version == 1
    assert plans.plan_version(session, "ny", date(2027, 3, 1)).version == 2
    with pytest.raises(ValidationFailed, match="must start after"):
        plans.new_plan_version(session, "ny", date(2027, 3, 1), grace_days=60)


def test_the_group_plan_over_the_state_plan_over_the_default(session):
    plans.new_plan_version(session, "ny", date(2026, 1, 1), jurisdiction="NY", grace_days=40)
    plans.new_plan_version(session, "vip", date(2026, 1, 1), grace_days=60)
    in_ny = make_group(session, state="NY")
    own = make_group(session, state="NY")
    plans.set_group_plan(session, own, "vip", date(2027, 1, 1), "large account")
    elsewhere = make_group(session, state="TX")
    on = date(2027, 2, 1)
    assert plans.plan_for(session, in_ny, on).code == "ny"
    assert plans.plan_for(session, own, on).code == "vip"
    assert plans.plan_for(session, own, date(2026, 12, 31)).code == "ny"  # before its own plan
    assert plans.plan_for(session, elsewhere, on).code == "standard"
    with pytest.raises(ValidationFailed, match="no delinquency plan"):
        plans.set_group_plan(session, own, "nope", on, "typo")


def test_threshold_and_late_fee():
    plan = DelinquencyPlan(**plans.DEFAULT_PLAN)
    policy = type("Policy", (), {"tolerance_amount": Decimal("50.00")})()
    assert plans.threshold(plan, policy) == Decimal("50.00")
    assert plans.threshold(plan, None) == Decimal("0.00")
    plan.threshold_amount = Decimal("10.00")
    assert plans.threshold(plan, policy) == Decimal("10.00")
    assert late_fee_amount(plan, Decimal("1000.00")) == Decimal("0.00")
    plan.late_fee_kind, plan.late_fee_percent = LateFeeKind.PERCENT, Decimal("1.50")
    assert late_fee_amount(plan, Decimal("333.30")) == Decimal("5.00")  # 4.9995 half-up
    assert late_fee_amount(plan, Decimal("333.00")) == Decimal("5.00")  # 4.995 half-up
    plan.late_fee_kind, plan.late_fee_amount = LateFeeKind.FLAT, Decimal("25.00")
    assert late_fee_amount(plan, Decimal("1.00")) == Decimal("25.00")


def test_a_plan_that_makes_no_sense_is_refused_whole(session):
    with pytest.raises(ValidationFailed) as refused:
        plans.new_plan_version(
            session, "bad", date(2027, 1, 1), grace_days=-1,
            late_fee_kind=LateFeeKind.PERCENT, late_fee_percent=Decimal("150"),
        )  # fmt: skip
    assert len(refused.value.errors) == 2


def test_moratorium_dates(session):
    m = plans.add_moratorium(session, "ca", date(2027, 1, 20), date(2027, 2, 15), "fires")
    assert m.jurisdiction == "CA"
    assert plans.moratorium_on(session, "CA", date(2027, 1, 19)) is None
    assert plans.moratorium_on(session, "CA", date(2027, 2, 15)).id == m.id
    assert plans.moratorium_on(session, "NV", date(2027, 2, 1)) is None
    with pytest.raises(ValidationFailed):
        plans.add_moratorium(session, "CA", date(2027, 2, 1), date(2027, 1, 1), "backwards")


def test_the_job_sweeps_and_commits(session):
    group = make_group(session)
    make_invoice(session, group, Decimal("500.00"), date(2027, 1, 1))
    session.commit()
    done = sweep_job(session, "2027-01-11")
    assert (done["transitions"], done["notices_sent"], done["late_fees"]) == (2, 1, 0)
    session.expire_all()
    assert session.get(GroupDelinquency, group.id).state is DelinquencyState.IN_GRACE
    assert sweep_job(session, "2027-01-11")["transitions"] == 0
