"""The preview of a month is what the run then writes, per agency and kind, to the cent, and
writes nothing; a second preview after the run shows nothing new; an approved month is
closed; an earlier month is refused as the run refuses it."""

from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core.commissions.of_record import Split, change_broker_of_record
from billing_core.commissions.preview import agency_totals, preview_month, run_rows
from billing_core.commissions.run import run_for
from billing_core.commissions.schedules import set_schedule
from billing_core.errors import CommissionError
from billing_core.models.collections import DelinquencyState
from billing_core.models.commissions import CommissionKind, CommissionLine, CommissionRun
from billing_core.models.enums import LineOfCoverage
from billing_core.money import D
from tests.unit.commissions.book import approve, delinquent, make_book, month_bill, pay, run

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)


def _figures(totals):
    return [
        (t.agency.code, t.lines, t.earned, t.adjustment, t.hold, t.release, t.chargeback, t.net)
        for t in totals
    ]


def test_preview_equals_the_run_to_the_cent(session):
    book = make_book(session, bor=False)
    change_broker_of_record(
        session, book.group, [Split(book.agency_a, "60", book.broker_a), Split(book.agency_b, "40")],
        effective_from=JAN,
    )  # fmt: skip
    set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                 effective_from=date(2024, 1, 1), rates=[("0", "5.5")])  # fmt: skip
    jan = month_bill(session, book, JAN, each="333.33")
    pay(session, book.group, "999.99", JAN, jan)
    delinquent(session, book.group, DelinquencyState.IN_GRACE, date(2026, 1, 25))

    preview = preview_month(session, date(2026, 1, 17))
    assert session.scalar(select(func.count()).select_from(CommissionRun)) == 0
    assert session.scalar(select(func.count()).select_from(CommissionLine)) == 0
    assert preview.run is None and not preview.closed and preview.as_of == date(2026, 1, 31)
    a = next(t for t in preview.agencies if t.agency.id == book.agency_a.id)
    assert (a.earned, a.hold, a.net) == (D("33.00"), D("-33.00"), D("0.00"))  # 5.5% of 599.99

    result = run(session, book, JAN)
    assert _figures(agency_totals(session, result.run)) == _figures(preview.agencies)
    assert preview.new_lines == len(result.lines)
    assert preview.total == result.commission_total

    again = preview_month(session, JAN)
    assert again.run is result.run and again.agencies == [] and again.total == D("0.00")

    rows = run_rows(session)
    assert [(r.run.month, r.lines, r.agencies, r.net, r.held) for r in rows] == [
        (JAN, 4, 2, D("0.00"), D("-55.00"))
    ]
    approve(session, book, JAN)
    assert preview_month(session, JAN).closed
    assert run_rows(session)[0].approved_by == book.supervisor.email

    run(session, book, FEB)
    refused = preview_month(session, JAN)
    assert refused.closed and "cannot be run again" in refused.refused
    with pytest.raises(CommissionError, match="cannot be run again"):
        run(session, book, JAN)
    assert run_for(session, FEB).passes == 1
