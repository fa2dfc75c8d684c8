"""How long a census file is kept. Its bytes (every SSN and date of birth it lists) are kept,
encrypted (`Upload.content`), while the upload can still be read again: until it is decided
(approved, returned, refused or discarded) and CENSUS_RETENTION_DAYS more have passed. Then the
purge deletes the bytes; the upload row (status, counts, the premium impact as priced), what it
changed (enrollment history, adjustments) and the audit log stay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.census.impact import PremiumImpact
from billing_core.db import utcnow
from billing_core.models import AuditLog, Upload
from billing_core.models.enums import UploadStatus

PURGED_ACTION = "upload.file_purged"
_REVIEWED = (UploadStatus.APPROVED, UploadStatus.RETURNED)


def decided_at(upload: Upload) -> datetime | None:
    """When the upload was decided, the earliest of: approved or returned by staff
    (`reviewed_at`), refused (received refused, `created_at`), put away by its sender
    (`discarded_at`); None while it can still go on (received, submitted)."""
    moments = [upload.discarded_at]
    if upload.status in _REVIEWED:
        moments.append(upload.reviewed_at)
    elif upload.status is UploadStatus.REJECTED:
        moments.append(upload.created_at)
    moments = [m for m in moments if m is not None]
    return min(moments) if moments else None


def purge_cutoff(as_of: date, retention_days: int) -> datetime:
    """Uploads decided before this moment are purged on `as_of`: those decided on or before
    the day `retention_days` before it (UTC days)."""
    day = as_of - timedelta(days=retention_days - 1)
    return datetime.combine(day, time(0), tzinfo=UTC)


def _decided_before(cutoff: datetime):
    return or_(
        and_(Upload.status.in_(_REVIEWED), Upload.reviewed_at < cutoff),
        and_(Upload.status == UploadStatus.REJECTED, Upload.created_at < cutoff),
        Upload.discarded_at < cutoff,
    )


def due_for_purge(session: Session, as_of: date, retention_days: int) -> list[Upload]:
    """The uploads still holding a file that was decided `retention_days` or more days before
    `as_of`, oldest first (their bytes are not loaded)."""
    return list(
        session.scalars(
            select(Upload)
            .where(
                Upload.content_purged_at.is_(None),
                Upload.content_sealed.is_not(None),
                _decided_before(purge_cutoff(as_of, retention_days)),
            )
            .order_by(Upload.id)
        )
    )


@dataclass
class Purge:
    as_of: date
    retention_days: int
    uploads: list[Upload]

    @property
    def bytes_deleted(self) -> int:
        return sum(u.size_bytes for u in self.uploads)

    def as_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "retention_days": self.retention_days,
            "purged": len(self.uploads),
            "bytes_deleted": self.bytes_deleted,
            "upload_ids": [u.id for u in self.uploads],
        }


def purge_kept_files(
    session: Session, *, as_of: date, retention_days: int, actor_email: str
) -> Purge:
    """Delete the files of the uploads decided `retention_days` or more days before `as_of`
    (`due_for_purge`): the bytes go, `content_purged_at` says when, and each purge is in the
    audit log (`upload.file_purged`, by `actor_email`) under the upload and its group. Running
    it again the same day finds nothing more. Flushes; the caller commits."""
    if retention_days < 1:
        raise ValueError("retention_days is at least 1")
    due = due_for_purge(session, as_of, retention_days)
    now = utcnow()
    for upload in due:
        decided = decided_at(upload)
        upload.kept_problems = _problems_without_values(session, upload, as_of)
        upload.content_sealed = None
        upload.content_key_id = None
        upload.content_purged_at = now
        audit.record(
            session,
            PURGED_ACTION,
            actor_email=actor_email,
            target=upload,
            group_id=upload.group_id,
            detail={
                "retention_days": retention_days,
                "decided_at": decided.isoformat() if decided else None,
                "status": upload.status.value,
                "size_bytes": upload.size_bytes,
            },
        )
    session.flush()
    return Purge(as_of, retention_days, due)


def _problems_without_values(session: Session, upload: Upload, as_of: date) -> list[dict]:
    """The upload's problems, read one last time before its bytes go, without their values."""
    from billing_core.census.problems import problem_rows, upload_problems

    errors, columns, warnings = upload_problems(session, upload, as_of=as_of)
    return [
        {"kind": p.severity, "row": p.row, "column": p.column, "message": p.message}
        for p in problem_rows(errors, columns, warnings)
    ]


@dataclass(frozen=True)
class KeptFileGone:
    """What a page says of an upload whose file was purged, from what stays without it."""

    purged_on: date
    retention_days: int
    decided_on: date | None
    applied: bool  # approved: what it changed is in the group's history
    row_count: int
    error_count: int
    outcome: dict | None  # the approval's counts (members added, changed, termed...)
    impact: PremiumImpact | None  # as last priced, before it was decided

    @property
    def words(self) -> str:
        consequence = (
            "what it changed is in the group's history"
            if self.applied
            else "nothing from it was applied"
        )
        return (
            f"The file itself was deleted on {self.purged_on:%b} {self.purged_on.day}, "
            f"{self.purged_on.year} after the "
            f"{self.retention_days}-day retention of census files; {consequence}."
        )


def kept_file_gone(session: Session, upload: Upload, retention_days: int) -> KeptFileGone | None:
    """None while the upload's file is kept; else what its page shows instead of reading it
    again: when and why it went, the counts and premium impact kept on the upload and, for an
    approved upload, what the approval applied (from the audit log)."""
    if upload.content_purged_at is None:
        return None
    outcome = None
    if upload.status is UploadStatus.APPROVED:
        outcome = session.scalar(
            select(AuditLog.detail)
            .where(
                AuditLog.action == "upload.approved",
                AuditLog.target_type == "Upload",
                AuditLog.target_id == upload.id,
            )
            .order_by(AuditLog.id.desc())
            .limit(1)
        )
    decided = decided_at(upload)
    return KeptFileGone(
        purged_on=upload.content_purged_at.date(),
        retention_days=retention_days,
        decided_on=decided.date() if decided else None,
        applied=upload.status is UploadStatus.APPROVED,
        row_count=upload.row_count,
        error_count=upload.error_count,
        outcome=outcome,
        impact=PremiumImpact.from_dict(upload.impact) if upload.impact else None,
    )
