"""A tabular census file's columns: the sender's choice per header first, then the group's
saved mapping, then the synonym table. The mapping a file passed with is kept with its upload
and remembered for the group when the upload is submitted; the group's own names for its plans
are remembered too. Reading a kept upload again with new columns (`remap_upload`) or after its
plan names were mapped (`recheck_upload`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.census.diff import CensusDiff, diff_census
from billing_core.census.impact import (
    PremiumImpact,
    PricingLimits,
)
from billing_core.census.reader import read_census
from billing_core.census.rows import CensusFile
from billing_core.census.tabular import ALTERNATIVES, FIELDS, missing_fields, suggest_mapping
from billing_core.census.uploads import submit_upload, upload_diff, upload_impact
from billing_core.db import utcnow
from billing_core.errors import BillingError, RowError
from billing_core.models import CensusColumnMapping, EmployerGroup, Upload, User
from billing_core.models.enums import JobStatus, UploadFormat, UploadKind, UploadStatus

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
