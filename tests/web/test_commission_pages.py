"""The staff's commission pages (issue 21, item 3): a month's preview writes nothing and is
what the run then writes (to the cent); the run is confirmed first; the one who ran it cannot
approve it (the engine's refusal shown in words), nor can a specialist, another supervisor
does (confirmed first); each agency's statement page shows its lines and totals, with PDF, CSV
and XLSX downloads; the agency's schedules and broker of record are listed; CSRF is required;
an employer and a broker are refused."""

from __future__ import annotations

import html
import io
from datetime import date

from openpyxl import load_workbook
from sqlalchemy import func, select

from billing_core.commissions.preview import agency_totals
from billing_core.models.collections import DelinquencyState
from billing_core.models.commissions import CommissionLine, CommissionRun, CommissionRunStatus
from billing_core.money import D
from tests.unit.commissions.book import delinquent, make_book, month_bill, pay
from tests.unit.commissions.test_run import JAN, flat
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token

INDEX = "/admin/commissions"


def _book(session):
    book = make_book(session)
    flat(session, percent="5.5")
    invoice = month_bill(session, book, JAN, each="333.33")
    pay(session, book.group, "999.99", date(2026, 1, 10), invoice)
    session.commit()
    return book


def _text(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def _lines(session):
    return session.scalar(select(func.count()).select_from(CommissionLine))


def test_preview_run_approve_and_statements(client, login_as, cast, session):
    book = _book(session)
    login_as(cast.users["supervisor"])
    assert "No month has been run yet" in _text(client, INDEX)
    preview = _text(client, f"{INDEX}/preview?month=2026-01")
    assert "Would write 1 line, 55.00 net" in preview and book.agency_a.name in preview
    assert _lines(session) == 0 and session.scalar(select(CommissionRun.id)) is None

    assert client.post(f"{INDEX}/run", data={"month": "2026-01"}).status_code == 400  # CSRF
    token = csrf_token(client, f"{INDEX}/preview?month=2026-01")
    asked = client.post(f"{INDEX}/run", data={"month": "2026-01", "csrf_token": token})
    assert asked.status_code == 200 and "Run commissions for Jan 2026?" in asked.get_data(
        as_text=True
    )
    assert _lines(session) == 0  # asked, not run
    ran = post_confirmed(client, f"{INDEX}/run", {"month": "2026-01", "csrf_token": token})
    assert ran.status_code == 303
    run = session.scalar(select(CommissionRun))
    assert ran.headers["Location"].endswith(f"{INDEX}/runs/{run.id}")
    [totals] = agency_totals(session, run)
    assert (totals.lines, totals.earned, totals.net) == (1, D("55.00"), D("55.00"))  # = preview
    assert "nothing changed since the last pass" not in _text(client, f"{INDEX}/runs/{run.id}")
    assert "Nothing to write" in _text(client, f"{INDEX}/preview?month=2026-01")

    run_url = f"{INDEX}/runs/{run.id}"
    page = _text(client, run_url)
    assert "You ran this month: another supervisor approves it" in page
    refused = client.post(f"{run_url}/approve", data={"csrf_token": csrf_token(client, run_url)})
    assert refused.status_code == 303
    said = _text(client, run_url)
    assert "Not approved:" in said and "second person" in said
    session.expire_all()
    assert run.status is CommissionRunStatus.OPEN

    login_as(cast.users["billing_specialist"])
    refused = client.post(f"{run_url}/approve", data={"csrf_token": csrf_token(client, run_url)})
    assert "only a supervisor approves a commission run" in _text(client, run_url)

    login_as(book.supervisor)
    approved = post_confirmed(
        client, f"{run_url}/approve", {"csrf_token": csrf_token(client, run_url)}
    )
    assert approved.status_code == 303
    session.expire_all()
    assert run.status is CommissionRunStatus.APPROVED and run.approved_by_id == book.supervisor.id
    index = _text(client, INDEX)
    assert "Approved" in index and book.supervisor.email in index and "55.00" in index

    statement_url = f"{run_url}/agencies/{book.agency_a.id}"
    statement = _text(client, statement_url)
    assert "Commission statement: " + book.agency_a.name + ", Jan 2026" in statement
    assert "Total · net 55.00" in statement and "Preview" not in statement
    assert book.members[0].last_name not in statement
    pdf = client.get(f"{statement_url}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    csv_text = client.get(f"{statement_url}/csv").get_data(as_text=True)
    assert "55.00" in csv_text
    sheet = load_workbook(io.BytesIO(client.get(f"{statement_url}/xlsx").data)).worksheets[0]
    assert 55 in [c.value for row in sheet.iter_rows() for c in row]

    agency_page = _text(client, f"{INDEX}/agencies/{book.agency_a.id}")
    assert "Percent of premium" in agency_page and "5.50%" in agency_page
    assert book.group.group_number in agency_page and "100.00%" in agency_page
    assert "Jan 2026" in agency_page

    # the month is closed; an earlier month is refused in words
    assert "approved and closed" in _text(client, f"{INDEX}/preview?month=2026-01")
    bad = _text(client, f"{INDEX}/preview?month=2026-13")
    assert "Month" in bad and "Would write" not in bad


def test_a_hold_shows_in_the_preview_and_an_earlier_month_is_refused(
    client, login_as, cast, session
):
    book = _book(session)
    delinquent(session, book.group, DelinquencyState.IN_GRACE, date(2026, 1, 25))
    session.commit()
    login_as(cast.users["supervisor"])
    preview = _text(client, f"{INDEX}/preview?month=2026-01")
    assert "Would write 2 lines, 0.00 net" in preview and "-55.00" in preview
    token = csrf_token(client, INDEX)
    assert (
        post_confirmed(
            client, f"{INDEX}/run", {"month": "2026-02", "csrf_token": token}
        ).status_code
        == 303
    )
    refused = _text(client, f"{INDEX}/preview?month=2026-01")
    assert "This month cannot be run: commissions have been run for Feb 2026" in refused


def test_employer_and_broker_are_refused(client, login_as, cast):
    for who in ("employer_a", "broker_a"):
        login_as(cast.users[who])
        assert client.get(INDEX).status_code == 403
        assert client.get(f"{INDEX}/preview?month=2026-01").status_code == 403
        assert client.get(f"{INDEX}/runs/1/agencies/1/pdf").status_code == 403
        assert client.post(f"{INDEX}/run", data={"month": "2026-01"}).status_code in (400, 403)
