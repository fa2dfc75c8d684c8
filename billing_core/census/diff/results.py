"""What a census diff says: per member an add, a term, a change (fields, coverage lines,
dependents) or unchanged (`MemberDiff`), and for the file (`CensusDiff`) its kind, counts, the
errors and warnings found, and whether a full file would end most coverage and must ask first.
The enrolled member behind a line is loaded only when something asks for it (`MemberLoader`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.census.diff.enrollment import Enrolled
from billing_core.census.rows import CensusDependent, CensusMember
from billing_core.db import id_chunks
from billing_core.errors import RowError
from billing_core.models import Member, Plan
from billing_core.models.enums import LineOfCoverage, Relationship, UploadKind


class ChangeKind(enum.StrEnum):
    ADD = "add"
    TERM = "term"
    CHANGE = "change"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class FieldChange:
    """One field that differs; values are display strings (an SSN only ever masked)."""

    field: str
    before: str
    after: str


@dataclass(frozen=True)
class CoverageChange:
    """A line of coverage added, ended or changed (plan, tier or volume) for one member."""

    line: LineOfCoverage
    plan_before: Plan | None
    plan_after: Plan | None
    tier_before: str | None
    tier_after: str | None
    volume_before: Decimal | None
    volume_after: Decimal | None
    effective_on: date

    @property
    def kind(self) -> str:
        if self.plan_before is None:
            return "add"
        if self.plan_after is None:
            return "term"
        return "change"

    def describe(self) -> str:
        if self.plan_before is None:
            return f"{self.line.label}: add {self.plan_after.code} {self.tier_after or ''}".strip()
        if self.plan_after is None:
            return f"{self.line.label}: end {self.plan_before.code}"
        parts = []
        if self.plan_before.id != self.plan_after.id:
            parts.append(f"plan {self.plan_before.code} → {self.plan_after.code}")
        if self.tier_before != self.tier_after:
            parts.append(f"tier {self.tier_before or '—'} → {self.tier_after or '—'}")
        if self.volume_before != self.volume_after:
            parts.append(
                f"volume {amount_text(self.volume_before)} → {amount_text(self.volume_after)}"
            )
        return f"{self.line.label}: " + ", ".join(parts)


@dataclass(frozen=True)
class DependentChange:
    """A dependent added, ended or changed (names, birth date) under a member: the file's row
    (`row`) and the enrolled dependent (`dependent_id`, None for an add)."""

    kind: str  # add | term | change
    name: str
    relationship: Relationship
    effective_on: date
    row: CensusDependent | None
    dependent_id: int | None = None
    fields: tuple[FieldChange, ...] = ()

    def describe(self) -> str:
        who = f"{self.relationship.value.replace('_', ' ')} {self.name}"
        if self.kind == "add":
            return f"Dependent: add {who} from {self.effective_on:%b %-d, %Y}"
        if self.kind == "term":
            return f"Dependent: end {who} after {self.effective_on:%b %-d, %Y}"
        changed = ", ".join(f"{f.field} {f.before} → {f.after}" for f in self.fields)
        return f"Dependent: {who}: {changed}"


class MemberLoader:
    """The ORM members of one diff, loaded when first asked for: one query for every member
    the diff changes (all that approval and the preview touch), and one for the unchanged ones
    only if something asks for one. Building 100,000 ORM objects that nobody reads cost more
    than the rest of the diff."""

    def __init__(self, session: Session):
        self.session = session
        self.loaded: dict[int, Member] = {}
        self.waves: list[list[int]] = [[], []]  # changed members first, then unchanged

    def get(self, member_id: int) -> Member:
        member = self.loaded.get(member_id)
        while member is None:
            ids = self.waves.pop(0) if self.waves else [member_id]
            for chunk in id_chunks(ids):
                for loaded in self.session.scalars(select(Member).where(Member.id.in_(chunk))):
                    self.loaded[loaded.id] = loaded
            member = self.loaded.get(member_id)
        return member


@dataclass
class MemberDiff:
    """One member's line of a diff. `member` is the enrolled member (None for an add), loaded
    from `member_id` on first use; `member_key` is its key, read with the enrollment."""

    kind: ChangeKind
    employee_id: str
    name: str
    effective_on: date
    member_id: int | None = None
    row: CensusMember | None = None  # the file's row (None for a snapshot term)
    fields: list[FieldChange] = field(default_factory=list)
    coverages: list[CoverageChange] = field(default_factory=list)
    member_key: str | None = None
    loader: MemberLoader | None = field(default=None, repr=False, compare=False)
    # The enrolled values the diff compared (names, dates, salary...), without loading the
    # ORM member: what pricing a change needs. None on an unchanged line (`member` loads it).
    enrolled: Enrolled | None = field(default=None, repr=False, compare=False)
    dependents: list[DependentChange] = field(default_factory=list)

    @property
    def member(self) -> Member | None:
        if self.member_id is None:
            return None
        return self.loader.get(self.member_id)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind.value,
            "employee_id": self.employee_id,
            "name": self.name,
            "effective_on": self.effective_on.isoformat(),
            "member_key": self.member_key,
            "fields": [
                {"field": f.field, "before": f.before, "after": f.after} for f in self.fields
            ],
            "coverages": [c.describe() for c in self.coverages],
            "dependents": [d.describe() for d in self.dependents],
        }


class RowAt:
    """A file's row not built yet: row `at` of a reader's columns (census.rows), built when
    a line's `row` is first read (the diff passes most rows of a full file without it)."""

    __slots__ = ("rows", "at")

    def __init__(self, rows, at: int):
        self.rows, self.at = rows, at


def _row(entry: MemberDiff) -> CensusMember | None:
    found = entry.__dict__["_row"]
    if found.__class__ is RowAt:
        found = entry.__dict__["_row"] = found.rows[found.at]
    return found


def _set_row(entry: MemberDiff, row: CensusMember | RowAt | None) -> None:
    entry.__dict__["_row"] = row


# `row` may be given as a RowAt, and is the file's row (CensusMember) when read.
MemberDiff.row = property(_row, _set_row)  # type: ignore[assignment]


class UnchangedLines:
    """The unchanged lines the diff's quick check passed, kept as columns and built as
    `MemberDiff`s only when the whole list is read (`CensusDiff.members`): nearly every
    line of a full file, and what most readers skip (the changes are `CensusDiff.changes`).
    `at` are the lines' positions in the file (ascending); the other arrays are per line,
    the file's values (`employee_ids`, `maintenance_dates`) and the enrolled member's."""

    def __init__(self, rows, at, employee_ids, maintenance_dates, enrolled, as_of, loader):
        self.rows, self.at, self.as_of, self.loader = rows, at, as_of, loader
        self.employee_ids, self.maintenance_dates = employee_ids, maintenance_dates
        # The enrolled member's employee id, last and first name, id and key.
        self.enrolled = enrolled
        self.member_ids = enrolled[3]

    def __len__(self) -> int:
        return len(self.at)

    def build(self) -> list[MemberDiff]:
        """The lines as the diff's other lines are: the file's employee id (else the
        enrolled one), the enrolled name, the maintenance date (else `as_of`)."""
        employee_ids, last_names, first_names, member_ids, member_keys = self.enrolled
        unchanged, as_of, rows, loader = ChangeKind.UNCHANGED, self.as_of, self.rows, self.loader
        return [
            MemberDiff(
                unchanged,
                row_employee_id or employee_id or "",
                name,
                maintenance_date or as_of,
                member_id,
                RowAt(rows, i),
                [],
                [],
                member_key,
                loader,
                None,
            )
            for i, row_employee_id, maintenance_date, employee_id, name, member_id, member_key in zip(
                self.at.tolist(),
                self.employee_ids.tolist(),
                self.maintenance_dates.tolist(),
                employee_ids.tolist(),
                (last_names + ", " + first_names).tolist(),
                member_ids.tolist(),
                member_keys.tolist(),
                strict=True,
            )
        ]


MASS_TERM_SHARE = Decimal("0.2")  # a full file ending more than a fifth of the employees...
MASS_TERM_COUNT = 10  # ...or more than ten of them (whichever is smaller) asks first


@dataclass
class CensusDiff:
    """`enrolled_employees`: employees with coverage in force on `as_of` before the file.
    `kind_guessed`: the portal chose the kind (the sender and the file did not say)."""

    as_of: date
    kind: UploadKind
    members: list[MemberDiff] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)  # applied as read; a person looks
    enrolled_employees: int = 0
    kind_guessed: bool = False
    unknown_plans: list[str] = field(default_factory=list)  # plan values no plan answers to
    # The quick check's unchanged lines not built yet, and the file position of each line
    # of `members` built so far (see `defer_unchanged`).
    _unchanged: UnchangedLines | None = field(default=None, init=False, repr=False, compare=False)
    _placed: list[int] = field(default_factory=list, init=False, repr=False, compare=False)

    def defer_unchanged(self, lines: UnchangedLines, placed: list[int]) -> None:
        """Keep `lines` to be built when `members` is first read, each put at its file
        position among the lines built already (`placed`: the file position of each line of
        `members`, ascending; a snapshot's terms last)."""
        self._unchanged, self._placed = lines, placed

    @property
    def changes(self) -> list[MemberDiff]:
        """The adds, terms and changes in file order (a snapshot's terms last), without
        building the unchanged lines."""
        return [m for m in self.__dict__["members"] if m.kind is not ChangeKind.UNCHANGED]

    @property
    def ending_by_absence(self) -> int:
        """Employees a full file ends because it leaves them out (not rows asking to end)."""
        return sum(1 for m in self.changes if m.kind is ChangeKind.TERM and m.row is None)

    @property
    def ends_most_coverage(self) -> bool:
        """A full file that would end coverage for more than a fifth of the group's employees
        (or more than ten, whichever is smaller): the one mistake that costs the most (a
        change file read as a full list). It is not applied until the sender confirms it is
        their complete list of everyone covered."""
        ending = self.ending_by_absence
        return ending > 0 and (
            ending > MASS_TERM_COUNT or ending > MASS_TERM_SHARE * self.enrolled_employees
        )

    @property
    def complete_list_question(self) -> str:
        employees = "employee" if self.enrolled_employees == 1 else "employees"
        return (
            f"This file would end coverage for {self.ending_by_absence} of "
            f"{self.enrolled_employees} {employees}: is it your complete list of everyone "
            "covered?"
        )

    def of_kind(self, kind: ChangeKind) -> list[MemberDiff]:
        lines = self.members if kind is ChangeKind.UNCHANGED else self.changes
        return [m for m in lines if m.kind is kind]

    @property
    def counts(self) -> dict[str, int]:
        counted = dict.fromkeys((kind.value for kind in ChangeKind), 0)
        for m in self.__dict__["members"]:
            counted[m.kind.value] += 1
        if self._unchanged is not None:
            counted[ChangeKind.UNCHANGED.value] += len(self._unchanged)
        return counted

    @property
    def changes_anything(self) -> bool:
        return bool(self.changes)

    def as_dict(self, *, include_unchanged: bool = False) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "kind": self.kind.value,
            "kind_guessed": self.kind_guessed,
            "counts": self.counts,
            "enrolled_employees": self.enrolled_employees,
            "ends_most_coverage": self.ends_most_coverage,
            "errors": [str(e) for e in self.errors],
            "warnings": [str(w) for w in self.warnings],
            "members": [m.as_dict() for m in (self.members if include_unchanged else self.changes)],
        }


def _members(diff: CensusDiff) -> list[MemberDiff]:
    """Every line in file order (a snapshot's terms last): the unchanged lines the quick
    check passed are built and put in place the first time this is read."""
    lines = diff.__dict__["members"]
    unchanged = diff._unchanged
    if unchanged is not None:
        diff._unchanged = None
        placed = np.concatenate([np.asarray(diff._placed, dtype=np.int64), unchanged.at])
        both = lines + unchanged.build()
        lines[:] = [both[i] for i in np.argsort(placed, kind="stable").tolist()]
        diff._placed = []
    return lines


def _set_members(diff: CensusDiff, members: list[MemberDiff]) -> None:
    diff.__dict__["members"] = members
    diff._unchanged, diff._placed = None, []


# `members` is every line; the quick check's unchanged lines are built when it is first read.
CensusDiff.members = property(_members, _set_members)  # type: ignore[assignment]


def amount_text(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def display_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)
