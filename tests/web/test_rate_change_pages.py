"""The rates pages (issue 22, item 2): a renewal started, edited (a wrong value shown beside its
field), its impact shown per plan and per member, submitted, refused for the proposer, approved
by a second staff member after the confirmation; the history shows it; a closed change cannot
be edited; employers are refused."""

from __future__ import annotations

import html
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from billing_core.billing.invoicing import issue_billing_run
from billing_core.models import RateVersion
from billing_core.models.enums import Role
from billing_core.models.rate_changes import RateChange, RateChangeStatus
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_life_plan,
    make_member,
    make_user,
)
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token


def _page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def _post(client, url, values, page=None, prefix=""):
    data = {**values, f"{prefix}csrf_token": csrf_token(client, page or url)}
    return client.post(url, data=data)


def test_a_renewal_through_the_pages(client, login_as, session):
    group = make_group(session, renewal_month=1)
    dental = make_dental_plan(session, group)
    life = make_life_plan(session, group)
    for tier in ("EE", "FAM"):
        member = make_member(session, group)
        enroll(session, member, dental, tier)
        enroll(session, member, life, None)
    issue_billing_run(session, date(2024, 1, 1), group_numbers=[group.group_number])
    proposer = make_user(session, Role.BILLING_SPECIALIST)
    approver = make_user(session, Role.BILLING_SPECIALIST)
    session.commit()
    rates = f"/admin/groups/{group.id}/rates"

    login_as(proposer)
    assert "Rates, renewals and corrections" in _page(client, f"/admin/groups/{group.id}")
    page = _page(client, rates)
    assert dental.code in page and life.code in page and '<span class="badge">billed ' in page
    assert 'for="renewal-effective_from"' in page and 'for="correction-reason"' in page

    # A correction without a reason: the form again, the message beside the field.
    refused = _post(
        client,
        f"{rates}/correct",
        {"correction-effective_from": "2024-01-01"},
        page=rates,
        prefix="correction-",
    )
    assert refused.status_code == 422
    body = html.unescape(refused.get_data(as_text=True))
    assert 'id="correction-reason-errors"' in body and "Say why the rates are corrected." in body

    started = _post(
        client,
        f"{rates}/renew",
        {"renewal-effective_from": "2027-01-01"},
        page=rates,
        prefix="renewal-",
    )
    assert started.status_code == 303
    change = session.scalars(select(RateChange).where(RateChange.group_id == group.id)).one()
    change_url = f"{rates}/{change.id}"
    assert started.headers["Location"].endswith(change_url)
    page = _page(client, change_url)
    assert "Premium impact on current enrollment, January 2027" in page
    assert "Submit for approval" in page

    edit = f"{change_url}/plans/{dental.id}"
    form = _page(client, edit)
    assert 'for="tier_EE"' in form and 'value="38.20"' in form
    wrong = _post(
        client, edit,
        {"tier_EE": "39.1O", "tier_ES": "76.90", "tier_EC": "84.10", "tier_FAM": "112.40"},
    )  # fmt: skip
    assert wrong.status_code == 422
    body = html.unescape(wrong.get_data(as_text=True))
    assert 'id="tier_EE-errors"' in body and "expected a decimal amount such as 112.40" in body
    saved = _post(
        client, edit,
        {"tier_EE": "40.20", "tier_ES": "76.90", "tier_EC": "84.10", "tier_FAM": "120.40"},
    )  # fmt: skip
    assert saved.status_code == 303
    page = _page(client, f"{change_url}?members=1")
    assert "10.00" in page  # (40.20 - 38.20) + (120.40 - 112.40)
    assert page.count("8.00") >= 1 and "Per member" in page

    assert _post(client, f"{change_url}/submit", {}, page=change_url).status_code == 303
    page = _page(client, change_url)
    assert "awaiting approval" in page and "needs a second person" in page
    refused = _post(client, f"{change_url}/approve", {}, page=change_url)
    assert refused.status_code == 303
    session.expire_all()
    assert session.get(RateChange, change.id).status is RateChangeStatus.SUBMITTED
    assert (
        len(session.scalars(select(RateVersion).where(RateVersion.plan_id == dental.id)).all()) == 1
    )

    login_as(approver)
    done = post_confirmed(
        client, f"{change_url}/approve", {"csrf_token": csrf_token(client, change_url)}
    )
    assert done.status_code == 303
    session.expire_all()
    assert session.get(RateChange, change.id).status is RateChangeStatus.APPROVED
    versions = session.scalars(
        select(RateVersion).where(RateVersion.plan_id == dental.id).order_by(RateVersion.id)
    ).all()
    assert [(v.effective_from, v.effective_to) for v in versions] == [
        (date(2024, 1, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), None),
    ]
    assert {t.tier.value: t.monthly_rate for t in versions[1].tier_rates}["EE"] == Decimal("40.20")
    history = _page(client, f"/admin/groups/{group.id}/history")
    assert "Rates: renewal approved" in history and approver.email in history
    # An approved change is closed: its rates cannot be edited through the page.
    again = _post(client, edit, {"tier_EE": "1.00"}, page=change_url)
    assert again.status_code == 422
    session.expire_all()
    assert {t.tier.value: t.monthly_rate for t in versions[1].tier_rates}["EE"] == Decimal("40.20")


def test_employers_cannot_reach_the_rates_pages(client, login_as, session):
    group = make_group(session)
    make_dental_plan(session, group)
    employer = make_user(session, Role.EMPLOYER, groups=[group])
    session.commit()
    login_as(employer)
    assert client.get(f"/admin/groups/{group.id}/rates").status_code == 403
