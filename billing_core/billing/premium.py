"""The premium engine: what one member owes on one plan for one coverage month. The billing run
(invoicing's premium lines) and retro's premium differences price every member-month here, and
the census premium impact and reconciliation price through them, so a month is priced the same
wherever it is priced.

The steps: the covered dependents in force that month -> the member's facts -> the rate
version's rate (`rating.rate_line`, rounded half-up to the cent) -> daily proration (the rated
amount times the covered share of the month, rounded half-up to the cent again, per line).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from billing_core.billing.enrollment import month_end, proration_factor
from billing_core.billing.rating import MemberFacts, RatedLine, RateTable, rate_line, rating_key
from billing_core.models.enums import CoverageMonthRule, Tier
from billing_core.money import cents

# A covered dependent as the engine reads it: (birth date, covered from, covered to (inclusive,
# None: open-ended), is a child). Plain tuples: a billing run reads thousands of them.
CoveredPerson = tuple[date, date | None, date | None, bool]


class MonthPremium(NamedTuple):
    """One member-month on one plan: `rated` by the rate version, `amount` the line's dollars
    (prorated under daily proration), `description` what the invoice line says."""

    rated: RatedLine
    amount: Decimal
    description: str


def member_month_premium(
    version_id: int,
    table: RateTable,
    month: date,
    *,
    birth_date: date,
    annual_salary: Decimal | None,
    tier: Tier | None,
    elected_volume: Decimal | None,
    covered: Sequence[CoveredPerson] | None,
    coverage_from: date,
    coverage_to: date | None,
    rule: CoverageMonthRule,
    memo: dict | None = None,
) -> MonthPremium:
    """The premium of the coverage month starting `month` (a first of month) for a member born
    `birth_date`, under rate version `version_id` whose rates are `table`.

    Dependents in `covered` count when covered on any day of the month. The monthly amount is
    rounded half-up to the cent by `rate_line`; under DAILY_PRORATION a month the coverage
    (`coverage_from`..`coverage_to`, inclusive) covers only in part is that amount times the
    covered days over the month's days, rounded half-up to the cent again. `memo` (a dict the
    caller keeps for one run) shares one rating among members with the same rating key under
    the same version: rating is pure. Raises RatingDataMissing when a rate or fact is absent."""
    dependent_births = child_births = ()
    if covered:
        last_day = month_end(month)
        in_month = [
            (birth, is_child)
            for birth, covered_from, covered_to, is_child in covered
            if (covered_from is None or covered_from <= last_day)
            and (covered_to is None or covered_to >= month)
        ]
        dependent_births = tuple(birth for birth, is_child in in_month if not is_child)
        child_births = tuple(birth for birth, is_child in in_month if is_child)
    if memo is None:
        premium = _rated(
            table, month, birth_date, annual_salary, tier, elected_volume, dependent_births,
            child_births,
        )  # fmt: skip
    else:
        key = (
            version_id,
            rating_key(
                table, month, birth_date, annual_salary, tier, elected_volume, dependent_births,
                child_births,
            ),
        )  # fmt: skip
        premium = memo.get(key)
        if premium is None:
            premium = memo[key] = _rated(
                table, month, birth_date, annual_salary, tier, elected_volume, dependent_births,
                child_births,
            )  # fmt: skip
    if rule is CoverageMonthRule.DAILY_PRORATION:
        factor = proration_factor(coverage_from, coverage_to, month)
        if factor != 1:
            # Decision: the monthly premium is the rate; proration applies to it and the line
            # is rounded half-up again (a carrier bills a rounded monthly rate).
            last_day = month_end(month)
            days = (min(coverage_to or last_day, last_day) - max(coverage_from, month)).days + 1
            return MonthPremium(
                premium.rated,
                cents(premium.amount * factor),
                f"{premium.description}, prorated {days}/{last_day.day} days",
            )
    return premium


def _rated(
    table: RateTable,
    month: date,
    birth_date: date,
    annual_salary: Decimal | None,
    tier: Tier | None,
    elected_volume: Decimal | None,
    dependent_births: tuple[date, ...],
    child_births: tuple[date, ...],
) -> MonthPremium:
    """The whole month's premium (no proration): shared through the caller's memo."""
    rated = rate_line(
        table,
        MemberFacts(
            birth_date=birth_date,
            annual_salary=annual_salary,
            tier=tier,
            elected_volume=elected_volume,
            dependent_birth_dates=dependent_births,
            child_birth_dates=child_births,
        ),
        month,
    )
    return MonthPremium(rated, rated.amount, rated.explanation)
