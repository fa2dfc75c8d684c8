"""Receiving a census file for a group and approving it. The original bytes are kept in the
`upload` row (any web or worker instance can read them again); a rejected file writes nothing
at all; the same file received twice for a group is the same upload."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.census.apply import ApplyResult, apply_census
from billing_core.census.diff import CensusDiff, diff_census
from billing_core.census.impact import PremiumImpact, premium_impact
from billing_core.census.reader import read_census
from billing_core.census.rows import CensusFile
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, BillingError, ValidationFailed
from billing_core.models import EmployerGroup, Upload, User
from billing_core.models.enums import UploadKind, UploadStatus


@dataclass
class Received:
    upload: Upload
    census: CensusFile
    diff: CensusDiff
    duplicate: bool


def receive_upload(
    session: Session,
    group: EmployerGroup,
    data: bytes,
    filename: str,
    *,
    uploaded_by: User,
    kind: UploadKind | None = None,
    as_of: date,
    status: UploadStatus = UploadStatus.SUBMITTED,
) -> Received:
    """Read, validate and diff `data` for `group`, then keep it as an upload with `status`
    (RECEIVED: the employer is still looking at the preview; SUBMITTED: in the staff queue).

    A file with any problem raises ValidationFailed (every problem listed) and writes nothing.
    The same bytes already received for the group (not rejected) return that upload with
    `duplicate` True and nothing new is written."""
    census = read_census(data, filename, kind=kind, as_of=as_of)
    if census.errors:
        raise ValidationFailed(f"{filename} was rejected; nothing was saved", census.errors)
    diff = diff_census(session, group, census, as_of)
    if diff.errors:
        raise ValidationFailed(f"{filename} cannot be applied to {group.group_number}", diff.errors)
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(
        select(Upload).where(
            Upload.group_id == group.id,
            Upload.sha256 == digest,
            Upload.status != UploadStatus.REJECTED,
        )
    )
    if existing is not None:
        return Received(existing, census, diff, duplicate=True)
    upload = Upload(
        group_id=group.id,
        uploaded_by_id=uploaded_by.id,
        original_filename=filename[:255],
        file_format=census.file_format,
        file_kind=census.kind or census.kind_guess or UploadKind.SNAPSHOT,
        content=data,
        size_bytes=len(data),
        sha256=digest,
        status=status,
        row_count=census.employee_count + census.dependent_count,
        error_count=0,
    )
    session.add(upload)
    session.flush()
    return Received(upload, census, diff, duplicate=False)


def submit_upload(upload: Upload) -> None:
    """The employer confirms a previewed upload: it goes to the staff review queue."""
    if upload.status is not UploadStatus.RECEIVED:
        raise BillingError(f"upload {upload.id} is already {upload.status.value}")
    upload.status = UploadStatus.SUBMITTED


def find_upload(session: Session, group_id: int, upload_id: int) -> Upload | None:
    """The upload if it belongs to the group (the caller has already scoped the group)."""
    return session.scalar(select(Upload).where(Upload.id == upload_id, Upload.group_id == group_id))


@dataclass
class Preview:
    census: CensusFile
    diff: CensusDiff
    impact: PremiumImpact | None


def preview_upload(
    session: Session, upload: Upload, *, actor: User, today: date, priced_status: UploadStatus
) -> Preview:
    """What a kept upload changes against enrollment today and, while it is `priced_status`
    (the status its reader is deciding on), its premium impact. Writes nothing."""
    census, diff = upload_diff(session, upload, today)
    impact = None
    if upload.status is priced_status and not diff.errors:
        group = session.get(EmployerGroup, upload.group_id)
        impact = premium_impact(session, group, diff, actor=actor, today=today)
    return Preview(census, diff, impact)


def upload_diff(session: Session, upload: Upload, as_of: date) -> tuple[CensusFile, CensusDiff]:
    """Read a kept upload again and diff it against enrollment as it is now."""
    group = session.get(EmployerGroup, upload.group_id)
    census = read_census(
        upload.content, upload.original_filename, kind=upload.file_kind, as_of=as_of
    )
    return census, diff_census(session, group, census, as_of)


def approve_upload(
    session: Session, upload: Upload, *, actor: User, as_of: date, today: date
) -> ApplyResult:
    """Staff approve a submitted upload: its file is read again from the database, diffed
    against enrollment as it is now, and applied (pending adjustments for billed months)."""
    if not actor.role.is_staff:
        raise AccessDenied("only billing staff approve uploads")
    if upload.status is not UploadStatus.SUBMITTED:
        raise BillingError(f"upload {upload.id} is {upload.status.value}, not submitted")
    group = session.get(EmployerGroup, upload.group_id)
    census = read_census(
        upload.content, upload.original_filename, kind=upload.file_kind, as_of=as_of
    )
    diff = diff_census(session, group, census, as_of)
    if census.errors or diff.errors:
        raise ValidationFailed(
            f"{upload.original_filename} no longer applies", census.errors + diff.errors
        )
    result = apply_census(session, group, diff, actor=actor, today=today, upload_id=upload.id)
    upload.status = UploadStatus.APPROVED
    upload.reviewed_by_id = actor.id
    upload.reviewed_at = utcnow()
    session.flush()
    return result
