"""Rating by basis: DOMAIN.md's worked examples to the cent, then a carrier rate manual's edges."""

from datetime import date
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.billing.rating import (
    AgeBand,
    AgeReductionStep,
    MemberFacts,
    RateTable,
    age_banded_premium,
    age_on,
    life_volume,
    ltd_covered_payroll,
    ltd_premium,
    per_thousand_premium,
    premium,
    rate_line,
    rating_key,
    std_premium,
    std_weekly_benefit,
    tiered_premium,
)
from billing_core.errors import BillingError, ValidationFailed
from billing_core.models.enums import AgeReference, RatingBasis, Tier
from billing_core.money import D

JAN = date(2025, 1, 1)
BORN_1980 = date(1980, 6, 15)

DENTAL = RateTable(
    basis=RatingBasis.TIERED_COMPOSITE,
    tier_rates={
        Tier.EE: D("38.20"),
        Tier.ES: D("76.10"),
        Tier.EC: D("80.55"),
        Tier.FAM: D("112.40"),
    },
)
LIFE = RateTable(
    basis=RatingBasis.PER_THOUSAND_VOLUME,
    unit_rate=D("0.12"),
    volume_salary_multiple=D(2),
    volume_maximum=D(500000),
    age_reductions=(AgeReductionStep(65, D("65.00")), AgeReductionStep(70, D("50.00"))),
)
STD = RateTable(
    basis=RatingBasis.STD_WEEKLY_BENEFIT,
    unit_rate=D("0.225"),
    weekly_benefit_percent=D("0.60"),
    weekly_benefit_maximum=D(1500),
)
LTD = RateTable(
    basis=RatingBasis.LTD_COVERED_PAYROLL, unit_rate=D("0.35"), covered_payroll_maximum=D(10000)
)
BANDED = RateTable(
    basis=RatingBasis.AGE_BANDED,
    age_bands=(
        AgeBand(0, 20, D("150.125")),
        AgeBand(21, 29, D("210.50")),
        AgeBand(30, 39, D("260.00")),
        AgeBand(40, 49, D("330.00")),
        AgeBand(50, 64, D("480.00")),
        AgeBand(65, 120, D("610.00")),
    ),
)


@pytest.mark.parametrize(
    "table,member,expected",
    [
        (DENTAL, MemberFacts(BORN_1980, tier=Tier.FAM), "112.40"),
        (LIFE, MemberFacts(BORN_1980, annual_salary=D(40000)), "9.60"),
        (STD, MemberFacts(BORN_1980, annual_salary=D(52000)), "13.50"),
        (LTD, MemberFacts(BORN_1980, annual_salary=D(60000)), "17.50"),
    ],
    ids=["FAM dental", "2x40k life", "60pct of 1000 STD", "5000 LTD"],
)
def test_domain_worked_examples(table, member, expected):
    assert rate_line(table, member, JAN).amount == D(expected)


def test_worked_examples_report_the_measure_used():
    assert rate_line(LIFE, MemberFacts(BORN_1980, annual_salary=D(40000)), JAN).volume == D(80000)
    std = rate_line(STD, MemberFacts(BORN_1980, annual_salary=D(52000)), JAN)
    assert (std.weekly_benefit, std.rate) == (D(600), D("0.225"))
    ltd = rate_line(LTD, MemberFacts(BORN_1980, annual_salary=D(60000)), JAN)
    assert ltd.covered_payroll == D(5000)
    assert "5,000.00" in ltd.explanation


@pytest.mark.parametrize(
    "born,on,age",
    [
        (date(1980, 6, 15), date(2025, 6, 14), 44),
        (date(1980, 6, 15), date(2025, 6, 15), 45),
        (date(1980, 6, 1), date(2025, 6, 1), 45),  # birthday on the first: new age that month
        (date(1980, 2, 29), date(2025, 2, 28), 44),
        (date(1980, 2, 29), date(2025, 3, 1), 45),
    ],
)
def test_age_on(born, on, age):
    assert age_on(born, on) == age


@pytest.mark.parametrize(
    "ages,expected",
    [
        ([20], "150.13"),  # band max, half-up at x.xx5
        ([21], "210.50"),  # band min
        ([29], "210.50"),
        ([30], "260.00"),
        ([64], "480.00"),
        ([65], "610.00"),
        ([40, 38, 10, 8], "890.25"),  # 330 + 260 + 150.125 + 150.125, rounded once
    ],
)
def test_age_banded_boundaries_and_single_rounding(ages, expected):
    assert age_banded_premium(BANDED, ages) == D(expected)


def test_age_banded_birthday_on_first_of_coverage_month_moves_band():
    member = MemberFacts(date(1995, 6, 1), dependent_birth_dates=(date(2015, 3, 3),))
    may = rate_line(BANDED, member, date(2025, 5, 1))
    june = rate_line(BANDED, member, date(2025, 6, 1))
    assert may.amount == D("360.63")  # 29 and 10: 210.50 + 150.125
    assert june.amount == D("410.13")  # 30 and 10: 260 + 150.125
    assert june.rate == D("410.125")


def test_age_banded_policy_anniversary_reads_age_at_rate_effective_date():
    table = RateTable(
        basis=RatingBasis.AGE_BANDED,
        age_bands=BANDED.age_bands,
        age_reference=AgeReference.POLICY_ANNIVERSARY,
        effective_from=date(2025, 1, 1),
    )
    assert rate_line(table, MemberFacts(date(1995, 6, 1)), date(2025, 7, 1)).amount == D("210.50")
    # Years after the version took effect, the age is read at the latest anniversary (Jan 1,
    # 2027): 31 then, so the 30-39 band, even in December when the member is 32.
    assert rate_line(table, MemberFacts(date(1995, 6, 1)), date(2027, 12, 1)).amount == D("260.00")


def test_age_banded_newborn_after_the_reference_date_is_rated_at_age_zero():
    table = RateTable(
        basis=RatingBasis.AGE_BANDED,
        age_bands=BANDED.age_bands,
        age_reference=AgeReference.JANUARY_FIRST,
    )
    member = MemberFacts(date(1995, 6, 1), dependent_birth_dates=(date(2026, 3, 10),))
    line = rate_line(table, member, date(2026, 4, 1))
    assert "age 0 at 150.125" in line.explanation
    assert line.amount == D("410.13")  # age 30 at Jan 1: 260.00 + 150.125


def test_age_banded_age_outside_every_band_is_refused():
    with pytest.raises(ValidationFailed, match="no age band for age 121"):
        age_banded_premium(BANDED, [121])


# DOMAIN.md's age-banded worked example: bands that rate 45 at 340.00 and 38 at 265.00, and a
# child rate of 180.00 for children under 21, at most the three oldest charged.
FAMILY_BANDS = (
    AgeBand(0, 20, D("150.00")),
    AgeBand(21, 29, D("210.50")),
    AgeBand(30, 39, D("265.00")),
    AgeBand(40, 49, D("340.00")),
    AgeBand(50, 64, D("480.00")),
    AgeBand(65, 120, D("610.00")),
)
WITH_CHILD_RATE = RateTable(
    basis=RatingBasis.AGE_BANDED, age_bands=FAMILY_BANDS, child_rate=D("180.00")
)
BANDS_ONLY = RateTable(basis=RatingBasis.AGE_BANDED, age_bands=FAMILY_BANDS)


def _born(age: int, month: int = 6) -> date:
    """A birth date that is `age` on JAN (Jan 1, 2025)."""
    return date(2024 - age, month, 15)


@pytest.mark.parametrize(
    "table,spouse,child_ages,expected,explanation",
    [
        # The worked example: 340.00 + 265.00 + 180.00.
        (
            WITH_CHILD_RATE,
            38,
            [10],
            "785.00",
            "age 45 at 340.00 + age 38 at 265.00 + child aged 10 at child rate 180.00",
        ),
        # Four children under 21: the three oldest are charged.
        (
            WITH_CHILD_RATE,
            38,
            [7, 16, 10, 12],
            "1145.00",
            "age 45 at 340.00 + age 38 at 265.00 + 3 children aged 16, 12, 10 at child rate"
            " 180.00 each; not charged: child aged 7 (only the 3 oldest children under 21 are)",
        ),
        # At 21 a child is rated by band as an adult and does not count toward the three.
        (
            WITH_CHILD_RATE,
            None,
            [21, 16, 12, 10, 7],
            "1090.50",
            "age 45 at 340.00 + age 21 at 210.50 + 3 children aged 16, 12, 10 at child rate"
            " 180.00 each; not charged: child aged 7 (only the 3 oldest children under 21 are)",
        ),
        (
            WITH_CHILD_RATE,
            None,
            [20],
            "520.00",
            "age 45 at 340.00 + child aged 20 at child rate 180.00",
        ),
        # Without a child rate every covered person is rated by band, children too.
        (
            BANDS_ONLY,
            38,
            [10],
            "755.00",
            "age 45 at 340.00 + age 38 at 265.00 + age 10 at 150.00",
        ),
        (
            BANDS_ONLY,
            38,
            [16, 12, 10, 7],
            "1205.00",
            "age 45 at 340.00 + age 38 at 265.00 + age 16 at 150.00 + age 12 at 150.00"
            " + age 10 at 150.00 + age 7 at 150.00",
        ),
    ],
)
def test_age_banded_child_rate_worked_examples(table, spouse, child_ages, expected, explanation):
    member = MemberFacts(
        _born(45),
        dependent_birth_dates=(_born(spouse),) if spouse is not None else (),
        child_birth_dates=tuple(_born(age) for age in child_ages),
    )
    line = rate_line(table, member, JAN)
    assert line.amount == D(expected)
    assert line.explanation == explanation
    assert premium(table, member, JAN) == line.amount
    assert line.rate == D(expected)  # the rates applied, summed (no cents to round here)


def test_child_rate_limits_are_per_rate_version():
    table = RateTable(
        basis=RatingBasis.AGE_BANDED,
        age_bands=FAMILY_BANDS,
        child_rate=D("99.995"),
        child_rate_max_age=19,
        max_charged_children=2,
    )
    member = MemberFacts(_born(45), child_birth_dates=tuple(_born(age) for age in (19, 18, 12, 5)))
    line = rate_line(table, member, JAN)
    # 340.00 + 150.00 (19, by band) + 2 x 99.995, rounded half-up once.
    assert line.amount == D("689.99")
    assert line.explanation == (
        "age 45 at 340.00 + age 19 at 150.00 + 2 children aged 18, 12 at child rate 99.995"
        " each; not charged: child aged 5 (only the 2 oldest children under 19 are)"
    )


def test_the_oldest_child_turning_21_makes_the_fourth_child_charged():
    # Age is read on the first of each coverage month: the eldest is 20 in May, 21 in June.
    eldest = date(2004, 6, 1)
    member = MemberFacts(
        date(1978, 1, 10),
        child_birth_dates=(date(2015, 2, 2), eldest, date(2010, 3, 3), date(2012, 4, 4)),
    )
    may = rate_line(WITH_CHILD_RATE, member, date(2025, 5, 1))
    june = rate_line(WITH_CHILD_RATE, member, date(2025, 6, 1))
    assert may.amount == D("880.00")  # 340 + 3 x 180; the ten-year-old is not charged
    assert "not charged: child aged 10" in may.explanation
    assert june.amount == D("1090.50")  # 340 + 210.50 (21, by band) + 3 x 180
    assert "age 21 at 210.50" in june.explanation and "not charged" not in june.explanation


def test_which_children_are_charged_is_part_of_the_rating_key():
    def key(children):
        return rating_key(WITH_CHILD_RATE, JAN, _born(45), None, None, None, (), children)

    three = tuple(_born(age) for age in (16, 12, 10))
    assert key(three) == key(tuple(reversed(three)))  # the order given does not matter
    # Same amount, but a different child not charged: a different line, so a different key.
    assert key((*three, _born(7))) != key((*three, _born(8)))
    assert key((*three, _born(7))) != key(three)


def test_children_charged_without_a_child_rate_are_refused():
    with pytest.raises(ValidationFailed, match="no child rate"):
        age_banded_premium(BANDS_ONLY, [45], charged_children=1)


@pytest.mark.parametrize(
    "salary,elected,age,volume",
    [
        ("40000", None, 45, "80000"),
        ("40250", None, 45, "81000"),  # 80,500 rounds up to the next 1,000
        ("40000.01", None, 45, "81000"),
        ("400000", None, 45, "500000"),  # capped
        (None, "25000", 45, "25000"),  # elected volume wins
        ("40000", "30500", 45, "31000"),  # elected wins over salary, still rounded up
        ("40000", None, 64, "80000"),
        ("40000", None, 65, "52000"),  # 65% at the birthday
        ("40000", None, 69, "52000"),
        ("40000", None, 70, "40000"),  # 50% at 70
        ("40250", None, 65, "53000"),  # 81,000 × 65% = 52,650, rounded up again
        ("400000", None, 70, "250000"),  # reduction applies to the capped amount
    ],
)
def test_life_volume(salary, elected, age, volume):
    got = life_volume(
        LIFE,
        annual_salary=None if salary is None else D(salary),
        elected_volume=None if elected is None else D(elected),
        age=age,
    )
    assert got == D(volume)


def test_life_volume_flat_amount_and_custom_unit():
    table = RateTable(
        basis=RatingBasis.PER_THOUSAND_VOLUME,
        unit_rate=D("0.20"),
        volume_flat_amount=D(24100),
        volume_rounding_unit=D(500),
    )
    assert life_volume(table, age=40) == D(24500)
    assert per_thousand_premium(table, D(24500)) == D("4.90")


def test_life_age_reduction_at_the_birthday_through_rate_line():
    member = MemberFacts(date(1960, 3, 1), annual_salary=D(40000))
    feb = rate_line(LIFE, member, date(2025, 2, 1))  # 64
    mar = rate_line(LIFE, member, date(2025, 3, 1))  # 65 on the first
    assert (feb.volume, feb.amount) == (D(80000), D("9.60"))
    assert (mar.volume, mar.amount) == (D(52000), D("6.24"))
    assert "65.00% at age 65" in mar.explanation


@pytest.mark.parametrize(
    "table,born,salaries",
    [
        (LIFE, BORN_1980, ("39600", "40000")),  # both 80,000 of volume
        (LIFE, date(1955, 6, 15), ("39600", "40000")),  # 69: reduced to 65% of 80,000
        (STD, BORN_1980, ("130000", "260000")),  # both at the 1,500 weekly maximum
        (LTD, BORN_1980, ("120000", "240000")),  # both at the 10,000 payroll maximum
    ],
)
def test_salaries_rated_to_the_same_measure_share_a_rating_key_and_a_line(table, born, salaries):
    def key(salary: str) -> tuple:
        return rating_key(table, JAN, born, D(salary), None, None)

    first, second = (rate_line(table, MemberFacts(born, annual_salary=D(s)), JAN) for s in salaries)
    assert key(salaries[0]) == key(salaries[1])
    assert first == second


def test_a_life_key_holds_the_age_only_where_a_reduction_applies():
    def key(born: date) -> tuple:
        return rating_key(LIFE, JAN, born, D(40000), None, None)

    assert key(_born(40)) == key(_born(50))  # no reduction: the same line
    assert key(_born(66)) != key(_born(67))  # "reduced to 65.00% at age 66" / "... 67"
    assert rate_line(LIFE, MemberFacts(_born(66), annual_salary=D(40000)), JAN).explanation != (
        rate_line(LIFE, MemberFacts(_born(67), annual_salary=D(40000)), JAN).explanation
    )


def test_per_thousand_rounds_half_up_at_half_cent():
    table = RateTable(basis=RatingBasis.PER_THOUSAND_VOLUME, unit_rate=D("0.125"))
    assert per_thousand_premium(table, D(1000)) == D("0.13")
    assert per_thousand_premium(table, D(3000)) == D("0.38")  # 0.375


@pytest.mark.parametrize(
    "annual,benefit,premium",
    [
        ("52000", "600.00", "13.50"),
        ("130000", "1500.00", "33.75"),  # 1,500 cap (uncapped 1,500 exactly)
        ("260000", "1500.00", "33.75"),  # capped
        ("50000", "576.92", "12.98"),  # 576.923... → 576.92; 12.9807 → 12.98
    ],
)
def test_std(annual, benefit, premium):
    weekly = std_weekly_benefit(STD, D(annual))
    assert weekly == D(benefit)
    assert std_premium(STD, weekly) == D(premium)


@pytest.mark.parametrize(
    "annual,payroll,premium",
    [
        ("60000", "5000.00", "17.50"),
        ("120000", "10000.00", "35.00"),
        ("300000", "10000.00", "35.00"),  # capped at covered max
        ("61234", "5102.83", "17.86"),  # 5,102.8333 → 5,102.83; 17.8599 → 17.86
    ],
)
def test_ltd(annual, payroll, premium):
    covered = ltd_covered_payroll(LTD, D(annual))
    assert covered == D(payroll)
    assert ltd_premium(LTD, covered) == D(premium)


def test_ltd_half_up_at_half_cent():
    table = RateTable(basis=RatingBasis.LTD_COVERED_PAYROLL, unit_rate=D("0.345"))
    assert ltd_premium(table, D(1000)) == D("3.45")
    assert ltd_premium(table, D(500)) == D("1.73")  # 1.725


def test_missing_tier_rate_is_a_plain_billing_error():
    table = RateTable(basis=RatingBasis.TIERED_COMPOSITE, tier_rates={Tier.EE: D("38.20")})
    with pytest.raises(BillingError, match="no rate for tier FAM"):
        tiered_premium(table, Tier.FAM)
    with pytest.raises(ValidationFailed, match="no coverage tier"):
        rate_line(table, MemberFacts(BORN_1980), JAN)


@pytest.mark.parametrize(
    "table,message",
    [
        (LIFE, "no annual salary"),
        (STD, "no annual salary"),
        (LTD, "no annual salary"),
        (RateTable(basis=RatingBasis.LTD_COVERED_PAYROLL), "no annual salary"),
        (
            RateTable(basis=RatingBasis.PER_THOUSAND_VOLUME, volume_flat_amount=D(10000)),
            "no unit rate",
        ),
        (RateTable(basis=RatingBasis.STD_WEEKLY_BENEFIT, unit_rate=D(1)), "no annual salary"),
    ],
)
def test_missing_data_is_refused(table, message):
    with pytest.raises(ValidationFailed, match=message):
        rate_line(table, MemberFacts(BORN_1980), JAN)


def test_from_version_reads_attributes_only():
    version = SimpleNamespace(
        plan=SimpleNamespace(product=SimpleNamespace(rating_basis=RatingBasis.PER_THOUSAND_VOLUME)),
        effective_from=date(2025, 1, 1),
        unit_rate=D("0.12"),
        volume_flat_amount=None,
        volume_salary_multiple=D("2.00"),
        volume_maximum=D("500000.00"),
        volume_rounding_unit=None,
        weekly_benefit_percent=None,
        weekly_benefit_maximum=None,
        covered_payroll_maximum=None,
        child_rate=None,
        child_rate_max_age=None,
        max_charged_children=None,
        age_reference=AgeReference.COVERAGE_MONTH,
        tier_rates=[SimpleNamespace(tier=Tier.EE, monthly_rate=D("10.00"))],
        age_bands=[
            SimpleNamespace(min_age=30, max_age=39, monthly_rate=D("2")),
            SimpleNamespace(min_age=0, max_age=29, monthly_rate=D("1")),
        ],
        age_reductions=[
            SimpleNamespace(from_age=70, volume_percent=D("50.00")),
            SimpleNamespace(from_age=65, volume_percent=D("65.00")),
        ],
    )
    table = RateTable.from_version(version)
    assert table.basis is RatingBasis.PER_THOUSAND_VOLUME
    assert [b.min_age for b in table.age_bands] == [0, 30]
    assert [r.from_age for r in table.age_reductions] == [65, 70]
    assert table.tier_rates == {Tier.EE: D("10.00")}
    assert (table.child_rate, table.child_rate_max_age, table.max_charged_children) == (None, 21, 3)
    member = MemberFacts(BORN_1980, annual_salary=D(40000))
    assert rate_line(table, member, JAN).amount == D("9.60")


def test_from_version_reads_the_child_rule_with_its_defaults():
    version = SimpleNamespace(
        plan=SimpleNamespace(product=SimpleNamespace(rating_basis=RatingBasis.AGE_BANDED)),
        effective_from=date(2025, 1, 1),
        **dict.fromkeys(
            (
                "unit_rate",
                "volume_flat_amount",
                "volume_salary_multiple",
                "volume_maximum",
                "volume_rounding_unit",
                "weekly_benefit_percent",
                "weekly_benefit_maximum",
                "covered_payroll_maximum",
                "max_charged_children",
            )
        ),
        child_rate=D("180.000000"),
        child_rate_max_age=19,
        age_reference=AgeReference.COVERAGE_MONTH,
        tier_rates=[],
        age_bands=[SimpleNamespace(min_age=0, max_age=120, monthly_rate=D("300"))],
        age_reductions=[],
    )
    table = RateTable.from_version(version)
    assert (table.child_rate, table.child_rate_max_age, table.max_charged_children) == (
        D("180"),
        19,
        3,
    )


money = st.decimals(
    min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False
)
rates = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)
births = st.dates(min_value=date(1925, 1, 1), max_value=date(2024, 12, 1))
child_births = st.dates(min_value=date(1995, 1, 1), max_value=date(2030, 12, 1))


@st.composite
def tables_and_members(draw):
    basis = draw(st.sampled_from(list(RatingBasis)))
    unit_rate = draw(rates)
    table = RateTable(
        basis=basis,
        unit_rate=unit_rate,
        tier_rates={tier: draw(rates) for tier in Tier},
        age_bands=(AgeBand(0, 49, draw(rates)), AgeBand(50, 130, draw(rates))),
        age_reductions=(AgeReductionStep(65, D("65.00")), AgeReductionStep(70, D("50.00"))),
        volume_salary_multiple=draw(st.sampled_from([D(1), D("1.5"), D(2), D(3)])),
        volume_maximum=draw(st.none() | money),
        weekly_benefit_percent=draw(st.sampled_from([D("0.50"), D("0.60"), D("0.6667")])),
        weekly_benefit_maximum=draw(st.none() | money),
        covered_payroll_maximum=draw(st.none() | money),
        child_rate=draw(st.none() | rates),
        child_rate_max_age=draw(st.integers(min_value=1, max_value=26)),
        max_charged_children=draw(st.integers(min_value=1, max_value=4)),
    )
    member = MemberFacts(
        birth_date=draw(births),
        annual_salary=draw(money),
        tier=draw(st.sampled_from(list(Tier))),
        elected_volume=draw(st.none() | money),
        dependent_birth_dates=tuple(draw(st.lists(births, max_size=2))),
        child_birth_dates=tuple(draw(st.lists(child_births, max_size=5))),
    )
    return table, member


@given(tables_and_members(), st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 1)))
def test_rate_line_amount_is_whole_cents_and_never_negative(pair, month):
    table, member = pair
    line = rate_line(table, member, month.replace(day=1))
    assert line.amount.as_tuple().exponent == -2
    assert line.amount >= 0


def _key(table, on, member):
    return rating_key(
        table,
        on,
        member.birth_date,
        member.annual_salary,
        member.tier,
        member.elected_volume,
        member.dependent_birth_dates,
        member.child_birth_dates,
    )


@given(
    tables_and_members(),
    tables_and_members(),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 1)),
)
def test_premium_is_rate_line_amount_and_equal_rating_keys_rate_the_same(
    pair, other_pair, keep, month
):
    table, member = pair
    on = month.replace(day=1)
    assert premium(table, member, on) == rate_line(table, member, on).amount
    # A second member sharing some of the first one's facts: wherever the keys agree, so do
    # the amounts (the billing run and the census bench rate each key once).
    drawn = other_pair[1]
    names = (
        "birth_date",
        "annual_salary",
        "tier",
        "elected_volume",
        "dependent_birth_dates",
        "child_birth_dates",
    )
    other = MemberFacts(
        **{
            name: getattr(member if kept else drawn, name)
            for name, kept in zip(names, keep, strict=True)
        }
    )
    if _key(table, on, other) == _key(table, on, member):
        # The billing run keeps the whole rated line per key, explanation included.
        assert rate_line(table, other, on) == rate_line(table, member, on)
