"""The cancellation page (issue 20, item 7) through the test client: a supervisor sees the
figures of a group pending cancellation, cancels it after a confirmation page showing the
overdue, the cure amount, the coverage end and the reinstatement window, then reverses the
bill issued for a later period by credit memo and reinstates the group once paid; a billing
specialist is refused by billing_core with a clear message; every form needs its CSRF token;
an employer gets 403 and an unknown group 404. The pages' today is patched."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core.billing.invoicing import issue_billing_run
from billing_core.collections.sweep import run_sweep
from billing_core.models import CreditMemo, Invoice
from billing_core.models.collections import DelinquencyState, GroupDelinquency
from billing_core.models.enums import InvoiceStatus, Role
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_user,
    pay_by_check,
)
from tests.web.confirming import confirmation_form, post_confirmed
from tests.web.conftest import csrf_token

S = DelinquencyState
BILL = Decimal("76.40")
PAGES = ("portal.web", "admin.views.cancellation", "admin.views.collections")


@pytest.fixture
def on_day(monkeypatch):
    def set_day(day: date) -> None:
        for module in PAGES:
            monkeypatch.setattr(f"{module}.today", lambda: day)

    return set_day


@pytest.fixture
def harbor(session):
    """Two members on dental (76.40 a bill); December paid, January and February unpaid,
    March issued Feb 3; pending cancellation from Feb 2, 2027."""
    group = make_group(session, state="CA", name="Harbor Co", contact_email="ap@harbor.test")
    plan = make_dental_plan(session, group)
    for _ in range(2):
        enroll(session, make_member(session, group), plan)
    bills = {}
    for month, run_date in ((12, None), (1, None), (2, None), (3, date(2027, 2, 3))):
        period = date(2026 if month == 12 else 2027, month, 1)
        [bills[month]] = issue_billing_run(
            session, period, group_numbers=[group.group_number], run_date=run_date
        ).issued
        if month == 12:
            pay_by_check(session, group, str(BILL), period, [bills[12]])
        if month == 1:
            run_sweep(session, date(2027, 1, 2))
            run_sweep(session, date(2027, 1, 11))
        if month == 2:
            run_sweep(session, date(2027, 2, 2))
    users = {
        "supervisor": make_user(session, Role.SUPERVISOR, email="sup@carrier.test"),
        "specialist": make_user(session, Role.BILLING_SPECIALIST, email="spec@carrier.test"),
        "employer": make_user(session, Role.EMPLOYER, groups=[group], email="hr@harbor.test"),
    }
    session.commit()
    return group, bills, users


def state_of(session, group):
    session.expire_all()
    return session.get(GroupDelinquency, group.id).state


def test_a_supervisor_cancels_after_seeing_the_figures_then_reverses_and_reinstates(
    client, login_as, session, harbor, on_day
):
    group, bills, users = harbor
    on_day(date(2027, 2, 5))
    login_as(users["supervisor"])
    url = f"/admin/groups/{group.id}/collections/cancellation"
    page = client.get(url).get_data(as_text=True)
    assert "Pending cancellation" in page and "152.80" in page
    assert "Dec 31, 2026" in page and "30 days from the cancellation" in page
    assert "Cancel for non-payment…" in page
    group_page = client.get(f"/admin/groups/{group.id}/collections").get_data(as_text=True)
    assert url in group_page

    asked = client.post(
        f"/admin/groups/{group.id}/collections/cancel",
        data={"note": "no answer to three calls", "csrf_token": csrf_token(client, url)},
    )
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200
    for shown in ("Cancel Harbor Co for non-payment?", "Overdue now (cure amount)", "152.80",
                  "Coverage ends on", "Dec 31, 2026", "until Mar 7, 2027",
                  bills[3].invoice_number, "Confirm: cancel for non-payment",
                  "Go back: do not cancel"):  # fmt: skip
        assert shown in text, shown
    assert state_of(session, group) is S.PENDING_CANCELLATION  # nothing done yet
    action, fields = confirmation_form(text)
    done = client.post(action, data=dict(fields))
    assert done.status_code == 303
    assert state_of(session, group) is S.CANCELLED

    preview = client.post(
        "/admin/billing",
        data={
            "period": "2027-04",
            "group": group.group_number,
            "csrf_token": csrf_token(client, "/admin/billing"),
        },  # fmt: skip
    ).get_data(as_text=True)
    assert (
        f"{group.group_number}: cancelled for non-payment on Feb 5, 2027: coverage ended "
        "Dec 31, 2026" in preview
    )
    page = client.get(url).get_data(as_text=True)
    assert "Bills issued for periods after the cancellation date" in page
    assert bills[3].invoice_number in page and "no answer to three calls" in page
    reversed_ = post_confirmed(
        client,
        f"/admin/groups/{group.id}/collections/reverse-later-bills",
        {
            "invoice_ids": str(bills[3].id),
            "reason": "not covered",
            "csrf_token": csrf_token(client, url),
        },  # fmt: skip
    )
    assert reversed_.status_code == 303
    [memo] = session.scalars(select(CreditMemo)).all()
    assert (memo.invoice_id, memo.amount) == (bills[3].id, BILL)
    session.expire_all()
    assert session.get(Invoice, bills[3].id).status is InvoiceStatus.VOID

    # Reinstating before payment is not offered, and refused in words; after payment it is.
    page = client.get(url).get_data(as_text=True)
    assert "Reinstate…" not in page and "by Mar 7, 2027, the group is reinstated" in page
    refused = post_confirmed_or_refused(client, group, url)
    assert refused.status_code == 303
    flashed = client.get(url).get_data(as_text=True)
    assert "still owes $152.80" in flashed and state_of(session, group) is S.CANCELLED
    pay_by_check(session, group, "152.80", date(2027, 2, 10), [bills[1], bills[2]])
    session.commit()
    on_day(date(2027, 2, 10))
    assert "Reinstate…" in client.get(url).get_data(as_text=True)
    reinstated = post_confirmed(
        client,
        f"/admin/groups/{group.id}/collections/reinstate",
        {"csrf_token": csrf_token(client, url)},
    )
    assert reinstated.status_code == 303
    assert state_of(session, group) is S.REINSTATED


def post_confirmed_or_refused(client, group, url):
    return client.post(
        f"/admin/groups/{group.id}/collections/reinstate",
        data={"csrf_token": csrf_token(client, url)},
    )


def test_a_specialist_is_refused_by_billing_core_with_a_clear_message(
    client, login_as, session, harbor, on_day
):
    group, _, users = harbor
    on_day(date(2027, 2, 5))
    login_as(users["specialist"])
    url = f"/admin/groups/{group.id}/collections/cancellation"
    page = client.get(url).get_data(as_text=True)
    assert "A supervisor cancels a group for non-payment." in page
    assert "Cancel for non-payment…" not in page
    response = client.post(
        f"/admin/groups/{group.id}/collections/cancel",
        data={"note": "", "csrf_token": csrf_token(client, url)},
    )
    assert response.status_code == 303
    shown = client.get(url).get_data(as_text=True)
    assert "Not cancelled: cancelling a group for non-payment needs a supervisor" in shown
    assert state_of(session, group) is S.PENDING_CANCELLATION


def test_every_form_needs_its_csrf_token(client, login_as, session, harbor, on_day):
    group, _, users = harbor
    on_day(date(2027, 2, 5))
    login_as(users["supervisor"])
    for action in ("cancel", "reverse-later-bills", "reinstate"):
        response = client.post(f"/admin/groups/{group.id}/collections/{action}", data={})
        assert response.status_code == 400, action
    assert state_of(session, group) is S.PENDING_CANCELLATION


def test_an_employer_gets_403_and_an_unknown_group_404(client, login_as, session, harbor):
    group, _, users = harbor
    login_as(users["employer"])
    assert client.get(f"/admin/groups/{group.id}/collections/cancellation").status_code == 403
    login_as(users["supervisor"])
    assert client.get("/admin/groups/999999/collections/cancellation").status_code == 404


def test_the_cli_cancels_and_reinstates_through_the_same_rule(web_app, session, harbor):
    group, bills, users = harbor
    runner = web_app.test_cli_runner()
    base = ["collections", "cancel", group.group_number, "--on", "2027-02-05", "--json"]
    refused = runner.invoke(args=[*base, "--as-user", users["specialist"].email])
    assert refused.exit_code == 1 and "needs a supervisor" in refused.output
    done = runner.invoke(args=[*base, "--as-user", users["supervisor"].email])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.output)
    assert (payload["coverage_ends_on"], payload["reinstate_until"], payload["overdue"]) == (
        "2026-12-31", "2027-03-07", "152.80",
    )  # fmt: skip
    assert payload["later_bills"] == [bills[3].invoice_number]
    assert state_of(session, group) is S.CANCELLED
    pay_by_check(session, group, "152.80", date(2027, 2, 10), [bills[1], bills[2]])
    session.commit()
    reinstate = ["collections", "reinstate", group.group_number, "--on", "2027-02-10"]
    back = runner.invoke(args=[*reinstate, "--as-user", users["supervisor"].email])
    assert back.exit_code == 0, back.output
    assert "reinstated on 2027-02-10" in back.output
    assert state_of(session, group) is S.REINSTATED
