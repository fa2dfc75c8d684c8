"""A census file too large to read during a web request: kept as a RECEIVED upload at once, then
read, validated, diffed and priced by a background job (billing_core.jobs) that records its
progress on the upload. Once the job is done the upload is previewed like any other."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.census.diff import diff_census
from billing_core.census.reader import looks_like_834
from billing_core.census.uploads import (
    every_problem,
    read_with_columns,
    saved_mapping,
    upload_impact,
)
from billing_core.db import utcnow
from billing_core.errors import BillingError
from billing_core.groups import member_counts
from billing_core.models import EmployerGroup, Upload, User
from billing_core.models.enums import JobStatus, UploadFormat, UploadKind, UploadStatus
from billing_core.money import format_count
from billing_core.security import redact_ssns

PROCESS_UPLOAD = "billing_core.census.processing.process_upload"  # the job, for jobs.enqueue
PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)
FAILED_MESSAGE = (
    "We could not finish reading this file. Nothing from it was applied; upload it again to "
    "retry, or contact billing if it keeps failing."
)


@dataclass
class Queued:
    """A large file kept for a job: `needs_job` is False when the same bytes were already
    received for the group and are being, or have been, read."""

    upload: Upload
    duplicate: bool
    needs_job: bool


def _format_of(data: bytes) -> UploadFormat:
    """The format the content shows (the job's read confirms it)."""
    if looks_like_834(data):
        return UploadFormat.X12_834
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return UploadFormat.XLSX
    return UploadFormat.CSV


def reads_in_background(session: Session, group_id: int, size: int, settings) -> bool:
    """Whether a file of `size` bytes for the group is read by the job rather than in the
    request: too large to read (CENSUS_INLINE_MAX_BYTES), or a group too large to price
    (CENSUS_INLINE_MAX_MEMBERS enrolled members: pricing rates the whole group)."""
    if size > settings.census_inline_max_bytes:
        return True
    members = member_counts(session, [group_id]).get(group_id, 0)
    return members > settings.census_inline_max_members


def keep_for_processing(
    session: Session,
    group: EmployerGroup,
    data: bytes,
    filename: str,
    *,
    uploaded_by: User,
    kind: UploadKind | None,
) -> Queued:
    """Keep `data` as a RECEIVED upload of `group` whose job is QUEUED; the caller commits, then
    enqueues PROCESS_UPLOAD. The same bytes already received (not rejected) are that upload;
    if its job failed it is queued again."""
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(
        select(Upload).where(
            Upload.group_id == group.id,
            Upload.sha256 == digest,
            Upload.status != UploadStatus.REJECTED,
            Upload.content_purged_at.is_(None),  # a purged file sent again is a new upload
        )
    )
    if existing is not None:
        if existing.job_status is not JobStatus.FAILED:
            return Queued(existing, duplicate=True, needs_job=False)
        _queue(existing)
        session.flush()
        return Queued(existing, duplicate=True, needs_job=True)
    upload = Upload(
        group_id=group.id,
        uploaded_by_id=uploaded_by.id,
        original_filename=filename[:255],
        file_format=_format_of(data),
        file_kind=kind or UploadKind.SNAPSHOT,  # the job sets what the file turns out to be
        content=data,
        size_bytes=len(data),
        sha256=digest,
        status=UploadStatus.RECEIVED,
        row_count=0,
        error_count=0,
    )
    _queue(upload)
    session.add(upload)
    session.flush()
    return Queued(upload, duplicate=False, needs_job=True)


def queue_for_new_columns(session: Session, upload: Upload) -> None:
    """A large kept upload to be read again by the job with the columns its sender chose (read
    in the request it could take longer than a page may wait). The caller commits, then
    enqueues PROCESS_UPLOAD with the columns. As on its first read, a file that does not read
    with them shows its problems on its page and the columns can be fixed again."""
    if upload.status is not UploadStatus.RECEIVED:
        raise BillingError(
            f"{upload.original_filename} is {upload.status.value}; its columns can no longer change"
        )
    if upload.job_status in PENDING:
        raise BillingError(f"{upload.original_filename} is still being read; wait for it")
    _queue(upload)
    upload.job_message = "Waiting to be read again with your columns"
    session.flush()


STUCK_MESSAGE = (
    "Reading this file stopped before it finished (the service restarted). Nothing from it was "
    "applied; upload it again to retry."
)
STUCK_AFTER = timedelta(minutes=30)


def fail_stuck_jobs(
    session: Session, now: datetime, older_than: timedelta = STUCK_AFTER
) -> list[Upload]:
    """Uploads whose job has recorded nothing for `older_than` (a worker that died, a queue
    that was flushed): FAILED with a message the sender can act on, so the page stops
    polling and the same file can be sent again (which queues it anew). A job records each
    stage as it reaches it, so even the largest file moves well within the default 30
    minutes. Run it as often as you like: an upload it failed is not touched again. The
    caller commits."""
    cutoff = now - older_than
    stuck = list(
        session.scalars(
            select(Upload)
            .where(Upload.job_status.in_(PENDING), Upload.job_updated_at < cutoff)
            .order_by(Upload.id)
        )
    )
    for upload in stuck:
        error = (
            f"no progress since {upload.job_updated_at:%Y-%m-%d %H:%M} UTC "
            f"({upload.job_status.value}, {upload.job_progress or 0}%); failed by the sweep"
        )
        _fail(upload, STUCK_MESSAGE, error, now)
    session.flush()
    return stuck


def _queue(upload: Upload) -> None:
    upload.job_status = JobStatus.QUEUED
    upload.job_progress = 0
    upload.job_message = "Waiting to be read"
    upload.job_error = None
    upload.job_updated_at = utcnow()


def _progress(session: Session, upload: Upload, percent: int, message: str) -> None:
    """Record a stage and commit it, so a page polling the upload sees it now."""
    upload.job_status = JobStatus.RUNNING
    upload.job_progress = percent
    upload.job_message = message
    upload.job_updated_at = utcnow()
    session.commit()


def process_upload(
    session: Session,
    upload_id: int,
    as_of: str,
    kind: str | None = None,
    chosen: dict[str, str | None] | None = None,
) -> JobStatus:
    """The job: read the upload's kept bytes (with the sender's `chosen` columns, the group's
    saved mapping, then the synonyms; `kind` as the sender said, None to guess), validate, diff
    against enrollment and price the changes as of `as_of` (ISO date), committing progress at
    each stage. A file with problems is DONE with `error_count` set (its page lists them and the
    columns can be fixed); an unexpected error leaves the upload as it was received, FAILED with
    a message for the sender and the error for staff, and is raised again for the queue.
    A job that already ran is not run twice."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise BillingError(f"upload {upload_id} no longer exists")
    if upload.job_status is JobStatus.DONE:
        return JobStatus.DONE
    try:
        return _process(session, upload, date.fromisoformat(as_of), kind, chosen)
    except Exception as error:
        session.rollback()
        record_failure(session, upload_id, error)
        session.commit()
        raise


def record_failure(session: Session, upload_id: int, error: BaseException) -> None:
    """The upload's job failed (or could not be queued): FAILED with a message the sender can
    act on and the error for staff; nothing the job read is kept. The caller commits."""
    upload = session.get(Upload, upload_id)
    _fail(upload, FAILED_MESSAGE, f"{type(error).__name__}: {error}", utcnow())
    session.flush()


def _fail(upload: Upload, message: str, error: str, at: datetime) -> None:
    """FAILED: `message` for the sender, `error` (SSNs masked) for staff."""
    upload.job_status = JobStatus.FAILED
    upload.job_message = message
    upload.job_error = redact_ssns(error)[:4000]
    upload.job_updated_at = at


def _process(
    session: Session,
    upload: Upload,
    as_of: date,
    kind: str | None,
    chosen: dict[str, str | None] | None,
) -> JobStatus:
    name = upload.original_filename
    _progress(session, upload, 5, f"Reading {name}")
    group = session.get(EmployerGroup, upload.group_id)
    saved = saved_mapping(session, group.id)
    census, columns = read_with_columns(
        upload.content,
        name,
        kind=UploadKind(kind) if kind else None,
        as_of=as_of,
        chosen=chosen,
        saved=saved.mapping if saved else None,
        saved_on=saved.updated_at if saved else None,
    )
    rows = census.employee_count + census.dependent_count
    errors = list(census.errors)
    diff = None
    if errors:
        errors, _warnings = every_problem(session, group, census, as_of)
    else:
        _progress(session, upload, 40, f"Validated {rows:,} rows; comparing with enrollment")
        diff = diff_census(session, group, census, as_of)
        errors = list(diff.errors)
    if not errors:
        _progress(session, upload, 70, "Pricing the changes")
    # What the read found, written only after the last progress commit, so a failure leaves
    # the upload as received.
    upload.file_format = census.file_format
    upload.file_kind = census.kind or census.kind_guess or upload.file_kind
    upload.file_kind_guessed = bool(diff and diff.kind_guessed)
    upload.column_mapping = columns.mapping if columns else None
    if not errors:
        # Kept on the upload (priced with the columns just set): its page shows these figures
        # instead of pricing the whole group again.
        actor = session.get(User, upload.uploaded_by_id)
        upload_impact(session, upload, diff, actor=actor, today=as_of, keep=True)
    upload.row_count = rows
    upload.error_count = len(errors)
    upload.job_status = JobStatus.DONE
    upload.job_progress = 100
    upload.job_updated_at = utcnow()
    if errors:
        upload.job_message = (
            f"Read {format_count(rows, 'row')}; {format_count(len(errors), 'problem')} to fix"
        )
    else:
        counts = diff.counts
        upload.job_message = (
            f"Read {format_count(rows, 'row')}: {format_count(counts['add'], 'add')}, "
            f"{format_count(counts['term'], 'term')}, {format_count(counts['change'], 'change')}"
        )
    session.commit()
    return JobStatus.DONE
