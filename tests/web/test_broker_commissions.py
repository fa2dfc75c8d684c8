"""The broker portal's money (issue 21, item 5): the book shows premium billed and collected by
month, the renewal and the agency's share, and the groups the agency was broker of record for
before; commission statements (closed runs only) with PDF/CSV/XLSX downloads that hold the
statement's total; the year-to-date summary; the per-group compensation disclosure in dollars.
Another agency's group, an open month or another agency's statement: 404."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import select

from billing_core.billing.enrollment import add_months, month_start
from billing_core.commissions.disclosure import NO_INDIRECT
from billing_core.commissions.of_record import Split, change_broker_of_record
from billing_core.commissions.run import approve_run, run_commissions
from billing_core.commissions.schedules import set_schedule
from billing_core.models import BrokerAgency, BrokerOfRecord, Plan
from billing_core.models.commissions import CommissionKind
from billing_core.models.enums import LineOfCoverage
from billing_core.money import D
from portal.web import today
from tests.factories import make_dental_plan, make_group, make_member, pay_by_check
from tests.unit.commissions.book import bill


@dataclass
class Commissions:
    m1: date  # two months ago: both agencies' groups billed and paid, run and approved
    m2: date  # last month: only group A billed (half paid), run and approved
    m3: date  # this month: run, not approved (no statement yet)
    former: object  # a group AG-A was broker of record for until m1's end, AG-B's since
    members: list


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def build_commissions(session, cast) -> Commissions:
    """Group A (AG-A): 500.00 a month (East 300, West 200) in m1 and m2; m1 paid in full, m2
    half; group B (AG-B): 400.00 in m1, paid. Every agency earns 10% of dental premium
    collected. A third group moves from AG-A to AG-B at m2. Runs m1 and m2 approved, m3 open."""
    on = today()
    m3 = month_start(on)
    m1, m2 = add_months(m3, -2), add_months(m3, -1)
    set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                 effective_from=date(2020, 1, 1), rates=[("0", "10")])  # fmt: skip
    plan_a = session.scalar(select(Plan).where(Plan.group_id == cast.group_a.id))
    plan_b = session.scalar(select(Plan).where(Plan.group_id == cast.group_b.id))
    a1 = bill(session, cast.group_a, m1, [(cast.member_east, plan_a, m1, "300.00"),
                                          (cast.member_west, plan_a, m1, "200.00")])  # fmt: skip
    b1 = bill(session, cast.group_b, m1, [(cast.member_b, plan_b, m1, "400.00")])
    a2 = bill(session, cast.group_a, m2, [(cast.member_east, plan_a, m2, "300.00"),
                                          (cast.member_west, plan_a, m2, "200.00")])  # fmt: skip
    pay_by_check(session, cast.group_a, "500.00", m1 + timedelta(days=3), invoices=[a1])
    pay_by_check(session, cast.group_b, "400.00", m1 + timedelta(days=3), invoices=[b1])
    pay_by_check(session, cast.group_a, "250.00", m2 + timedelta(days=3), invoices=[a2])
    agency_a = session.get(BrokerAgency, cast.users["broker_a"].broker.agency_id)
    agency_b = session.get(BrokerAgency, cast.users["broker_other"].broker.agency_id)
    former = make_group(session, name="Foxglove Former Corp")
    plan_f = make_dental_plan(session, former)
    person = make_member(session, former, first_name="Zebulon", last_name="Quillfeather",
                         ssn="219-09-6543", birth_date=date(1979, 3, 14))  # fmt: skip
    change_broker_of_record(session, former, [Split(agency_a, "100")],
                            effective_from=date(2024, 1, 1))  # fmt: skip
    change_broker_of_record(session, former, [Split(agency_b, "100")], effective_from=m2)
    f1 = bill(session, former, m1, [(person, plan_f, m1, "120.00")])
    pay_by_check(session, former, "120.00", m1 + timedelta(days=4), invoices=[f1])
    specialist, supervisor = cast.users["billing_specialist"], cast.users["supervisor"]
    for month in (m1, m2):
        run = run_commissions(session, month, actor=specialist).run
        approve_run(session, run, actor=supervisor)
    run_commissions(session, m3, actor=specialist)
    session.commit()
    return Commissions(m1, m2, m3, former,
                       [cast.member_east, cast.member_west, cast.member_b, person])  # fmt: skip


@pytest.fixture
def book(session, cast) -> Commissions:
    return build_commissions(session, cast)


def test_the_book_shows_premium_by_month_renewal_and_former_groups(client, login_as, cast, book):
    login_as(cast.users["broker_a"])
    page = client.get("/broker/").get_data(as_text=True)
    row = plain(re.search(rf'<tr id="group-{cast.group_a.id}">.*?</tr>', page, re.S).group(0))
    # billed 1,000.00 over m1 and m2, collected 750.00; 100% share
    assert "1,000.00" in row and "750.00" in row and "100%" in row
    months = plain(re.search(r'<section class="card" id="book-months">.*?</section>', page,
                             re.S).group(0))  # fmt: skip
    assert f"{book.m2:%b %Y} 500.00 250.00 250.00" in months
    assert f"{book.m1:%b %Y} 500.00 500.00 0.00" in months
    former = plain(re.search(r'id="former-groups">.*?</section>', page, re.S).group(0))
    assert "Foxglove Former Corp" in former and "120.00" in former

    detail = plain(client.get(f"/broker/groups/{book.former.id}").get_data(as_text=True))
    assert "was broker of record for this group" in detail
    assert f"{book.m1:%b %Y} 120.00 120.00" in detail
    assert f"{book.m2:%b %Y}" not in detail  # AG-B's month, not AG-A's

    group = plain(client.get(f"/broker/groups/{cast.group_a.id}").get_data(as_text=True))
    assert "Next renewal" in group and f"{book.m2:%b %Y} 500.00 250.00 250.00" in group

    # The other agency: its current group is the former one; group A is a 404.
    login_as(cast.users["broker_other"])
    assert client.get(f"/broker/groups/{cast.group_a.id}").status_code == 404
    assert client.get(f"/broker/groups/{book.former.id}").status_code == 200
    assert client.get(f"/broker/groups/{cast.group_a.id}/disclosure").status_code == 404


def _pdf_text(data: bytes) -> str:
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                          check=True, timeout=60)  # fmt: skip
    return done.stdout.decode()


def test_statements_downloads_and_year_to_date(client, login_as, cast, book):
    login_as(cast.users["broker_a"])
    listing = client.get(f"/broker/statements?year={book.m2.year}").get_data(as_text=True)
    p1, p2, p3 = (f"{m:%Y-%m}" for m in (book.m1, book.m2, book.m3))
    assert f'id="statement-{p2}"' in listing
    assert f'id="statement-{p3}"' not in listing  # open: not a statement yet
    # m1: A 50.00 + the former group 12.00; m2: A 25.00
    page = plain(client.get(f"/broker/statements/{p1}").get_data(as_text=True))
    assert "Foxglove Former Corp" in page and "Net for the month $62.00" in page
    statement = client.get(f"/broker/statements/{p2}").get_data(as_text=True)
    assert 'id="statement-net">$25.00' in statement

    csv = client.get(f"/broker/statements/{p2}/statement.csv")
    assert csv.status_code == 200 and "no-store" in csv.headers["Cache-Control"]
    frame = pd.read_csv(io.BytesIO(csv.data), dtype=str, keep_default_na=False)
    assert sum(D(x) for x in frame["Commission"] if x) == D("25.00")
    xlsx = client.get(f"/broker/statements/{p2}/statement.xlsx")
    sheet = pd.read_excel(io.BytesIO(xlsx.data), engine="calamine")
    assert Decimal(str(sheet["Commission"].dropna().sum())) == D("25")
    pdf = client.get(f"/broker/statements/{p2}/statement.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    if shutil.which("pdftotext"):
        assert "25.00" in _pdf_text(pdf.data)

    if book.m1.year == book.m2.year:
        ytd = plain(re.search(r'id="year-to-date">.*?</section>', listing, re.S).group(0))
        assert "Commission earned (with adjustments) 87.00" in ytd
        assert "Net approved 87.00" in ytd

    assert client.get(f"/broker/statements/{p3}").status_code == 404  # open run
    assert client.get(f"/broker/statements/{p3}/statement.pdf").status_code == 404
    assert client.get("/broker/statements/2001-01").status_code == 404  # no run
    assert client.get("/broker/statements/not-a-month").status_code == 404

    # AG-B had lines in m1 only (group B 40.00): its m2 statement does not exist; A's m2
    # lines are never shown to it.
    login_as(cast.users["broker_other"])
    assert client.get(f"/broker/statements/{p2}").status_code == 404
    assert client.get(f"/broker/statements/{p2}/statement.csv").status_code == 404
    other = plain(client.get(f"/broker/statements/{p1}").get_data(as_text=True))
    assert "Net for the month $40.00" in other and cast.group_a.name not in other


def test_the_disclosure_gives_the_plan_years_compensation_in_dollars(
    client, login_as, cast, book, session
):
    login_as(cast.users["broker_a"])
    response = client.get(f"/broker/groups/{cast.group_a.id}/disclosure")
    assert response.status_code == 200
    page = plain(response.get_data(as_text=True))
    total = re.search(r'id="direct-total">([\d,.]+)<', response.get_data(as_text=True)).group(1)
    premium = re.search(r"Total expected direct compensation ([\d,.]+)", page).group(1)
    # 10% of the plan year's premium (billed months, the rest estimated at 500.00 a month)
    assert D(total.replace(",", "")) == D(premium.replace(",", "")) / 10
    assert D(premium.replace(",", "")) >= D("500.00")
    assert "10% of premium collected" in page
    assert NO_INDIRECT.split(".")[0] in page
    assert "Consolidated Appropriations Act" in page
    rows = session.scalars(select(BrokerOfRecord).where(BrokerOfRecord.group_id == cast.group_a.id))
    assert all(r.commission_split_percent == D("100.00") for r in rows)
