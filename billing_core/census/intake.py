"""The one way a census file comes in, for the employer's page and the CLI (`take_in`), and
what the background job reads (census.processing): held to the limits first (rows, one read
per group), then either kept at once for the job to read, or read with its columns, checked
against enrollment and kept now with its premium impact. A refused file is kept for the record
(REJECTED, with how many problems); the same bytes received again are the same upload
(`uploads.received_before`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.census.columns import Check, ColumnMap, read_with_columns, saved_mapping
from billing_core.census.diff import CensusDiff, diff_census
from billing_core.census.impact import (
    PricingLimits,
)
from billing_core.census.problems import every_problem
from billing_core.census.processing import (
    CensusLimits,
    Queued,
    keep_for_processing,
    refuse_over_limits,
)
from billing_core.census.rows import CensusFile
from billing_core.census.uploads import received_before, upload_impact
from billing_core.db import utcnow
from billing_core.errors import RowError, ValidationFailed
from billing_core.models import EmployerGroup, Upload, User
from billing_core.models.enums import UploadKind, UploadStatus


def take_in(
    session: Session,
    group: EmployerGroup,
    data: bytes,
    filename: str,
    *,
    uploaded_by: User,
    kind: UploadKind | None,
    chosen: ColumnMap | None,
    as_of: date,
    limits: CensusLimits,
    in_background: bool,
    status: UploadStatus = UploadStatus.RECEIVED,
) -> Check | Queued:
    """Take in `data` for `group` as of `as_of`: refused (BillingError, nothing kept) over the
    limits (`processing.refuse_over_limits`); kept unread for the background job when
    `in_background` (`processing.keep_for_processing`: the caller commits, then enqueues it when
    `needs_job`); else read and checked now (`check_upload`: a Check with the upload kept as
    `status`, or the problems and the refused file kept for the record). The page decides
    `in_background` with `processing.reads_in_background`; the CLI reads in the command."""
    refuse_over_limits(session, group, data, filename, limits)
    if in_background:
        return keep_for_processing(
            session, group, data, filename, uploaded_by=uploaded_by, kind=kind, as_of=as_of,
            chosen=chosen, limits=limits,
        )  # fmt: skip
    return check_upload(
        session, group, data, filename, uploaded_by=uploaded_by, kind=kind, chosen=chosen,
        as_of=as_of, status=status, limits=limits.pricing,
    )  # fmt: skip


@dataclass
class Received:
    upload: Upload
    census: CensusFile
    diff: CensusDiff
    duplicate: bool


def _keep(
    session: Session,
    group: EmployerGroup,
    census: CensusFile,
    data: bytes,
    filename: str,
    *,
    uploaded_by: User,
    as_of: date,
    status: UploadStatus,
    mapping: dict[str, str | None] | None,
) -> Received:
    """Keep a file read without errors: diffed against enrollment (ValidationFailed with
    every problem when it cannot apply), then the upload received before (`duplicate`; a
    RECEIVED one takes the new `mapping`) or a new one kept as `status`."""
    diff = diff_census(session, group, census, as_of)
    if diff.errors:
        raise ValidationFailed(
            f"{filename} cannot be applied to {group.group_number}",
            diff.errors,
            census.warnings + diff.warnings,
        )
    digest = hashlib.sha256(data).hexdigest()
    existing = received_before(session, group.id, digest)
    if existing is not None:
        if existing.status is UploadStatus.RECEIVED and mapping is not None:
            existing.column_mapping = dict(mapping)  # the sender re-checked it with new columns
        return Received(existing, census, diff, duplicate=True)
    _put_away_refused(session, group, digest, uploaded_by)
    upload = Upload(
        group_id=group.id,
        uploaded_by_id=uploaded_by.id,
        original_filename=filename[:255],
        file_format=census.file_format,
        file_kind=diff.kind,
        file_kind_guessed=diff.kind_guessed,
        content=data,
        size_bytes=len(data),
        sha256=digest,
        status=status,
        row_count=census.employee_count + census.dependent_count,
        error_count=0,
        column_mapping=dict(mapping) if mapping is not None else None,
    )
    session.add(upload)
    session.flush()
    return Received(upload, census, diff, duplicate=False)


def _put_away_refused(session: Session, group: EmployerGroup, digest: str, actor: User) -> None:
    """The same bytes, refused before (with other columns), now read: the refused record is
    put away, so the list shows the file once."""
    for refused in session.scalars(
        select(Upload).where(
            Upload.group_id == group.id,
            Upload.sha256 == digest,
            Upload.status == UploadStatus.REJECTED,
            Upload.discarded_at.is_(None),
        )
    ):
        refused.discarded_at, refused.discarded_by_id = utcnow(), actor.id


def keep_refused(
    session: Session,
    group: EmployerGroup,
    data: bytes,
    filename: str,
    census: CensusFile,
    errors: list[RowError],
    *,
    uploaded_by: User,
    mapping: ColumnMap | None = None,
) -> Upload:
    """Keep a refused file for the record (REJECTED, with how many problems): nothing from it
    is applied, it never counts as the group's latest upload, and its sender can discard it.
    The same bytes refused again are the same record."""
    digest = hashlib.sha256(data).hexdigest()
    upload = session.scalar(
        select(Upload).where(
            Upload.group_id == group.id,
            Upload.sha256 == digest,
            Upload.status == UploadStatus.REJECTED,
            Upload.discarded_at.is_(None),
            Upload.content_purged_at.is_(None),
        )
    )
    if upload is None:
        upload = Upload(
            group_id=group.id,
            uploaded_by_id=uploaded_by.id,
            original_filename=filename[:255],
            file_format=census.file_format,
            file_kind=census.kind or census.kind_guess or UploadKind.SNAPSHOT,
            content=data,
            size_bytes=len(data),
            sha256=digest,
            status=UploadStatus.REJECTED,
        )
        session.add(upload)
    upload.row_count = census.employee_count + census.dependent_count
    upload.error_count = len(errors)
    upload.column_mapping = dict(mapping) if mapping is not None else None
    session.flush()
    return upload


def check_upload(
    session: Session,
    group: EmployerGroup,
    data: bytes,
    filename: str,
    *,
    uploaded_by: User,
    kind: UploadKind | None,
    chosen: ColumnMap | None,
    as_of: date,
    status: UploadStatus = UploadStatus.RECEIVED,
    limits: PricingLimits | None = None,
) -> Check:
    """Read a file with its columns resolved (the sender's choice, the group's saved mapping,
    the synonyms) and check it against enrollment: one that reads and applies is kept with that
    mapping as `status` and priced (within `limits`); a refused one comes back with every
    problem, kept for the record (`keep_refused`: REJECTED, nothing from it applied). Never
    raises ValidationFailed."""
    saved = saved_mapping(session, group.id)
    census, columns = read_with_columns(
        data,
        filename,
        kind=kind,
        as_of=as_of,
        chosen=chosen,
        saved=saved.mapping if saved else None,
        saved_on=saved.updated_at if saved else None,
    )
    if census.errors:
        errors, warnings = every_problem(session, group, census, as_of)
        kept = keep_refused(
            session, group, data, filename, census, errors, uploaded_by=uploaded_by,
            mapping=columns.mapping if columns else None,
        )  # fmt: skip
        return Check(
            census, columns, f"{filename} was refused; nothing from it was applied",
            errors, rejected=kept, warnings=warnings,
        )  # fmt: skip
    try:
        received = _keep(
            session, group, census, data, filename,
            uploaded_by=uploaded_by, as_of=as_of, status=status,
            mapping=columns.mapping if columns else None,
        )  # fmt: skip
    except ValidationFailed as refused:
        kept = keep_refused(
            session, group, data, filename, census, refused.errors, uploaded_by=uploaded_by,
            mapping=columns.mapping if columns else None,
        )  # fmt: skip
        return Check(
            census, columns, f"{filename} was refused; nothing from it was applied",
            refused.errors, rejected=kept, warnings=census.warnings + refused.warnings,
        )  # fmt: skip
    upload, impact = received.upload, None
    if upload.status in (UploadStatus.RECEIVED, UploadStatus.SUBMITTED):
        # Priced once here and kept: however small the file, the group may be large.
        impact = upload_impact(
            session, upload, received.diff, actor=uploaded_by, today=as_of, keep=True,
            limits=limits,
        )  # fmt: skip
    return Check(
        census,
        columns,
        upload=upload,
        duplicate=received.duplicate,
        diff=received.diff,
        impact=impact,
    )
