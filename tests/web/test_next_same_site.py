"""`next=` after a staff decision goes back only to a path on this site (issue 17, finding 6):
an adjustment decision or a cash action given another site's address, or one a browser reads
as another site's (a backslash, a tab, two slashes), returns to its own queue instead."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token
from tests.web.test_adjustments import _adjustment
from tests.web.test_admin_payments import check

OFF_SITE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    " //evil.example/",
    "javascript:alert(1)",
]


def _stays_here(location: str, default: str) -> None:
    parts = urlsplit(location)
    assert parts.netloc in ("", "portal.test") and parts.path == default, location


@pytest.mark.parametrize("target", OFF_SITE)
def test_an_adjustment_decision_never_goes_off_site(client, cast, login_as, session, target):
    specialist = login_as(cast.users["billing_specialist"])
    adjustment = _adjustment(session, cast, "12.00", specialist)
    token = csrf_token(client, "/admin/adjustments")
    done = post_confirmed(
        client,
        f"/admin/adjustments/{adjustment.id}/approve",
        {"csrf_token": token, "next": target},
    )
    assert done.status_code == 303
    _stays_here(done.headers["Location"], "/admin/adjustments")
    gone = client.post(
        "/admin/adjustments/999999/reject", data={"csrf_token": token, "next": target}
    )
    _stays_here(gone.headers["Location"], "/admin/adjustments")


def test_a_same_site_next_is_kept(client, cast, login_as, session):
    specialist = login_as(cast.users["billing_specialist"])
    adjustment = _adjustment(session, cast, "12.00", specialist)
    back = f"/admin/adjustments?group={cast.group_a.group_number}"
    done = post_confirmed(
        client,
        f"/admin/adjustments/{adjustment.id}/approve",
        {"csrf_token": csrf_token(client, "/admin/adjustments"), "next": back},
    )
    assert done.headers["Location"].endswith(back)


@pytest.mark.parametrize("target", OFF_SITE)
def test_a_cash_action_never_goes_off_site(client, cast, login_as, session, target):
    login_as(cast.users["billing_specialist"])
    payment = check(session, cast.group_a, "400.00")
    response = client.post(
        f"/admin/payments/{payment.id}/reconciled",
        data={"csrf_token": csrf_token(client, "/admin/payments/new"), "next": target},
    )
    _stays_here(response.headers["Location"], "/admin/reconciliation")
