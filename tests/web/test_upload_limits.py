"""Upload limits (issue 17, finding 5): rows per file refused before the file is read, one file
read at a time per group, pricing bounded with its cost said, a background read claimed once,
and a read whose process died recovered. Jobs run inline here (the tests' connection); the real
runner thread is exercised in test_load_safety."""

from __future__ import annotations

import io
import socket
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from billing_core.census import processing
from billing_core.census.diff import diff_census
from billing_core.census.impact import PricingLimits, pricing_cost
from billing_core.census.processing import CensusLimits, keep_for_processing
from billing_core.census.reader import read_census
from billing_core.config import Settings
from billing_core.errors import BillingError
from billing_core.jobs import worker_alive, worker_id
from billing_core.models import Upload
from billing_core.models.enums import JobStatus, UploadKind, UploadStatus
from portal import create_app
from tests.web.conftest import csrf_token

THRESHOLD = 200  # bytes: larger files go through the background job
MAX_ROWS = 3


@pytest.fixture
def web_app(session_factory):
    settings = Settings().with_overrides(
        census_inline_max_bytes=THRESHOLD, census_max_rows=MAX_ROWS, job_runner="inline"
    )
    return create_app(
        {
            "TESTING": True,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
            "SETTINGS": settings,
        }
    )


def _rows(count: int, prefix: str = "N") -> str:
    lines = ["Employee ID,First Name,Last Name,Date of Birth,Action"]
    lines += [f"{prefix}{n},Ann,Lee{n},01/02/1980,Add" for n in range(count)]
    return "\n".join(lines) + "\n"


def _term_file(member, pad: int = 0) -> str:
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{member.employee_id},{member.first_name},{member.last_name},"
        f"{member.birth_date:%m/%d/%Y},Term,12/31/2026\n"
    )
    return text.ljust(pad, "\n") if pad else text


def _post(client, group, name: str, text: str, follow=True):
    url = f"/employer/groups/{group.id}/uploads"
    return client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "kind": "change",
            "census_file": (io.BytesIO(text.encode()), name),
        },
        follow_redirects=follow,
    )


def _queue(session, cast, text: str, name: str = "first.csv", group=None) -> Upload:
    queued = keep_for_processing(
        session,
        group or cast.group_a,
        text.encode(),
        name,
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=date(2026, 12, 20),
        limits=CensusLimits(max_rows=MAX_ROWS),
    )
    session.commit()
    return queued.upload


@pytest.mark.parametrize("pad", [0, THRESHOLD + 1], ids=["read-in-request", "read-by-job"])
def test_a_file_over_the_row_limit_is_refused_before_it_is_read(
    client, cast, login_as, session, monkeypatch, pad
):
    from billing_core.census import uploads

    def never(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(uploads, "read_census", never)
    login_as(cast.users["employer_a"])
    html = _post(client, cast.group_a, "hr.csv", _rows(MAX_ROWS + 1).ljust(pad, "\n"))
    page = html.get_data(as_text=True)
    assert "hr.csv has 4 rows; the portal reads at most 3 rows per file." in page
    assert "Split it into files of at most 3 rows" in page
    assert session.scalar(select(func.count()).select_from(Upload)) == 0  # nothing kept


def test_one_file_is_read_at_a_time_per_group(client, cast, login_as, session):
    first = _queue(session, cast, _term_file(cast.member_west, THRESHOLD + 1))
    assert first.job_status is JobStatus.QUEUED
    login_as(cast.users["employer_a"])
    page = _post(client, cast.group_a, "second.csv", _term_file(cast.member_east))
    html = page.get_data(as_text=True)
    assert "first.csv is still being read for this group" in html
    assert "one file is read at a time. Wait until it is done, then send second.csv again." in html
    assert session.scalar(select(func.count()).select_from(Upload)) == 1
    # The same file sent again is that upload, not a refusal.
    again = _post(client, cast.group_a, "first.csv", _term_file(cast.member_west, THRESHOLD + 1))
    assert "first.csv was received before: this is that upload." in again.get_data(as_text=True)
    # Another group is not held up.
    login_as(cast.users["employer_b"])
    other = _post(client, cast.group_b, "b.csv", _term_file(cast.member_b), follow=False)
    assert other.status_code == 303 and "/uploads/" in other.headers["Location"]

    # Once the first is read, the group takes the next.
    processing.process_upload(session, first.id)
    session.refresh(first)
    assert first.job_status is JobStatus.DONE and first.job_args["as_of"] == "2026-12-20"
    login_as(cast.users["employer_a"])
    done = _post(client, cast.group_a, "second.csv", _term_file(cast.member_east), follow=False)
    assert done.status_code == 303


def test_the_database_allows_one_read_per_group(session, cast):
    first = _queue(session, cast, _term_file(cast.member_west))
    with pytest.raises(BillingError, match="first.csv is still being read"):
        _queue(session, cast, _term_file(cast.member_east), "second.csv")
    session.rollback()
    # A second pending read written past the check is refused by the unique index.
    clone = Upload(
        group_id=cast.group_a.id,
        uploaded_by_id=first.uploaded_by_id,
        original_filename="sneaky.csv",
        file_format=first.file_format,
        file_kind=first.file_kind,
        content=b"x",
        size_bytes=1,
        sha256="0" * 64,
        job_status=JobStatus.RUNNING,
    )
    session.add(clone)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    # Nor is a read kept file queued again with new columns while another is pending.
    first.job_status = JobStatus.DONE
    other = _queue(session, cast, _term_file(cast.member_east), "second.csv")
    with pytest.raises(BillingError, match="second.csv is still being read for this group"):
        processing.queue_for_new_columns(session, first, chosen={"Employee ID": "employee_id"})
    assert other.job_status is JobStatus.QUEUED


def test_pricing_beyond_its_bounds_is_not_attempted_and_says_why(
    client, cast, login_as, session, web_app, monkeypatch
):
    from billing_core.census import impact

    def never(*args, **kwargs):
        raise AssertionError("priced")

    monkeypatch.setattr("billing_core.census.uploads.premium_impact", never)
    settings = web_app.config["SETTINGS"]
    web_app.config["SETTINGS"] = settings.with_overrides(census_pricing_max_retro_members=0)
    login_as(cast.users["employer_a"])
    page = _post(client, cast.group_a, "term.csv", _term_file(cast.member_west))
    html = page.get_data(as_text=True)
    assert "The premium impact of this file is not priced here: 1 change reaching back" in html
    assert "(at most 0 are priced here)" in html and "priced by the billing run" in html
    upload = session.scalar(select(Upload))
    assert "not priced here" in upload.impact["unpriced"]

    # The cost is counted before anything is priced: members x months, and late changes.
    today = date(2027, 1, 20)
    census = read_census(_term_file(cast.member_west).encode(), "t.csv", kind=UploadKind.CHANGE)
    cost = pricing_cost(
        session, cast.group_a, diff_census(session, cast.group_a, census, today), today
    )
    assert (cost.members, cost.period_months, cost.member_months) == (2, 1, 4)
    assert cost.retro_members == 1 and cost.next_period == date(2027, 2, 1)
    assert cost.over(PricingLimits(4, 1)) is None
    assert "the next bill is 2 members over 1 month, priced before and after (4 member-months;" in (
        cost.over(PricingLimits(3, 1))
    )
    assert impact.PricingLimits.from_settings(Settings()) == PricingLimits(100_000, 250)


def test_a_read_is_claimed_once(session, cast, monkeypatch):
    upload = _queue(session, cast, _term_file(cast.member_west))
    upload.job_status, upload.job_worker = JobStatus.RUNNING, "elsewhere:1:abc"
    session.commit()
    monkeypatch.setattr(processing, "_process", lambda *a: pytest.fail("ran twice"))
    assert processing.process_upload(session, upload.id) is JobStatus.RUNNING
    assert processing.queued_jobs(session) == []
    monkeypatch.undo()

    upload.job_status = JobStatus.QUEUED
    session.commit()
    assert processing.queued_jobs(session) == [(processing.PROCESS_UPLOAD, (upload.id,))]
    assert processing.process_upload(session, upload.id) is JobStatus.DONE
    assert (upload.job_worker, upload.job_attempts) == (worker_id(), 1)


def _dead_worker() -> str:
    """The worker id of a process of this host that has ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return f"{socket.gethostname()[:100]}:{ended.pid}:0000dead"


def test_a_read_whose_process_died_is_queued_again_once_then_failed(session, cast):
    now = datetime.now(UTC)
    upload = _queue(session, cast, _term_file(cast.member_west))
    other = _queue(session, cast, _term_file(cast.member_b), "b.csv", group=cast.group_b)
    upload.job_status, upload.job_worker, upload.job_attempts = (
        JobStatus.RUNNING,
        _dead_worker(),
        1,
    )
    other.job_status, other.job_worker, other.job_attempts = (
        JobStatus.RUNNING,
        "another-host:4242:abcd",  # cannot be asked: left to the age sweep
        1,
    )
    session.commit()

    recovered = processing.recover_jobs(session, now, worker_alive)
    assert [u.id for u in recovered] == [upload.id]
    session.refresh(upload)
    assert (upload.job_status, upload.job_worker) == (JobStatus.QUEUED, None)
    assert upload.job_message == processing.RESTARTED_MESSAGE
    assert other.job_status is JobStatus.RUNNING

    # A runner claims it and dies again: failed, with a message its sender can act on.
    upload.job_status, upload.job_worker, upload.job_attempts = (
        JobStatus.RUNNING,
        _dead_worker(),
        processing.MAX_ATTEMPTS,
    )
    session.commit()
    assert processing.recover_jobs(session, now, worker_alive) == [upload]
    session.refresh(upload)
    assert upload.job_status is JobStatus.FAILED
    assert upload.job_message == processing.STUCK_MESSAGE
    assert "stopped after 2 start(s)" in upload.job_error

    # Silent for longer than the sweep allows, wherever it ran: failed too.
    later = now + processing.STUCK_AFTER + timedelta(minutes=1)
    assert processing.recover_jobs(session, later, worker_alive) == [other]
    assert other.job_status is JobStatus.FAILED


def test_worker_ids_tell_a_live_process_from_an_ended_one():
    assert worker_alive(worker_id()) is True
    assert worker_alive(_dead_worker()) is False
    host, pid, _token = worker_id().split(":")
    assert worker_alive(f"{host}:{pid}:another") is False  # an earlier process with our pid
    assert worker_alive("another-host:1:abc") is None and worker_alive(None) is None


def test_a_queued_read_keeps_what_it_is_read_with(session, cast):
    upload = _queue(session, cast, _term_file(cast.member_west))
    assert upload.job_args == {
        "as_of": "2026-12-20",
        "kind": "change",
        "chosen": None,
        "limits": {
            "max_rows": MAX_ROWS,
            "pricing_max_member_months": 100_000,
            "pricing_max_retro_members": 250,
        },
    }
    assert (upload.job_attempts, upload.job_worker, upload.status) == (
        0,
        None,
        UploadStatus.RECEIVED,
    )


def test_the_staff_review_does_not_reconcile_beyond_the_bound(
    client, cast, login_as, session, web_app
):
    from tests.factories import receive_upload

    received = receive_upload(
        session,
        cast.group_a,
        _term_file(cast.member_west).encode(),
        "term.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=date.today(),
    )
    session.commit()
    review = f"/admin/groups/{cast.group_a.id}/uploads/{received.upload.id}"
    login_as(cast.users["billing_specialist"])
    assert "Reconciliation with the bill ·" in client.get(review).get_data(as_text=True)
    settings = web_app.config["SETTINGS"]
    web_app.config["SETTINGS"] = settings.with_overrides(census_pricing_max_member_months=0)
    html = client.get(review).get_data(as_text=True)
    assert "The reconciliation with the bill is not computed on this page" in html
    assert "it rates 1 member the file lists over the period (1 member-months; at most 0" in html
    assert "Reconciliation with the bill ·" not in html
