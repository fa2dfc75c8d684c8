"""A census file above CENSUS_INLINE_MAX_BYTES is kept at once and read by a background job: inline
here (no REDIS_URL), and on a real Redis queue with an in-process RQ worker when Redis is up.
The page shows the job's progress, then the same preview or problems as a small file's."""

from __future__ import annotations

import io
import os
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from billing_core.census import processing
from billing_core.census.processing import FAILED_MESSAGE, PROCESS_UPLOAD, keep_for_processing
from billing_core.census.uploads import submit_upload
from billing_core.config import Settings
from billing_core.errors import BillingError, JobQueueUnavailable
from billing_core.jobs import enqueue
from billing_core.models import Upload
from billing_core.models.enums import JobStatus, UploadFormat, UploadKind, UploadStatus
from portal import create_app
from tests.conftest import IN_CI
from tests.web.conftest import csrf_token

THRESHOLD = 200  # bytes: the files below are larger, so they go through the job path


@pytest.fixture
def web_app(session_factory):
    settings = Settings().with_overrides(
        census_inline_max_bytes=THRESHOLD, redis_url="", job_runner="inline"
    )
    return create_app(
        {
            "TESTING": True,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
            "SETTINGS": settings,
        }
    )


def _term_file(member) -> str:
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{member.employee_id},{member.first_name},{member.last_name},"
        f"{member.birth_date:%m/%d/%Y},Term,12/31/2026\n"
    )
    assert len(text) < 2 * THRESHOLD
    return text.ljust(THRESHOLD + 1, "\n")  # blank lines: read as nothing


def _post(client, url, name, text, token):
    return client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "change",
            "census_file": (io.BytesIO(text.encode()), name),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def _post_small_file(client, cast, login_as) -> str:
    """Group A's employer uploads a change file below the size threshold: the page it lands on."""
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    token = csrf_token(client, url)
    text = _term_file(cast.member_west).rstrip("\n") + "\n"
    assert len(text) <= THRESHOLD
    return _post(client, url, "small.csv", text, token).get_data(as_text=True)


def test_a_large_file_is_read_by_the_job_and_previewed(client, cast, login_as, session):
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    token = csrf_token(client, url)
    page = _post(client, url, "big.csv", _term_file(cast.member_west), token)
    html = page.get_data(as_text=True)
    # Inline, the job has run before the redirect lands: the preview, as for a small file.
    assert "Westbrook" in html and "Dental: end" in html
    assert "-38.20" in html.split("Premium impact")[1]
    assert "<progress" not in html
    upload = session.scalar(select(Upload))
    session.refresh(upload)
    assert (upload.status, upload.job_status, upload.job_progress) == (
        UploadStatus.RECEIVED,
        JobStatus.DONE,
        100,
    )
    assert upload.job_message == "Read 1 row: 0 adds, 1 term, 0 changes"
    assert (upload.row_count, upload.error_count, upload.file_kind) == (1, 0, UploadKind.CHANGE)
    assert upload.column_mapping["Employee ID"] == "employee_id"

    submitted = client.post(
        f"{url}/{upload.id}/submit", data={"csrf_token": token}, follow_redirects=True
    )
    assert "was submitted; billing will review it" in submitted.get_data(as_text=True)


def test_the_page_shows_the_impact_the_job_priced_until_what_it_priced_from_changes(
    client, cast, login_as, session, monkeypatch
):
    """The job keeps the premium impact on the upload; the page shows it without pricing the
    group again (seconds for a large group, on every view), and prices it anew once what it
    was priced from has changed (here: the day)."""
    from billing_core.census import uploads
    from portal.employer import uploads as upload_views

    priced = []
    real = uploads.premium_impact
    monkeypatch.setattr(
        uploads, "premium_impact", lambda *a, **k: priced.append(k["today"]) or real(*a, **k)
    )
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    token = csrf_token(client, url)
    html = _post(client, url, "big.csv", _term_file(cast.member_west), token).get_data(True)
    assert "-38.20" in html.split("Premium impact")[1]
    assert len(priced) == 1  # by the job; the page that followed showed what it kept
    upload = session.scalar(select(Upload))
    session.refresh(upload)
    [dental] = upload.impact["products"]
    assert (dental["product"], dental["retro"]) == ("Dental PPO", "-38.20")
    assert upload.impact["retro_months"] == ["2027-01-01"] and len(upload.impact_basis) == 64

    for _ in range(2):
        page = client.get(f"{url}/{upload.id}").get_data(as_text=True)
        assert "-38.20" in page.split("Premium impact")[1]
    assert len(priced) == 1

    tomorrow = priced[0] + timedelta(days=1)
    monkeypatch.setattr(upload_views, "today", lambda: tomorrow)
    page = client.get(f"{url}/{upload.id}").get_data(as_text=True)
    assert "-38.20" in page.split("Premium impact")[1]
    assert priced == [priced[0], tomorrow]

    # Submitted, staff review the same figures: the submit does not make them stale.
    client.post(f"{url}/{upload.id}/submit", data={"csrf_token": token})
    login_as(cast.users["billing_specialist"])
    review = f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"
    assert "-38.20" in client.get(review).get_data(as_text=True).split("Premium impact")[1]
    assert priced == [priced[0], tomorrow]


def test_a_small_file_is_still_read_in_the_request(client, cast, login_as, session, monkeypatch):
    from billing_core.census import uploads

    priced = []
    real = uploads.premium_impact
    monkeypatch.setattr(
        uploads, "premium_impact", lambda *a, **k: priced.append(1) or real(*a, **k)
    )
    html = _post_small_file(client, cast, login_as)
    assert "Dental: end" in html and "-38.20" in html.split("Premium impact")[1]
    upload = session.scalar(select(Upload))
    assert upload.job_status is None and upload.job_progress is None
    # Priced once, in the request that kept it (the group may be large even if the file is not).
    assert priced == [1] and upload.impact["retro_total"] == "-38.20"


def test_a_small_file_for_a_large_group_is_read_by_the_job(client, cast, login_as, session):
    """Pricing rates the whole group: above CENSUS_INLINE_MAX_MEMBERS enrolled members even a
    one-line change file is read in the background."""
    app = client.application
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(census_inline_max_members=1)
    html = _post_small_file(client, cast, login_as)
    assert "Dental: end" in html
    upload = session.scalar(select(Upload))
    session.refresh(upload)
    assert upload.job_status is JobStatus.DONE  # the job's, not the request's, read
    assert Settings.from_env({"CENSUS_INLINE_MAX_MEMBERS": "250"}).census_inline_max_members == 250
    assert Settings.from_env({}).census_inline_max_members == 5_000


def test_a_large_file_with_problems_shows_them_on_its_page(client, cast, login_as, session):
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    token = csrf_token(client, url)
    text = "Employee ID,First Name,Last Name,DOB\nE1,Ann,Avery,13/45/1990\n".ljust(
        THRESHOLD + 1, "\n"
    )
    html = _post(client, url, "bad.csv", text, token).get_data(as_text=True)
    assert "bad.csv has problems; nothing from it is applied" in html
    assert "13/45/1990" in html and "not a real date" in html
    assert "Submit bad.csv" not in html
    upload = session.scalar(select(Upload))
    session.refresh(upload)
    assert upload.job_status is JobStatus.DONE and upload.error_count >= 1
    assert upload.status is UploadStatus.RECEIVED


def test_a_large_files_columns_are_fixed_through_the_job(
    client, cast, login_as, session, monkeypatch
):
    """Re-reading a large file with other columns could take longer than a page may wait: the
    job reads it again (inline here), and its page shows the result as after the first read."""
    reads = []
    real = processing._process
    monkeypatch.setattr(processing, "_process", lambda *a: reads.append(a[3:5]) or real(*a))
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    token = csrf_token(client, url)
    west = cast.member_west
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,Action,Fin\n"
        f"{west.employee_id},{west.first_name},{west.last_name},"
        f"{west.birth_date:%m/%d/%Y},Term,12/31/2026\n"
    ).ljust(THRESHOLD + 1, "\n")
    html = _post(client, url, "big.csv", text, token).get_data(as_text=True)
    assert "big.csv has problems" in html and "a termination needs the last day" in html
    upload = session.scalar(select(Upload))

    columns = {
        "Employee ID": "employee_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Date of Birth": "birth_date",
        "Action": "action",
        "Fin": "termination_date",
    }
    form = {"csrf_token": token}
    for i, (header, field) in enumerate(columns.items()):
        form[f"columns-{i}-header"], form[f"columns-{i}-field"] = header, field
    response = client.post(f"{url}/{upload.id}/mapping", data=form, headers={"HX-Request": "true"})
    detail = f"{url}/{upload.id}"
    assert response.headers["HX-Redirect"] == detail
    page = client.get(detail).get_data(as_text=True)
    assert "Dental: end" in page and "-38.20" in page.split("Premium impact")[1]
    assert [chosen for _kind, chosen in reads] == [None, columns]  # the job read it both times
    session.refresh(upload)
    assert upload.job_status is JobStatus.DONE and upload.error_count == 0
    assert upload.column_mapping["Fin"] == "termination_date"

    client.post(f"{detail}/submit", data={"csrf_token": token})
    late = client.post(f"{detail}/mapping", data=form, follow_redirects=True)
    assert "big.csv is submitted; its columns can no longer change" in late.get_data(as_text=True)
    assert len(reads) == 2


def _queued(session, cast, text: str, group=None) -> Upload:
    """A large file kept with its job queued (not run): what the page shows while it waits."""
    queued = keep_for_processing(
        session,
        group or cast.group_a,
        text.encode(),
        "big.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
    )
    session.commit()
    return queued.upload


def test_the_page_shows_progress_and_the_status_fragment_polls(client, cast, login_as, session):
    upload = _queued(session, cast, _term_file(cast.member_west))
    assert (upload.file_format, upload.job_status) == (UploadFormat.CSV, JobStatus.QUEUED)
    detail = f"/employer/groups/{cast.group_a.id}/uploads/{upload.id}"
    status = f"{detail}/status"
    login_as(cast.users["employer_a"])

    page = client.get(detail).get_data(as_text=True)  # no JavaScript: the page says where it is
    assert '<progress id="job-progress-' in page and 'value="0"' in page
    assert "Waiting to be read" in page and f'href="{detail}"' in page
    assert 'hx-trigger="every 1s"' in page and f'hx-get="{status}"' in page

    upload.job_status, upload.job_progress, upload.job_message = (
        JobStatus.RUNNING,
        40,
        "Validated 1 rows; comparing with enrollment",
    )
    session.commit()
    fragment = client.get(status, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" not in html and 'value="40"' in html and "40%" in html
    assert "comparing with enrollment" in html and 'hx-trigger="every 1s"' in html

    # The job (which claims only a queued upload: it was running as a picture above) finishes;
    # the next poll answers with the preview, and polling stops.
    upload.job_status = JobStatus.QUEUED
    session.commit()
    processing.process_upload(session, upload.id, date.today().isoformat(), "change")
    html = client.get(status, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in html and "Dental: end" in html and "every 1s" not in html
    assert "Dental: end" in client.get(status).get_data(as_text=True)  # no htmx: the page

    login_as(cast.users["employer_b"])
    assert client.get(status, headers={"HX-Request": "true"}).status_code == 404


def test_a_failed_job_is_recorded_and_leaves_the_upload_unread(
    client, cast, login_as, session, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("enrollment store unavailable (member 219-09-9999)")

    monkeypatch.setattr(processing, "read_and_diff", broken)
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    token = csrf_token(client, url)
    text = _term_file(cast.member_west)
    html = _post(client, url, "big.csv", text, token).get_data(as_text=True)
    assert "big.csv could not be read." in html and FAILED_MESSAGE in html
    assert "every 1s" not in html and "Submit big.csv" not in html
    upload = session.scalar(select(Upload))
    session.refresh(upload)
    assert upload.job_status is JobStatus.FAILED
    assert upload.job_error == "RuntimeError: enrollment store unavailable (member ***-**-9999)"
    assert "RuntimeError" not in html  # for staff, not the sender
    # Staff see it on the review queue, with the error (its SSN masked).
    login_as(cast.users["billing_specialist"])
    queue = client.get("/admin/uploads").get_data(as_text=True)
    assert "Files that could not be read" in queue and "big.csv" in queue
    assert "enrollment store unavailable (member ***-**-9999)" in queue
    assert "219-09-9999" not in queue
    login_as(cast.users["employer_a"])
    # Unread: what the job would have found was never written.
    assert (upload.status, upload.row_count, upload.column_mapping) == (
        UploadStatus.RECEIVED,
        0,
        None,
    )
    with pytest.raises(BillingError, match="has not been read yet"):
        submit_upload(session, upload, today=date(2026, 12, 6))

    # Uploading the same file again runs the job again.
    monkeypatch.undo()
    html = _post(client, url, "big.csv", text, token).get_data(as_text=True)
    assert "was received before" in html and "Dental: end" in html
    session.refresh(upload)
    assert (upload.job_status, upload.job_error, upload.row_count) == (JobStatus.DONE, None, 1)


def test_a_job_that_already_ran_is_not_run_again(session, cast):
    upload = _queued(session, cast, _term_file(cast.member_west))
    today = date.today().isoformat()
    assert processing.process_upload(session, upload.id, today, "change") is JobStatus.DONE
    upload.job_message = "kept"
    session.commit()
    assert processing.process_upload(session, upload.id, today, "change") is JobStatus.DONE
    assert upload.job_message == "kept"


def test_a_stuck_job_is_failed_by_the_sweep_once_and_the_file_can_be_sent_again(
    web_app, session, cast
):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    stuck = _queued(session, cast, _term_file(cast.member_west))
    fresh = _queued(session, cast, _term_file(cast.member_b), group=cast.group_b)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    session.execute(
        update(Upload)
        .where(Upload.id == stuck.id)
        .values(job_status=JobStatus.RUNNING, job_progress=40, job_updated_at=an_hour_ago)
    )
    session.commit()
    session.expire_all()

    result = web_app.test_cli_runner().invoke(args=["census", "sweep-jobs", "--json"])
    assert result.exit_code == 0, result.output
    assert '"failed_upload_ids": [' in result.output and str(stuck.id) in result.output
    session.expire_all()
    assert stuck.job_status is JobStatus.FAILED
    assert stuck.job_message == processing.STUCK_MESSAGE
    assert "no progress since" in stuck.job_error and "running, 40%" in stuck.job_error
    assert fresh.job_status is JobStatus.QUEUED  # moved recently: left alone

    # Twice changes nothing; the same bytes sent again are queued anew.
    assert processing.fail_stuck_jobs(session, datetime.now(UTC)) == []
    again = keep_for_processing(
        session,
        cast.group_a,
        stuck.content,
        "big.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
    )
    assert again.upload.id == stuck.id and again.needs_job
    assert stuck.job_status is JobStatus.QUEUED and stuck.job_error is None


# ---------------------------------------------------------------------------------------------
# On a real Redis queue, run by an in-process RQ worker against a SQLite file of its own (the
# worker opens its own connection, so the test's data must be committed, outside the outer
# transaction the other tests run in).

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_connection():
    from redis import Redis
    from redis.exceptions import RedisError

    connection = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except RedisError as exc:
        if IN_CI:
            raise
        pytest.skip(f"Redis at {REDIS_URL} unreachable ({exc}); start it with redis-server")
    yield connection
    connection.close()


def test_a_large_file_is_read_by_an_rq_worker(redis_connection, tmp_path, monkeypatch):
    from rq import Queue, SimpleWorker

    from billing_core import migrate
    from billing_core.db import make_engine, make_session_factory
    from tests.factories import scenario

    database_url = f"sqlite:///{tmp_path / 'worker.sqlite'}"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with make_session_factory(engine)() as session:
        cast = scenario(session)
        upload = _queued(session, cast, _term_file(cast.member_west))
        upload_id = upload.id
    engine.dispose()

    queue_name = f"census-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("DATABASE_URL", database_url)  # what the worker's own session opens
    settings = Settings().with_overrides(redis_url=REDIS_URL, database_url=database_url)
    queue = Queue(queue_name, connection=redis_connection)
    try:
        handle = enqueue(
            PROCESS_UPLOAD,
            upload_id,
            date.today().isoformat(),
            "change",
            None,
            settings=settings,
            queue_name=queue_name,
            redis_connection=redis_connection,
        )
        assert (handle.inline, handle.queue, handle.status) == (False, queue_name, "queued")
        assert queue.count == 1
        worker = SimpleWorker([queue], connection=redis_connection)
        assert worker.work(burst=True)
        assert queue.fetch_job(handle.id).get_status() == "finished"
    finally:
        queue.delete(delete_jobs=True)

    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        done = session.get(Upload, upload_id)
        assert (done.job_status, done.job_progress, done.row_count) == (JobStatus.DONE, 100, 1)
        assert done.job_message == "Read 1 row: 0 adds, 1 term, 0 changes"
    engine.dispose()


def test_an_unreachable_queue_is_refused_clearly():
    settings = Settings().with_overrides(redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(JobQueueUnavailable, match="the job queue is unavailable"):
        enqueue(PROCESS_UPLOAD, 1, "2027-01-01", settings=settings, queue_name="never-used")


def test_a_file_that_cannot_be_queued_says_so(client, cast, login_as, session, monkeypatch):
    from billing_core import jobs

    def unavailable(*args, **kwargs):
        raise JobQueueUnavailable("the job queue is unavailable (connection refused)")

    monkeypatch.setattr(jobs, "enqueue", unavailable)  # what portal.web.enqueue_upload_job calls
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    html = _post(
        client, url, "big.csv", _term_file(cast.member_west), csrf_token(client, url)
    ).get_data(as_text=True)
    assert "big.csv could not be read." in html and "every 1s" not in html
    upload = session.scalar(select(Upload))
    session.refresh(upload)
    assert upload.job_status is JobStatus.FAILED
    assert upload.job_error == (
        "JobQueueUnavailable: the job queue is unavailable (connection refused)"
    )
