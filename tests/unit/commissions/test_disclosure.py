"""The compensation disclosure (CAA 2021 / ERISA 408(b)(2)): the commission an agency can
expect for the group's plan year in dollars, from the schedule (graded bands carried across the
year), the billed premium (months not billed yet at the latest month billed) and the agency's
share of the broker of record each month; commission already stated; indirect: none known."""

from datetime import date

from billing_core.commissions.disclosure import NO_INDIRECT, compensation_disclosure
from billing_core.commissions.of_record import Split, change_broker_of_record
from billing_core.commissions.schedules import set_schedule
from billing_core.models.commissions import CommissionKind
from billing_core.models.enums import LineOfCoverage
from billing_core.money import D
from tests.unit.commissions.book import make_book, month_bill, pay, run

JAN, APR, JUL = date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1)
ON = date(2026, 4, 15)


def test_graded_split_and_estimated_months_to_the_cent(session):
    book = make_book(session)  # 3 members, original Jan 2026, renews in January
    set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.GRADED,
                 effective_from=date(2024, 1, 1), rates=[("0", "15"), ("5000", "10")])  # fmt: skip
    change_broker_of_record(
        session, book.group, [Split(book.agency_a, "60"), Split(book.agency_b, "40")],
        effective_from=JUL,
    )  # fmt: skip
    bills = [month_bill(session, book, date(2026, m, 1), each="1000.00") for m in range(1, 5)]
    pay(session, book.group, "3000.00", JAN, bills[0])
    run(session, book, JAN)

    mine = compensation_disclosure(session, book.group, book.agency_a, ON)
    assert (mine.plan_year_start, mine.plan_year_end) == (JAN, date(2026, 12, 31))
    [dental] = mine.lines
    # 3,000.00 a month: Jan-Apr billed, May-Dec estimated at April's
    assert dental.premium == D("36000.00") and dental.estimated_months == 8
    # the year's bands: Jan 450 (15% of 3,000), Feb 400 (crossing 5,000), then 300 a month;
    # from July 60% of it: 450 + 400 + 4 x 300 + 6 x 180
    assert [m.commission for m in dental.months] == [D(x) for x in (
        "450.00", "400.00", "300.00", "300.00", "300.00", "300.00",
        "180.00", "180.00", "180.00", "180.00", "180.00", "180.00")]  # fmt: skip
    assert mine.direct_total == D("3130.00")
    assert "15% from $0 to $5,000, 10% above $5,000" in dental.schedule
    assert mine.stated_so_far == D("450.00")  # January's run, on the collected premium
    assert mine.indirect_text == NO_INDIRECT

    theirs = compensation_disclosure(session, book.group, book.agency_b, ON)
    assert theirs.direct_total == D("720.00")  # 40% of 300.00, July to December
    assert theirs.stated_so_far == D("0.00")


def test_no_schedule_says_so_and_expects_nothing(session):
    book = make_book(session)
    month_bill(session, book, JAN, each="100.00")
    found = compensation_disclosure(session, book.group, book.agency_a, ON)
    [dental] = found.lines
    assert dental.schedule == "no commission schedule" and found.direct_total == D("0.00")
    # 300.00 billed for January; February and March never billed (nothing); April to
    # December not billed yet: estimated at the latest month billed
    assert dental.premium == D("3000.00") and dental.estimated_months == 9
