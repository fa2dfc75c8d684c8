"""The arithmetic of each schedule kind, set-up refusals, and broker of record splits."""

from datetime import date

import pytest

from billing_core.commissions.of_record import Split, change_broker_of_record, split_errors
from billing_core.commissions.schedules import (
    Band,
    flat_commission,
    graded_commission,
    per_employee_commission,
    policy_year_kind,
    policy_year_start,
    set_schedule,
)
from billing_core.errors import CommissionError
from billing_core.models import BrokerOfRecord, EmployerGroup
from billing_core.models.commissions import CommissionKind, PolicyYear
from billing_core.models.enums import LineOfCoverage
from billing_core.money import D
from tests.unit.commissions.book import make_book

GRADED = [Band(D("0"), D("15")), Band(D("5000"), D("10")), Band(D("15000"), D("5")),
          Band(D("40000"), D("3"))]  # fmt: skip


@pytest.mark.parametrize(
    ("cumulative", "commission"),
    [
        ("0.00", "0.00"),
        ("3000.00", "450.00"),  # all in the first band
        ("5000.00", "750.00"),  # exactly its top
        ("6000.00", "850.00"),  # 750 + 10% of 1,000
        ("15000.00", "1750.00"),  # 750 + 1,000
        ("40000.00", "3000.00"),  # 1,750 + 5% of 25,000
        ("52345.67", "3370.37"),  # 3,000 + 3% of 12,345.67 = 370.3701
    ],
)
def test_graded_bands_by_the_policy_years_premium(cumulative, commission):
    assert graded_commission(D(cumulative), GRADED) == D(commission)


def test_a_month_crossing_a_band_pays_each_band_its_rate():
    # Feb takes the year from 4,000 to 7,000: 1,000 at 15% and 2,000 at 10%.
    feb = graded_commission(D("7000"), GRADED) - graded_commission(D("4000"), GRADED)
    assert feb == D("350.00")


def test_flat_and_per_employee_round_half_up_to_the_cent():
    assert flat_commission(D("333.33"), D("4.5")) == D("15.00")  # 14.99985
    assert flat_commission(D("1000.10"), D("5")) == D("50.01")  # 50.005 half-up
    assert per_employee_commission(3, D("20.00"), D("1")) == D("60.00")
    assert per_employee_commission(3, D("20.00"), D("0.5")) == D("30.00")


def test_first_year_and_policy_years():
    group = EmployerGroup(original_effective_date=date(2026, 3, 1), renewal_month=3)
    assert policy_year_kind(group, date(2027, 2, 1)) is PolicyYear.FIRST_YEAR
    assert policy_year_kind(group, date(2027, 3, 1)) is PolicyYear.RENEWAL
    assert policy_year_start(group, date(2027, 2, 1)) == date(2026, 3, 1)
    assert policy_year_start(group, date(2027, 3, 1)) == date(2027, 3, 1)


def test_schedule_refusals(session):
    book = make_book(session)
    with pytest.raises(CommissionError, match="must start at"):
        set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.GRADED,
                     effective_from=date(2026, 1, 1), rates=[("100", "15"), ("5000", "10")])  # fmt: skip
    with pytest.raises(CommissionError, match="floors must rise"):
        set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.GRADED,
                     effective_from=date(2026, 1, 1), rates=[("0", "15"), ("0", "10")])  # fmt: skip
    with pytest.raises(CommissionError, match="one rate"):
        set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                     effective_from=date(2026, 1, 1), rates=[("0", "5"), ("100", "4")])  # fmt: skip
    with pytest.raises(CommissionError, match="cannot exceed 100"):
        set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                     effective_from=date(2026, 1, 1), rates=[("0", "150")])  # fmt: skip
    first = set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                         agency=book.agency_a, effective_from=date(2026, 1, 1), rates=[("0", "5")])  # fmt: skip
    later = set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                         agency=book.agency_a, effective_from=date(2026, 7, 1), rates=[("0", "4")])  # fmt: skip
    assert first.effective_to == date(2026, 6, 30)  # ended, not overwritten
    assert later.effective_to is None
    with pytest.raises(CommissionError, match="already starts on 2026-07-01"):
        set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                     agency=book.agency_a, effective_from=date(2026, 7, 1), rates=[("0", "3")])  # fmt: skip


def test_splits_must_add_up_to_100(session):
    book = make_book(session, bor=False)
    assert split_errors([(1, None, D("60")), (2, None, D("40"))]) == []
    assert split_errors([(1, None, D("60")), (2, None, D("30"))]) == [
        "the shares add up to 90%, not 100%"
    ]
    with pytest.raises(CommissionError, match="add up to 110%, not 100%"):
        change_broker_of_record(
            session, book.group,
            [Split(book.agency_a, "60"), Split(book.agency_b, "50")],
            effective_from=date(2026, 1, 1),
        )  # fmt: skip
    with pytest.raises(CommissionError, match="is not of agency"):
        change_broker_of_record(
            session, book.group, [Split(book.agency_a, "100", book.broker_b)],
            effective_from=date(2026, 1, 1),
        )  # fmt: skip
    with pytest.raises(CommissionError, match="first of a month"):
        change_broker_of_record(
            session, book.group, [Split(book.agency_a)], effective_from=date(2026, 1, 15)
        )
    change_broker_of_record(
        session, book.group, [Split(book.agency_a)], effective_from=date(2026, 1, 1)
    )
    change_broker_of_record(
        session, book.group, [Split(book.agency_a, "60"), Split(book.agency_b, "40")],
        effective_from=date(2026, 5, 1),
    )  # fmt: skip
    rows = session.query(BrokerOfRecord).filter_by(group_id=book.group.id).all()
    assert sorted((r.effective_from, r.effective_to, r.commission_split_percent) for r in rows) == [
        (date(2026, 1, 1), date(2026, 4, 30), D("100.00")),
        (date(2026, 5, 1), None, D("40.00")),
        (date(2026, 5, 1), None, D("60.00")),
    ]
