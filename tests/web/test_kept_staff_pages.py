"""The collections worklist and the aging report keep their answer per process while nothing
they read has changed (billing_core.kept_reads): a second view runs fewer statements, and a
payment, a contact, a state's move, an installment decided in place or a group renamed by an
audited change between two views shows on the second."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing_core import audit
from billing_core.collections.contacts import log_contact
from billing_core.collections.payment_plans import Line, check_payment_plans, make_plan
from billing_core.collections.states import move
from billing_core.collections.sweep import run_sweep
from billing_core.models.collections import DelinquencyState, GroupDelinquency
from portal.web import today
from tests.factories import make_invoice, pay_by_check


@pytest.fixture
def late(session, cast):
    """Group A owes 1,500.00 due 20 days ago (in grace after today's sweep), group B 400.00
    due 5 days ago (past due)."""
    on = today()
    invoice = make_invoice(session, cast.group_a, Decimal("1500.00"), on - timedelta(days=20))
    make_invoice(session, cast.group_b, Decimal("400.00"), on - timedelta(days=5))
    run_sweep(session, on)
    session.commit()
    return invoice


def view(client, statements, path: str) -> tuple[str, int]:
    """The page's table (a flash message may come and go) and the statements the view ran."""
    before = len(statements)
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return html[html.index("<table") : html.index("</table>")], len(statements) - before


def test_the_worklist_is_kept_and_follows_a_payment_a_contact_and_a_move(
    client, login_as, cast, late, session, statements
):
    staff = login_as(cast.users["billing_specialist"])
    first, computed = view(client, statements, "/admin/collections")
    assert "1,500.00" in first and "In grace" in first
    again, kept = view(client, statements, "/admin/collections")
    assert again == first and kept < computed

    pay_by_check(session, cast.group_a, "600.00", today(), [late])
    session.commit()
    paid, _ = view(client, statements, "/admin/collections")
    assert "900.00" in paid and "1,500.00" not in paid

    log_contact(
        session, cast.group_a, kind="call", outcome="spoke to AP: wire on Friday",
        actor=staff, today=today(),
    )  # fmt: skip
    session.commit()
    called, _ = view(client, statements, "/admin/collections")
    assert "spoke to AP: wire on Friday" in called

    row = session.get(GroupDelinquency, cast.group_b.id)
    move(session, row, DelinquencyState.PENDING_CANCELLATION, reason="test", effective_on=today(),
         as_of=today())  # fmt: skip
    session.commit()
    moved, _ = view(client, statements, "/admin/collections")
    assert "Pending cancellation" in moved and "confirm the cancellation" in moved


def test_the_worklist_follows_an_installment_met_in_place(
    client, login_as, cast, late, session, statements
):
    """An installment decided by the plans' check changes no id and writes no audit row: the
    count of open installments in the marker sees it."""
    staff = login_as(cast.users["billing_specialist"])
    on = today()
    lines = [Line(on + timedelta(days=7), Decimal("500.00")),
             Line(on + timedelta(days=37), Decimal("1000.00"))]  # fmt: skip
    make_plan(session, cast.group_a, lines, actor=staff, today=on)
    pay_by_check(session, cast.group_a, "500.00", on, [late])
    session.commit()
    before, _ = view(client, statements, "/admin/collections")
    assert "next $500.00" in before and "(0 of 2 met)" in before
    assert view(client, statements, "/admin/collections")[0] == before  # kept

    assert check_payment_plans(session, on).met == 1
    session.commit()
    after, _ = view(client, statements, "/admin/collections")
    assert "next $1,000.00" in after and "(1 of 2 met)" in after


def test_the_aging_report_is_kept_and_follows_a_payment_and_a_rename(
    client, login_as, cast, late, session, statements
):
    login_as(cast.users["billing_specialist"])
    path = f"/admin/reports/aging?as_of={today().isoformat()}"
    first, computed = view(client, statements, path)
    assert "1,500.00" in first
    again, kept = view(client, statements, path)
    assert again == first and kept < computed
    sorted_by_total = view(client, statements, f"{path}&sort=-total_open")[0]
    assert view(client, statements, path)[0] == first  # another sort leaves the kept rows be

    pay_by_check(session, cast.group_a, "600.00", today(), [late])
    session.commit()
    paid, _ = view(client, statements, path)
    assert "900.00" in paid and "1,500.00" not in paid
    assert sorted_by_total != view(client, statements, f"{path}&sort=-total_open")[0]

    cast.group_a.name = "Acme Renamed Tooling"
    audit.record(session, "setup.group_changed", group_id=cast.group_a.id, detail={})
    session.commit()
    assert "Acme Renamed Tooling" in view(client, statements, path)[0]
