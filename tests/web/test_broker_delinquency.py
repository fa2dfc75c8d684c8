"""Brokers see who is late (issue 20, item 11): the broker's book and a group's page show the
group's collections state, days past due and overdue amount after the sweep moved it; a group
that pays shows current; a broker sees their agency's groups only (another agency's group is
not listed and its id is a 404); no member name, SSN or date of birth appears on either page."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from billing_core.collections.contacts import take_promise
from billing_core.collections.sweep import run_sweep
from portal.web import today
from tests.factories import make_invoice


@pytest.fixture
def late_a(session, cast):
    """Group A owes 1,500.00 due 20 days ago: in grace after today's sweep. Group B (another
    agency's) owes 400.00 due 5 days ago."""
    on = today()
    make_invoice(session, cast.group_a, Decimal("1500.00"), on - timedelta(days=20))
    make_invoice(session, cast.group_b, Decimal("400.00"), on - timedelta(days=5))
    run_sweep(session, on)
    session.commit()
    return on


def _row(page: str, group_id: int) -> str:
    match = re.search(rf'<tr id="group-{group_id}">.*?</tr>', page, re.S)
    assert match, page
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))


def test_the_book_shows_who_is_late(client, login_as, cast, late_a, session):
    login_as(cast.users["broker_a"])
    page = client.get("/broker/").get_data(as_text=True)
    row = _row(page, cast.group_a.id)
    assert "In grace" in row and " 20 " in row and "1,500.00" in row
    assert "Groups late with premium" in page
    detail = client.get(f"/broker/groups/{cast.group_a.id}").get_data(as_text=True)
    standing = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", detail))
    assert "Collections state In grace" in standing
    assert "Days past due 20" in standing and "Overdue 1,500.00" in standing

    # A promise to pay shows as such (the clock is paused), still late.
    take_promise(session, cast.group_a, amount=Decimal("1500.00"),
                 promised_on=late_a + timedelta(days=7), actor=cast.users["supervisor"],
                 today=late_a)  # fmt: skip
    session.commit()
    row = _row(client.get("/broker/").get_data(as_text=True), cast.group_a.id)
    assert "Promise to pay by" in row and "In grace" in row
    late_only = client.get("/broker/?late=1").get_data(as_text=True)
    assert f'id="group-{cast.group_a.id}"' in late_only


def test_the_book_sorts_the_most_overdue_first(client, login_as, cast, late_a, session):
    """Agency AG-A also writes a second group owing 300.00 for 40 days."""
    from billing_core.models import BrokerOfRecord
    from tests.factories import make_group

    other = make_group(session, name="Zephyr Cafe")
    session.add(BrokerOfRecord(group_id=other.id, agency_id=cast.users["broker_a"].broker.agency_id,
                               effective_from=cast.group_a.original_effective_date))  # fmt: skip
    make_invoice(session, other, Decimal("300.00"), late_a - timedelta(days=40))
    session.commit()
    login_as(cast.users["broker_a"])

    def names(url: str) -> list[str]:
        page = client.get(url).get_data(as_text=True)
        return re.findall(r'<tr id="group-\d+"><td><a [^>]*>([^<]+)</a>', page)

    assert names("/broker/") == ["Acme Tooling", "Zephyr Cafe"]
    assert names("/broker/?sort=overdue") == ["Acme Tooling", "Zephyr Cafe"]
    assert names("/broker/?sort=days_past_due") == ["Zephyr Cafe", "Acme Tooling"]
    assert names("/broker/?sort=nonsense") == ["Acme Tooling", "Zephyr Cafe"]


def test_a_group_that_is_not_late_shows_current(client, login_as, cast):
    login_as(cast.users["broker_a"])
    row = _row(client.get("/broker/").get_data(as_text=True), cast.group_a.id)
    assert "Current" in row and "1,500.00" not in row
    late_only = client.get("/broker/?late=1").get_data(as_text=True)
    assert "None of your groups is late" in late_only


def test_a_broker_sees_no_member_data_and_only_their_agency(client, login_as, cast, late_a):
    login_as(cast.users["broker_a"])
    book = client.get("/broker/").get_data(as_text=True)
    detail = client.get(f"/broker/groups/{cast.group_a.id}").get_data(as_text=True)
    for page in (book, detail):
        for member in (cast.member_east, cast.member_west, cast.member_b):
            assert member.last_name not in page and member.member_key not in page
            assert member.birth_date.isoformat() not in page
            assert member.birth_date.strftime("%b %-d, %Y") not in page
        for ssn in ("219-09-9999", "219099999", "219-09-8888", "9999", "8888"):
            assert ssn not in page
    assert "Borealis Foods" not in book and f'id="group-{cast.group_b.id}"' not in book
    assert client.get(f"/broker/groups/{cast.group_b.id}").status_code == 404

    login_as(cast.users["broker_other"])
    other = client.get("/broker/").get_data(as_text=True)
    row = _row(other, cast.group_b.id)
    assert "Past due" in row and " 5 " in row and "400.00" in row
    assert "Acme Tooling" not in other
    assert client.get(f"/broker/groups/{cast.group_a.id}").status_code == 404
