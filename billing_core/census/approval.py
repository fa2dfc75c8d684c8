"""Staff approval of an upload too large to apply inside a request (issue 17, finding 5): its
cost is counted first with the premium impact's own count (census.impact.pricing_cost) and,
beyond the pricing bounds, approval runs as a background job (billing_core.jobs) on the
upload's job columns, told from a read by job_args["job"] == "approve". The job calls the same
approve_reviewed_upload as the request does, as the approving staff user, so every rule (staff
only, the retro window, the complete-list confirmation) is enforced where the work is done. A
refusal or failure leaves the upload SUBMITTED with a message for staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.census.impact import PricingCost, PricingLimits, pricing_cost
from billing_core.census.processing import _claim, _fail, pending_read
from billing_core.census.uploads import (
    _refuse_unconfirmed_mass_term,
    approve_reviewed_upload,
    refuse_outside_retro_window,
    retro_exceptions,
    upload_diff,
)
from billing_core.db import begin_writing, utcnow
from billing_core.errors import AccessDenied, BillingError
from billing_core.models import EmployerGroup, Upload, User
from billing_core.models.enums import JobStatus, UploadStatus
from billing_core.money import ZERO, D, format_count, format_dollars
from billing_core.security import redact_ssns

APPROVE_JOB = "approve"
FAILED_MESSAGE = (
    "Approving this file failed before it finished. Nothing from it was applied; it is still "
    "submitted and can be approved again."
)


@dataclass(frozen=True)
class ApprovalPlan:
    """What approving a submitted upload would take, counted without applying it: the diff's
    counts (add, term, change), the pricing cost (PricingCost: member-months of the next bill
    and the changes reaching back into billed months, each repriced on its own), and, when
    that cost is beyond `limits`, `background` True (approval then runs as a job)."""

    counts: dict[str, int]
    cost: PricingCost
    background: bool


def plan_approval(
    session: Session, upload: Upload, *, today: date, limits: PricingLimits
) -> ApprovalPlan | None:
    """The approval plan of a SUBMITTED upload whose file still applies as of `today`; None
    otherwise (approval in the request then says why it cannot be approved). Reads and diffs
    the file; prices nothing."""
    if upload.status is not UploadStatus.SUBMITTED:
        return None
    census, diff = upload_diff(session, upload, today)
    if census.errors or diff.errors:
        return None
    group = session.get(EmployerGroup, upload.group_id)
    cost = pricing_cost(session, group, diff, today)
    return ApprovalPlan(dict(diff.counts), cost, cost.over(limits) is not None)


def queue_approval(
    session: Session,
    upload: Upload,
    *,
    actor: User,
    today: date,
    ip=None,
    plan: ApprovalPlan | None = None,
) -> bool:
    """Queue the background approval of a SUBMITTED upload by `actor` as of `today` (the
    caller commits, then enqueues APPROVE_UPLOAD when this returns True), audited with the
    `plan` confirmed (its counts and cost). False when its approval is already queued or
    running (confirming twice queues once). Refuses at once
    what the job would refuse for certain (not staff, not submitted, changes older than the
    retro window without an override, a mass termination not confirmed as the complete list);
    the job checks all of it again. BillingError while a file of the group is being read."""
    if not actor.role.is_staff:
        raise AccessDenied("only billing staff approve uploads")
    if upload.being_approved:
        return False
    if upload.status is not UploadStatus.SUBMITTED:
        raise BillingError(f"upload {upload.id} is {upload.status.value}, not submitted")
    group = session.get(EmployerGroup, upload.group_id)
    _census, diff = upload_diff(session, upload, today)
    if not diff.errors:
        refuse_outside_retro_window(upload, retro_exceptions(session, group, diff, today))
        _refuse_unconfirmed_mass_term(upload, diff)
    reading = pending_read(session, upload.group_id)
    if reading is not None and reading.id != upload.id:
        raise BillingError(_reading_message(reading))
    upload.job_status = JobStatus.QUEUED
    upload.job_progress = 0
    upload.job_message = "Waiting to be approved"
    upload.job_error = None
    upload.job_updated_at = utcnow()
    upload.job_args = {
        "job": APPROVE_JOB,
        "actor_id": actor.id,
        "today": today.isoformat(),
        "ip_address": ip,
    }
    upload.job_worker = None
    upload.job_attempts = 0
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        reading = pending_read(session, upload.group_id)
        if reading is None:
            raise
        raise BillingError(_reading_message(reading)) from None
    detail = dict(diff.counts)
    if plan is not None:
        detail |= {"member_months": plan.cost.member_months, "retro": plan.cost.retro_members}
    audit.record(
        session,
        "upload.approval_queued",
        actor=actor,
        target=upload,
        group_id=upload.group_id,
        ip_address=ip,
        detail=detail,
    )
    return True


def _reading_message(reading: Upload) -> str:
    return (
        f"{reading.original_filename} is being read for this group; one job runs at a time "
        "per group. Approve once it is done."
    )


def approve_in_background(session: Session, upload_id: int) -> JobStatus:
    """The job: claim the queued approval, then approve_reviewed_upload as the staff user who
    confirmed it, as of the day they confirmed it (job_args), with its audit row, and keep
    what it did (`job_args["result"]`: counts, adjustments queued and their net, in dollars as
    strings) and a summary in `job_message`, all in one commit. A refusal (a rule of approval)
    or an error rolls everything back and leaves the upload SUBMITTED, its job FAILED with
    the reason for staff. An approval already done, running elsewhere, or not an approval is
    not run again: its job status is returned."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise BillingError(f"upload {upload_id} no longer exists")
    if upload.job_kind != APPROVE_JOB or upload.job_status is not JobStatus.QUEUED:
        return upload.job_status
    if not _claim(session, upload, f"Approving {upload.original_filename}"):
        return upload.job_status
    args = dict(upload.job_args)
    actor = session.get(User, args["actor_id"])
    today = date.fromisoformat(args["today"])
    try:
        _progress(session, upload, 10, f"Applying {upload.original_filename}")
        begin_writing(session)
        result = approve_reviewed_upload(
            session,
            upload,
            actor=actor,
            today=today,
            ip_address=args.get("ip_address"),
            in_background=True,
        )
        net = sum((a.amount for a in result.adjustments), ZERO)
        upload.job_args = {
            **args,
            "result": {
                "members_added": result.members_added,
                "members_changed": result.members_changed,
                "members_termed": result.members_termed,
                "adjustments": len(result.adjustments),
                "net": str(net),
            },
        }
        upload.job_status = JobStatus.DONE
        upload.job_progress = 100
        upload.job_message = (
            f"Approved: {result.members_added} added, {result.members_changed} changed, "
            f"{result.members_termed} termed; "
            f"{format_count(len(result.adjustments), 'adjustment')} pending in the adjustment "
            f"queue ({format_dollars(net)} net)"
        )[:255]
        upload.job_updated_at = utcnow()
        session.commit()
        return JobStatus.DONE
    except BillingError as error:
        session.rollback()
        _record_failure(session, upload_id, f"Not approved: {error}", error)
        session.commit()
        return JobStatus.FAILED
    except Exception as error:
        session.rollback()
        _record_failure(session, upload_id, FAILED_MESSAGE, error)
        session.commit()
        raise


def approval_result(upload: Upload) -> dict | None:
    """What a finished background approval did (members added, changed, termed; adjustments
    queued and their net as a Decimal), or None."""
    if upload.job_kind != APPROVE_JOB or upload.job_status is not JobStatus.DONE:
        return None
    result = dict((upload.job_args or {}).get("result") or {})
    if not result:
        return None
    result["net"] = D(result["net"])
    return result


def record_failure(session: Session, upload_id: int, error: BaseException) -> None:
    """The approval could not be queued or run: FAILED, the upload left SUBMITTED, with a
    message for staff. The caller commits."""
    _record_failure(session, upload_id, FAILED_MESSAGE, error)


def _record_failure(session: Session, upload_id: int, message: str, error: BaseException):
    begin_writing(session)
    upload = session.get(Upload, upload_id)
    _fail(upload, redact_ssns(message)[:255], f"{type(error).__name__}: {error}", utcnow())
    session.flush()


def _progress(session: Session, upload: Upload, percent: int, message: str) -> None:
    begin_writing(session)
    upload.job_progress = percent
    upload.job_message = message[:255]
    upload.job_updated_at = utcnow()
    session.commit()
