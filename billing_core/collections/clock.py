"""The delinquency clock's dates: grace counted in calendar or business days (business days
skip weekends and the public holidays of the group's state, from the `holidays` package), the
end of grace under the plan and the group's own billing policy, and the first day a group may
be cancelled once its notice has gone out.

Rules as decided (issue 20):
- grace starts on the due date of the oldest unpaid bill; grace of N calendar days ends N days
  after it; of N business days, on the Nth business day after it;
- the group's billing policy (`grace_days`, `grace_day_kind`) is its contract, and the plan the
  statute's floor: grace ends on the later of the two ends, so neither can shorten the other;
- the group may be cancelled from the day after grace ends, but never fewer than the plan's
  `notice_days_before_termination` days after its grace notice went out (a notice sent late,
  say after an outage, moves termination later rather than shortening the notice)."""

from __future__ import annotations

import functools
from datetime import date, timedelta

import holidays

from billing_core.models.collections import DelinquencyPlan
from billing_core.models.enums import GraceDayKind
from billing_core.models.group import BillingPolicy


@functools.lru_cache(maxsize=64)
def _holidays(state: str | None) -> holidays.HolidayBase:
    """The US public holidays, with `state`'s own (federal only for an unknown state)."""
    try:
        return holidays.country_holidays("US", subdiv=state or None)
    except NotImplementedError:
        return holidays.country_holidays("US")


def is_business_day(day: date, state: str | None) -> bool:
    """Monday to Friday and not a public holiday in `state` (or federally)."""
    return day.weekday() < 5 and day not in _holidays(state)


def add_days(start: date, days: int, kind: GraceDayKind, state: str | None) -> date:
    """`days` calendar days after `start`, or the `days`-th business day after it (`start`
    itself never counts; 0 days is `start`)."""
    if kind is GraceDayKind.CALENDAR:
        return start + timedelta(days=days)
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_business_day(day, state):
            counted += 1
    return day


def grace_ends_on(
    plan: DelinquencyPlan, policy: BillingPolicy | None, grace_starts_on: date, state: str | None
) -> date:
    """The last day of grace: the later of the plan's and the group's billing policy's
    (module docstring)."""
    end = add_days(grace_starts_on, plan.grace_days, plan.grace_day_kind, state)
    if policy is not None:
        own = add_days(grace_starts_on, policy.grace_days, policy.grace_day_kind, state)
        end = max(end, own)
    return end


def notice_due_on(plan: DelinquencyPlan, grace_starts_on: date) -> date:
    """The day the grace notice is due: `notice_day` calendar days after grace starts."""
    return grace_starts_on + timedelta(days=plan.notice_day)


def terminates_on(plan: DelinquencyPlan, grace_ends: date, notice_sent_on: date) -> date:
    """The first day the group may be cancelled: the day after grace ends, or
    `notice_days_before_termination` days after the notice, whichever is later."""
    return max(
        grace_ends + timedelta(days=1),
        notice_sent_on + timedelta(days=plan.notice_days_before_termination),
    )
