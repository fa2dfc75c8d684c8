"""An agency's statement of a run: its own lines only, by group, product and coverage month,
with totals by kind; CSV and XLSX through the safe writer (a formula-like employer name is
neutralised); no member named."""

import io
from datetime import date

import pandas as pd

from billing_core.commissions.of_record import Split, change_broker_of_record
from billing_core.commissions.run import run_for
from billing_core.commissions.schedules import set_schedule
from billing_core.commissions.statements import agency_statement, statement_csv, statement_xlsx
from billing_core.models.collections import DelinquencyState
from billing_core.models.commissions import CommissionKind
from billing_core.models.enums import LineOfCoverage
from billing_core.money import D
from tests.unit.commissions.book import delinquent, make_book, month_bill, pay, run

JAN = date(2026, 1, 1)


def test_statement_lines_totals_and_downloads(session):
    book = make_book(session, bor=False)
    book.group.name = "=HYPERLINK(1)"
    change_broker_of_record(
        session, book.group, [Split(book.agency_a, "60", book.broker_a), Split(book.agency_b, "40")],
        effective_from=JAN,
    )  # fmt: skip
    set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                 effective_from=date(2024, 1, 1), rates=[("0", "5")])  # fmt: skip
    jan = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", JAN, jan)
    delinquent(session, book.group, DelinquencyState.IN_GRACE, date(2026, 1, 25))
    run(session, book, JAN)

    statement = agency_statement(session, run_for(session, JAN), book.agency_a)
    assert [(x.kind.value, x.premium_basis, x.amount, x.broker) for x in statement.lines] == [
        ("earned", D("900.00"), D("45.00"), book.broker_a.full_name),
        ("hold", D("0.00"), D("-45.00"), book.broker_a.full_name),
    ]
    assert statement.totals["earned"] == D("45.00") and statement.totals["hold"] == D("-45.00")
    assert statement.totals["net"] == D("0.00")
    other = agency_statement(session, run_for(session, JAN), book.agency_b)
    assert [x.amount for x in other.lines] == [D("30.00"), D("-30.00")]

    text = statement_csv(statement).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text
    assert book.members[0].last_name not in text
    sheet = pd.read_excel(io.BytesIO(statement_xlsx(statement)), engine="calamine")
    assert list(sheet["Commission"].dropna()) == [45.0]
    assert list(sheet["Held"].dropna()) == [-45.0]
    assert list(sheet["Premium basis"]) == [900.0, 0.0]
