"""Monthly premium for one member on one product: the five rating bases of DOMAIN.md "Rating".

Pure functions over plain frozen dataclasses (no session, no ORM writes). Every amount is Decimal,
made through `money.D`; each member-product line is rounded half-up to the cent once, at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Any

from billing_core.errors import RatingDataMissing, ValidationFailed
from billing_core.models.enums import AgeReference, RatingBasis, Tier
from billing_core.models.product import CHILD_RATE_MAX_AGE, MAX_CHARGED_CHILDREN
from billing_core.money import ZERO, D, cents, format_rate

DEFAULT_VOLUME_ROUNDING_UNIT = D(1000)
WEEKS_PER_YEAR = D(52)
MONTHS_PER_YEAR = D(12)
HUNDRED = D(100)


@dataclass(frozen=True)
class AgeBand:
    """Monthly rate per covered person aged `min_age`..`max_age` inclusive."""

    min_age: int
    max_age: int
    monthly_rate: Decimal


@dataclass(frozen=True)
class AgeReductionStep:
    """From `from_age` on, volume is `volume_percent` (e.g. 65.00) of the scheduled amount."""

    from_age: int
    volume_percent: Decimal


@dataclass(frozen=True)
class RateTable:
    """The rates of one rate version, detached from the database.

    Units: `unit_rate` is monthly per $1,000 of volume, per $10 of weekly benefit or per $100 of
    covered monthly payroll (by `basis`); tier and band rates are monthly amounts;
    `weekly_benefit_percent` is a fraction (0.60); volumes and maxima are dollars.

    `child_rate` (age-banded only, monthly per child, None: no child rule) applies to covered
    children younger than `child_rate_max_age`, of whom the `max_charged_children` oldest are
    charged (see `age_banded_persons`)."""

    basis: RatingBasis
    unit_rate: Decimal | None = None
    tier_rates: Mapping[Tier, Decimal] = field(default_factory=dict)
    age_bands: tuple[AgeBand, ...] = ()
    age_reductions: tuple[AgeReductionStep, ...] = ()
    volume_flat_amount: Decimal | None = None
    volume_salary_multiple: Decimal | None = None
    volume_maximum: Decimal | None = None
    volume_rounding_unit: Decimal | None = None
    weekly_benefit_percent: Decimal | None = None
    weekly_benefit_maximum: Decimal | None = None
    covered_payroll_maximum: Decimal | None = None
    child_rate: Decimal | None = None
    child_rate_max_age: int = CHILD_RATE_MAX_AGE
    max_charged_children: int = MAX_CHARGED_CHILDREN
    age_reference: AgeReference = AgeReference.COVERAGE_MONTH
    effective_from: date | None = None

    @classmethod
    def from_version(cls, rate_version: Any, basis: RatingBasis | None = None) -> RateTable:
        """Copy a `RateVersion` (attribute access only). The basis lives on the product, so it is
        read from `rate_version.plan.product.rating_basis` unless passed in."""
        if basis is None:
            basis = rate_version.plan.product.rating_basis

        def opt(value: Any) -> Decimal | None:
            return None if value is None else D(value)

        return cls(
            basis=RatingBasis(basis),
            unit_rate=opt(rate_version.unit_rate),
            tier_rates={Tier(t.tier): D(t.monthly_rate) for t in rate_version.tier_rates},
            age_bands=tuple(
                sorted(
                    (
                        AgeBand(b.min_age, b.max_age, D(b.monthly_rate))
                        for b in rate_version.age_bands
                    ),
                    key=lambda b: b.min_age,
                )
            ),
            age_reductions=tuple(
                sorted(
                    (
                        AgeReductionStep(r.from_age, D(r.volume_percent))
                        for r in rate_version.age_reductions
                    ),
                    key=lambda r: r.from_age,
                )
            ),
            volume_flat_amount=opt(rate_version.volume_flat_amount),
            volume_salary_multiple=opt(rate_version.volume_salary_multiple),
            volume_maximum=opt(rate_version.volume_maximum),
            volume_rounding_unit=opt(rate_version.volume_rounding_unit),
            weekly_benefit_percent=opt(rate_version.weekly_benefit_percent),
            weekly_benefit_maximum=opt(rate_version.weekly_benefit_maximum),
            covered_payroll_maximum=opt(rate_version.covered_payroll_maximum),
            child_rate=opt(rate_version.child_rate),
            child_rate_max_age=rate_version.child_rate_max_age or CHILD_RATE_MAX_AGE,
            max_charged_children=rate_version.max_charged_children or MAX_CHARGED_CHILDREN,
            age_reference=AgeReference(rate_version.age_reference or AgeReference.COVERAGE_MONTH),
            effective_from=rate_version.effective_from,
        )


@dataclass(frozen=True)
class MemberFacts:
    """What rating needs to know about a member. `annual_salary` in dollars per year;
    `elected_volume` in dollars of life volume; covered dependents' birth dates for age-banded
    rating: children (relationship child) in `child_birth_dates`, the others (spouse, domestic
    partner) in `dependent_birth_dates`. Without a child rate both are rated alike by band."""

    birth_date: date
    annual_salary: Decimal | None = None
    tier: Tier | None = None
    elected_volume: Decimal | None = None
    dependent_birth_dates: tuple[date, ...] = ()
    child_birth_dates: tuple[date, ...] = ()


@dataclass(frozen=True)
class RatedLine:
    """One member-product monthly line. `amount` is rounded half-up to the cent; `rate` is the
    rate applied (tier rate, sum of the band and child rates charged, or unit rate); the measure
    used is in `volume` (dollars of life volume), `weekly_benefit` (dollars/week) or
    `covered_payroll` (dollars/month)."""

    amount: Decimal
    basis: RatingBasis
    rate: Decimal
    explanation: str
    volume: Decimal | None = None
    weekly_benefit: Decimal | None = None
    covered_payroll: Decimal | None = None


def _missing(message: str) -> RatingDataMissing:
    return RatingDataMissing(message)


def _unit_rate(table: RateTable) -> Decimal:
    if table.unit_rate is None:
        raise _missing(f"the rate version has no unit rate for {table.basis.label.lower()} rating")
    return table.unit_rate


def age_on(birth_date: date, on: date) -> int:
    """Whole years of age on `on`. A birthday counts on the day itself; a Feb 29 birthday is
    reached on Mar 1 in common years. A child born after `on` (a newborn rated at an earlier
    reference date) is age 0."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return max(years, 0)


def age_reference_date(table: RateTable, on: date) -> date:
    """The date an age is read at for coverage month `on` (a first of month), per `age_reference`:
    the coverage month itself, the latest anniversary (month of the rate version's effective date)
    on or before it, or January 1 of that year."""
    if table.age_reference is AgeReference.POLICY_ANNIVERSARY and table.effective_from:
        anniversary = table.effective_from.replace(year=on.year, day=1)
        return anniversary if anniversary <= on else anniversary.replace(year=on.year - 1)
    if table.age_reference is AgeReference.JANUARY_FIRST:
        return date(on.year, 1, 1)
    return on


def tiered_premium(table: RateTable, tier: Tier | None) -> Decimal:
    """Monthly premium of a tiered-composite product: the rate of the member's tier, to the cent."""
    if tier is None:
        raise _missing("the member has no coverage tier")
    rate = table.tier_rates.get(Tier(tier))
    if rate is None:
        raise _missing(f"the rate version has no rate for tier {Tier(tier).value}")
    return cents(rate)


def band_rate(table: RateTable, age: int) -> Decimal:
    """Monthly rate of the band holding `age` (bands are inclusive at both ends)."""
    for band in table.age_bands:
        if band.min_age <= age <= band.max_age:
            return band.monthly_rate
    raise _missing(f"the rate version has no age band for age {age}")


def age_banded_premium(table: RateTable, ages: Iterable[int], charged_children: int = 0) -> Decimal:
    """Monthly premium of an age-banded product for the covered persons aged `ages` (rated by
    band) and `charged_children` children at the table's child rate.

    Decision: the member-product line is the sum of the persons' unrounded rates, rounded
    half-up to the cent once (one line per member and product, as DOMAIN.md's rounding rule says);
    persons are not separate lines."""
    ages = list(ages)
    if not ages and not charged_children:
        raise _missing("no covered persons to rate")
    total = sum((band_rate(table, age) for age in ages), ZERO)
    if charged_children:
        if table.child_rate is None:
            raise _missing("the rate version has no child rate")
        total += table.child_rate * charged_children
    return cents(total)


@dataclass(frozen=True)
class AgeBandedPersons:
    """Who of a family is rated how, by age at the reference date: `band_ages` by age band (the
    member, then the other dependents, then children at or over the child age limit, oldest
    first); `charged_child_ages` at the child rate and `uncharged_child_ages` not at all (both
    oldest first). Everything `rate_line` reads of the family, so it is also the memo key."""

    band_ages: tuple[int, ...]
    charged_child_ages: tuple[int, ...] = ()
    uncharged_child_ages: tuple[int, ...] = ()


def age_banded_persons(
    table: RateTable,
    on: date,
    birth_date: date,
    dependent_birth_dates: tuple[date, ...] = (),
    child_birth_dates: tuple[date, ...] = (),
) -> AgeBandedPersons:
    """Sort a family for age-banded rating in coverage month `on`; ages are read at
    `age_reference_date(table, on)`.

    Without a child rate every covered person is rated by band (member, dependents, children in
    the order given). With one (the US small-group rule, 45 CFR 147.102): a covered child
    younger than `child_rate_max_age` on the reference date is a child for the rule; the
    `max_charged_children` oldest of those (earliest birth date first) are charged the child
    rate and the younger ones nothing. A child at or over the age limit is rated by band as an
    adult and does not count toward the charged children."""
    at = age_reference_date(table, on)
    adults = [age_on(b, at) for b in (birth_date, *dependent_birth_dates)]
    if table.child_rate is None:
        return AgeBandedPersons(tuple(adults + [age_on(b, at) for b in child_birth_dates]))
    child_ages = [age_on(b, at) for b in sorted(child_birth_dates)]
    under = [age for age in child_ages if age < table.child_rate_max_age]
    over = [age for age in child_ages if age >= table.child_rate_max_age]
    limit = table.max_charged_children
    return AgeBandedPersons(tuple(adults + over), tuple(under[:limit]), tuple(under[limit:]))


def _age_banded_explanation(table: RateTable, persons: AgeBandedPersons) -> str:
    parts = [f"age {age} at {format_rate(band_rate(table, age))}" for age in persons.band_ages]
    charged = persons.charged_child_ages
    if charged:
        rate = format_rate(table.child_rate)
        if len(charged) == 1:
            parts.append(f"child aged {charged[0]} at child rate {rate}")
        else:
            ages = ", ".join(str(age) for age in charged)
            parts.append(f"{len(charged)} children aged {ages} at child rate {rate} each")
    text = " + ".join(parts)
    free = persons.uncharged_child_ages
    if free:
        ages = ", ".join(str(age) for age in free)
        text += (
            f"; not charged: {'child' if len(free) == 1 else 'children'} aged {ages} (only the "
            f"{table.max_charged_children} oldest children under {table.child_rate_max_age} are)"
        )
    return text


def _round_up(amount: Decimal, unit: Decimal) -> Decimal:
    return (amount / unit).to_integral_value(rounding=ROUND_CEILING) * unit


def age_reduction_percent(table: RateTable, age: int) -> Decimal:
    """The volume percent in force at `age`: the step with the highest `from_age` <= age
    (100 when none applies)."""
    percent, reached = HUNDRED, None
    for step in table.age_reductions:  # in any order: the table need not sort them
        if step.from_age <= age and (reached is None or step.from_age >= reached):
            percent, reached = step.volume_percent, step.from_age
    return percent


def life_volume(
    table: RateTable,
    *,
    annual_salary: Decimal | None = None,
    elected_volume: Decimal | None = None,
    age: int,
) -> Decimal:
    """Life/AD&D volume in dollars.

    Scheduled amount: `elected_volume` when given, else the flat amount, else salary multiple ×
    annual salary. It is rounded UP to the next `volume_rounding_unit` (default $1,000) and capped
    at `volume_maximum`. Then the age reduction in force at `age` (highest `from_age` <= age)
    applies to that capped amount, and the reduced volume is rounded UP to the unit again
    (decision: carriers publish reduced volumes in whole units) and never exceeds the maximum."""
    unit = table.volume_rounding_unit or DEFAULT_VOLUME_ROUNDING_UNIT
    if elected_volume is not None:
        scheduled = elected_volume
    elif table.volume_flat_amount is not None:
        scheduled = table.volume_flat_amount
    elif table.volume_salary_multiple is not None:
        if annual_salary is None:
            raise _missing("the member has no annual salary for a salary-multiple life volume")
        scheduled = table.volume_salary_multiple * annual_salary
    else:
        raise _missing("the rate version has no flat amount or salary multiple for life volume")
    if scheduled < 0:
        raise ValidationFailed("life volume cannot be negative")
    volume = _round_up(scheduled, unit)
    if table.volume_maximum is not None:
        volume = min(volume, table.volume_maximum)
    percent = age_reduction_percent(table, age)
    if percent != HUNDRED:
        volume = _round_up(volume * percent / HUNDRED, unit)
        if table.volume_maximum is not None:
            volume = min(volume, table.volume_maximum)
    return volume


def per_thousand_premium(table: RateTable, volume: Decimal) -> Decimal:
    """Monthly premium: volume (dollars) / 1,000 × unit rate, half-up to the cent."""
    return cents(volume / DEFAULT_VOLUME_ROUNDING_UNIT * _unit_rate(table))


def std_weekly_benefit(table: RateTable, annual_salary: Decimal | None) -> Decimal:
    """STD weekly benefit in dollars: min(percent × annual salary / 52, maximum benefit), rounded
    half-up to the cent (the benefit is itself a dollar amount shown on the line)."""
    if annual_salary is None:
        raise _missing("the member has no annual salary for a short-term disability benefit")
    if table.weekly_benefit_percent is None:
        raise _missing("the rate version has no weekly benefit percent")
    benefit = table.weekly_benefit_percent * annual_salary / WEEKS_PER_YEAR
    if table.weekly_benefit_maximum is not None:
        benefit = min(benefit, table.weekly_benefit_maximum)
    return cents(benefit)


def std_premium(table: RateTable, weekly_benefit: Decimal) -> Decimal:
    """Monthly STD premium: weekly benefit / 10 × unit rate, half-up to the cent."""
    return cents(weekly_benefit / D(10) * _unit_rate(table))


def ltd_covered_payroll(table: RateTable, annual_salary: Decimal | None) -> Decimal:
    """LTD covered monthly payroll in dollars: min(annual salary / 12, covered maximum), rounded
    half-up to the cent."""
    if annual_salary is None:
        raise _missing("the member has no annual salary for long-term disability")
    payroll = annual_salary / MONTHS_PER_YEAR
    if table.covered_payroll_maximum is not None:
        payroll = min(payroll, table.covered_payroll_maximum)
    return cents(payroll)


def ltd_premium(table: RateTable, covered_payroll: Decimal) -> Decimal:
    """Monthly LTD premium: covered payroll / 100 × unit rate, half-up to the cent."""
    return cents(covered_payroll / HUNDRED * _unit_rate(table))


def rating_key(
    table: RateTable,
    on: date,
    birth_date: date,
    annual_salary: Decimal | None,
    tier: Tier | str | None,
    elected_volume: Decimal | None,
    dependent_birth_dates: tuple[date, ...] = (),
    child_birth_dates: tuple[date, ...] = (),
) -> tuple:
    """What `rate_line`'s line depends on for a member under `table`'s basis in the month `on`:
    the tier; the ages (with a child rate: which children are charged at it and which not,
    `age_banded_persons`); or the measure the unit rate applies to (the life volume, with the
    age when an age reduction applies; the weekly benefit; the covered payroll), so members
    whose salaries differ but whose benefit is the same (at a maximum, or rounded to the same
    volume) share one. Rating is pure, so members with the same key under the same rate
    version rate the same: a billing run or a census rating thousands of lines rates each key
    once. Raises RatingDataMissing as `rate_line` does when the measure cannot be worked out."""
    basis = table.basis
    if basis is RatingBasis.TIERED_COMPOSITE:
        return (tier,)
    if basis is RatingBasis.AGE_BANDED:
        persons = age_banded_persons(
            table, on, birth_date, dependent_birth_dates, child_birth_dates
        )
        if table.child_rate is None:
            return persons.band_ages
        return (persons.band_ages, persons.charged_child_ages, persons.uncharged_child_ages)
    if basis is RatingBasis.PER_THOUSAND_VOLUME:
        age = age_on(birth_date, age_reference_date(table, on))
        volume = life_volume(
            table, annual_salary=annual_salary, elected_volume=elected_volume, age=age
        )
        # The age is on the line only when a reduction applies at it.
        return (volume, age if age_reduction_percent(table, age) != HUNDRED else None)
    if basis is RatingBasis.STD_WEEKLY_BENEFIT:
        return (std_weekly_benefit(table, annual_salary),)
    return (ltd_covered_payroll(table, annual_salary),)


def _persons(table: RateTable, member: MemberFacts, on: date) -> AgeBandedPersons:
    return age_banded_persons(
        table, on, member.birth_date, member.dependent_birth_dates, member.child_birth_dates
    )


def premium(table: RateTable, member: MemberFacts, on: date) -> Decimal:
    """The monthly amount `rate_line` gives, without the explanation: for pricing thousands of
    lines that nobody reads one by one (a census's premium change per product)."""
    basis = table.basis
    if basis is RatingBasis.TIERED_COMPOSITE:
        return tiered_premium(table, member.tier)
    if basis is RatingBasis.AGE_BANDED:
        persons = _persons(table, member, on)
        return age_banded_premium(table, persons.band_ages, len(persons.charged_child_ages))
    if basis is RatingBasis.PER_THOUSAND_VOLUME:
        age = age_on(member.birth_date, age_reference_date(table, on))
        volume = life_volume(
            table, annual_salary=member.annual_salary, elected_volume=member.elected_volume, age=age
        )
        return per_thousand_premium(table, volume)
    if basis is RatingBasis.STD_WEEKLY_BENEFIT:
        return std_premium(table, std_weekly_benefit(table, member.annual_salary))
    if basis is RatingBasis.LTD_COVERED_PAYROLL:
        return ltd_premium(table, ltd_covered_payroll(table, member.annual_salary))
    raise ValidationFailed(f"unknown rating basis {basis!r}")  # pragma: no cover


def rate_line(table: RateTable, member: MemberFacts, on: date) -> RatedLine:
    """Rate one member on one product for the coverage month starting `on` (a first of month).

    Ages are read at `age_reference_date(table, on)`. The amount is monthly, rounded half-up to
    the cent. An age-banded line with a child rate says which children were charged at it and
    which were not (`age_banded_persons`). Raises `RatingDataMissing` (a `ValidationFailed`)
    when a needed rate or fact is absent."""
    basis = table.basis
    if basis is RatingBasis.TIERED_COMPOSITE:
        amount = tiered_premium(table, member.tier)
        rate = table.tier_rates[Tier(member.tier)]
        return RatedLine(
            amount, basis, rate, f"tier {Tier(member.tier).value} at {format_rate(rate)}"
        )
    if basis is RatingBasis.AGE_BANDED:
        persons = _persons(table, member, on)
        charged = len(persons.charged_child_ages)
        amount = age_banded_premium(table, persons.band_ages, charged)
        rate = sum((band_rate(table, age) for age in persons.band_ages), ZERO)
        if charged:
            rate += table.child_rate * charged
        return RatedLine(amount, basis, rate, _age_banded_explanation(table, persons))
    if basis is RatingBasis.PER_THOUSAND_VOLUME:
        age = age_on(member.birth_date, age_reference_date(table, on))
        volume = life_volume(
            table, annual_salary=member.annual_salary, elected_volume=member.elected_volume, age=age
        )
        rate = _unit_rate(table)
        amount = per_thousand_premium(table, volume)
        percent = age_reduction_percent(table, age)
        reduced = f", reduced to {percent}% at age {age}" if percent != HUNDRED else ""
        return RatedLine(
            amount,
            basis,
            rate,
            f"volume {volume:,.0f}{reduced} / 1,000 × {format_rate(rate)}",
            volume=volume,
        )
    if basis is RatingBasis.STD_WEEKLY_BENEFIT:
        benefit = std_weekly_benefit(table, member.annual_salary)
        rate = _unit_rate(table)
        return RatedLine(
            std_premium(table, benefit),
            basis,
            rate,
            f"weekly benefit {benefit:,.2f} / 10 × {format_rate(rate)}",
            weekly_benefit=benefit,
        )
    if basis is RatingBasis.LTD_COVERED_PAYROLL:
        payroll = ltd_covered_payroll(table, member.annual_salary)
        rate = _unit_rate(table)
        return RatedLine(
            ltd_premium(table, payroll),
            basis,
            rate,
            f"covered payroll {payroll:,.2f} / 100 × {format_rate(rate)}",
            covered_payroll=payroll,
        )
    raise ValidationFailed(f"unknown rating basis {basis!r}")  # pragma: no cover
