"""The collections pages: the worklist lists the delinquent groups (and only them) with their
filters and export links; a group's page logs a call and records a promise (asked, then
confirmed) through its forms, each needing its CSRF token; non-staff users are refused; the
CSV export neutralises a formula typed into a contact's outcome."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core.collections.sweep import run_sweep
from billing_core.models.collections import (
    CollectionContact,
    GroupDelinquency,
    PromiseStatus,
    PromiseToPay,
)
from portal.web import today
from tests.factories import make_group, make_invoice
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token


@pytest.fixture
def late(session, cast):
    """Group A owes 1,500.00 due 20 days ago (in grace after today's sweep), group B 400.00
    due 5 days ago (past due); a third group owes nothing late."""
    on = today()
    make_invoice(session, cast.group_a, Decimal("1500.00"), on - timedelta(days=20))
    make_invoice(session, cast.group_b, Decimal("400.00"), on - timedelta(days=5))
    quiet = make_group(session, name="Quiet Payers")
    make_invoice(session, quiet, Decimal("900.00"), on + timedelta(days=10))
    run_sweep(session, on)
    session.commit()
    return quiet


def test_the_worklist_lists_the_delinquent_groups(client, login_as, cast, late, session):
    login_as(cast.users["billing_specialist"])
    page = client.get("/admin/collections")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Acme Tooling" in html and "Borealis Foods" in html and "Quiet Payers" not in html
    assert html.index("Acme Tooling") < html.index("Borealis Foods")  # more overdue first
    assert "1,500.00" in html and "In grace" in html and "Agency AG-A" in html
    assert 'href="/admin/collections"' in html  # the navigation link
    assert "/admin/reports/collections_worklist/download/csv" in html
    only_b = client.get("/admin/collections?state=past_due").get_data(as_text=True)
    assert "Borealis Foods" in only_b and "Acme Tooling" not in only_b
    group_page = client.get(f"/admin/groups/{cast.group_a.id}").get_data(as_text=True)
    assert f"/admin/groups/{cast.group_a.id}/collections" in group_page


def test_logging_a_call_and_a_promise_through_the_forms(client, login_as, cast, late, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{cast.group_a.id}/collections"
    page = client.get(url).get_data(as_text=True)
    assert "In grace" in page or "In grace".lower() in page.lower()
    follow = (today() + timedelta(days=3)).isoformat()
    response = client.post(
        f"{url}/contacts",
        data={"kind": "call", "outcome": "spoke to AP: check next week",
              "next_follow_up_on": follow, "csrf_token": csrf_token(client, url)},
    )  # fmt: skip
    assert response.status_code == 303
    [contact] = session.scalars(select(CollectionContact)).all()
    assert (contact.kind.value, contact.by, contact.next_follow_up_on.isoformat()) == (
        "call", cast.users["billing_specialist"].email, follow,
    )  # fmt: skip
    assert "spoke to AP: check next week" in client.get(url).get_data(as_text=True)

    promised = today() + timedelta(days=7)
    data = {"amount": "1,500.00", "promised_on": promised.isoformat(), "note": "by wire",
            "csrf_token": csrf_token(client, url)}  # fmt: skip
    asked = client.post(f"{url}/promises", data=data)
    assert asked.status_code == 200 and "Confirm: promise of $1,500.00" in asked.get_data(
        as_text=True
    )
    session.expire_all()
    assert session.scalars(select(PromiseToPay)).all() == []  # asked, nothing recorded yet
    done = post_confirmed(client, f"{url}/promises", data)
    assert done.status_code == 303
    session.expire_all()
    [promise] = session.scalars(select(PromiseToPay)).all()
    assert (promise.amount, promise.promised_on, promise.status) == (
        Decimal("1500.00"), promised, PromiseStatus.OPEN,
    )  # fmt: skip
    row = session.get(GroupDelinquency, cast.group_a.id)
    assert (row.paused_reason, row.paused_until) == ("promise", promised)
    worklist = client.get("/admin/collections").get_data(as_text=True)
    assert "open: $1,500.00 by" in worklist and "clock paused: promise" in worklist

    past = {**data, "promised_on": (today() - timedelta(days=1)).isoformat(),
            "csrf_token": csrf_token(client, url)}  # fmt: skip
    refused = client.post(f"{url}/promises", data=past, follow_redirects=True)
    assert "is in the past" in refused.get_data(as_text=True)
    session.expire_all()
    assert len(session.scalars(select(PromiseToPay)).all()) == 1


def test_the_forms_need_their_csrf_token(client, login_as, cast, late, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{cast.group_a.id}/collections"
    assert client.post(f"{url}/contacts", data={"kind": "call", "outcome": "x"}).status_code == 400
    no_token = {"amount": "10", "promised_on": today().isoformat()}
    assert client.post(f"{url}/promises", data=no_token).status_code == 400
    session.expire_all()
    assert session.scalars(select(CollectionContact)).all() == []
    assert session.scalars(select(PromiseToPay)).all() == []


@pytest.mark.parametrize("role", ["employer_a", "employer_b", "broker_a"])
def test_non_staff_users_are_refused(client, login_as, cast, late, role):
    login_as(cast.users[role])
    assert client.get("/admin/collections").status_code == 403
    assert client.get(f"/admin/groups/{cast.group_a.id}/collections").status_code == 403


def test_an_unknown_group_is_a_404_for_staff(client, login_as, cast, late):
    login_as(cast.users["supervisor"])
    assert client.get("/admin/groups/999999/collections").status_code == 404


def test_the_csv_export_neutralises_formula_cells(client, login_as, cast, late, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{cast.group_a.id}/collections"
    client.post(
        f"{url}/contacts",
        data={"kind": "call", "outcome": "=HYPERLINK(\"http://x\",\"pay\")",
              "csrf_token": csrf_token(client, url)},
    )  # fmt: skip
    csv = client.get(
        f"/admin/reports/collections_worklist/download/csv?as_of={today().isoformat()}"
    )
    text = csv.get_data(as_text=True)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert "Acme Tooling" in text and "Borealis Foods" in text and "Quiet Payers" not in text
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text and '"=HYPERLINK' not in text
    xlsx = client.get(
        f"/admin/reports/collections_worklist/download/xlsx?as_of={today().isoformat()}"
    )
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_the_worklist_pages_with_totals_over_the_whole_list(
    client, login_as, cast, late, session, monkeypatch
):
    """One page at a time (issue 19), ranked in SQL: page N of M, the filters and sort kept in
    the pager's links, the totals over every page."""
    monkeypatch.setattr("admin.views.collections.PER_PAGE", 1)
    login_as(cast.users["billing_specialist"])
    first = client.get("/admin/collections?sort=rank").get_data(as_text=True)
    assert "Page 1 of 2" in first and "2 delinquent groups" in first and "1,900.00" in first
    assert "Acme Tooling" in first and "Borealis Foods" not in first
    assert "page=2" in first and "sort=rank" in first
    second = client.get("/admin/collections?sort=rank&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and "Borealis Foods" in second and "Acme Tooling" not in second
    assert "2 delinquent groups" in second
    last = client.get("/admin/collections?page=99").get_data(as_text=True)
    assert "Page 2 of 2" in last and "Borealis Foods" in last
    by_amount = client.get("/admin/collections?sort=overdue").get_data(as_text=True)
    assert "Borealis Foods" in by_amount and "Acme Tooling" not in by_amount  # smaller first
