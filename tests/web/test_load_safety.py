"""Load safety (issue 17, finding 5): while a large upload is being read by the background job,
another user logs in and opens their invoice on SQLite; the job still finishes. The app runs as
in development (its own engine on a database file, WAL, no Redis, the local job runner thread),
driven by two test clients; the job is held in the middle of its read (a read transaction open,
after other users have committed) by threading Events, not timing."""

from __future__ import annotations

import io
import threading
import time
from datetime import date

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from billing_core import jobs, migrate
from billing_core.census import processing
from billing_core.config import Settings
from billing_core.db import make_engine, make_session_factory
from billing_core.models import Member, Plan, Upload
from billing_core.models.enums import JobStatus, UploadStatus
from portal import create_app
from tests.factories import PASSWORD, scenario
from tests.web.conftest import csrf_token

ROWS = 40_000  # about 2.4 MB: above CENSUS_INLINE_MAX_BYTES, so the job reads it
QUICK = 5.0  # seconds: a page or a login answered while the job reads (the busy timeout is 15)
WAIT = 60.0  # seconds at most for the job to reach a stage, on a slow machine


@pytest.fixture
def world(tmp_path):
    """A database file with the scenario, the app on it as in development, and the job
    runner stopped afterwards."""
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        cast = scenario(session)
        session.commit()
        plan_code = session.scalar(select(Plan.code).where(Plan.group_id == cast.group_a.id))
    settings = Settings.from_env().with_overrides(
        database_url=url, redis_url="", job_runner="thread"
    )
    app = create_app({"SETTINGS": settings, "TESTING": True})
    yield app, cast, plan_code, factory
    assert jobs.stop_local_runners() is None
    app.extensions["db_engine"].dispose()
    engine.dispose()


def _log_in(client, user) -> float:
    """Log `user` in through the login form; the seconds the login itself took."""
    token = csrf_token(client, "/login")
    started = time.monotonic()
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    took = time.monotonic() - started
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return took


def _post_file(client, url: str, name: str, data: bytes):
    """Send a change file from the upload form. The body is encoded in memory: the test
    client's own encoding spools a large file to a temporary file it never closes."""
    boundary, body = encode_multipart(
        {
            "csrf_token": csrf_token(client, url),
            "kind": "change",
            "census_file": FileStorage(io.BytesIO(data), name),
        }
    )
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _large_add_file(plan_code: str, rows: int = ROWS) -> bytes:
    """`rows` new hires, each with dental coverage from January 2027 (a month already billed,
    so every add would be repriced for it: far beyond the pricing bound)."""
    lines = ["Employee ID,First Name,Last Name,Date of Birth,SSN,Dental Plan,Dental Tier,Action"]
    for n in range(rows):
        ssn = f"{100 + n // 10000:03d}-{1 + n // 100 % 99:02d}-{1000 + n % 9000:04d}"
        lines.append(f"N{n:06d},Ann{n},Lee{n},01/02/1980,{ssn},{plan_code},EE,Add")
    return ("\n".join(lines) + "\n").encode()


def test_another_user_logs_in_and_opens_their_invoice_while_a_large_upload_is_read(
    world, monkeypatch
):
    app, cast, plan_code, factory = world
    reading, go_on, finished = threading.Event(), threading.Event(), threading.Event()
    real_diff, real_process = processing.read_and_diff, processing.process_upload

    def diff_then_hold(*args, **kwargs):
        read = real_diff(*args, **kwargs)  # the job's read transaction is open here
        reading.set()
        go_on.wait(WAIT)
        return read

    def process_then_say_so(*args, **kwargs):
        try:
            return real_process(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(processing, "read_and_diff", diff_then_hold)
    monkeypatch.setattr(processing, "process_upload", process_then_say_so)

    data = _large_add_file(plan_code)
    assert len(data) > app.config["SETTINGS"].census_inline_max_bytes
    sender, other = app.test_client(), app.test_client()
    _log_in(sender, cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    started = time.monotonic()
    response = _post_file(sender, url, "everyone.csv", data)
    assert response.status_code == 303 and time.monotonic() - started < QUICK  # not read here
    with factory() as session:
        upload = session.scalar(select(Upload).where(Upload.group_id == cast.group_a.id))
        assert upload.job_status in (JobStatus.QUEUED, JobStatus.RUNNING)
        upload_id = upload.id
    try:
        assert reading.wait(WAIT), "the job never reached its comparison with enrollment"
        with factory() as session:
            assert session.get(Upload, upload_id).job_status is JobStatus.RUNNING

        # Another employer logs in (a write: the login is recorded) and opens their invoice.
        assert _log_in(other, cast.users["employer_b"]) < QUICK
        invoice = f"/employer/groups/{cast.group_b.id}/invoices/{cast.invoice_b.id}"
        started = time.monotonic()
        page = other.get(invoice)
        assert page.status_code == 200 and time.monotonic() - started < QUICK
        assert cast.invoice_b.invoice_number in page.get_data(as_text=True)
        # The sender's page answers too, with the job's progress.
        progress = sender.get(f"{url}/{upload_id}/status", headers={"HX-Request": "true"})
        assert progress.status_code == 200 and "every 1s" in progress.get_data(as_text=True)
    finally:
        go_on.set()

    # While the job prices and records what it read, the invoice keeps opening.
    for _ in range(200):
        if finished.is_set():
            break
        started = time.monotonic()
        assert other.get(invoice).status_code == 200
        assert time.monotonic() - started < QUICK
    assert finished.wait(WAIT)

    # The logins committed while the job's read was open, yet its writes went through.
    with factory() as session:
        done = session.get(Upload, upload_id)
        assert (done.job_status, done.job_error, done.error_count) == (JobStatus.DONE, None, 0)
        assert done.row_count == ROWS and done.status is UploadStatus.RECEIVED
        # Pricing 40,000 late adds one by one is beyond the bound: said, not attempted.
        assert "not priced here" in done.impact["unpriced"]
        assert "40,000 changes reaching back into months already billed" in done.impact["unpriced"]
        assert session.scalar(select(Member).where(Member.employee_id == "N000001")) is None
    page = sender.get(f"{url}/{upload_id}").get_data(as_text=True)
    assert "The premium impact of this file is not priced here" in page


def test_the_runner_is_not_the_request(world, monkeypatch):
    """The sender's request returns while the job has not even started (it waits on the runner
    thread), and the job then runs by itself, without anyone polling."""
    app, cast, plan_code, factory = world
    started, finished = threading.Event(), threading.Event()
    hold = threading.Event()
    real_process = processing.process_upload

    def held(*args, **kwargs):
        started.set()
        hold.wait(WAIT)
        try:
            return real_process(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(processing, "process_upload", held)
    client = app.test_client()
    _log_in(client, cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    response = _post_file(client, url, "big.csv", _large_add_file(plan_code))
    assert response.status_code == 303
    assert started.wait(WAIT)
    with factory() as session:
        upload = session.scalar(select(Upload))
        assert upload.job_status is JobStatus.QUEUED  # held before its claim
        assert upload.job_args["as_of"] == date.today().isoformat()
        assert upload.job_args["kind"] == "change"
    hold.set()
    assert finished.wait(WAIT)
    with factory() as session:
        assert session.scalar(select(Upload)).job_status is JobStatus.DONE


def test_the_runner_recovers_reads_left_behind(world, monkeypatch):
    """A read whose process died while reading, and one queued by a process that stopped
    before running it: when the sender looks at the page, this process's runner starts, reads
    the first again (its second start) and runs the other."""
    from billing_core.census.processing import CensusLimits, keep_for_processing
    from billing_core.models.enums import UploadKind
    from tests.web.test_upload_limits import _dead_worker, _term_file

    app, cast, _plan_code, factory = world
    finished, ran = threading.Event(), []
    real_process = processing.process_upload

    def counted(*args, **kwargs):
        try:
            return real_process(*args, **kwargs)
        finally:
            ran.append(args[1])
            if len(ran) == 2:
                finished.set()

    monkeypatch.setattr(processing, "process_upload", counted)
    with factory() as session:
        kept = [
            keep_for_processing(
                session,
                group,
                _term_file(member).encode(),
                f"{group.group_number}.csv",
                uploaded_by=cast.users["employer_a"],
                kind=UploadKind.CHANGE,
                as_of=date(2026, 12, 20),
                limits=CensusLimits(),
            ).upload
            for group, member in ((cast.group_a, cast.member_west), (cast.group_b, cast.member_b))
        ]
        died, waiting = kept
        died.job_status, died.job_worker, died.job_attempts = (
            JobStatus.RUNNING,
            _dead_worker(),
            1,
        )
        session.commit()
        died_id, waiting_id = died.id, waiting.id

    client = app.test_client()
    _log_in(client, cast.users["employer_a"])
    page = client.get(f"/employer/groups/{cast.group_a.id}/uploads/{died_id}")
    assert page.status_code == 200
    assert finished.wait(WAIT)
    assert sorted(ran) == sorted([died_id, waiting_id])
    with factory() as session:
        died, waiting = session.get(Upload, died_id), session.get(Upload, waiting_id)
        assert (died.job_status, died.job_attempts, died.error_count) == (JobStatus.DONE, 2, 0)
        assert (waiting.job_status, waiting.job_attempts) == (JobStatus.DONE, 1)
        assert died.job_message == "Read 1 row: 0 adds, 1 term, 0 changes"


def test_a_runner_with_too_many_jobs_waiting_says_so(world, monkeypatch):
    from billing_core.errors import JobQueueUnavailable

    app, _cast, _plan_code, _factory = world
    started, hold = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        started.set()
        hold.wait(WAIT)

    monkeypatch.setattr(jobs, "run_job", held)
    runner = jobs.LocalRunner(app.config["SETTINGS"], max_waiting=1)
    try:
        runner.submit("tests.a_job", 1)  # taken by the thread, and held there
        assert started.wait(WAIT)
        assert runner.submit("tests.a_job", 2).status == "queued"  # waits its turn
        with pytest.raises(JobQueueUnavailable, match="1 background job already waiting here"):
            runner.submit("tests.a_job", 3)
    finally:
        hold.set()
        assert runner.stop(WAIT)
    assert not runner.running
