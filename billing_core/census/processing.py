"""A census file too large to read during a web request: kept as a RECEIVED upload at once, then
read, validated, diffed and priced by a background job (billing_core.jobs) that records its
progress on the upload. Once the job is done the upload is previewed like any other.

Load safety (issue 17): every file is first held to the limits (`refuse_over_limits`): at most
CENSUS_MAX_ROWS rows, counted before anything is read, and one file read at a time per group
(also a unique index). What the job reads the file with, and the limits it was admitted under,
are kept on the row (`job_args`), so a runner in any process can run it; the job claims the row
before it starts, so it runs once. On SQLite the job writes only in short transactions that
take the write lock first (db.begin_writing), never after a long read in the same one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_core.billing.groups import member_counts
from billing_core.census.columns import Columns, read_with_columns, saved_mapping
from billing_core.census.diff import read_and_diff
from billing_core.census.impact import PricingLimits
from billing_core.census.reader import looks_like_834, too_many_rows
from billing_core.census.rows import CensusFile
from billing_core.census.uploads import prepare_review, received_before, upload_impact
from billing_core.db import begin_writing, utcnow
from billing_core.errors import BillingError
from billing_core.models import EmployerGroup, Upload, User
from billing_core.models.enums import JobStatus, UploadFormat, UploadKind, UploadStatus
from billing_core.money import format_count
from billing_core.security import redact_ssns

PROCESS_UPLOAD = "billing_core.census.processing.process_upload"  # the job, for jobs.enqueue
# A staff approval too large for a request runs on the same job columns (census.approval),
# told apart by job_args["job"] (Upload.job_kind): the function each kind of job runs.
APPROVE_UPLOAD = "billing_core.census.approval.approve_in_background"
JOB_FUNCTIONS = {"read": PROCESS_UPLOAD, "approve": APPROVE_UPLOAD}
PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)
MAX_ATTEMPTS = 2  # a read whose process died is started again once, then failed
FAILED_MESSAGE = (
    "We could not finish reading this file. Nothing from it was applied; upload it again to "
    "retry, or contact billing if it keeps failing."
)


@dataclass(frozen=True)
class CensusLimits:
    """The limits a census upload is admitted and read under (CENSUS_MAX_ROWS and the pricing
    bounds, census.impact.PricingLimits). A background read keeps them in its job_args, so the
    job applies the same ones in whatever process runs it."""

    max_rows: int = 200_000
    pricing: PricingLimits = PricingLimits()

    @classmethod
    def from_settings(cls, settings) -> CensusLimits:
        return cls(settings.census_max_rows, PricingLimits.from_settings(settings))

    def as_dict(self) -> dict:
        return {
            "max_rows": self.max_rows,
            "pricing_max_member_months": self.pricing.max_member_months,
            "pricing_max_retro_members": self.pricing.max_retro_members,
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> CensusLimits:
        defaults = cls()
        data = data or {}
        return cls(
            data.get("max_rows", defaults.max_rows),
            PricingLimits(
                data.get("pricing_max_member_months", defaults.pricing.max_member_months),
                data.get("pricing_max_retro_members", defaults.pricing.max_retro_members),
            ),
        )


def job_args(
    as_of: date, kind: UploadKind | str | None, chosen: dict | None, limits: CensusLimits
) -> dict:
    """What a background read is run with, as kept on the upload (plain JSON values)."""
    return {
        "as_of": as_of.isoformat(),
        "kind": UploadKind(kind).value if kind else None,
        "chosen": dict(chosen) if chosen is not None else None,
        "limits": limits.as_dict(),
    }


def pending_read(session: Session, group_id: int, *, other_than: str | None = None):
    """The group's upload waiting to be read or being read (other than the file whose digest
    is `other_than`), or None."""
    query = select(Upload).where(Upload.group_id == group_id, Upload.job_status.in_(PENDING))
    if other_than is not None:
        query = query.where(Upload.sha256 != other_than)
    return session.scalars(query.order_by(Upload.id).limit(1)).first()


def _busy_message(pending: Upload, filename: str) -> str:
    if pending.job_kind == "approve":
        return (
            f"{pending.original_filename} is being approved for this group; a file is read "
            f"once that is done. Send {filename} again in a few minutes."
        )
    return (
        f"{pending.original_filename} is still being read for this group (sent "
        f"{pending.created_at:%Y-%m-%d %H:%M} UTC); one file is read at a time. Wait until it "
        f"is done, then send {filename} again."
    )


def refuse_over_limits(
    session: Session, group: EmployerGroup, data: bytes, filename: str, limits: CensusLimits
) -> None:
    """Raise BillingError, in words naming the limit, before anything of the file is kept or
    read: a file of more than `limits.max_rows` rows (members, for an 834; counted without
    reading it), or a file for a group whose other upload is still waiting to be read or being
    read. The same bytes sent again are not refused here (they are that upload)."""
    refused = too_many_rows(data, filename, limits.max_rows)
    if refused:
        raise BillingError(refused)
    pending = pending_read(session, group.id, other_than=hashlib.sha256(data).hexdigest())
    if pending is not None:
        raise BillingError(_busy_message(pending, filename))


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
    as_of: date | None = None,
    chosen: dict[str, str | None] | None = None,
    limits: CensusLimits | None = None,
) -> Queued:
    """Keep `data` as a RECEIVED upload of `group` whose job is QUEUED, to be read as of
    `as_of` (default today) with the sender's `chosen` columns under `limits`; the caller
    commits, then enqueues PROCESS_UPLOAD. The same bytes already received (not rejected) are
    that upload; if its job failed it is queued again. BillingError while another file of
    the group is waiting to be read or being read."""
    args = job_args(as_of or date.today(), kind, chosen, limits or CensusLimits())
    digest = hashlib.sha256(data).hexdigest()
    existing = received_before(session, group.id, digest)
    if existing is not None:
        if existing.job_status is not JobStatus.FAILED or existing.job_kind != "read":
            return Queued(existing, duplicate=True, needs_job=False)
        _refuse_while_pending(session, group.id, filename)
        _queue(existing, args)
        _flush_one_read(session, group.id, filename)
        return Queued(existing, duplicate=True, needs_job=True)
    _refuse_while_pending(session, group.id, filename)
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
    _queue(upload, args)
    session.add(upload)
    _flush_one_read(session, group.id, filename)
    return Queued(upload, duplicate=False, needs_job=True)


def _refuse_while_pending(session: Session, group_id: int, filename: str) -> None:
    pending = pending_read(session, group_id)
    if pending is not None:
        raise BillingError(_busy_message(pending, filename))


def _flush_one_read(session: Session, group_id: int, filename: str) -> None:
    """Flush; another request that queued a file of the group in the meantime trips the unique
    index (one read per group), which is said as the busy group it is."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        pending = pending_read(session, group_id)
        if pending is None:
            raise
        raise BillingError(_busy_message(pending, filename)) from None


def queue_for_new_columns(
    session: Session,
    upload: Upload,
    *,
    as_of: date | None = None,
    chosen: dict[str, str | None] | None = None,
    limits: CensusLimits | None = None,
) -> None:
    """A large kept upload to be read again by the job with the columns its sender chose (read
    in the request it could take longer than a page may wait), as of `as_of` under `limits`.
    The caller commits, then enqueues PROCESS_UPLOAD. As on its first read, a file that does
    not read with them shows its problems on its page and the columns can be fixed again."""
    if upload.status is not UploadStatus.RECEIVED:
        raise BillingError(
            f"{upload.original_filename} is {upload.status.value}; its columns can no longer change"
        )
    if upload.job_status in PENDING:
        raise BillingError(f"{upload.original_filename} is still being read; wait for it")
    _refuse_while_pending(session, upload.group_id, upload.original_filename)
    kind = upload.file_kind
    _queue(upload, job_args(as_of or date.today(), kind, chosen, limits or CensusLimits()))
    upload.job_message = "Waiting to be read again with your columns"
    _flush_one_read(session, upload.group_id, upload.original_filename)


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
        _fail(upload, _stuck_message(upload), error, now)
    session.flush()
    return stuck


def queued_jobs(session: Session, limit: int = 100) -> list[tuple[str, tuple]]:
    """The reads and background approvals waiting in the database, oldest first, as jobs
    (jobs.LocalRunner runs them when it has nothing else to do; each claims its row first, so
    a job another process is already running is skipped). Jobs queued without their arguments
    kept (before they were, or by hand) wait for the queue they were sent to."""
    rows = session.execute(
        select(Upload.id, Upload.job_args)
        .where(Upload.job_status == JobStatus.QUEUED, Upload.job_args.is_not(None))
        .order_by(Upload.job_updated_at, Upload.id)
        .limit(limit)
    )
    return [
        (JOB_FUNCTIONS.get((args or {}).get("job", "read"), PROCESS_UPLOAD), (upload_id,))
        for upload_id, args in rows
    ]


RESTARTED_MESSAGE = "Waiting to be read again (reading it stopped when the service restarted)"
APPROVAL_RESTARTED_MESSAGE = (
    "Waiting to be approved again (approving it stopped when the service restarted)"
)
APPROVAL_STUCK_MESSAGE = (
    "Approving this file stopped before it finished (the service restarted). Nothing from it "
    "was applied; it is still submitted and can be approved again."
)


def _stuck_message(upload: Upload) -> str:
    return APPROVAL_STUCK_MESSAGE if upload.job_kind == "approve" else STUCK_MESSAGE


def recover_jobs(session: Session, now: datetime, alive) -> list[Upload]:
    """Reads whose process is gone (`alive(job_worker)` is False: a worker of this host that
    no longer runs): queued again with their kept arguments for their first MAX_ATTEMPTS
    starts, else FAILED as stuck; then fail_stuck_jobs for those silent too long (whose
    process cannot be asked). Each row is changed only if it is still the dead worker's. The
    caller commits."""
    recovered = []
    running = session.scalars(
        select(Upload).where(Upload.job_status == JobStatus.RUNNING).order_by(Upload.id)
    ).all()
    for upload in running:
        if alive(upload.job_worker) is not False:
            continue
        again = (upload.job_attempts or 0) < MAX_ATTEMPTS and upload.job_args is not None
        values = (
            {
                "job_status": JobStatus.QUEUED,
                "job_progress": 0,
                "job_message": (
                    APPROVAL_RESTARTED_MESSAGE
                    if upload.job_kind == "approve"
                    else RESTARTED_MESSAGE
                ),
                "job_worker": None,
                "job_updated_at": now,
            }
            if again
            else {
                "job_status": JobStatus.FAILED,
                "job_message": _stuck_message(upload),
                "job_error": (
                    f"its reader {upload.job_worker} stopped after "
                    f"{upload.job_attempts or 0} start(s) ({upload.job_progress or 0}%)"
                ),
                "job_updated_at": now,
            }
        )
        changed = session.execute(
            update(Upload)
            .where(
                Upload.id == upload.id,
                Upload.job_status == JobStatus.RUNNING,
                Upload.job_worker == upload.job_worker,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            recovered.append(upload)
    session.expire_all()
    return recovered + fail_stuck_jobs(session, now)


def _queue(upload: Upload, args: dict) -> None:
    upload.job_status = JobStatus.QUEUED
    upload.job_progress = 0
    upload.job_message = "Waiting to be read"
    upload.job_error = None
    upload.job_updated_at = utcnow()
    upload.job_args = args
    upload.job_worker = None
    upload.job_attempts = 0


def _claim(session: Session, upload: Upload, message: str | None = None) -> bool:
    """Take a QUEUED upload for this process (RUNNING, this worker, one more attempt, saying
    `message`, default "Reading <file>") in one conditional UPDATE, committed: False when
    another runner took it first, or it is not queued."""
    from billing_core.jobs import worker_id

    begin_writing(session)
    claimed = session.execute(
        update(Upload)
        .where(Upload.id == upload.id, Upload.job_status == JobStatus.QUEUED)
        .values(
            job_status=JobStatus.RUNNING,
            job_progress=5,
            job_message=(message or f"Reading {upload.original_filename}")[:255],
            job_worker=worker_id(),
            job_attempts=func.coalesce(Upload.job_attempts, 0) + 1,
            job_updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    session.refresh(upload)
    return claimed == 1


def _progress(session: Session, upload: Upload, percent: int, message: str) -> None:
    """Record a stage and commit it, so a page polling the upload sees it now: in a
    transaction of its own that takes the write lock first (the job's reads so far end
    here), so other users' saves in the meantime cannot make it fail."""
    begin_writing(session)
    upload.job_status = JobStatus.RUNNING
    upload.job_progress = percent
    upload.job_message = message
    upload.job_updated_at = utcnow()
    session.commit()


def process_upload(
    session: Session,
    upload_id: int,
    as_of: str | None = None,
    kind: str | None = None,
    chosen: dict[str, str | None] | None = None,
) -> JobStatus:
    """The job: read the upload's kept bytes (with the sender's `chosen` columns, the group's
    saved mapping, then the synonyms; `kind` as the sender said, None to guess), validate, diff
    against enrollment and price the changes as of `as_of` (ISO date), committing progress at
    each stage. Without `as_of`, what was kept when it was queued (`job_args`: the date, kind,
    columns and limits) is used. A file with problems is DONE with `error_count` set (its page
    lists them and the columns can be fixed); an unexpected error leaves the upload as it was
    received, FAILED with a message for the sender and the error for staff, and is raised
    again for the queue. The job first claims the QUEUED upload (one conditional UPDATE): one
    already done, running elsewhere or failed is not run, and its status is returned."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise BillingError(f"upload {upload_id} no longer exists")
    if upload.job_status is JobStatus.DONE or upload.job_kind == "approve":
        return upload.job_status
    if not _claim(session, upload):
        return upload.job_status
    kept = upload.job_args or {}
    if as_of is None:
        as_of = kept.get("as_of") or date.today().isoformat()
        kind, chosen = kept.get("kind"), kept.get("chosen")
    limits = CensusLimits.from_dict(kept.get("limits"))
    try:
        return _process(session, upload, date.fromisoformat(as_of), kind, chosen, limits)
    except Exception as error:
        session.rollback()
        record_failure(session, upload_id, error)
        session.commit()
        raise


def record_failure(session: Session, upload_id: int, error: BaseException) -> None:
    """The upload's job failed (or could not be queued): FAILED with a message the sender can
    act on and the error for staff; nothing the job read is kept. The caller commits (its
    transaction, begun here, holds the write lock)."""
    begin_writing(session)
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
    limits: CensusLimits,
) -> JobStatus:
    name = upload.original_filename
    group = session.get(EmployerGroup, upload.group_id)
    saved = saved_mapping(session, group.id)
    found_columns: list[Columns | None] = []

    def read() -> CensusFile:
        census, found = read_with_columns(
            upload.content,
            name,
            kind=UploadKind(kind) if kind else None,
            as_of=as_of,
            chosen=chosen,
            saved=saved.mapping if saved else None,
            saved_on=saved.updated_at if saved else None,
            max_rows=limits.max_rows,
        )
        found_columns.append(found)
        return census

    # Read and compared in one go: the file is read while the database reads the enrollment.
    # A file with problems is compared too (when it has members), so the sender sees every
    # problem in one round (census.problems.every_problem).
    census, diff = read_and_diff(session, group, read, as_of)
    [columns] = found_columns
    rows = census.employee_count + census.dependent_count
    errors = list(census.errors) + (list(diff.errors) if diff is not None else [])
    if census.errors:
        diff = None
    if not errors:
        _progress(session, upload, 70, f"Read {rows:,} rows; pricing the changes")
    # What the read found, written only after the last progress commit, so a failure leaves
    # the upload as received; in a transaction holding the write lock from its start (pricing
    # writes, in a savepoint it rolls back: bounded by limits.pricing).
    begin_writing(session)
    upload.file_format = census.file_format
    upload.file_kind = census.kind or census.kind_guess or upload.file_kind
    upload.file_kind_guessed = bool(diff and diff.kind_guessed)
    upload.column_mapping = columns.mapping if columns else None
    if not errors:
        # Kept on the upload (priced with the columns just set): its page shows these figures
        # instead of pricing the whole group again.
        actor = session.get(User, upload.uploaded_by_id)
        impact = upload_impact(
            session, upload, diff, actor=actor, today=as_of, keep=True, limits=limits.pricing
        )
        # And the staff review's reconciliation with the bill for its default period, so the
        # first staff view reads it too (census.uploads.upload_reconciliation); not for a file
        # beyond the pricing bounds: the reconciliation applies the same changes (each late
        # one repriced), which is what those bounds say costs too much.
        if not impact.unpriced:
            prepare_review(
                session, upload, census, diff, actor=actor, today=as_of, limits=limits.pricing
            )
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
