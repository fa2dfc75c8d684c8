"""A census (snapshot or change file) against the group's enrollment on a date: adds, terms,
field-level changes and unchanged members. Reads only; approval applies the result.

Matching: a file row is the enrolled member with the same employee id, else the same SSN
(keyed digest). A snapshot lists everyone covered on `as_of`: an enrolled member it leaves out
is a term effective the day before `as_of` (decision: the snapshot says they were no longer
covered on its date; staff can correct the date on review). A change file only speaks for the
rows it has: ADD / REINSTATE / CHANGE / TERM, each on its own effective date.

Coverage lines are matched to the group's plans: the plan code the file names, else the one
plan of that line of coverage (for the member's class when plans are class-specific) in force on
`as_of`. A row whose plan cannot be told is an error, never a guess.

Speed (100,000 members against 100,000 enrolled): members are read as plain rows, typed once
per distinct value, each with its coverages in force as one text as stored
(`_Enrollment.held`). A quick check compares them with the file's values, its lines as they
would be stored, and passes the members whose every field and line is as enrolled; only the
others (and a snapshot's terms) have their coverages read, typed, and go through the
field-by-field comparison, which says what changed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import NamedTuple

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session, selectinload

from billing_core.census.rows import (
    CensusCoverage,
    CensusDependent,
    CensusFile,
    CensusMember,
    Maintenance,
    collector_paused,
)
from billing_core.db import id_chunks, in_ids, stored_value, typed_rows
from billing_core.errors import RowError
from billing_core.models import (
    BenefitClass,
    BillingSubgroup,
    CensusColumnMapping,
    Coverage,
    Dependent,
    EmployerGroup,
    Member,
    Plan,
)
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Tier,
    UploadKind,
)
from billing_core.security import mask_ssn, vault


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
            parts.append(f"volume {_amount(self.volume_before)} → {_amount(self.volume_after)}")
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


class _MemberLoader:
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
    loader: _MemberLoader | None = field(default=None, repr=False, compare=False)
    # The enrolled values the diff compared (names, dates, salary...), without loading the
    # ORM member: what pricing a change needs.
    enrolled: _Enrolled | None = field(default=None, repr=False, compare=False)
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

    @property
    def ending_by_absence(self) -> int:
        """Employees a full file ends because it leaves them out (not rows asking to end)."""
        return sum(1 for m in self.members if m.kind is ChangeKind.TERM and m.row is None)

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
        return [m for m in self.members if m.kind is kind]

    @property
    def counts(self) -> dict[str, int]:
        return {kind.value: len(self.of_kind(kind)) for kind in ChangeKind}

    @property
    def changes_anything(self) -> bool:
        return any(m.kind is not ChangeKind.UNCHANGED for m in self.members)

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
            "members": [
                m.as_dict()
                for m in self.members
                if include_unchanged or m.kind is not ChangeKind.UNCHANGED
            ],
        }


def _amount(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


MEMBER_FIELDS = (
    "first_name",
    "last_name",
    "birth_date",
    "gender",
    "hire_date",
    "annual_salary",
    "status",
    "postal_code",
)


# What the diff reads of each enrolled member and coverage: plain rows, not ORM objects (a
# 100,000-member group is 100,000 members and some 600,000 coverages).
_MEMBER_COLUMNS = (
    Member.id,
    Member.member_key,
    Member.employee_id,
    Member.first_name,
    Member.last_name,
    Member.birth_date,
    Member.gender,
    Member.hire_date,
    Member.annual_salary,
    Member.status,
    Member.postal_code,
    Member.subgroup_id,
    Member.class_id,
    Member.ssn_digest,
    Member.ssn_last4,
)
_CENT = Decimal("0.01")


_COVERAGE_COLUMNS = (
    Coverage.member_id,
    Coverage.plan_id,
    Coverage.tier,
    Coverage.elected_volume,
    Coverage.effective_from,
)


class _Enrolled(NamedTuple):
    """An enrolled member as the diff reads it (the values typed as the ORM types them)."""

    id: int
    member_key: str
    employee_id: str | None
    first_name: str
    last_name: str
    birth_date: date
    gender: Gender
    hire_date: date | None
    annual_salary: Decimal | None
    status: MemberStatus
    postal_code: str | None
    subgroup_id: int | None
    class_id: int | None
    ssn_digest: str | None
    ssn_last4: str | None
    held_signature: str | None  # see _Enrollment.held


class _Held(NamedTuple):
    """A coverage in force."""

    member_id: int
    plan_id: int
    tier: Tier | None
    elected_volume: Decimal | None
    effective_from: date


class _Enrollment:
    """The group's members, plans, classes and subgroups, and the coverages in force on
    `as_of` (per member, per line: the latest starting one)."""

    def __init__(self, session: Session, group: EmployerGroup, as_of: date):
        self.group = group
        self.as_of = as_of
        self.session = session
        self._by_name: dict[tuple, _Enrolled | None] | None = None
        session.flush()  # Core reads below do not autoflush
        connection = session.connection()
        self.connection = connection
        self.members = list(
            map(
                _Enrolled._make,
                typed_rows(
                    connection,
                    select(Member.id).where(Member.group_id == group.id).order_by(Member.id),
                    (*_MEMBER_COLUMNS, self._held_signature(connection)),
                ),
            )
        )
        self.by_employee_id = {m.employee_id: m for m in self.members if m.employee_id}
        self.by_digest = {m.ssn_digest: m for m in self.members if m.ssn_digest}
        self.plans = list(
            session.scalars(
                select(Plan).where(Plan.group_id == group.id).options(selectinload(Plan.product))
            )
        )
        self.plans_by_id = {p.id: p for p in self.plans}
        self.line_of_plan = {p.id: p.product.line_of_coverage for p in self.plans}
        self.coverages: dict[int, dict[LineOfCoverage, _Held]] = {}  # filled by `load_in_force`
        self._stored_tier = stored_value(connection, Coverage.tier)
        self._stored_volume = stored_value(connection, Coverage.elected_volume)
        self._expected: dict[tuple, frozenset | None] = {}
        self._held: dict[str, tuple[frozenset, int]] = {}
        self.classes = {
            c.code: c
            for c in session.scalars(select(BenefitClass).where(BenefitClass.group_id == group.id))
        }
        self.subgroups = {
            s.code: s
            for s in session.scalars(
                select(BillingSubgroup).where(BillingSubgroup.group_id == group.id)
            )
        }
        self.class_codes = {c.id: c.code for c in self.classes.values()}
        self.subgroup_codes = {s.id: s.code for s in self.subgroups.values()}
        self.class_ids = {code: c.id for code, c in self.classes.items()}
        self.subgroup_ids = {code: s.id for code, s in self.subgroups.items()}
        self._plans_for: dict[tuple, tuple[Plan | str, int | None]] = {}
        saved = session.scalar(
            select(CensusColumnMapping.plan_aliases).where(CensusColumnMapping.group_id == group.id)
        )
        self.plan_aliases: dict[str, str] = saved or {}
        self._plan_names: dict[str, Plan | None] | None = None
        self.unknown_plans: set[str] = set()

    def _held_signature(self, connection):
        """Per member, its coverages in force as one text: "plan:tier:volume" per coverage,
        as stored, comma-separated in no particular order (NULL without any). Read with the
        member in one query: 100,000 short texts instead of 600,000 coverage rows."""
        part = (
            cast(Coverage.plan_id, String)
            + ":"
            + func.coalesce(cast(Coverage.tier, String), "")
            + ":"
            + func.coalesce(cast(Coverage.elected_volume, String), "")
        )
        joined = (
            func.group_concat(part, ",")
            if connection.dialect.name == "sqlite"
            else func.string_agg(part, ",")
        )
        return (
            select(joined)
            .where(Coverage.member_id == Member.id, Coverage.in_force_at(self.as_of))
            .scalar_subquery()
        )

    def held(self, member: _Enrolled) -> tuple[frozenset, int] | None:
        """The member's coverages in force as stored: the distinct "plan:tier:volume" texts
        and how many coverages there are; None without any. Worked out once per distinct
        signature (most members of a group share one with others)."""
        signature = member.held_signature
        if signature is None:
            return None
        held = self._held.get(signature)
        if held is None:
            parts = signature.split(",")
            held = self._held[signature] = (frozenset(parts), len(parts))
        return held

    def load_in_force(self, member_ids: list[int]) -> None:
        """Read, typed, the coverages in force of `member_ids` (the members the quick check
        did not pass): per member and line, the latest starting one."""
        coverages, line_of_plan = self.coverages, self.line_of_plan
        for chunk in id_chunks(member_ids):
            for held in typed_rows(
                self.connection,
                select(Coverage.id)
                .where(Coverage.in_force_at(self.as_of), in_ids(Coverage.member_id, chunk))
                .order_by(Coverage.member_id, Coverage.effective_from, Coverage.id),
                _COVERAGE_COLUMNS,
            ):
                coverages.setdefault(held[0], {})[line_of_plan[held[1]]] = _Held._make(held)

    def expected_held(self, row: CensusMember) -> frozenset | None:
        """The "plan:tier:volume" texts the row's lines would store (see `held`); None when
        the row cannot be unchanged on its face (a line named twice, a line ending before
        `as_of`, a plan that cannot be told, a volume with fractions of a cent). Readers share
        one coverage object between members with the same values, so this is worked out once
        per distinct set of lines and class (keyed by the objects' ids: they live as long as
        the census, which outlives the diff)."""
        key = (row.class_code, *map(id, row.coverages))
        try:
            return self._expected[key]
        except KeyError:
            pass
        expected: set[str] | None = set()
        lines = set()
        for wanted in row.coverages:
            volume = wanted.elected_volume
            if (
                wanted.line in lines
                or (wanted.effective_to is not None and wanted.effective_to < self.as_of)
                or (volume is not None and volume != volume.quantize(_CENT))
            ):
                expected = None
                break
            lines.add(wanted.line)
            plan_id = self.plan_for(wanted, row.class_code, wanted.effective_from or self.as_of)[1]
            if plan_id is None:
                expected = None
                break
            tier, volume = self._stored_tier(wanted.tier), self._stored_volume(volume)
            expected.add(f"{plan_id}:{tier or ''}:{'' if volume is None else volume}")
        found = self._expected[key] = None if expected is None else frozenset(expected)
        return found

    def match(self, row: CensusMember, digest: str | None) -> _Enrolled | None:
        """The enrolled member with the row's employee id, else with its SSN (`digest`, only
        ever an issued number's), else, for a file without employee ids, the one member with
        the same first and last name and birth date."""
        member = self.by_employee_id.get(row.employee_id) if row.employee_id else None
        if member is None and digest is not None:
            member = self.by_digest.get(digest)
        if member is None and not row.employee_id and row.birth_date is not None:
            found = self.by_name_and_birth.get(_name_key(row))
            member = found if isinstance(found, _Enrolled) else None  # None when two share it
        return member

    @property
    def by_name_and_birth(self) -> dict[tuple, _Enrolled | None]:
        """Members by (first name, last name, birth date), folded; a key two members share
        maps to None (never a guess). Built on first use: only files without employee ids
        need it."""
        if self._by_name is None:
            found: dict[tuple, _Enrolled | None] = {}
            for member in self.members:
                key = _name_key(member)
                found[key] = None if key in found else member
            self._by_name = found
        return self._by_name

    def dependents_of(self, member_ids: list[int]) -> dict[int, list[Dependent]]:
        """The enrolled dependents of `member_ids` in force on `as_of` (or starting later),
        per member in key order: read only for the members whose dependents a file speaks
        of."""
        if not member_ids:
            return {}
        found: dict[int, list[Dependent]] = {}
        for chunk in id_chunks(member_ids):
            for dependent in self.session.scalars(
                select(Dependent)
                .where(
                    in_ids(Dependent.member_id, chunk),
                    (Dependent.effective_to.is_(None)) | (Dependent.effective_to >= self.as_of),
                )
                .order_by(Dependent.member_id, Dependent.dependent_key)
            ):
                found.setdefault(dependent.member_id, []).append(dependent)
        return found

    def in_force(self, member: _Enrolled) -> dict[LineOfCoverage, _Held]:
        """The member's coverages in force on `as_of`, by line (read by `load_in_force`)."""
        return self.coverages.get(member.id, {})

    def named_plan(self, text: str) -> Plan | None:
        """The group's plan a file names: by its code, by the name the employer sees on
        their own pages, or by an alias the group keeps (CensusColumnMapping.plan_aliases),
        each compared folded (case, spaces, punctuation)."""
        if self._plan_names is None:
            names: dict[str, Plan | None] = {}
            for plan in self.plans:
                names[fold_plan_name(plan.code)] = plan
            for plan in self.plans:
                names.setdefault(fold_plan_name(plan.name), plan)
            by_code = {fold_plan_name(p.code): p for p in self.plans}
            for alias, code in self.plan_aliases.items():
                names.setdefault(fold_plan_name(alias), by_code.get(fold_plan_name(code)))
            self._plan_names = names
        return self._plan_names.get(fold_plan_name(text))

    def plan_for(
        self, coverage: CensusCoverage, class_code: str | None, on: date
    ) -> tuple[Plan | str, int | None]:
        """The plan a file's coverage means and its id, or the words saying why it cannot be
        told and None (the same few questions for every member: each answered once)."""
        key = (coverage.plan_code, coverage.line, class_code, on)
        found = self._plans_for.get(key)
        if found is None:
            plan = self._plan_for(coverage, class_code, on)
            found = self._plans_for[key] = (plan, None if isinstance(plan, str) else plan.id)
        return found

    def _plan_for(self, coverage: CensusCoverage, class_code: str | None, on: date) -> Plan | str:
        if coverage.plan_code:
            plan = self.named_plan(coverage.plan_code)
            if plan is not None:
                return plan
            self.unknown_plans.add(coverage.plan_code)
            names = ", ".join(sorted(f"{p.code} ({p.name})" for p in self.plans))
            return (
                f"no plan {coverage.plan_code!r} in this group (its plans: {names}); "
                "choose the plan it means on this file's page, and it is remembered"
            )
        candidates = [
            p
            for p in self.plans
            if p.product.line_of_coverage is coverage.line
            and p.effective_from <= on
            and (p.effective_to is None or on <= p.effective_to)
        ]
        klass = self.classes.get(class_code) if class_code else None
        if klass is not None and any(p.class_id for p in candidates):
            candidates = [p for p in candidates if p.class_id in (klass.id, None)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            return f"the group has no {coverage.line.label.lower()} plan in force"
        codes = ", ".join(sorted(p.code for p in candidates))
        return f"several {coverage.line.label.lower()} plans ({codes}); name the plan"


_member_fields = attrgetter(*MEMBER_FIELDS)


def fold_plan_name(text: str) -> str:
    """A plan name as compared: lower case, letters and digits only ("Blue PPO-1000" and
    "blue ppo 1000" are one name)."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _name_key(person) -> tuple:
    return (
        (person.first_name or "").strip().casefold(),
        (person.last_name or "").strip().casefold(),
        person.birth_date,
    )


def _unchanged(
    member: _Enrolled,
    row: CensusMember,
    digest: str | None,
    held: tuple[frozenset, int],
    enrollment: _Enrollment,
) -> bool:
    """A quick yes for what most members of a full file are: every field equal to the enrolled
    value, the same SSN, subgroup and class, and exactly the lines in force (`held`, as
    stored), each on the same plan, tier and volume. A no proves nothing: _field_changes and
    _coverage_changes then decide, and say what changed (a blank the file leaves, say, is no
    change)."""
    if _member_fields(row) != _member_fields(member):
        return False
    if digest is not None and member.ssn_digest and digest != member.ssn_digest:
        return False
    if row.subgroup_code and (
        enrollment.subgroup_ids.get(row.subgroup_code, member.subgroup_id) != member.subgroup_id
    ):
        return False  # a code the group does not have is no change (see _field_changes)
    if row.class_code and (
        enrollment.class_ids.get(row.class_code, member.class_id) != member.class_id
    ):
        return False
    expected = enrollment.expected_held(row)
    return expected is not None and held[1] == len(expected) and expected == held[0]


def _field_changes(
    member: _Enrolled, row: CensusMember, digest: str | None, enrollment: _Enrollment
) -> list[FieldChange]:
    """Fields the file states that differ from the enrolled member (a blank in the file is not
    a change: files often leave optional fields out)."""
    changes = []
    for name in MEMBER_FIELDS:
        new = getattr(row, name)
        if new is None or new == "":
            continue
        old = getattr(member, name)
        if type(old) is type(new) and old == new:
            continue  # the same value shows the same text
        if name == "gender" and _text(new) == "U":
            continue
        if name in ("first_name", "last_name") and str(old).casefold() == str(new).casefold():
            continue  # an all-capitals feed (most 834s) renames nobody
        if _text(old) != _text(new):
            changes.append(FieldChange(name, _text(old), _text(new)))
    if digest is not None and member.ssn_digest and digest != member.ssn_digest:
        changes.append(FieldChange("ssn", mask_ssn(member.ssn_last4), f"***-**-{row.ssn[-4:]}"))
    # A code the group does not have (an 834's REF*17 carrying the member's own id, say) is
    # no change: _warn_unknown_codes says so once per file.
    subgroup = enrollment.subgroups.get(row.subgroup_code) if row.subgroup_code else None
    if subgroup is not None and subgroup.id != member.subgroup_id:
        old_code = enrollment.subgroup_codes.get(member.subgroup_id, "")
        changes.append(FieldChange("subgroup", old_code, row.subgroup_code))
    klass = enrollment.classes.get(row.class_code) if row.class_code else None
    if klass is not None and klass.id != member.class_id:
        old_code = enrollment.class_codes.get(member.class_id, "")
        changes.append(FieldChange("class", old_code, row.class_code))
    return changes


def _coverage_changes(
    member: _Enrolled | None,
    row: CensusMember,
    enrollment: _Enrollment,
    on: date,
    *,
    whole_picture: frozenset[LineOfCoverage],
    errors: list[RowError],
    source: str,
) -> list[CoverageChange]:
    """Per line: what the file asks for against what is in force. A line of `whole_picture`
    (a full file's lines) in force that the row leaves out ends the day before `on`."""
    current = enrollment.in_force(member) if member else {}
    changes = []
    seen: set[LineOfCoverage] = set()
    for wanted in row.coverages:
        seen.add(wanted.line)
        effective = wanted.effective_from or on
        plan, plan_id = enrollment.plan_for(wanted, row.class_code, effective)
        if plan_id is None:
            column = f"{wanted.line.label} plan"
            errors.append(RowError(row.source_row, column, plan, source, wanted.plan_code))
            continue
        existing = current.get(wanted.line)
        if wanted.effective_to is not None and wanted.effective_to < on:
            if existing is not None:
                changes.append(_ended(existing, enrollment, wanted.line, wanted.effective_to))
            continue
        if (
            existing is not None
            and existing.plan_id == plan_id
            and (wanted.tier is None or wanted.tier is existing.tier)
            and (wanted.elected_volume is None or wanted.elected_volume == existing.elected_volume)
        ):
            continue  # what most lines of a full file say: no change
        tier = wanted.tier.value if wanted.tier else None
        if existing is None:
            changes.append(
                CoverageChange(
                    wanted.line, None, plan, None, tier, None, wanted.elected_volume, effective
                )
            )
            continue
        old_tier = existing.tier.value if existing.tier else None
        if effective <= existing.effective_from:
            # A full file repeats the coverage's original start date: a change it shows takes
            # effect on the file's date, never backdated to the original start.
            effective = on
        volume_differs = (
            wanted.elected_volume is not None and wanted.elected_volume != existing.elected_volume
        )
        if existing.plan_id != plan_id or (tier and tier != old_tier) or volume_differs:
            changes.append(
                CoverageChange(
                    wanted.line,
                    enrollment.plans_by_id[existing.plan_id],
                    plan,
                    old_tier,
                    tier or old_tier,
                    existing.elected_volume,
                    wanted.elected_volume
                    if wanted.elected_volume is not None
                    else existing.elected_volume,
                    effective,
                )
            )
    if whole_picture:
        for line, existing in current.items():
            if line not in seen and line in whole_picture:
                changes.append(_ended(existing, enrollment, line, on - timedelta(days=1)))
    return changes


def _ended(existing: _Held, enrollment: _Enrollment, line, last_day: date) -> CoverageChange:
    return CoverageChange(
        line,
        enrollment.plans_by_id[existing.plan_id],
        None,
        existing.tier.value if existing.tier else None,
        None,
        existing.elected_volume,
        None,
        last_day,
    )


def diff_census(
    session: Session, group: EmployerGroup, census: CensusFile, as_of: date
) -> CensusDiff:
    """Compare `census` (its `kind`, or `kind_guess`) with `group`'s enrollment on `as_of`.

    Every member of the file appears once in the result (add, change, term or unchanged); a
    snapshot also lists, as terms, enrolled members it leaves out. Plans that cannot be told
    are errors in `errors` (with the file's row), never guesses."""
    with collector_paused():
        return _diff(session, group, census, as_of)


def _settle_kind(census: CensusFile, enrolled_employees: int) -> tuple[UploadKind, bool]:
    """The kind the file is read as, and whether the portal guessed it. The file (an 834's
    BGN08, a change file's action column) or the sender decides; otherwise a file listing
    fewer than half of the group's employees is a change file (a new-hire file read as a
    full census would end everyone else's coverage), else a full census. The guess is kept
    on the census (`kind_guess`) for the upload to keep."""
    if census.kind is not None:
        return census.kind, False
    if census.kind_guess is UploadKind.CHANGE:
        return UploadKind.CHANGE, True
    if enrolled_employees and len(census.members) * 2 < enrolled_employees:
        census.kind_guess = UploadKind.CHANGE
        return UploadKind.CHANGE, True
    census.kind_guess = UploadKind.SNAPSHOT
    return UploadKind.SNAPSHOT, True


def sponsor_problem(group: EmployerGroup, census: CensusFile) -> RowError | None:
    """An 834 whose sponsor (N1*P5's N104) is not this group: its tax id (digits compared, with
    or without the dash) or its group number. No sponsor id says nothing (read as before)."""
    sponsor = census.detail.get("sponsor") if isinstance(census.detail, dict) else None
    sent = str((sponsor or {}).get("id") or "").strip()
    if not sent:
        return None
    digits = "".join(ch for ch in sent if ch.isdigit())
    tax_digits = "".join(ch for ch in group.tax_id or "" if ch.isdigit())
    if (digits and digits == tax_digits) or sent.upper() == group.group_number.upper():
        return None
    name = (sponsor or {}).get("name") or "another employer"
    return RowError(
        None,
        "N104",
        f"the file's sponsor (N1*P5, {name}) is not group {group.group_number}: its id is "
        f"neither the group's tax id nor its group number. Send it for its own group",
        census.source,
        sent,
    )


def _diff(session: Session, group: EmployerGroup, census: CensusFile, as_of: date) -> CensusDiff:
    enrollment = _Enrollment(session, group, as_of)
    enrolled_employees = sum(1 for m in enrollment.members if m.held_signature)
    kind, guessed = _settle_kind(census, enrolled_employees)
    loader = _MemberLoader(session)
    result = CensusDiff(as_of, kind, enrolled_employees=enrolled_employees, kind_guessed=guessed)
    sponsor = sponsor_problem(group, census)
    if sponsor is not None:
        result.errors.append(sponsor)
    entries = result.members
    source = census.source
    file_lines = frozenset(c.line for row in census.members for c in row.coverages)
    rows = _merge_repeats(census, result) if kind is UploadKind.CHANGE else census.members

    def entry(change, employee_id, name, effective, member, row, fields=None, coverages=None):
        entries.append(
            MemberDiff(
                change,
                employee_id,
                name,
                effective,
                member.id if member is not None else None,
                row,
                [] if fields is None else fields,
                [] if coverages is None else coverages,
                member.member_key if member is not None else None,
                loader,
                member,
            )
        )
        return entries[-1]

    # First the quick check for every row, then the members it did not pass (and a snapshot's
    # terms) have their coverages read, typed, for the detailed comparison.
    matched: set[int] = set()
    checked = []
    digests = vault().digests_as_stored([row.ssn for row in rows], enrollment.by_digest)
    for row, digest in zip(rows, digests, strict=True):
        member = enrollment.match(row, digest)
        held = None
        unchanged = False
        if member is not None:
            matched.add(member.id)
            held = enrollment.held(member)
            unchanged = bool(
                held
                and row.maintenance is not Maintenance.TERM
                and not row.dependents_only
                and not _speaks_for_dependents(row, kind)
                and _unchanged(member, row, digest, held, enrollment)
            )
        checked.append((row, digest, member, held, unchanged))
    detailed = {member.id for _, _, member, held, unchanged in checked if held and not unchanged}
    if kind is UploadKind.SNAPSHOT:
        detailed.update(
            m.id for m in enrollment.members if m.held_signature and m.id not in matched
        )
    enrollment.load_in_force(sorted(detailed))
    enrolled_dependents = enrollment.dependents_of(
        sorted(
            member.id
            for row, _, member, _, unchanged in checked
            if member is not None and not unchanged and (row.dependents or row.coverages)
        )
    )

    for row, digest, member, held, unchanged in checked:
        if row.ssn and digest is None:
            result.warnings.append(
                RowError(
                    row.source_row,
                    "ssn",
                    "not an issued SSN (a placeholder, a typo or an ITIN): kept as sent, but "
                    "never used to match the member; correct it in the next file",
                    source,
                    mask_ssn(row.ssn[-4:]),
                )
            )
        # The enrolled name when the row is someone enrolled (an all-capitals feed, a name
        # in the wrong field), else the file's.
        person = member if member is not None else row
        name = f"{person.last_name}, {person.first_name}"
        employee_id = row.employee_id or (member.employee_id or "" if member else "")
        action = row.maintenance
        effective = row.maintenance_date or as_of
        if row.dependents_only:
            if member is None:
                result.errors.append(
                    RowError(
                        row.source_row,
                        "employee_id",
                        "a dependent is added, changed or ended under an enrolled employee, "
                        "and no enrolled employee has this id; send the employee's enrollment "
                        "first, or correct the subscriber id",
                        source,
                        row.employee_id,
                    )
                )
                continue
            name = f"{member.last_name}, {member.first_name}"
            changes = _dependent_changes(
                row, enrolled_dependents.get(member.id, []), as_of, kind, whole=False
            )
            if not changes:
                entry(ChangeKind.UNCHANGED, employee_id, name, effective, member, row)
                continue
            found = entry(
                ChangeKind.CHANGE,
                employee_id,
                name,
                min(c.effective_on for c in changes),
                member,
                row,
            )
            found.dependents = changes
            _warn_tier_without_dependent(found, member, enrolled_dependents, result, source)
            continue
        if unchanged:
            entry(ChangeKind.UNCHANGED, employee_id, name, effective, member, row)
            continue
        in_force = enrollment.in_force(member) if held else {}
        if action is Maintenance.TERM:
            if member is None or not in_force:
                result.warnings.append(
                    RowError(
                        row.source_row,
                        "employee_id",
                        f"{row.first_name} {row.last_name} is to be ended but is not enrolled "
                        "(or their coverage has already ended): nothing to end",
                        source,
                        row.employee_id or None,
                    )
                )
                entry(ChangeKind.UNCHANGED, employee_id, name, effective, member, row)
                continue
            last_day = row.maintenance_date or as_of - timedelta(days=1)
            ended = [_ended(c, enrollment, line, last_day) for line, c in in_force.items()]
            entry(ChangeKind.TERM, employee_id, name, last_day, member, row, [], ended)
            continue
        # A full file speaks for the lines it lists anywhere: a line it leaves out for a
        # member ends; a line no row of the file mentions (a medical-only census) is not
        # its to end. A change file speaks only for the lines each row names.
        whole = file_lines if kind is UploadKind.SNAPSHOT else frozenset()
        coverages = _coverage_changes(
            member,
            row,
            enrollment,
            as_of,
            whole_picture=whole,
            errors=result.errors,
            source=source,
        )
        dependents = (
            _dependent_changes(
                row,
                enrolled_dependents.get(member.id, []) if member is not None else [],
                as_of,
                kind,
                whole=kind is UploadKind.SNAPSHOT,
            )
            if member is not None and in_force
            else []
        )
        if member is None or not in_force:
            if not coverages:
                continue
            found = entry(ChangeKind.ADD, employee_id, name, effective, member, row, [], coverages)
            _warn_tier_without_dependent(found, member, enrolled_dependents, result, source)
            continue
        fields = _field_changes(member, row, digest, enrollment)
        changed = ChangeKind.CHANGE if fields or coverages or dependents else ChangeKind.UNCHANGED
        found = entry(changed, employee_id, name, effective, member, row, fields, coverages)
        found.dependents = dependents
        if changed is ChangeKind.CHANGE:
            _warn_tier_without_dependent(found, member, enrolled_dependents, result, source)
    if kind is UploadKind.SNAPSHOT:
        last_day = as_of - timedelta(days=1)
        for member in enrollment.members:
            if member.id in matched or not member.held_signature:
                continue
            current = enrollment.in_force(member)
            entry(
                ChangeKind.TERM,
                member.employee_id or member.member_key,
                f"{member.last_name}, {member.first_name}",
                last_day,
                member,
                None,
                [],
                [_ended(c, enrollment, line, last_day) for line, c in current.items()],
            )
    result.unknown_plans = sorted(enrollment.unknown_plans)
    _warn_unknown_codes(census, enrollment, result)
    changed = {e.member_id for e in entries if e.kind is not ChangeKind.UNCHANGED}
    unchanged = {e.member_id for e in entries if e.kind is ChangeKind.UNCHANGED} - changed
    loader.waves = [sorted(changed - {None}), sorted(unchanged - {None})]
    return result


def _merge_repeats(census: CensusFile, result: CensusDiff) -> list[CensusMember]:
    """A change file naming one employee in several rows (an 834 with one loop per line, or
    an add, a term and the add again) is read in order as one row: each line as its last row
    says, every dependent row, the member's fields and maintenance from the last row. Said
    once per employee as a warning."""
    by_key: dict[str, list[CensusMember]] = {}
    for row in census.members:
        if row.employee_id:
            by_key.setdefault(row.employee_id, []).append(row)
    merged: dict[str, CensusMember] = {}
    for key, repeats in by_key.items():
        if len(repeats) < 2:
            continue
        lines: dict[LineOfCoverage, CensusCoverage] = {}
        for row in repeats:
            for coverage in row.coverages:
                lines[coverage.line] = coverage
        last = repeats[-1]
        whole_rows = [r for r in repeats if not r.dependents_only]
        base = whole_rows[-1] if whole_rows else last
        merged[key] = replace(
            base,
            coverages=list(lines.values()),
            dependents=[d for r in repeats for d in r.dependents],
            dependents_only=not whole_rows,
            maintenance=base.maintenance,
            maintenance_date=base.maintenance_date,
        )
        places = ", ".join(str(r.source_row) for r in repeats)
        result.warnings.append(
            RowError(
                last.source_row,
                "employee_id",
                f"this employee appears {len(repeats)} times ({places}): read in order as one "
                "change, each line as its last mention says",
                census.source,
                key,
            )
        )
    rows, done = [], set()
    for row in census.members:
        key = row.employee_id
        if key in merged:
            if key not in done:
                rows.append(merged[key])
                done.add(key)
            continue
        rows.append(row)
    return rows


def _warn_unknown_codes(census: CensusFile, enrollment: _Enrollment, result: CensusDiff) -> None:
    """Location and class codes the group does not have are read as nothing (a member keeps
    the subgroup and class they have): one warning per code, naming its first row."""
    for attribute, known, what in (
        ("subgroup_code", enrollment.subgroups, "location or billing subgroup"),
        ("class_code", enrollment.classes, "class"),
    ):
        first_row: dict[str, object] = {}
        for row in census.members:
            code = getattr(row, attribute)
            if code and code not in known:
                first_row.setdefault(code, row.source_row)
        for code, source_row in first_row.items():
            codes = ", ".join(sorted(known)) or "none"
            result.warnings.append(
                RowError(
                    source_row,
                    attribute,
                    f"not one of the group's {what} codes ({codes}); ignored, so members keep "
                    "the one they have",
                    census.source,
                    code,
                )
            )


def _speaks_for_dependents(row: CensusMember, kind: UploadKind) -> bool:
    """A row whose dependents may change something the quick check does not look at: a
    change file's dependent with its own maintenance. (A snapshot's dependents are compared
    only for members that differ otherwise; see _dependent_changes.)"""
    return kind is UploadKind.CHANGE and any(d.maintenance for d in row.dependents)


def _same_dependent(wanted: CensusDependent, enrolled: Dependent, digest: str | None) -> bool:
    """The enrolled dependent a file's dependent is: the same SSN (an issued one), else the
    same first name and birth date, else (no birth date in the file) the same first name and
    relationship."""
    if digest is not None and enrolled.ssn_digest:
        return digest == enrolled.ssn_digest
    first = (wanted.first_name or "").strip().casefold()
    if first != (enrolled.first_name or "").strip().casefold():
        return False
    if wanted.birth_date is not None:
        return wanted.birth_date == enrolled.birth_date
    return wanted.relationship is enrolled.relationship_to_member


def _dependent_changes(
    row: CensusMember,
    enrolled: list[Dependent],
    as_of: date,
    kind: UploadKind,
    *,
    whole: bool,
) -> list[DependentChange]:
    """What the row says of its dependents against the enrolled ones: a dependent the file
    ends (its own maintenance, or an end date before `as_of`), one it lists that is not
    enrolled (an add), one whose name or birth date differs (a change). With `whole` (a
    snapshot row that lists dependents) an enrolled dependent the row leaves out ends the
    day before `as_of`; a row listing none says nothing of them (many censuses list
    employees only)."""
    changes: list[DependentChange] = []
    seen: set[int] = set()
    digests = vault().digests_as_stored(
        [d.ssn for d in row.dependents], {d.ssn_digest for d in enrolled if d.ssn_digest}
    )
    for wanted, digest in zip(row.dependents, digests, strict=True):
        match = next((d for d in enrolled if _same_dependent(wanted, d, digest)), None)
        name = f"{wanted.first_name} {wanted.last_name}".strip()
        ends = wanted.maintenance is Maintenance.TERM or (
            wanted.effective_to is not None and wanted.effective_to < as_of
        )
        if match is not None:
            seen.add(match.id)
        if ends:
            if match is not None:
                last_day = wanted.maintenance_date or wanted.effective_to or as_of
                changes.append(
                    DependentChange("term", name, wanted.relationship, last_day, wanted, match.id)
                )
            continue
        if match is None:
            start = (
                wanted.maintenance_date or wanted.effective_from or row.maintenance_date or as_of
            )
            changes.append(DependentChange("add", name, wanted.relationship, start, wanted))
            continue
        fields = tuple(
            FieldChange(label, _text(old), _text(new))
            for label, old, new in (
                ("first_name", match.first_name, wanted.first_name),
                ("last_name", match.last_name, wanted.last_name),
                ("birth_date", match.birth_date, wanted.birth_date),
            )
            if new not in (None, "") and _text(old) != _text(new)
        )
        if fields:
            effective = wanted.maintenance_date or as_of
            changes.append(
                DependentChange(
                    "change", name, wanted.relationship, effective, wanted, match.id, fields
                )
            )
    if whole and row.dependents:
        for dependent in enrolled:
            if dependent.id not in seen:
                changes.append(
                    DependentChange(
                        "term",
                        f"{dependent.first_name} {dependent.last_name}",
                        dependent.relationship_to_member,
                        as_of - timedelta(days=1),
                        None,
                        dependent.id,
                    )
                )
    return changes


def _warn_tier_without_dependent(
    entry: MemberDiff,
    member: _Enrolled | None,
    enrolled_dependents: dict[int, list[Dependent]],
    result: CensusDiff,
    source: str,
) -> None:
    """Nothing silently billed: a line at a tier covering a spouse or children with nobody
    of that kind enrolled or listed is billed as sent, with a warning saying so."""
    if entry.row is None:
        return
    kept = {
        d.relationship_to_member
        for d in (enrolled_dependents.get(member.id, []) if member is not None else [])
        if not any(c.dependent_id == d.id and c.kind == "term" for c in entry.dependents)
    }
    listed = {
        d.relationship
        for d in entry.row.dependents
        if d.maintenance is not Maintenance.TERM
        and (d.effective_to is None or d.effective_to >= result.as_of)
    }
    people = kept | listed
    partner = bool(people & {Relationship.SPOUSE, Relationship.DOMESTIC_PARTNER})
    child = Relationship.CHILD in people
    for change in entry.coverages:
        tier = change.tier_after
        if change.plan_after is None or tier in (None, Tier.EE.value):
            continue
        needs_partner = tier in (Tier.ES.value, Tier.FAM.value)
        needs_child = tier in (Tier.EC.value, Tier.FAM.value)
        if (needs_partner and not partner) or (needs_child and not child) or not people:
            missing = "a spouse or partner" if needs_partner and not partner else "a child"
            if not people:
                missing = "a dependent"
            result.warnings.append(
                RowError(
                    entry.row.source_row,
                    change.line.value,
                    f"{entry.name}: {change.line.label} at tier {tier} but {missing} is "
                    "neither enrolled nor listed; billed at that tier as sent: list the "
                    "dependents, or correct the tier",
                    source,
                    tier,
                )
            )
