"""Payment plans through the pages: a collector proposes a schedule on a group's collections
page, edits it and makes the plan (asked, then confirmed; CSRF); a schedule that does not add
up is refused in words; the worklist shows the plan and the employer's dashboard its next
installment and what happens if it is missed; a plan is cancelled through its form (audited);
another group's plan is a 404; non-staff users are refused."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing_core.collections.sweep import run_sweep
from billing_core.models import AuditLog
from billing_core.models.collections import GroupDelinquency
from billing_core.models.payment_plans import PaymentPlan, PaymentPlanStatus
from portal.web import today
from tests.factories import make_invoice
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token


@pytest.fixture
def late(session, cast):
    """Group A owes 1,500.00 due 20 days ago: in grace after today's sweep."""
    make_invoice(session, cast.group_a, Decimal("1500.00"), today() - timedelta(days=20))
    run_sweep(session, today())
    session.commit()
    return cast.group_a


def schedule(client, url: str, lines: list[tuple[str, str]], **extra) -> dict:
    data = {"csrf_token": csrf_token(client, url), "note": "agreed by phone", **extra}
    for n, (due_on, amount) in enumerate(lines):
        data[f"lines-{n}-due_on"], data[f"lines-{n}-amount"] = due_on, amount
    return data


def plans(session) -> list[PaymentPlan]:
    session.expire_all()
    return session.scalars(select(PaymentPlan)).all()


def on(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


def test_a_collector_proposes_edits_and_makes_a_plan(client, login_as, cast, late, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{late.id}/collections"
    page = client.get(f"{url}?installments=4&first_on={on(10)}").get_data(as_text=True)
    assert "Overdue now: <strong>1,500.00</strong>" in page
    assert page.count('value="375.00"') == 4 and f'value="{on(10)}"' in page

    data = schedule(client, url, [(on(3), "300.00"), (on(33), "600.00"), (on(63), "600.00")],
                    first_is_down_payment="y")  # fmt: skip
    asked = client.post(f"{url}/plans", data=data)
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Confirm: payment plan of $1,500.00" in text
    assert "Down payment" in text and "900.00" in text  # the scheduled total to date
    assert plans(session) == []  # asked, nothing made yet

    done = post_confirmed(client, f"{url}/plans", data)
    assert done.status_code == 303
    [plan] = plans(session)
    assert plan.status is PaymentPlanStatus.OPEN and plan.note == "agreed by phone"
    assert [(i.seq, i.amount, i.down_payment) for i in plan.installments] == [
        (0, Decimal("300.00"), True), (1, Decimal("600.00"), False), (2, Decimal("600.00"), False),
    ]  # fmt: skip
    assert session.get(GroupDelinquency, late.id).paused_reason == "payment_plan"
    page = client.get(url).get_data(as_text=True)
    assert "<strong>In force</strong>" in page and "Cancel the plan" in page
    assert "Make the plan" not in page  # one open plan per group
    worklist = client.get("/admin/collections").get_data(as_text=True)
    assert "Plan in force: next $300.00 by" in worklist and "clock paused: payment plan" in worklist

    login_as(cast.users["employer_a"])
    dashboard = client.get(f"/employer/groups/{late.id}").get_data(as_text=True)
    assert 'id="clock-plan"' in dashboard
    next_on = today() + timedelta(days=3)
    assert f"$300.00 by {next_on:%b} {next_on.day}, {next_on.year}" in dashboard
    last = next_on + timedelta(days=5)
    assert f"If it is not received by <strong>{last:%b} {last.day}, {last.year}" in dashboard
    assert "on hold because of a payment plan" in dashboard


def test_a_schedule_that_does_not_add_up_is_refused(client, login_as, cast, late, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{late.id}/collections"
    data = schedule(client, url, [(on(5), "700.00"), (on(35), "700.00")])
    refused = client.post(f"{url}/plans", data=data, follow_redirects=True)
    text = refused.get_data(as_text=True)
    assert "Payment plan not made" in text
    assert "add up to $1,400.00, not the overdue balance of $1,500.00" in text
    half = schedule(client, url, [(on(5), "1500.00"), ("", "10.00")])
    text = client.post(f"{url}/plans", data=half, follow_redirects=True).get_data(as_text=True)
    assert "line 2: give both the date and the amount" in text
    assert plans(session) == []


def test_cancel_a_plan_through_its_form(client, login_as, cast, late, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{late.id}/collections"
    post_confirmed(client, f"{url}/plans", schedule(client, url, [(on(5), "1500.00")]))
    [plan] = plans(session)
    cancel = f"{url}/plans/{plan.id}/cancel"
    assert client.post(cancel, data={"reason": "x"}).status_code == 400  # no CSRF token
    no_reason = client.post(
        cancel, data={"reason": "", "csrf_token": csrf_token(client, url)}, follow_redirects=True
    )
    assert "Say why the plan is cancelled." in no_reason.get_data(as_text=True)
    done = client.post(cancel, data={"reason": "paying in full instead",
                                     "csrf_token": csrf_token(client, url)})  # fmt: skip
    assert done.status_code == 303
    [plan] = plans(session)
    assert (plan.status, plan.closed_reason) == (
        PaymentPlanStatus.CANCELLED,
        "paying in full instead",
    )
    assert session.get(GroupDelinquency, late.id).paused_reason is None
    audited = select(func.count()).where(AuditLog.action == "collections.payment_plan_cancelled")
    assert session.scalar(audited) == 1
    assert "Earlier plans" in client.get(url).get_data(as_text=True)


def test_csrf_other_groups_and_non_staff(client, login_as, cast, late, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{late.id}/collections"
    no_token = {"lines-0-due_on": on(5), "lines-0-amount": "1500.00"}
    assert client.post(f"{url}/plans", data=no_token).status_code == 400
    assert plans(session) == []
    post_confirmed(client, f"{url}/plans", schedule(client, url, [(on(5), "1500.00")]))
    [plan] = plans(session)
    other = f"/admin/groups/{cast.group_b.id}/collections"
    token = csrf_token(client, other)
    # Group A's plan under group B's address: 404, and an unknown group: 404.
    assert client.post(f"{other}/plans/{plan.id}/cancel",
                       data={"reason": "x", "csrf_token": token}).status_code == 404  # fmt: skip
    assert client.post("/admin/groups/999999/collections/plans",
                       data={"csrf_token": token}).status_code == 404  # fmt: skip
    assert plans(session)[0].status is PaymentPlanStatus.OPEN
    for role in ("employer_a", "broker_a"):
        login_as(cast.users[role])
        assert client.get(url).status_code == 403
    login_as(cast.users["employer_a"])
    token = csrf_token(client, f"/employer/groups/{late.id}")
    assert client.post(f"{url}/plans", data={**no_token, "csrf_token": token}).status_code == 403
    assert client.post(f"{url}/plans/{plan.id}/cancel",
                       data={"reason": "x", "csrf_token": token}).status_code == 403  # fmt: skip
