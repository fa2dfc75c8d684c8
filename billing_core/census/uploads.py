"""Receiving a census file for a group and approving it. The original bytes are kept in the
`upload` row (any web or worker instance can read them again); a rejected file writes nothing
at all; the same file received twice for a group is the same upload."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from billing_core import audit, mail
from billing_core.access import upload_in_scope
from billing_core.census.apply import ApplyResult, apply_census
from billing_core.census.diff import CensusDiff, diff_census
from billing_core.census.impact import (
    PremiumImpact,
    PricingLimits,
    premium_impact,
    pricing_basis,
    pricing_cost,
)
from billing_core.census.reader import looks_like_834, read_census
from billing_core.census.rows import CensusFile
from billing_core.census.tabular import ALTERNATIVES, FIELDS, missing_fields, suggest_mapping
from billing_core.census.x12 import acknowledgement_999
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, BillingError, RowError, ValidationFailed
from billing_core.exports import Column, csv_bytes
from billing_core.models import CensusColumnMapping, EmployerGroup, Upload, User
from billing_core.models.enums import JobStatus, UploadFormat, UploadKind, UploadStatus
from billing_core.money import format_count
from billing_core.security import mask_ssn


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
    mapping: dict[str, str | None] | None = None,
) -> Received:
    """Read, validate and diff `data` for `group`, then keep it as an upload with `status`
    (RECEIVED: the employer is still looking at the preview; SUBMITTED: in the staff queue).
    `mapping` (CSV/XLSX: header -> field name, None to ignore a column) is the whole column
    mapping and is kept with the upload; without it the headers' synonyms decide.

    A file with any problem raises ValidationFailed (every problem listed) and writes nothing.
    The same bytes already received for the group (not rejected) return that upload with
    `duplicate` True and nothing new is written."""
    census = read_census(data, filename, kind=kind, mapping=mapping, as_of=as_of)
    if census.errors:
        raise ValidationFailed(
            f"{filename} was rejected; nothing was saved", census.errors, census.warnings
        )
    return _keep(
        session, group, census, data, filename,
        uploaded_by=uploaded_by, as_of=as_of, status=status, mapping=mapping,
    )  # fmt: skip


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
    """receive_upload once the file has been read without errors."""
    diff = diff_census(session, group, census, as_of)
    if diff.errors:
        raise ValidationFailed(
            f"{filename} cannot be applied to {group.group_number}",
            diff.errors,
            census.warnings + diff.warnings,
        )
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


def every_problem(
    session: Session, group: EmployerGroup, census: CensusFile, as_of: date
) -> tuple[list[RowError], list[RowError]]:
    """Every error and warning of a file in one round: what the reader found, and what the
    rows that did read find against enrollment (unknown plans, subscribers not enrolled), so
    the sender fixes everything at once rather than one kind of problem per upload. Writes
    nothing."""
    if not census.members:
        return list(census.errors), list(census.warnings)
    diff = diff_census(session, group, census, as_of)
    return census.errors + diff.errors, census.warnings + diff.warnings


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


def discard_upload(upload: Upload, *, actor: User) -> None:
    """The sender puts away an upload nobody will apply: a refused one, or one they checked
    but never submitted. Kept for the record; no longer listed."""
    if upload.status not in (UploadStatus.REJECTED, UploadStatus.RECEIVED, UploadStatus.RETURNED):
        raise BillingError(
            f"{upload.original_filename} is {upload.status.value}; only a file that was refused, "
            "returned or never submitted can be discarded"
        )
    if upload.discarded_at is None:
        upload.discarded_at, upload.discarded_by_id = utcnow(), actor.id


def read_as(session: Session, upload: Upload, kind: UploadKind, *, actor: User) -> None:
    """The sender says what a checked upload is: a complete list of everyone covered
    (SNAPSHOT) or a change file (CHANGE). A complete list that ends most of the group's
    coverage still asks for confirm_complete_list before it can be submitted."""
    if upload.status is not UploadStatus.RECEIVED:
        raise BillingError(f"{upload.original_filename} is {upload.status.value}; it cannot change")
    upload.file_kind = kind
    upload.file_kind_guessed = False
    upload.complete_list_confirmed_at = upload.complete_list_confirmed_by_id = None
    session.flush()


def confirm_complete_list(session: Session, upload: Upload, *, actor: User, today: date) -> None:
    """The sender says yes: this full file is their complete list of everyone covered, and
    everyone it leaves out is to end (recorded: who and when; staff see it in the review)."""
    if upload.status is not UploadStatus.RECEIVED:
        raise BillingError(f"{upload.original_filename} is {upload.status.value}; it cannot change")
    _census, diff = upload_diff(session, upload, today)
    if not diff.ends_most_coverage:
        raise BillingError("this file does not end anyone's coverage by leaving them out")
    upload.complete_list_confirmed_by_id = actor.id
    upload.complete_list_confirmed_at = utcnow()
    session.flush()


def _refuse_unconfirmed_mass_term(upload: Upload, diff: CensusDiff) -> None:
    """One door for the costliest mistake: a full file ending most of the group's coverage
    is neither submitted nor approved until its sender confirmed it is their complete list."""
    if diff.ends_most_coverage and upload.complete_list_confirmed_at is None:
        raise BillingError(
            f"{diff.complete_list_question} Confirm that it is, or read it as a change file "
            "(adds and changes only), before it goes further."
        )


def submit_upload(session: Session, upload: Upload, *, today: date) -> None:
    """The employer confirms a previewed upload: it goes to the staff review queue."""
    if upload.status is not UploadStatus.RECEIVED:
        raise BillingError(f"upload {upload.id} is already {upload.status.value}")
    if upload.job_status not in (None, JobStatus.DONE):
        raise BillingError(f"{upload.original_filename} has not been read yet; wait for it")
    _census, diff = upload_diff(session, upload, today)
    _refuse_unconfirmed_mass_term(upload, diff)
    upload.status = UploadStatus.SUBMITTED
    mail.upload_received(session, upload)


def find_upload(
    session: Session,
    group_id: int,
    upload_id: int,
    *,
    subgroup_ids: frozenset[int] | None = None,
    user_id: int | None = None,
) -> Upload | None:
    """The upload if it belongs to the group (the caller has already scoped the group) and,
    for a user limited to `subgroup_ids`, is one they may see (`access.upload_in_scope`)."""
    return session.scalar(
        select(Upload).where(
            Upload.id == upload_id, upload_in_scope(group_id, subgroup_ids, user_id)
        )
    )


def group_uploads(
    session: Session,
    group_id: int,
    *,
    subgroup_ids: frozenset[int] | None = None,
    user_id: int | None = None,
) -> list[Upload]:
    """The group's uploads, newest first, but those put away (the caller has already scoped
    the group); for a user limited to `subgroup_ids`, those they may see."""
    return list(
        session.scalars(
            select(Upload)
            .where(upload_in_scope(group_id, subgroup_ids, user_id), Upload.discarded_at.is_(None))
            .order_by(Upload.created_at.desc(), Upload.id.desc())
        )
    )


def submitted_uploads(session: Session) -> list[tuple[Upload, EmployerGroup]]:
    """Uploads waiting for staff review, oldest first, with their groups."""
    return list(
        session.execute(
            select(Upload, EmployerGroup)
            .join(EmployerGroup, EmployerGroup.id == Upload.group_id)
            .where(Upload.status == UploadStatus.SUBMITTED)
            .order_by(Upload.created_at)
        ).all()
    )


def failed_uploads(session: Session, limit: int = 50) -> list[tuple[Upload, EmployerGroup]]:
    """Uploads whose background read failed (the sender was told to send the file again),
    newest first, with their groups: staff see why (`job_error`) and can follow up."""
    return list(
        session.execute(
            select(Upload, EmployerGroup)
            .join(EmployerGroup, EmployerGroup.id == Upload.group_id)
            # A read fails on a received file; a background approval that failed leaves its
            # upload submitted, in the review queue (census.approval).
            .where(Upload.job_status == JobStatus.FAILED, Upload.status == UploadStatus.RECEIVED)
            .order_by(Upload.job_updated_at.desc(), Upload.id.desc())
            .limit(limit)
        ).all()
    )


@dataclass
class Preview:
    census: CensusFile
    diff: CensusDiff
    impact: PremiumImpact | None
    retro: list[RetroException] = field(default_factory=list)

    @property
    def warnings(self) -> list[RowError]:
        """What the reader and the diff found worth a look: applied as read."""
        return self.census.warnings + self.diff.warnings


def preview_upload(
    session: Session,
    upload: Upload,
    *,
    actor: User,
    today: date,
    priced_status: UploadStatus,
    limits: PricingLimits | None = None,
) -> Preview:
    """What a kept upload changes against enrollment today, its changes older than the retro
    window (said in words to the sender) and, while it is `priced_status` (the status its
    reader is deciding on), its premium impact (within `limits`). Writes nothing."""
    census, diff = upload_diff(session, upload, today)
    impact = None
    retro: list[RetroException] = []
    if not census.errors and not diff.errors:
        group = session.get(EmployerGroup, upload.group_id)
        retro = retro_exceptions(session, group, diff, today)
        if upload.status is priced_status:
            impact = upload_impact(session, upload, diff, actor=actor, today=today, limits=limits)
    return Preview(census, diff, impact, retro)


def upload_impact(
    session: Session,
    upload: Upload,
    diff: CensusDiff,
    *,
    actor: User,
    today: date,
    keep=False,
    limits: PricingLimits | None = None,
) -> PremiumImpact:
    """`upload`'s premium impact: as kept on the upload while what it was priced from is
    unchanged (census.impact.pricing_basis), else priced now, and kept on the upload when
    `keep` (the job and the column check keep it; a page view only reads). Pricing that would
    cost more than `limits` allow (census.impact.PricingCost, counted first) is not done: the
    impact then says why (`unpriced`)."""
    group = session.get(EmployerGroup, upload.group_id)
    basis = pricing_basis(session, group, diff, today, upload)
    kept = PremiumImpact.from_dict(upload.impact) if upload.impact is not None else None
    if kept is not None and upload.impact_basis == basis and not kept.unpriced:
        return kept
    cost = pricing_cost(session, group, diff, today)
    refusal = cost.over(limits or PricingLimits())
    if refusal:
        impact = PremiumImpact(next_period=cost.next_period, unpriced=refusal)
    else:
        impact = premium_impact(session, group, diff, actor=actor, today=today)
    if keep:
        upload.impact, upload.impact_basis = impact.as_dict(), basis
    return impact


def upload_diff(session: Session, upload: Upload, as_of: date) -> tuple[CensusFile, CensusDiff]:
    """Read a kept upload again and diff it against enrollment as it is now."""
    group = session.get(EmployerGroup, upload.group_id)
    census = read_census(
        upload.content,
        upload.original_filename,
        kind=upload.file_kind,
        mapping=upload.column_mapping,
        as_of=as_of,
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
        upload.content,
        upload.original_filename,
        kind=upload.file_kind,
        mapping=upload.column_mapping,
        as_of=as_of,
    )
    diff = diff_census(session, group, census, as_of)
    if census.errors or diff.errors:
        raise ValidationFailed(
            f"{upload.original_filename} no longer applies", census.errors + diff.errors
        )
    _refuse_unconfirmed_mass_term(upload, diff)
    result = apply_census(session, group, diff, actor=actor, today=today, upload_id=upload.id)
    upload.status = UploadStatus.APPROVED
    upload.reviewed_by_id = actor.id
    upload.reviewed_at = utcnow()
    mail.upload_approved(session, upload)
    session.flush()
    return result


# ---------------------------------------------------------------------------------------------
# Column mapping: the sender's choice per header first, then the group's saved mapping, then the
# synonym table. The mapping a file passed with is kept with its upload, and remembered for the
# group when the upload is submitted.

ColumnMap = dict[str, str | None]  # header text -> census field name (None: ignore the column)

# Where a column's field came from, for the page.
CHOSEN, SAVED, GUESSED, UNKNOWN = "chosen", "saved", "guessed", "unknown"


@dataclass(frozen=True)
class ColumnChoice:
    header: str
    field: str | None
    source: str  # CHOSEN (differs from the guess), SAVED, GUESSED or UNKNOWN (ignored)


@dataclass
class Columns:
    """A tabular file's headers with the field each is read as, and what is still missing."""

    choices: list[ColumnChoice]
    saved_on: datetime | None = None  # the group's saved mapping decided some column

    @property
    def mapping(self) -> ColumnMap:
        return {c.header: c.field for c in self.choices}

    @property
    def missing(self) -> list[str]:
        """Labels of the required fields (or companions) no column is read as."""
        return [_missing_label(name) for name in missing_fields(self.mapping)]


def _missing_label(name: str) -> str:
    alternatives = ALTERNATIVES.get(name, ())
    label = FIELDS[name].label
    if alternatives:
        label += " (or " + ", ".join(FIELDS[a].label for a in alternatives) + ")"
    return label


def resolve_columns(
    headers: list[str],
    *,
    chosen: ColumnMap | None = None,
    saved: ColumnMap | None = None,
    saved_on: datetime | None = None,
) -> Columns:
    """Each distinct header's field: `chosen` (the sender's selects) first, then `saved`, then
    the synonym table. Headers of `chosen` or `saved` that the file does not have are ignored,
    so a mapping made for another file never stops this one being read."""
    choices: list[ColumnChoice] = []
    used_saved = False
    for header in dict.fromkeys(headers):
        guess = suggest_mapping([header])[header]
        if chosen is not None and header in chosen:
            name = chosen[header] or None
            source = CHOSEN if name != guess else (GUESSED if guess else UNKNOWN)
        elif saved and header in saved:
            name, source, used_saved = saved[header] or None, SAVED, True
        else:
            name, source = guess, (GUESSED if guess else UNKNOWN)
        choices.append(ColumnChoice(header, name, source))
    return Columns(choices, saved_on if used_saved else None)


def saved_mapping(session: Session, group_id: int) -> CensusColumnMapping | None:
    return session.scalar(
        select(CensusColumnMapping).where(CensusColumnMapping.group_id == group_id)
    )


def remember_mapping(
    session: Session, group_id: int, mapping: ColumnMap, *, actor: User
) -> CensusColumnMapping:
    """Keep `mapping` for the group's next uploads, merged over what it kept before (headers of
    an older file stay remembered; this file's headers win)."""
    row = saved_mapping(session, group_id)
    if row is None:
        row = CensusColumnMapping(group_id=group_id, mapping={})
        session.add(row)
    row.mapping = {**(row.mapping or {}), **mapping}  # a new dict: JSON is not mutation-tracked
    row.updated_by_id = actor.id
    row.updated_at = utcnow()
    session.flush()
    return row


def remember_plan_aliases(
    session: Session, group_id: int, aliases: dict[str, str], *, actor: User
) -> dict[str, str]:
    """Keep the group's own names for its plans (a file's plan value -> the plan's code), so
    the next file naming a plan that way reads at once. Only the group's plan codes are
    kept; a blank choice is skipped. Returns what was kept."""
    from billing_core.models import Plan

    codes = {
        code.casefold(): code
        for code in session.scalars(select(Plan.code).where(Plan.group_id == group_id))
    }
    kept = {
        value.strip(): codes[code.strip().casefold()]
        for value, code in aliases.items()
        if value.strip() and code and code.strip().casefold() in codes
    }
    if not kept:
        raise BillingError("choose one of the group's plans for each name you want to keep")
    row = saved_mapping(session, group_id)
    if row is None:
        row = CensusColumnMapping(group_id=group_id, mapping={})
        session.add(row)
    row.plan_aliases = {**(row.plan_aliases or {}), **kept}  # a new dict: JSON is not tracked
    row.updated_by_id = actor.id
    row.updated_at = utcnow()
    session.flush()
    return kept


def group_plans(session: Session, group_id: int) -> list:
    """The group's plans (code and the name the employer sees), for mapping a file's plan
    names to them."""
    from billing_core.models import Plan

    return list(session.scalars(select(Plan).where(Plan.group_id == group_id).order_by(Plan.code)))


def recheck_upload(
    session: Session,
    upload: Upload,
    *,
    actor: User,
    today: date,
    limits: PricingLimits | None = None,
) -> bool:
    """Read a kept upload that was refused or is not yet submitted again (after the group's
    plan names were mapped, say): a refused one that now reads becomes an upload to preview
    and submit, priced and kept like any other. Returns whether it reads now."""
    if upload.status not in (UploadStatus.REJECTED, UploadStatus.RECEIVED):
        raise BillingError(f"{upload.original_filename} is {upload.status.value}; it cannot change")
    census, diff = upload_diff(session, upload, today)
    errors = census.errors + diff.errors
    upload.error_count = len(errors)
    upload.row_count = census.employee_count + census.dependent_count
    if errors:
        session.flush()
        return False
    upload.status = UploadStatus.RECEIVED
    session.flush()
    upload_impact(session, upload, diff, actor=actor, today=today, keep=True, limits=limits)
    return True


def read_with_columns(
    data: bytes,
    filename: str,
    *,
    kind: UploadKind | None,
    as_of: date,
    chosen: ColumnMap | None = None,
    saved: ColumnMap | None = None,
    saved_on: datetime | None = None,
    max_rows: int | None = None,
) -> tuple[CensusFile, Columns | None]:
    """Read a file with its columns resolved (None for an 834). The headers come from a first
    read by the synonyms; the file is read again only when the resolved mapping differs. A
    file of more than `max_rows` rows is refused unread (census.reader.read_census)."""
    census = read_census(data, filename, kind=kind, as_of=as_of, max_rows=max_rows)
    if census.file_format is UploadFormat.X12_834:
        return census, None
    headers = [str(h) for h in census.detail.get("headers", [])]
    if not headers:
        return census, Columns([])
    columns = resolve_columns(headers, chosen=chosen, saved=saved, saved_on=saved_on)
    if columns.mapping != suggest_mapping(headers):
        census = read_census(data, filename, kind=kind, mapping=columns.mapping, as_of=as_of)
    return census, columns


@dataclass
class Check:
    """A file checked with its columns: refused (`message` and every problem in `errors`) or
    kept as `upload` with what it changes."""

    census: CensusFile
    columns: Columns | None
    message: str | None = None
    errors: list[RowError] = field(default_factory=list)
    upload: Upload | None = None
    duplicate: bool = False
    diff: CensusDiff | None = None
    impact: PremiumImpact | None = None
    rejected: Upload | None = None  # the refused file, kept for the record
    warnings: list[RowError] = field(default_factory=list)


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
    """receive_upload with the columns resolved (the sender's choice, the group's saved
    mapping, the synonyms): a file that reads is kept with that mapping; a refused one writes
    nothing and comes back with its problems. Never raises ValidationFailed."""
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


def upload_columns(
    upload: Upload, census: CensusFile, saved: CensusColumnMapping | None = None
) -> Columns | None:
    """The columns a kept upload is read with (None for an 834); a column read as the group's
    `saved` mapping says is shown as coming from it."""
    if census.file_format is UploadFormat.X12_834:
        return None
    headers = [str(h) for h in census.detail.get("headers", [])]
    columns = resolve_columns(headers, chosen=upload.column_mapping)
    if saved is None or not saved.mapping:
        return columns
    choices = [
        ColumnChoice(c.header, c.field, SAVED)
        if c.header in saved.mapping and (saved.mapping[c.header] or None) == c.field
        else c
        for c in columns.choices
    ]
    used = any(c.source == SAVED for c in choices)
    return Columns(choices, saved.updated_at if used else None)


def remap_upload(
    session: Session,
    upload: Upload,
    chosen: ColumnMap,
    *,
    actor: User,
    today: date,
    limits: PricingLimits | None = None,
) -> Check:
    """Read a kept, not yet submitted upload again with the sender's columns. When it reads
    and applies, the upload keeps the new mapping and the check carries its diff and premium
    impact; otherwise the upload is left as it was and the check lists the problems."""
    if upload.status is not UploadStatus.RECEIVED:
        raise BillingError(
            f"{upload.original_filename} is {upload.status.value}; its columns can no longer change"
        )
    if upload.job_status not in (None, JobStatus.DONE):
        raise BillingError(f"{upload.original_filename} has not been read yet; wait for it")
    census, columns = read_with_columns(
        upload.content,
        upload.original_filename,
        kind=upload.file_kind,
        as_of=today,
        chosen=chosen,
        saved=upload.column_mapping,
    )
    name = upload.original_filename
    if census.errors:
        return Check(census, columns, f"{name} cannot be read with these columns", census.errors)
    group = session.get(EmployerGroup, upload.group_id)
    diff = diff_census(session, group, census, today)
    if diff.errors:
        return Check(
            census, columns, f"{name} cannot be applied to {group.group_number}", diff.errors
        )
    if columns is not None:
        upload.column_mapping = columns.mapping
    upload.row_count = census.employee_count + census.dependent_count
    session.flush()
    impact = upload_impact(
        session, upload, diff, actor=actor, today=today, keep=True, limits=limits
    )
    return Check(census, columns, upload=upload, diff=diff, impact=impact)


def submit_and_remember(session: Session, upload: Upload, *, actor: User, today: date) -> None:
    """The employer submits a previewed upload (submit_upload); a CSV/XLSX upload's columns are
    remembered for the group's next file."""
    submit_upload(session, upload, today=today)
    if upload.column_mapping:
        remember_mapping(session, upload.group_id, upload.column_mapping, actor=actor)


# ---------------------------------------------------------------------------------------------
# Downloads: the problems of a refused file as CSV, and the 999 answering an 834.

PROBLEM_COLUMNS = (
    Column("File"),
    Column("Kind"),
    Column("Row"),
    Column("Column"),
    Column("Value"),
    Column("What was expected"),
)
_SSN_LIKE = re.compile(r"\d{3}[-\s]?\d{2}[-\s]?\d{4}")


def shown_value(error: RowError, ssn_headers: frozenset[str] = frozenset()) -> str | None:
    """The problem's value as it may be shown: an SSN (a column read as SSN, or anything
    shaped like one, whatever column the sender mapped it to) masked to its last 4."""
    value = error.value
    if value is None:
        return None
    if error.column in ssn_headers or _SSN_LIKE.fullmatch(value.strip()):
        digits = re.sub(r"\D", "", value)
        return mask_ssn(digits[-4:]) if len(digits) >= 4 else value
    return value


def ssn_headers(columns: Columns | None) -> frozenset[str]:
    if columns is None:
        return frozenset()
    return frozenset(c.header for c in columns.choices if c.field == "ssn")


ERROR, WARNING = "Error", "Warning"


@dataclass(frozen=True)
class ProblemRow:
    source: str
    row: str  # "file" for the file as a whole
    column: str
    value: str | None  # SSNs masked
    message: str
    severity: str = ERROR  # ERROR: not applied as sent; WARNING: applied, worth a look


def problem_rows(
    errors: list[RowError],
    columns: Columns | None = None,
    warnings: list[RowError] = (),
) -> list[ProblemRow]:
    """The problems as they may be shown or downloaded, errors first: SSNs masked to their
    last 4."""
    masked = ssn_headers(columns)
    return [
        ProblemRow(
            problem.source or "",
            "file" if problem.row is None else str(problem.row),
            problem.column or "",
            shown_value(problem, masked),
            problem.message,
            severity,
        )
        for severity, problems in ((ERROR, errors), (WARNING, warnings))
        for problem in problems
    ]


def kept_problems_csv(upload: Upload) -> bytes:
    """A purged upload's problems as kept at the purge (no values), in the problems CSV's
    columns."""
    return csv_bytes(
        PROBLEM_COLUMNS,
        (
            (upload.original_filename, p["kind"], p["row"], p["column"], None, p["message"])
            for p in upload.kept_problems or []
        ),
    )


def problems_csv(
    errors: list[RowError], columns: Columns | None = None, warnings: list[RowError] = ()
) -> bytes:
    """File, kind (error or warning), row, column, value (SSNs masked) and what was
    expected, one line per problem, through exports.csv_bytes (formula-like cells
    neutralised)."""
    return csv_bytes(
        PROBLEM_COLUMNS,
        (
            (p.source, p.severity, p.row, p.column, p.value, p.message)
            for p in problem_rows(errors, columns, warnings)
        ),
    )


def acknowledgement_for(data: bytes, filename: str) -> str | None:
    """The 999 acknowledgment of an 834 (accepted and rejected transaction sets alike); None
    when `data` is not an 834. Raises ValidationFailed when the envelope cannot be answered."""
    if not looks_like_834(data):
        return None
    return acknowledgement_999(read_census(data, filename), data)


def upload_problems(
    session: Session, upload: Upload, *, as_of: date, chosen: ColumnMap | None = None
) -> tuple[list[RowError], Columns | None, list[RowError]]:
    """Every problem of a kept upload read with its own columns (or `chosen` over them), then
    against enrollment as of `as_of`: the errors, the columns, the warnings. Writes
    nothing."""
    census, columns = read_with_columns(
        upload.content,
        upload.original_filename,
        kind=upload.file_kind,
        as_of=as_of,
        chosen=chosen,
        saved=upload.column_mapping,
    )
    group = session.get(EmployerGroup, upload.group_id)
    errors, warnings = every_problem(session, group, census, as_of)
    return errors, columns, warnings


# ---------------------------------------------------------------------------------------------
# Staff review: the reconciliation of an upload with the bill, returning it to the employer, and
# a supervisor's override of the retro window for changes older than it.

RETURN_REASON_MIN = 10  # the employer must be able to act on it: a few words at least


@dataclass(frozen=True)
class RetroException:
    """A change whose effective date reaches billed months before its retro window."""

    kind: str  # add | term | change
    name: str
    employee_id: str
    effective_on: date
    window_start: date  # first coverage month inside the window
    months: tuple[date, ...]  # billed months before the window the change touches

    @property
    def consequence(self) -> str:
        before = f"{self.window_start:%b %Y}"
        if self.kind == "term":
            return (
                f"Credits for months before {before} are given only with a supervisor's "
                "override (then queued for a supervisor's approval)."
            )
        return f"Months before {before} are queued for a supervisor's approval."


def retro_exceptions(
    session: Session, group: EmployerGroup, diff: CensusDiff, today: date
) -> list[RetroException]:
    """The diff's changes whose effective month is billed and older than the group's retro
    window for their kind (add, term, change: policy days before `today`, from the first of
    that month), with the billed months outside the window."""
    from billing_core.billing.enrollment import month_start
    from billing_core.billing.retro import retro_window
    from billing_core.census.apply import billed_months
    from billing_core.census.diff import ChangeKind

    billed = billed_months(session, group)
    found = []
    for entry in diff.members:
        if entry.kind is ChangeKind.UNCHANGED:
            continue
        starts = [entry.effective_on, *(c.effective_on for c in entry.coverages)]
        first = month_start(min(starts))
        window_start = retro_window(group, entry.kind, today)
        months = tuple(m for m in billed if first <= m < window_start)
        if months:
            found.append(
                RetroException(
                    entry.kind.value,
                    entry.name,
                    entry.employee_id,
                    min(starts),
                    window_start,
                    months,
                )
            )
    return found


def return_upload(
    upload: Upload, *, actor: User, reason: str, ip_address: str | None = None
) -> None:
    """Staff send a submitted upload back to the employer with `reason`, which the employer
    reads on the upload. Nothing is applied; the employer sends a corrected file. Audited."""
    if not actor.role.is_staff:
        raise AccessDenied("only billing staff return uploads")
    if upload.status is not UploadStatus.SUBMITTED:
        raise BillingError(f"upload {upload.id} is {upload.status.value}, not submitted")
    reason = reason.strip()
    if len(reason) < RETURN_REASON_MIN:
        raise BillingError("say what the employer should correct (a sentence they can act on)")
    upload.status = UploadStatus.RETURNED
    upload.return_reason = reason
    upload.reviewed_by_id = actor.id
    upload.reviewed_at = utcnow()
    mail.upload_returned(object_session(upload), upload)
    audit.record(
        object_session(upload),
        "upload.returned",
        actor=actor,
        target=upload,
        group_id=upload.group_id,
        ip_address=ip_address,
        detail={"reason": reason[:500]},
    )


def override_retro_window(
    session: Session,
    upload: Upload,
    *,
    actor: User,
    reason: str,
    today: date,
    ip_address: str | None = None,
) -> list[RetroException]:
    """A supervisor (or admin) allows this submitted upload's changes older than the retro
    window: approval is then possible, and late terms are credited for their billed months
    before the window too. Every such adjustment still waits for a supervisor's approval.
    Refused for anyone else, whatever the page showed; returns the changes it covers.
    Audited, with the changes it covers."""
    from billing_core.billing.adjustments import SUPERVISING_ROLES

    if actor.role not in SUPERVISING_ROLES:
        raise AccessDenied("only a supervisor can override the retro window")
    if upload.status is not UploadStatus.SUBMITTED:
        raise BillingError(f"upload {upload.id} is {upload.status.value}, not submitted")
    reason = reason.strip()
    if len(reason) < 5:
        raise BillingError("say why the retro window is overridden")
    group = session.get(EmployerGroup, upload.group_id)
    _census, diff = upload_diff(session, upload, today)
    exceptions = retro_exceptions(session, group, diff, today)
    if not exceptions:
        raise BillingError("nothing in this upload is older than the retro window")
    upload.retro_override_by_id = actor.id
    upload.retro_override_at = utcnow()
    upload.retro_override_reason = reason
    audit.record(
        session,
        "upload.retro_override",
        actor=actor,
        target=upload,
        group_id=upload.group_id,
        ip_address=ip_address,
        detail={
            "reason": reason[:500],
            "changes": [
                {"employee_id": c.employee_id, "kind": c.kind, "effective_on": str(c.effective_on)}
                for c in exceptions
            ],
        },
    )
    session.flush()
    return exceptions


def approve_reviewed_upload(
    session: Session,
    upload: Upload,
    *,
    actor: User,
    today: date,
    ip_address: str | None = None,
    in_background: bool = False,
) -> ApplyResult:
    """Approval from the review page (or its background job, `in_background`): refused while
    the upload has changes older than the retro window and no supervisor's override. With the
    override, late terms are also credited for their billed months before the window (pending,
    marked for a supervisor). Audited with what it did."""
    from billing_core.billing.adjustments import queue_premium_differences
    from billing_core.census.diff import ChangeKind
    from billing_core.models import Member

    group = session.get(EmployerGroup, upload.group_id)
    _census, diff = upload_diff(session, upload, today)
    exceptions = retro_exceptions(session, group, diff, today) if not diff.errors else []
    if exceptions and upload.retro_override_at is None:
        raise BillingError(
            f"{len(exceptions)} change(s) are older than the retro window; a supervisor must "
            "override the window before this upload can be approved"
        )
    result = approve_upload(session, upload, actor=actor, as_of=today, today=today)
    if upload.retro_override_at is None:
        _audit_approval(session, upload, actor, result, ip_address, in_background)
        return result
    for exception in exceptions:
        if exception.kind != ChangeKind.TERM.value:
            continue
        member = next(
            e.member for e in diff.members if e.employee_id == exception.employee_id and e.member
        )
        member = session.get(Member, member.id)
        result.adjustments += queue_premium_differences(
            session,
            group,
            member,
            list(exception.months),
            reason_code="late_term",
            source_type="upload",
            source_id=upload.id,
            requested_by=actor,
            supervisor_before=exception.window_start,  # every month here is before it
        )
    session.flush()
    _audit_approval(session, upload, actor, result, ip_address, in_background)
    return result


def _audit_approval(
    session: Session,
    upload: Upload,
    actor: User,
    result: ApplyResult,
    ip_address: str | None,
    in_background: bool,
) -> None:
    detail = result.as_dict()
    if in_background:
        detail["in_background"] = True
    audit.record(
        session,
        "upload.approved",
        actor=actor,
        target=upload,
        group_id=upload.group_id,
        ip_address=ip_address,
        detail=detail,
    )


@dataclass
class Review:
    """Everything the staff review page shows for an upload."""

    preview: Preview
    reconciliation: object | None  # billing_core.census.reconciliation.Reconciliation
    retro_exceptions: list[RetroException] = field(default_factory=list)
    # Not reconciled, and why in words: rating the file's members for the period would cost
    # more than the pricing bound (review_upload).
    unreconciled: str | None = None


def review_upload(
    session: Session,
    upload: Upload,
    *,
    actor: User,
    today: date,
    period: date | None = None,
    pay_periods: int | None = None,
    limits: PricingLimits | None = None,
) -> Review:
    """The preview (diff and premium impact), the reconciliation with the bill for `period`
    (default: the period the file speaks to) and the changes older than the retro window.
    The reconciliation rates every member the file lists for the period: beyond
    `limits.max_member_months` (members x the period's months) it is not computed here and
    `unreconciled` says so, so the page stays within seconds. Writes nothing; the caller
    rolls back."""
    from billing_core.census.reconciliation import reconcile_census

    preview = preview_upload(
        session,
        upload,
        actor=actor,
        today=today,
        priced_status=UploadStatus.SUBMITTED,
        limits=limits,
    )
    if preview.census.errors or preview.diff.errors:
        return Review(preview, None)
    group = session.get(EmployerGroup, upload.group_id)
    retro = retro_exceptions(session, group, preview.diff, today)
    refusal = _reconciliation_over(group, preview.census, today, limits or PricingLimits())
    if refusal:
        return Review(preview, None, retro, unreconciled=refusal)
    reconciliation = reconcile_census(
        session,
        group,
        preview.census,
        preview.diff,
        actor=actor,
        today=today,
        period=period,
        pay_periods=pay_periods,
    )
    return Review(preview, reconciliation, retro)


def _reconciliation_over(
    group: EmployerGroup, census: CensusFile, today: date, limits: PricingLimits
) -> str | None:
    policy = group.policy_on(today) or (group.policies[-1] if group.policies else None)
    months = policy.billing_frequency.months if policy else 1
    member_months = len(census.members) * months
    if member_months <= limits.max_member_months:
        return None
    return (
        "The reconciliation with the bill is not computed on this page: it rates "
        f"{format_count(len(census.members), 'member')} the file lists over the period "
        f"({member_months:,} member-months; at most {limits.max_member_months:,} are rated here, "
        "CENSUS_PRICING_MAX_MEMBER_MONTHS). What the file changes and its premium impact are "
        "above; the billing run after approval bills the group as the file leaves it."
    )
