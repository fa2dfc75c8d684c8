"""The staff review of a census upload kept for the process (issue 19): what the review page
shows (`census.uploads.review_upload`: the diff's counts and changes, the premium impact, the
retro exceptions, the reconciliation) computed once, then served while nothing it was computed
from changed. An upload under review does not change; its review changes only with the day,
the upload's own row, or the group's enrollment, plans, rates, policies, bills and
adjustments, so each view reads one fingerprint of those rows (`review_marker`, one
statement) instead of reading the file and diffing it again (27 statements)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Integer, TextClause, bindparam, text
from sqlalchemy.orm import Session

from billing_core.census.diff import ChangeKind, FieldChange
from billing_core.db import built_once
from billing_core.errors import RowError
from billing_core.models import (
    Adjustment,
    AgeReduction,
    BenefitClass,
    BillingPolicy,
    BillingSubgroup,
    CensusColumnMapping,
    Coverage,
    CoveredDependent,
    Dependent,
    EmployerGroup,
    GroupCancellation,
    Invoice,
    InvoiceTemplate,
    Member,
    Plan,
    Product,
    RateAgeBand,
    RateTier,
    RateVersion,
    RemittanceDetail,
    Upload,
)
from billing_core.models.enums import UploadFormat, UploadKind

# Reviews kept per process (the newest used last): a few uploads wait for review at a time.
KEPT_REVIEWS = 32
# A review listing more lines than this (the diff's changes and the members behind the
# reconciliation's differences) is not kept: 32 of them would hold too much of a worker's
# memory, and a page that long costs more to render than to compute.
KEPT_MOST_LINES = 5_000


def _rows_of(model, condition: str) -> str:
    """Every row of `model` that `condition` selects, as its id, its row version (`xmin`: the
    transaction that wrote it) and its place (`ctid`: a new place on every update, even within
    one transaction), in id order."""
    table = model.__tablename__
    return (
        f"coalesce((SELECT string_agg({table}.id || ':' || {table}.xmin || ':' || "  # nosec B608 - our tables; values bound
        f"{table}.ctid, ',' ORDER BY {table}.id) FROM {table} WHERE {condition}), '')"
    )


@built_once
def _marker_statement() -> TextClause:
    """review_marker's one read, built once (the group bound by name at each view)."""
    # Ids as arrays (`= ANY(ARRAY(...))`): each set read once by its index, and the rows
    # under it by theirs (as `IN (subquery)` the planner scans all dependents instead).
    plans = "ARRAY(SELECT plan.id FROM plan WHERE plan.group_id = :group_id)"
    versions = (
        f"ARRAY(SELECT rate_version.id FROM rate_version WHERE rate_version.plan_id = ANY({plans}))"  # nosec B608 - our tables; values bound
    )
    members = "ARRAY(SELECT member.id FROM member WHERE member.group_id = :group_id)"
    dependents = (
        f"ARRAY(SELECT dependent.id FROM dependent WHERE dependent.member_id = ANY({members}))"  # nosec B608 - our tables; values bound
    )
    invoices = "ARRAY(SELECT invoice.id FROM invoice WHERE invoice.group_id = :group_id)"
    parts = [
        _rows_of(EmployerGroup, "employer_group.id = :group_id"),
        *(
            _rows_of(model, f"{model.__tablename__}.group_id = :group_id")
            for model in (
                Upload,
                BillingPolicy,
                Plan,
                BenefitClass,
                BillingSubgroup,
                CensusColumnMapping,
                Member,
                Invoice,
                Adjustment,
                GroupCancellation,
                InvoiceTemplate,
            )
        ),
        _rows_of(Product, "true"),
        _rows_of(RateVersion, f"rate_version.plan_id = ANY({plans})"),
        *(
            _rows_of(model, f"{model.__tablename__}.rate_version_id = ANY({versions})")
            for model in (RateTier, RateAgeBand, AgeReduction)
        ),
        _rows_of(Coverage, f"coverage.member_id = ANY({members})"),
        _rows_of(Dependent, f"dependent.member_id = ANY({members})"),
        _rows_of(CoveredDependent, f"covered_dependent.dependent_id = ANY({dependents})"),
        _rows_of(RemittanceDetail, f"remittance_detail.invoice_id = ANY({invoices})"),
    ]
    statement = text("SELECT md5(" + " || '|' || ".join(parts) + ")")
    return statement.bindparams(bindparam("group_id", type_=Integer()))


def review_marker(session: Session, upload: Upload) -> str | None:
    """A fingerprint of every row the review of `upload` reads: the upload's own row (its
    status, file, mapping, kept impact and reconciliation) and the group's uploads; the group,
    its billing policies, plans, classes, subgroups, column mapping, members, coverages,
    dependents and covered dependents; the products; the plans' rate versions, tiers, age
    bands and reductions; the group's invoices, their 820 remittance, its adjustments, its
    cancellation for non-payment (a billing hold) and its invoice template (its billing
    accounts). Any insert, update or delete of one of them changes it (PostgreSQL gives every
    row version its writer's transaction and a new place), so a review computed under a
    marker is current while the marker is the same, on the same day. Invoice lines are not
    read: they are written with their invoice, in its transaction, and never changed (a void
    changes the invoice). A table the review comes to read must join `_marker_statement`.
    None on a database without row versions (SQLite): the review is then computed on every
    view."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    session.flush()  # a Core read: what this transaction wrote counts
    return session.execute(_marker_statement(), {"group_id": upload.group_id}).scalar_one()


# --------------------------------------------------------------------------- shown


@dataclass(frozen=True)
class Described:
    """A coverage or dependent change as the page words it (its `describe()`)."""

    text: str

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class ShownLine:
    """A diff line (add, term or change) as the review shows it."""

    kind: ChangeKind
    name: str
    employee_id: str
    effective_on: date
    fields: tuple[FieldChange, ...]
    coverages: tuple[Described, ...]
    dependents: tuple[Described, ...]


@dataclass(frozen=True)
class ShownCensus:
    """The file as the review shows it (`census.rows.CensusFile`'s words)."""

    file_format: UploadFormat
    kind: UploadKind | None
    kind_guess: UploadKind | None
    employee_count: int
    dependent_count: int
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class ShownDiff:
    """The diff as the review shows it (`census.diff.CensusDiff`'s words); `members` are its
    changes only, in file order: the page lists no unchanged line."""

    as_of: date
    counts: dict[str, int]
    members: tuple[ShownLine, ...]
    enrolled_employees: int
    ending_by_absence: int
    ends_most_coverage: bool
    complete_list_question: str
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)

    @property
    def changes(self) -> tuple[ShownLine, ...]:
        return self.members


def shown_census(census) -> ShownCensus:
    return ShownCensus(
        census.file_format,
        census.kind,
        census.kind_guess,
        census.employee_count,
        census.dependent_count,
        list(census.errors),
        list(census.warnings),
    )


def shown_diff(diff) -> ShownDiff:
    return ShownDiff(
        diff.as_of,
        dict(diff.counts),
        tuple(
            ShownLine(
                m.kind,
                m.name,
                m.employee_id,
                m.effective_on,
                tuple(m.fields),
                tuple(Described(c.describe()) for c in m.coverages),
                tuple(Described(d.describe()) for d in m.dependents),
            )
            for m in diff.changes
        ),
        diff.enrolled_employees,
        diff.ending_by_absence,
        diff.ends_most_coverage,
        diff.complete_list_question,
        list(diff.errors),
        list(diff.warnings),
    )


# --------------------------------------------------------------------------- kept


_kept: OrderedDict[tuple, tuple[str, object]] = OrderedDict()
_lock = threading.Lock()


def kept_review(key: tuple, marker: str | None):
    """The review kept under `key` if it was computed under `marker`, else None."""
    if marker is None:
        return None
    with _lock:
        found = _kept.get(key)
        if found is None or found[0] != marker:
            return None
        _kept.move_to_end(key)
        return found[1]


def keep_review(key: tuple, marker: str | None, review) -> None:
    """Keep `review` (plain values only: no ORM object, nothing tied to a session) under
    `key` until a view reads another marker; the oldest of more than KEPT_REVIEWS go."""
    if marker is None:
        return
    with _lock:
        _kept[key] = (marker, review)
        _kept.move_to_end(key)
        while len(_kept) > KEPT_REVIEWS:
            _kept.popitem(last=False)


def forget_kept_reviews() -> None:
    """Drop every kept review (tests)."""
    with _lock:
        _kept.clear()
