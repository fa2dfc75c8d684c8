"""The delinquency clock's dates, exact: grace in calendar days, in business days across the
public holidays of the group's state, the later of the plan's and the group policy's grace,
and termination never fewer than the notice period after the notice."""

from __future__ import annotations

from datetime import date

import pytest

from billing_core.collections import clock
from billing_core.collections.plans import DEFAULT_PLAN
from billing_core.models.collections import DelinquencyPlan
from billing_core.models.enums import GraceDayKind
from billing_core.models.group import BillingPolicy

CAL, BUS = GraceDayKind.CALENDAR, GraceDayKind.BUSINESS


def plan(**changes) -> DelinquencyPlan:
    return DelinquencyPlan(**{**DEFAULT_PLAN, **changes})


@pytest.mark.parametrize(
    ("start", "days", "kind", "state", "ends"),
    [
        (date(2027, 1, 1), 31, CAL, "CA", date(2027, 2, 1)),
        (date(2027, 1, 31), 31, CAL, "CA", date(2027, 3, 3)),
        # 10 business days after New Year's Day (a Friday): Jan 4-8 and 11-15.
        (date(2027, 1, 1), 10, BUS, "CA", date(2027, 1, 15)),
        # 31 business days skip Martin Luther King Jr. Day (Jan 18) and Presidents' Day (Feb 15).
        (date(2027, 1, 1), 31, BUS, "CA", date(2027, 2, 17)),
        # Cesar Chavez Day (Mar 31) is California's: counted in New York, skipped in California.
        (date(2027, 3, 29), 3, BUS, "NY", date(2027, 4, 1)),
        (date(2027, 3, 29), 3, BUS, "CA", date(2027, 4, 2)),
        (date(2027, 1, 1), 0, BUS, "CA", date(2027, 1, 1)),
    ],
)
def test_grace_ends(start, days, kind, state, ends):
    assert clock.add_days(start, days, kind, state) == ends


def test_business_days_without_holidays_would_end_sooner():
    # The same 31 business days with weekends only would end on Feb 15: the holidays count.
    weekdays = 0
    day = date(2027, 1, 1)
    while weekdays < 31:
        day = date.fromordinal(day.toordinal() + 1)
        weekdays += day.weekday() < 5
    assert day == date(2027, 2, 15)
    assert clock.add_days(date(2027, 1, 1), 31, BUS, "CA") == date(2027, 2, 17)


def test_the_later_of_plan_and_group_policy_grace_wins():
    statute = plan(grace_days=31, grace_day_kind=CAL)
    contract = BillingPolicy(grace_days=31, grace_day_kind=BUS)
    assert clock.grace_ends_on(statute, contract, date(2027, 1, 1), "CA") == date(2027, 2, 17)
    shorter = BillingPolicy(grace_days=10, grace_day_kind=CAL)
    assert clock.grace_ends_on(statute, shorter, date(2027, 1, 1), "CA") == date(2027, 2, 1)
    assert clock.grace_ends_on(statute, None, date(2027, 1, 1), "CA") == date(2027, 2, 1)


def test_notice_and_termination_dates():
    p = plan()
    assert clock.notice_due_on(p, date(2027, 1, 1)) == date(2027, 1, 11)
    # Sent on time: termination the day after grace ends (Feb 2; notice + 15 = Jan 26).
    assert clock.terminates_on(p, date(2027, 2, 1), date(2027, 1, 11)) == date(2027, 2, 2)
    # Sent late (Jan 25): at least 15 days after it.
    assert clock.terminates_on(p, date(2027, 2, 1), date(2027, 1, 25)) == date(2027, 2, 9)
