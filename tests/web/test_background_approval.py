"""Staff approval of an upload beyond the pricing bounds (issue 17, finding 5): the confirmation
shows the diff's counts and the cost figures, Confirm queues one background job (run inline
here, after the commit), and the job leaves enrollment and the pending adjustments exactly as
approval in the request does, under the same rules (the retro window, staff only)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from billing_core.census import approval, processing
from billing_core.census.processing import APPROVE_UPLOAD
from billing_core.census.uploads import approve_reviewed_upload, override_retro_window
from billing_core.config import Settings
from billing_core.models import Adjustment, AuditLog, Coverage, Member, Upload
from billing_core.models.enums import JobStatus, UploadKind, UploadStatus
from billing_core.money import D
from portal import create_app
from tests.factories import receive_upload
from tests.web.confirming import confirmation_form
from tests.web.conftest import csrf_token

DAY = date(2027, 4, 15)  # the term window (60 days) starts in February: January is outside
HEADER = "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"


@pytest.fixture
def web_app(session_factory):
    # Bounds low: one change reaching back into billed months is beyond them.
    settings = Settings().with_overrides(census_pricing_max_retro_members=0, job_runner="inline")
    return create_app(
        {
            "TESTING": True,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
            "SETTINGS": settings,
        }
    )


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr("admin.views.uploads.today", lambda: DAY)


def _term_west(session, cast, *, override=True) -> Upload:
    """West terminated Dec 31, 2026 (EE dental 38.20 billed for January), submitted; with a
    supervisor's override of the retro window unless `override` is False."""
    west = cast.member_west
    text = (
        HEADER + f"{west.employee_id},{west.first_name},{west.last_name},"
        f"{west.birth_date:%m/%d/%Y},Term,12/31/2026\n"
    )
    upload = receive_upload(
        session,
        cast.group_a,
        text.encode(),
        "changes.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=date(2027, 1, 20),
    ).upload
    if override:
        override_retro_window(
            session, upload, actor=cast.users["supervisor"], reason="HR letter", today=DAY
        )
    session.commit()
    return upload


def _outcome(session, group) -> tuple[list, list]:
    """The group's enrollment (coverage rows) and adjustments, as plain values."""
    coverages = session.execute(
        select(Coverage.member_id, Coverage.plan_id, Coverage.effective_from, Coverage.effective_to)
        .join(Member, Member.id == Coverage.member_id)
        .where(Member.group_id == group.id)
        .order_by(Coverage.member_id, Coverage.plan_id, Coverage.effective_from)
    ).all()
    adjustments = session.execute(
        select(
            Adjustment.member_id,
            Adjustment.plan_id,
            Adjustment.coverage_month,
            Adjustment.amount,
            Adjustment.reason_code,
            Adjustment.status,
            Adjustment.requires_supervisor,
            Adjustment.requested_by_id,
            Adjustment.source_id,
        ).order_by(Adjustment.coverage_month, Adjustment.amount)
    ).all()
    return [tuple(row) for row in coverages], [tuple(row) for row in adjustments]


def _review(cast, upload) -> str:
    return f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"


def _ask(client, url: str) -> tuple[str, str, list]:
    asked = client.post(f"{url}/approve", data={"csrf_token": csrf_token(client, url)})
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    return (page, *confirmation_form(page))


def test_beyond_the_bound_approval_is_a_job_that_leaves_what_the_request_would(
    client, cast, login_as, session
):
    upload = _term_west(session, cast)
    specialist = cast.users["billing_specialist"]
    # What approval in the request leaves (the same function, rolled back).
    with session.begin_nested() as savepoint:
        approve_reviewed_upload(session, upload, actor=specialist, today=DAY)
        session.flush()
        in_request = _outcome(session, cast.group_a)
        savepoint.rollback()
    session.expire_all()
    assert session.get(Upload, upload.id).status is UploadStatus.SUBMITTED
    assert in_request[1] and in_request[1][0][2:5] == (date(2027, 1, 1), D("-38.20"), "late_term")

    login_as(specialist)
    review = _review(cast, upload)
    page, action, fields = _ask(client, review)
    assert "in the background?" in page and "Members termed" in page
    assert "1 change, each repriced on its own (at most 0 in a request)" in page
    assert "member-months" in page and "its adjustments are not listed here" in page
    assert "Adjustments queued" not in page  # nothing was applied to show them
    session.expire_all()
    assert session.get(Upload, upload.id).job_status is None  # read in the request: no job

    done = client.post(action, data=dict(fields))
    assert done.status_code == 303  # answered at once; the job ran after the commit
    session.expire_all()
    upload = session.get(Upload, upload.id)
    assert (upload.status, upload.job_status, upload.job_kind) == (
        UploadStatus.APPROVED,
        JobStatus.DONE,
        "approve",
    )
    assert upload.reviewed_by_id == specialist.id
    assert _outcome(session, cast.group_a) == in_request
    assert upload.job_args["result"] == {
        "members_added": 0,
        "members_changed": 0,
        "members_termed": 1,
        "adjustments": len(in_request[1]),
        "net": str(sum((row[3] for row in in_request[1]), D("0"))),
    }
    audits = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert "upload.approval_queued" in audits and "upload.approved" in audits

    html = client.get(review).get_data(as_text=True)
    assert "Approved in the background:" in html and "1 termed" in html
    assert f"source=upload:{upload.id}" in html


def test_confirming_twice_queues_once_and_a_finished_job_does_nothing(
    client, cast, login_as, session, monkeypatch
):
    queued = []
    monkeypatch.setattr("billing_core.jobs.enqueue", lambda *args, **kwargs: queued.append(args))
    upload = _term_west(session, cast)
    login_as(cast.users["billing_specialist"])
    review = _review(cast, upload)
    _page, action, fields = _ask(client, review)
    client.post(action, data=dict(fields))
    again = client.post(action, data=dict(fields), follow_redirects=True)
    assert "already being approved" in again.get_data(as_text=True)
    assert queued == [(APPROVE_UPLOAD, upload.id)]
    session.expire_all()
    assert session.get(Upload, upload.id).being_approved
    # A runner in any process finds it waiting, as the approval it is (not a read).
    assert processing.queued_jobs(session) == [(APPROVE_UPLOAD, (upload.id,))]

    waiting = client.get(review).get_data(as_text=True)
    assert "Being approved (0%)" in waiting and "Waiting to be approved" in waiting
    employer_view = session.get(Upload, upload.id)
    assert employer_view.job_kind == "approve"  # the employer's pages do not say "being read"

    assert approval.approve_in_background(session, upload.id) is JobStatus.DONE
    before = _outcome(session, cast.group_a)
    assert approval.approve_in_background(session, upload.id) is JobStatus.DONE
    assert _outcome(session, cast.group_a) == before
    assert session.get(Upload, upload.id).status is UploadStatus.APPROVED


def test_the_job_applies_the_rules_of_approval(client, cast, login_as, session, monkeypatch):
    monkeypatch.setattr("billing_core.jobs.enqueue", lambda *args, **kwargs: None)
    upload = _term_west(session, cast, override=False)
    login_as(cast.users["billing_specialist"])
    review = _review(cast, upload)

    # Refused at once where the request can tell (no override of the retro window)...
    _page, action, fields = _ask(client, review)
    refused = client.post(action, data=dict(fields), follow_redirects=True)
    assert "Not approved: 1 change(s) are older than the retro window" in refused.get_data(
        as_text=True
    )
    session.expire_all()
    assert not session.get(Upload, upload.id).being_approved

    # ...and by the job itself, when things changed after it was queued.
    override_retro_window(
        session, upload, actor=cast.users["supervisor"], reason="HR letter", today=DAY
    )
    session.commit()
    _page, action, fields = _ask(client, review)
    client.post(action, data=dict(fields))
    session.expire_all()
    upload = session.get(Upload, upload.id)
    assert upload.being_approved
    upload.retro_override_at = None
    session.commit()
    assert approval.approve_in_background(session, upload.id) is JobStatus.FAILED
    session.expire_all()
    upload = session.get(Upload, upload.id)
    assert upload.status is UploadStatus.SUBMITTED and upload.job_status is JobStatus.FAILED
    assert upload.job_message.startswith(
        "Not approved: 1 change(s) are older than the retro window"
    )
    assert session.scalars(select(Adjustment)).all() == []
    html = client.get(review).get_data(as_text=True)
    assert "The background approval did not finish." in html and "older than the retro" in html

    # Only staff approve: a job whose actor is not staff fails the same way.
    upload.retro_override_at = datetime(2027, 4, 15, tzinfo=UTC)
    approval.queue_approval(session, upload, actor=cast.users["billing_specialist"], today=DAY)
    upload.job_args = {**upload.job_args, "actor_id": cast.users["employer_a"].id}
    session.commit()
    assert approval.approve_in_background(session, upload.id) is JobStatus.FAILED
    session.expire_all()
    upload = session.get(Upload, upload.id)
    assert upload.job_message == "Not approved: only billing staff approve uploads"
    assert upload.status is UploadStatus.SUBMITTED


def test_below_the_bound_nothing_changes(client, cast, login_as, session, web_app):
    web_app.config["SETTINGS"] = web_app.config["SETTINGS"].with_overrides(
        census_pricing_max_retro_members=250
    )
    upload = _term_west(session, cast)
    login_as(cast.users["billing_specialist"])
    page, _action, _fields = _ask(client, _review(cast, upload))
    assert "in the background" not in page and "Adjustments queued" in page
