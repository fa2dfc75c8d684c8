"""A census upload's life once kept: the sender's decisions on it (how it is read, the
complete-list confirmation, submit, discard), the lists staff and employers see, its preview
and premium impact, approval, and the staff review (the reconciliation with the bill, returning
it, the retro window's override, approval from the review page). The original bytes are kept
in the `upload` row (any web or worker instance can read them again). How a file comes in is
`census.intake`; its columns `census.columns`; its problems and downloads `census.problems`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, object_session

from billing_core import audit, mail
from billing_core.access import upload_in_scope
from billing_core.census.apply import ApplyResult, apply_census
from billing_core.census.diff import CensusDiff, diff_census, read_and_diff
from billing_core.census.impact import (
    PremiumImpact,
    PricingLimits,
    landing_period,
    premium_impact,
    pricing_basis,
    pricing_cost,
)
from billing_core.census.kept_review import (
    KEPT_MOST_LINES,
    keep_review,
    kept_review,
    review_marker,
    shown_census,
    shown_diff,
)
from billing_core.census.reader import read_census
from billing_core.census.rows import CensusFile
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, BillingError, RowError, ValidationFailed
from billing_core.models import EmployerGroup, Upload, User
from billing_core.models.enums import JobStatus, UploadKind, UploadStatus
from billing_core.money import format_count


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


def received_before(session: Session, group_id: int, digest: str) -> Upload | None:
    """The group's upload of the same bytes (SHA-256 `digest`) received before and not
    refused, whose bytes are still kept: the same file sent again is that upload (a purged
    file sent again is a new one). The one test of "the same file" for every door."""
    return session.scalar(
        select(Upload).where(
            Upload.group_id == group_id,
            Upload.sha256 == digest,
            Upload.status != UploadStatus.REJECTED,
            Upload.content_purged_at.is_(None),
        )
    )


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
    basis: str | None = None,
) -> PremiumImpact:
    """`upload`'s premium impact: as kept on the upload while what it was priced from is
    unchanged (census.impact.pricing_basis; `basis` when the caller has it already), else
    priced now, and kept on the upload when `keep` (the job and the column check keep it; a
    page view only reads). Pricing that would cost more than `limits` allow
    (census.impact.PricingCost, counted first) is not done: the impact then says why
    (`unpriced`)."""
    group = session.get(EmployerGroup, upload.group_id)
    basis = basis or pricing_basis(session, group, diff, today, upload)
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
    census, diff = read_and_diff(
        session,
        group,
        lambda: read_census(
            upload.content,
            upload.original_filename,
            kind=upload.file_kind,
            mapping=upload.column_mapping,
            as_of=as_of,
        ),
        as_of,
    )
    if diff is None:
        raise ValidationFailed(f"{upload.original_filename} lists no members", census.errors)
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

    billed = billed_months(session, group)
    found = []
    for entry in diff.changes:
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


def refuse_outside_retro_window(upload: Upload, exceptions: list[RetroException]) -> None:
    """The one door for changes older than the retro window: no approval (in the request or
    queued for the background) until a supervisor has overridden the window."""
    if exceptions and upload.retro_override_at is None:
        raise BillingError(
            f"{len(exceptions)} change(s) are older than the retro window; a supervisor must "
            "override the window before this upload can be approved"
        )


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
    from billing_core.authority import SUPERVISING_ROLES

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
    refuse_outside_retro_window(upload, exceptions)
    lands_on = None
    if not diff.errors:
        adds = frozenset({ChangeKind.ADD}) if diff.counts[ChangeKind.ADD.value] else None
        lands_on = landing_period(session, group, diff, today, kinds=adds)
    result = approve_upload(session, upload, actor=actor, as_of=today, today=today)
    result.lands_on = lands_on
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
    # A reconciliation computed for the default period that the upload does not keep yet:
    # (Reconciliation.as_kept, its basis), for keep_reconciliation after the read.
    to_keep: tuple[dict, str] | None = None


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
    `unreconciled` says so, so the page stays within seconds. For the default period and pay
    dates it is read as kept on the upload while what it was computed from is unchanged
    (`upload_reconciliation`); computed otherwise, and then offered to keep (`to_keep`).

    Kept for the process (`census.kept_review`) once computed, as plain values (the diff's
    changes and counts as the page shows them, not the diff itself): the next views with the
    same day, period, pay dates and limits read it while `kept_review.review_marker` (one
    statement: every row it was computed from) is the same; any change to the upload, the
    group's enrollment, plans, rates, policies, bills or adjustments computes it again. A
    review offering a reconciliation to keep is not kept (the caller writes it to the upload,
    which changes the marker). Writes nothing; the caller rolls back."""
    key = (upload.id, today, period, pay_periods, limits)
    marker = review_marker(session, upload)
    if (kept := kept_review(key, marker)) is not None:
        return kept
    review = _review(
        session,
        upload,
        actor=actor,
        today=today,
        period=period,
        pay_periods=pay_periods,
        limits=limits,
    )
    if review.to_keep is None and _lines(review) <= KEPT_MOST_LINES:
        keep_review(key, marker, _shown(review))
    return review


def _lines(review: Review) -> int:
    """The lines the review lists: the diff's changes and the reconciliation's members."""
    found = review.reconciliation.discrepancies if review.reconciliation else ()
    return len(review.preview.diff.changes) + len(found)


def _shown(review: Review) -> Review:
    """`review` in plain values (census.kept_review): what the page reads of it, nothing
    tied to the session."""
    preview = review.preview
    return Review(
        Preview(shown_census(preview.census), shown_diff(preview.diff), preview.impact,
                list(preview.retro)),
        review.reconciliation,
        list(review.retro_exceptions),
        unreconciled=review.unreconciled,
    )  # fmt: skip


def _review(
    session: Session,
    upload: Upload,
    *,
    actor: User,
    today: date,
    period: date | None,
    pay_periods: int | None,
    limits: PricingLimits | None,
) -> Review:
    _load_file_and_kept(session, upload)
    census, diff = upload_diff(session, upload, today)
    if census.errors or diff.errors:
        return Review(Preview(census, diff, None), None)
    group = session.get(EmployerGroup, upload.group_id)
    retro = retro_exceptions(session, group, diff, today)
    # One digest of what the impact is priced from, for the impact and the reconciliation.
    basis = pricing_basis(session, group, diff, today, upload)
    impact = None
    if upload.status is UploadStatus.SUBMITTED:
        impact = upload_impact(
            session, upload, diff, actor=actor, today=today, limits=limits, basis=basis
        )
    preview = Preview(census, diff, impact, retro)
    refusal = _reconciliation_over(group, census, today, limits or PricingLimits())
    if refusal:
        return Review(preview, None, retro, unreconciled=refusal)
    reconciliation, to_keep = upload_reconciliation(
        session,
        upload,
        census,
        diff,
        actor=actor,
        today=today,
        period=period,
        pay_periods=pay_periods,
        pricing=basis,
    )
    return Review(preview, reconciliation, retro, to_keep=to_keep)


def _load_file_and_kept(session: Session, upload: Upload) -> None:
    """The kept file and the kept reconciliation (both deferred: the upload's other pages
    need neither) in one read, as the review reads both."""
    unloaded = inspect(upload).unloaded
    if {"content_sealed", "reconciliation"} <= unloaded:
        session.refresh(upload, ["content_sealed", "reconciliation"])


def upload_reconciliation(
    session: Session,
    upload: Upload,
    census: CensusFile,
    diff: CensusDiff,
    *,
    actor: User,
    today: date,
    period: date | None = None,
    pay_periods: int | None = None,
    pricing: str | None = None,
):
    """The reconciliation of `upload` (read as `census`, diffed as `diff` on `today`) with
    the bill for `period` and `pay_periods` (defaults: the review's), and what to keep of it.

    Only the default period with the usual pay dates is kept: the view every reviewer opens
    first. It is read from the upload while its basis (census.reconciliation.
    reconciliation_basis over `pricing`, census.impact.pricing_basis) is the same; computed
    otherwise and returned with (as_kept, basis) for `keep_reconciliation`. Another period or
    pay-date count is one reviewer looking further: computed, not kept, so it neither grows
    the row per period looked at nor pushes the default out. Returns (reconciliation,
    to_keep or None)."""
    from billing_core.census.reconciliation import (
        Reconciliation,
        reconcile_census,
        reconciliation_basis,
        review_period,
    )

    group = session.get(EmployerGroup, upload.group_id)
    asked = review_period(session, group, today, period, pay_periods)
    basis = None
    if asked.default:
        pricing = pricing or pricing_basis(session, group, diff, today, upload)
        basis = reconciliation_basis(session, group, pricing, asked)
        if upload.reconciliation_basis == basis and upload.reconciliation is not None:
            kept = Reconciliation.from_kept(upload.reconciliation)
            if kept is not None:
                return kept, None
    reconciliation = reconcile_census(
        session,
        group,
        census,
        diff,
        actor=actor,
        today=today,
        period=asked.start,
        pay_periods=asked.pay_periods,
    )
    return reconciliation, ((reconciliation.as_kept(), basis) if basis else None)


def keep_reconciliation(upload: Upload, to_keep: tuple[dict, str] | None) -> None:
    """Keep on the upload the reconciliation `upload_reconciliation` computed for the default
    period, with its basis (nothing when there is none to keep). The caller commits."""
    if to_keep is not None:
        upload.reconciliation, upload.reconciliation_basis = to_keep


def prepare_review(
    session: Session,
    upload: Upload,
    census: CensusFile,
    diff: CensusDiff,
    *,
    actor: User,
    today: date,
    limits: PricingLimits | None = None,
) -> None:
    """Compute and keep the staff review's reconciliation for its default period (the job
    that reads a file does, so the first staff view reads it), within `limits` like the page;
    a file with problems has none. The caller commits."""
    if census.errors or diff.errors:
        return
    group = session.get(EmployerGroup, upload.group_id)
    if _reconciliation_over(group, census, today, limits or PricingLimits()):
        return
    _reconciliation, to_keep = upload_reconciliation(
        session, upload, census, diff, actor=actor, today=today
    )
    keep_reconciliation(upload, to_keep)


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
