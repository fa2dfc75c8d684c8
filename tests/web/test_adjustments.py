"""The adjustment queue: staff approve within their authority, four eyes above it (on the
server, whatever the page shows), rejection needs a reason, and every decision is audited."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from billing_core.models import Adjustment, AuditLog
from billing_core.models.enums import AdjustmentStatus, Role
from billing_core.money import D
from tests.factories import make_user
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token


def _adjustment(session, cast, amount, requested_by):
    adjustment = Adjustment(
        group_id=cast.group_a.id,
        member_id=cast.member_east.id,
        plan_id=cast.invoice_a.lines[0].plan_id,
        coverage_month=date(2027, 1, 1),
        amount=D(amount),
        reason_code="late_add",
        source_type="upload",
        requested_by_id=requested_by.id,
    )
    session.add(adjustment)
    session.commit()
    return adjustment


def test_queue_approve_small_and_four_eyes_for_large(client, cast, login_as, session):
    specialist = cast.users["billing_specialist"]
    supervisor = cast.users["supervisor"]
    small = _adjustment(session, cast, "38.20", specialist)
    large = _adjustment(session, cast, "-1200.00", supervisor)

    login_as(specialist)
    page = client.get("/admin/adjustments").get_data(as_text=True)
    assert "Approve 38.20" in page and "Approve -1,200.00" not in page
    token = csrf_token(client, "/admin/adjustments")
    done = post_confirmed(
        client,
        f"/admin/adjustments/{small.id}/approve",
        {"csrf_token": token},
        follow_redirects=True,
    )
    assert "approved; the next invoice bills it" in done.get_data(as_text=True)
    refused = client.post(
        f"/admin/adjustments/{large.id}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert "needs a supervisor" in refused.get_data(as_text=True)

    login_as(supervisor)  # the requester of the large one
    token = csrf_token(client, "/admin/adjustments")
    own = client.post(
        f"/admin/adjustments/{large.id}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert "second person" in own.get_data(as_text=True)

    login_as(make_user(session, Role.SUPERVISOR))
    session.commit()
    token = csrf_token(client, "/admin/adjustments")
    post_confirmed(client, f"/admin/adjustments/{large.id}/approve", {"csrf_token": token})

    session.expire_all()
    assert session.get(Adjustment, small.id).status is AdjustmentStatus.APPROVED
    assert session.get(Adjustment, large.id).status is AdjustmentStatus.APPROVED
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.action.like("adjustment.%"))
    ).all()
    assert actions.count("adjustment.approve") == 2


def test_reject_needs_a_reason(client, cast, login_as, session):
    adjustment = _adjustment(session, cast, "12.00", cast.users["supervisor"])
    login_as(cast.users["billing_specialist"])
    token = csrf_token(client, "/admin/adjustments")
    blank = client.post(
        f"/admin/adjustments/{adjustment.id}/reject",
        data={"csrf_token": token, "note": ""},
        follow_redirects=True,
    )
    assert "say why" in blank.get_data(as_text=True)
    post_confirmed(
        client,
        f"/admin/adjustments/{adjustment.id}/reject",
        {"csrf_token": token, "note": "Employer sent the wrong file"},
    )
    session.expire_all()
    rejected = session.get(Adjustment, adjustment.id)
    assert rejected.status is AdjustmentStatus.REJECTED
    assert rejected.decision_note == "Employer sent the wrong file"


def test_authority_limit_comes_from_the_environment(session_factory):
    from billing_core.config import Settings
    from portal import create_app

    settings = Settings.from_env({"ADJUSTMENT_AUTHORITY_LIMIT": "250.00"})
    app = create_app({"SETTINGS": settings, "SESSION_FACTORY": session_factory, "TESTING": True})
    assert app.config["ADJUSTMENT_AUTHORITY_LIMIT"] == D("250.00")
    assert Settings.from_env({}).adjustment_authority_limit == D("500.00")
