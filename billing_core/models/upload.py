"""Census and change files as received. The original bytes are kept in the database so any web
or worker instance can read them, and a rejected file still shows what was wrong: encrypted
under the SSN key (`Upload.content`, the one way in and out), and deleted once the upload has
been decided for CENSUS_RETENTION_DAYS (billing_core.census.kept)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from billing_core.db import Base, UTCDateTime, enum_type, utcnow
from billing_core.errors import KeptFilePurged
from billing_core.models.enums import JobStatus, UploadFormat, UploadKind, UploadStatus
from billing_core.security import vault


class Upload(Base):
    __tablename__ = "upload"
    __table_args__ = (
        CheckConstraint("job_progress BETWEEN 0 AND 100", name="job_progress_percent"),
        # One file at a time per group is waiting to be read or being read (issue 17): a
        # second is refused (census.processing.refuse_over_limits says so in words first).
        Index(
            "uq_upload_one_read_per_group",
            "group_id",
            unique=True,
            sqlite_where=text("job_status IN ('queued', 'running')"),
            postgresql_where=text("job_status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    subgroup_id: Mapped[int | None] = mapped_column(ForeignKey("billing_subgroup.id"))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    original_filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[UploadFormat] = mapped_column(enum_type(UploadFormat, "upload_format"))
    file_kind: Mapped[UploadKind] = mapped_column(enum_type(UploadKind, "upload_kind"))
    # Neither the file nor its sender said full or change file: the portal guessed (see
    # census.diff.reading.settle_kind), and the page says so and offers the other reading.
    file_kind_guessed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The file as received, encrypted (security.SsnVault.seal_file) under the key whose id is
    # `content_key_id`; read and written only through `content`. NULL once purged
    # (`content_purged_at`). A file kept before encryption has no key id and is plain.
    content_sealed: Mapped[bytes | None] = deferred(mapped_column("content", LargeBinary))
    content_key_id: Mapped[str | None] = mapped_column(String(16))
    content_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The file's problems as they stood when it was purged (kind, row, column, message; never
    # the values, which may be SSNs or birth dates): its problems CSV after the purge.
    kept_problems: Mapped[list | None] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[UploadStatus] = mapped_column(
        enum_type(UploadStatus, "upload_status"), default=UploadStatus.RECEIVED
    )
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # CSV/XLSX: header -> field name (None: ignored) the file was checked with, so staff review
    # and approval read it the same way; None for an 834 and for uploads read by the synonyms.
    column_mapping: Mapped[dict | None] = mapped_column(JSON)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Returned to the employer: the reason they read (reviewed_by/at say who and when).
    return_reason: Mapped[str | None] = mapped_column(Text)
    # A supervisor's override of the retro window for this upload's late changes.
    retro_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    retro_override_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retro_override_reason: Mapped[str | None] = mapped_column(Text)
    # A large file is read by a background job (billing_core.census.jobs): None for a file read
    # in the request; otherwise the job's state, its progress in percent, what it is doing (or
    # what it found) in words the sender reads, and why it failed (for staff).
    job_status: Mapped[JobStatus | None] = mapped_column(enum_type(JobStatus, "job_status"))
    job_progress: Mapped[int | None] = mapped_column(Integer)
    job_message: Mapped[str | None] = mapped_column(String(255))
    job_error: Mapped[str | None] = mapped_column(Text)
    # When the job last recorded anything (queued, a stage, done, failed): what the stuck-job
    # sweep (census.processing.fail_stuck_jobs) judges a silent job by.
    job_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the job reads the file with (as_of, kind, chosen columns) and the limits it was
    # admitted under (census.processing.job_args), so any runner, in any process, can run it
    # from the row alone; who is running it (host:pid:token, set by the claim) and how many
    # times a runner has started it (a job whose process died is queued again once).
    job_args: Mapped[dict | None] = mapped_column(JSON)
    job_worker: Mapped[str | None] = mapped_column(String(120))
    job_attempts: Mapped[int | None] = mapped_column(Integer)
    # The premium impact as last priced (PremiumImpact.as_dict) and the digest of everything it
    # was priced from (census.impact.pricing_basis): the page shows it again while the digest
    # still matches instead of pricing the whole group on every view.
    impact: Mapped[dict | None] = mapped_column(JSON)
    impact_basis: Mapped[str | None] = mapped_column(String(64))
    # The staff review's reconciliation with the bill for its default period and pay dates
    # (census.reconciliation.Reconciliation.as_kept) and the digest of everything it was
    # computed from (census.reconciliation.reconciliation_basis): the review page shows it
    # again while the digest matches instead of rating the whole group's period on every view.
    reconciliation: Mapped[dict | None] = deferred(mapped_column(JSON))
    reconciliation_basis: Mapped[str | None] = mapped_column(String(64))
    # A full file that would end most of the group's coverage (CensusDiff.ends_most_coverage)
    # is submitted only once its sender has said it is their complete list: who and when.
    complete_list_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    complete_list_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A refused (or never submitted) upload its sender put away: kept for the record, listed
    # no more.
    discarded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    discarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def content(self) -> bytes:
        """The file's bytes, decrypted (a fresh copy each time: nothing keeps the plaintext).
        KeptFilePurged once the file was deleted after the retention period."""
        if self.content_purged_at is not None or self.content_sealed is None:
            raise KeptFilePurged(
                f"{self.original_filename} itself is no longer kept: census files are deleted "
                "after the retention period once decided"
            )
        if self.content_key_id is None:
            return bytes(self.content_sealed)  # kept before encryption (keys rotate seals it)
        return vault().open_file(self.content_sealed, self.content_key_id)

    @content.setter
    def content(self, data: bytes) -> None:
        """Keep `data` encrypted under the current key (this is also how `keys rotate`
        re-encrypts a file)."""
        self.content_key_id, self.content_sealed = vault().seal_file(data)
        self.content_purged_at = None

    @property
    def content_purged(self) -> bool:
        return self.content_purged_at is not None

    @property
    def job_kind(self) -> str | None:
        """What the upload's background job does: "read" (the file, for its sender) or
        "approve" (a staff approval too large for a request: census.approval); None without
        a job. Kept in `job_args` ("job"), so the two never pass for each other."""
        if self.job_status is None:
            return None
        return (self.job_args or {}).get("job", "read")

    @property
    def being_approved(self) -> bool:
        """A staff approval waiting to run or running in the background."""
        return self.job_kind == "approve" and self.job_status in (
            JobStatus.QUEUED,
            JobStatus.RUNNING,
        )


class CensusColumnMapping(Base):
    """The column mapping a group's last tabular upload was read with (header -> field), offered
    again for the group's next upload so a sender fixes an odd header once."""

    __tablename__ = "census_column_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), unique=True)
    mapping: Mapped[dict] = mapped_column(JSON)
    # The group's own names for its plans as its files write them (folded text -> plan code).
    plan_aliases: Mapped[dict | None] = mapped_column(JSON)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
