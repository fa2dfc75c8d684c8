"""The group's enrollment as a diff reads it (`Enrollment`): its members and their coverages in
force on the diff's date as plain rows, not ORM objects (a 100,000-member group is 100,000
members and some 600,000 coverages), its plans, classes and subgroups; how a file's row is
matched to an enrolled member (employee id, else SSN, else name and birth date) and a file's
coverage to a plan (the code it names, else the one plan of its line)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import String, cast, func, literal_column, select, type_coerce
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.types import NullType

from billing_core.census.diff.packed import read_columns
from billing_core.census.rows import (
    CensusCoverage,
    CensusMember,
    MemberColumns,
    distinct_rows,
    row_column,
    row_coverages,
)
from billing_core.db import _Typed, id_chunks, in_ids, stored_value, typed_rows
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
from billing_core.models.enums import Gender, LineOfCoverage, MemberStatus, Tier

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
_T = TypeVar("_T")
# The member's own fields a file states (compared by census.diff.compare and the quick check).
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


_COVERAGE_COLUMNS = (
    Coverage.member_id,
    Coverage.plan_id,
    Coverage.tier,
    Coverage.elected_volume,
    Coverage.effective_from,
)


class Enrolled(NamedTuple):
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
    held_signature: str | None  # see Enrollment.held


class Held(NamedTuple):
    """A coverage in force."""

    member_id: int
    plan_id: int
    tier: Tier | None
    elected_volume: Decimal | None
    effective_from: date


class Enrollment:
    """The group's members, plans, classes and subgroups, and the coverages in force on
    `as_of` (per member, per line: the latest starting one)."""

    def __init__(
        self,
        session: Session,
        group: EmployerGroup,
        as_of: date,
        meanwhile: Callable[[], object] | None = None,
    ):
        """`meanwhile`, when given, is called once while the database reads the members: work
        on the file alone (it must not use the session). The members are read as columns
        (`packed.read_columns`) in a thread meanwhile: PostgreSQL works in its own process
        and SQLite answers each statement in one step that leaves the interpreter free (a
        third of a second for 100,000 members). An in-memory SQLite database, whose
        connection cannot leave its thread, reads after `meanwhile`."""
        self.group = group
        self.as_of = as_of
        self.session = session
        self._by_name: dict[tuple, Enrolled | None] | None = None
        session.flush()  # Core reads below do not autoflush
        connection = session.connection()
        self.connection = connection
        # The members as stored, one array per column: the quick check compares whole
        # columns with the file's (`quick_unchanged`); a member is typed (`enrolled`) only
        # when the diff looks at it closely. Each with its coverages in force as one text
        # (`held_signature`, see `_held_signature`).
        read = _overlapped if _threads_may_share(connection) else _after
        packed = read(lambda: _read_packed(connection, group, as_of), meanwhile)
        if packed is None:  # a value the packed read cannot tell apart: rows
            packed = _read_rows(connection, group, as_of)
        table, processors = packed
        self._typers = [None if p is None else _Typed(p) for p in processors]
        self._table = table
        self.column = {name: table[:, j] for j, name in enumerate(Enrolled._fields)}
        self._typed: dict[int, Enrolled] = {}
        self._typed_columns: dict[str, np.ndarray] = {}
        self._members: list[Enrolled] | None = None
        # The enrolled employee ids as a hash index (pandas, in C), each to its member's
        # position (of two members with one id, the later one, as a dict would keep).
        ids = self.column["employee_id"]
        held_id = np.flatnonzero(pd.notna(ids) & (ids != "").astype(bool))
        id_index = pd.Index(ids[held_id], dtype=object)
        last = ~id_index.duplicated(keep="last")
        self._id_index, self._id_position = id_index[last], held_id[last]
        self.by_digest = {digest: i for i, digest in enumerate(self.column["ssn_digest"]) if digest}
        self.held_in_force = np.not_equal(self.column["held_signature"], None)
        self.employees_in_force = int(self.held_in_force.sum())
        self.plans = list(
            session.scalars(
                select(Plan).where(Plan.group_id == group.id).options(selectinload(Plan.product))
            )
        )
        self.plans_by_id = {p.id: p for p in self.plans}
        self.line_of_plan = {p.id: p.product.line_of_coverage for p in self.plans}
        self.coverages: dict[int, dict[LineOfCoverage, Held]] = {}  # filled by `load_in_force`
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

    def held(self, signature: str | None) -> tuple[frozenset, int] | None:
        """A member's coverages in force as stored (its `held_signature`): the distinct
        "plan:tier:volume" texts and how many coverages there are; None without any. Worked
        out once per distinct signature (most members of a group share one with others)."""
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
                coverages.setdefault(held[0], {})[line_of_plan[held[1]]] = Held._make(held)

    def expected_held(self, row: CensusMember) -> frozenset | None:
        """`expected_lines` of the row's class and coverages."""
        return self.expected_lines(row.class_code, row.coverages)

    def expected_lines(
        self, class_code: str | None, coverages: list[CensusCoverage]
    ) -> frozenset | None:
        """The "plan:tier:volume" texts the row's lines would store (see `held`); None when
        the row cannot be unchanged on its face (a line named twice, a line ending before
        `as_of`, a plan that cannot be told, a volume with fractions of a cent). Readers share
        one coverage object between members with the same values, so this is worked out once
        per distinct set of lines and class (keyed by the objects' ids: they live as long as
        the census, which outlives the diff)."""
        key = (class_code, *map(id, coverages))
        try:
            return self._expected[key]
        except KeyError:
            pass
        expected: set[str] | None = set()
        lines = set()
        for wanted in coverages:
            volume = wanted.elected_volume
            if (
                wanted.line in lines
                or (wanted.effective_to is not None and wanted.effective_to < self.as_of)
                or (volume is not None and volume != volume.quantize(_CENT))
            ):
                expected = None
                break
            lines.add(wanted.line)
            plan_id = self.plan_for(wanted, class_code, wanted.effective_from or self.as_of)[1]
            if plan_id is None:
                expected = None
                break
            tier, volume = self._stored_tier(wanted.tier), self._stored_volume(volume)
            expected.add(f"{plan_id}:{tier or ''}:{'' if volume is None else volume}")
        found = self._expected[key] = None if expected is None else frozenset(expected)
        return found

    @cached_property
    def position_of_employee_id(self) -> dict[str, int]:
        """Enrolled member positions by employee id (see `_id_index`)."""
        return dict(zip(self._id_index.tolist(), self._id_position.tolist(), strict=True))

    def match(self, row: CensusMember, digest: str | None) -> int:
        """The position (in `column`) of the enrolled member with the row's employee id, else
        with its SSN (`digest`, only ever an issued number's), else, for a file without
        employee ids, the one member with the same first and last name and birth date; -1
        when none."""
        found = self.position_of_employee_id.get(row.employee_id) if row.employee_id else None
        return found if found is not None else self._match_otherwise(row, digest)

    def _match_otherwise(self, row: CensusMember, digest: str | None) -> int:
        """`match` for a row whose employee id no enrolled member has."""
        found = self.by_digest.get(digest) if digest is not None else None
        if found is None and not row.employee_id and row.birth_date is not None:
            found = self.by_name_and_birth.get(name_key(row))  # None when two share it
        return -1 if found is None else found

    def match_all(self, rows: list[CensusMember], digests: list[str | None]) -> np.ndarray:
        """`match` of every row, as one array of positions (-1: none): the employee ids
        looked up together (a hash index over the enrolled ids, in C), then `match` one by
        one for the rows no id found (an add, a file keyed by SSN or name)."""
        n = len(rows)
        positions = np.full(n, -1, dtype=np.int64)
        if not n:
            return positions
        if len(self._id_index):
            found = self._id_index.get_indexer(row_column(rows, "employee_id"))
            positions[found >= 0] = self._id_position[found[found >= 0]]
        otherwise = self._match_otherwise
        for i in np.flatnonzero(positions < 0).tolist():
            positions[i] = otherwise(rows[i], digests[i])
        return positions

    def enrolled(self, position: int) -> Enrolled:
        """The member at `position`, typed as the ORM types it (once)."""
        member = self._typed.get(position)
        if member is None:
            member = self._typed[position] = Enrolled._make(
                value if typer is None else typer[value]
                for typer, value in zip(self._typers, self._table[position].tolist(), strict=True)
            )
        return member

    @property
    def members(self) -> list[Enrolled]:
        """Every enrolled member, typed (built on first use: the diff itself types only the
        members it looks at closely)."""
        if self._members is None:
            self._members = [self.enrolled(i) for i in range(len(self._table))]
        return self._members

    @property
    def by_name_and_birth(self) -> dict[tuple, int | None]:
        """Member positions by (first name, last name, birth date), folded; a key two members
        share maps to None (never a guess). Built on first use: only files without employee
        ids need it."""
        if self._by_name is None:
            found: dict[tuple, int | None] = {}
            for position, member in enumerate(self.members):
                key = name_key(member)
                found[key] = None if key in found else position
            self._by_name = found
        return self._by_name

    def typed_column(self, name: str) -> np.ndarray:
        """The enrolled members' `name` typed as the ORM types it, as one array: each
        distinct stored value typed once (pandas factorize), then spread back."""
        found = self._typed_columns.get(name)
        if found is None:
            raw = self.column[name]
            typer = self._typers[Enrolled._fields.index(name)]
            if typer is None:
                found = raw
            else:
                codes, uniques = pd.factorize(raw)
                typed = np.empty(len(uniques) + 1, dtype=object)
                typed[:-1] = [typer.process(value) for value in uniques]
                typed[-1] = None  # code -1: a NULL
                found = typed[codes]
            self._typed_columns[name] = found
        return found

    def same_salary(self, stated: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Per row, whether the file's annual salary `stated` equals the enrolled member's at
        `positions` (both blank counts as equal), compared with the salary as stored: the
        file's amount times the stored form of one dollar (100 where an amount is kept in
        cents, as on SQLite) against the stored value, in C over the whole column. Salaries
        are nearly all distinct, so typing each stored one (`typed_column`) cost a Decimal
        built in Python per member. Where one dollar is stored as one (PostgreSQL), the
        file's amounts are compared as they are: multiplying 100,000 Decimals by one cost
        20 ms."""
        stored = self.column["annual_salary"][positions]
        said, held = _not_none(stated), _not_none(stored)
        same = ~said & ~held
        both = said & held
        if both.any():
            dollar = stored_value(self.connection, Member.annual_salary)(Decimal(1))
            amounts = stated[both] if dollar == 1 else stated[both] * dollar
            same[both] = (amounts == stored[both]).astype(bool)
        return same

    def quick_unchanged(
        self,
        rows: Sequence[CensusMember],
        candidates: np.ndarray,
        digests: list[str | None],
        positions: np.ndarray,
    ) -> np.ndarray:
        """Per row `candidates[k]` of `rows` (matched to the member at `positions[k]`, who has
        coverage in force), a quick yes for what most members of a full file are, column by
        column: every field equal to the enrolled value, the same SSN, subgroup and class, and
        exactly the lines in force (`held`, as stored), each on the same plan, tier and
        volume. A no proves nothing: field_changes and coverage_changes then decide, and say
        what changed (a blank the file leaves, say, is no change). A reader's columns are
        compared as they are; no row object is built."""
        n = len(candidates)
        same = np.ones(n, dtype=bool)
        if not n:
            return same

        if not isinstance(rows, MemberColumns):
            rows = [rows[i] for i in candidates.tolist()]  # objects: read only these
            candidates = np.arange(n)

        def stated(name: str) -> np.ndarray:
            return row_column(rows, name, candidates)

        for name in MEMBER_FIELDS:
            if name == "annual_salary":
                same &= self.same_salary(stated(name), positions)
            else:
                same &= (stated(name) == self.typed_column(name)[positions]).astype(bool)
        digest = np.empty(n, dtype=object)
        digest[:] = digests
        enrolled = self.column["ssn_digest"][positions]
        same &= ~(
            np.not_equal(digest, None)
            & np.not_equal(enrolled, None)
            & np.not_equal(enrolled, "")
            & (digest != enrolled).astype(bool)
        )
        # A code the group does not have is no change (see field_changes).
        class_codes = stated("class_code")
        for said_codes, ids, name in ((stated("subgroup_code"), self.subgroup_ids, "subgroup_id"),
                                      (class_codes, self.class_ids, "class_id")):  # fmt: skip
            said = np.empty(n, dtype=object)
            said[:] = [ids.get(code) if code else None for code in said_codes.tolist()]
            member = self.column[name][positions]
            same &= ~(np.not_equal(said, None) & (said != member).astype(bool))
        # The lines: each distinct (class, coverages, stored signature) decided once; a
        # reader's columns give each row's coverages as a shape code, so the distinct
        # triples are found column by column.
        signatures = self.column["held_signature"][positions]
        at = np.flatnonzero(same)
        if isinstance(rows, MemberColumns):
            shapes = rows.shape[candidates[at]]
        else:
            seen: dict[tuple, int] = {}
            shapes = np.array(
                [
                    seen.setdefault(tuple(map(id, rows[i].coverages)), len(seen))
                    for i in candidates[at].tolist()
                ],
                dtype=np.int64,
            )
        inverse, first = distinct_rows(
            [pd.factorize(class_codes[at])[0], pd.factorize(signatures[at])[0], shapes]
        )
        verdicts = np.empty(len(first), dtype=bool)
        for u, k in enumerate(at[first].tolist()):
            expected = self.expected_lines(class_codes[k], row_coverages(rows, int(candidates[k])))
            lines = self.held(signatures[k])
            verdicts[u] = (
                expected is not None and lines[1] == len(expected) and expected == lines[0]
            )
        same[at] = verdicts[inverse]
        return same

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

    def in_force(self, member: Enrolled) -> dict[LineOfCoverage, Held]:
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


def _read_packed(connection, group: EmployerGroup, as_of: date) -> tuple[np.ndarray, list] | None:
    """The group's members (Enrolled's columns, by id) and the processors typing each column,
    read as columns (`packed.read_columns`); None when a value cannot be read so."""
    members = select(Member.id).where(Member.group_id == group.id).order_by(Member.id)
    columns = read_columns(connection, members, _MEMBER_COLUMNS)
    held = read_columns(
        connection, _in_force(group, as_of), (Coverage.member_id, _held_signature(connection))
    )
    if columns is None or held is None:
        return None
    table = np.empty((len(columns[0]), len(Enrolled._fields)), dtype=object)
    for j, values in enumerate(columns):
        table[:, j] = values
    ids = table[:, 0].astype(np.int64)
    if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
        order = np.argsort(ids, kind="stable")
        table, ids = table[order], ids[order]
    _place_signatures(table, ids, held[0].astype(np.int64), held[1])
    # The processors as a plain read describes the columns (no row read).
    _, processors = _raw_rows(connection, members.limit(0), _MEMBER_COLUMNS)
    return table, [*processors, None]


def _read_rows(connection, group: EmployerGroup, as_of: date) -> tuple[np.ndarray, list]:
    """`_read_packed` row by row: the members' statement, then their signatures."""
    members = select(Member.id).where(Member.group_id == group.id).order_by(Member.id)
    raw, processors = _raw_rows(connection, members, _MEMBER_COLUMNS)
    # One 2-D array filled in C, one column per field (a view): a third of the time of an
    # array per column out of the rows.
    table = np.empty((len(raw), len(Enrolled._fields)), dtype=object)
    if raw:
        table[:, : len(raw[0])] = raw
    held, _ = _raw_rows(
        connection,
        _in_force(group, as_of),
        (Coverage.member_id, _held_signature(connection)),
    )
    if held:
        pairs = np.empty((len(held), 2), dtype=object)
        pairs[:] = held
        _place_signatures(
            table, table[:, 0].astype(np.int64), pairs[:, 0].astype(np.int64), pairs[:, 1]
        )
    return table, [*processors, None]


def _in_force(group: EmployerGroup, as_of: date):
    """The group's members with coverage in force on `as_of`, one row each (member_id)."""
    return (
        select(Coverage.member_id)
        .where(
            Coverage.member_id.in_(select(Member.id).where(Member.group_id == group.id)),
            Coverage.in_force_at(as_of),
        )
        .group_by(Coverage.member_id)
    )


def _place_signatures(
    table: np.ndarray, ids: np.ndarray, held_by: np.ndarray, signatures: np.ndarray
) -> None:
    """Each signature into the held_signature column of its member's row (`ids`: the table's
    ids, sorted). A member a concurrent write added between the statements is not among the
    members: its signature is left out."""
    if not len(held_by) or not len(ids):
        return
    at = np.minimum(np.searchsorted(ids, held_by), len(ids) - 1)
    known = ids[at] == held_by
    table[at[known], Enrolled._fields.index("held_signature")] = signatures[known]


def _held_signature(connection):
    """Per member, its coverages in force as one text: "plan:tier:volume" per coverage, as
    stored, comma-separated in no particular order (NULL without any): an aggregate over the
    coverages grouped by member, 100,000 short texts instead of 600,000 coverage rows. On
    SQLite one printf per coverage (NULL prints as nothing) instead of three casts, two
    coalesces and four concatenations: the same texts, a sixth less time for the aggregate."""
    if connection.dialect.name == "sqlite":
        # The format written into the SQL (not bound): word for word the expression of the
        # index ix_coverage_member_signature, which then hands over each text made.
        part = func.printf(
            literal_column("'%d:%s:%s'"), Coverage.plan_id, Coverage.tier, Coverage.elected_volume
        )
        return func.group_concat(type_coerce(part, String), ",")
    part = (
        cast(Coverage.plan_id, String)
        + ":"
        + func.coalesce(cast(Coverage.tier, String), "")
        + ":"
        + func.coalesce(cast(Coverage.elected_volume, String), "")
    )
    return func.string_agg(part, ",")


def _overlapped(read: Callable[[], _T], meanwhile: Callable[[], object] | None) -> _T:
    """`read()` (statements and their results) in a thread while `meanwhile()` runs in this
    one: the thread waits for the database without holding the interpreter (PostgreSQL's
    server, or SQLite computing a statement's one row), so the wait costs nothing when there
    is work to do here. `meanwhile` must not use the connection; the
    thread is joined before this returns or raises (even when `meanwhile` raises), so the
    connection is free again for the caller; an error of the statement is raised here."""
    if meanwhile is None:
        return read()
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, read()))
        except BaseException as error:  # re-raised in the calling thread
            outcome.append((False, error))

    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(run,), name="enrollment-read", daemon=True
    )
    thread.start()
    try:
        meanwhile()
    finally:
        thread.join()
    [(ok, value)] = outcome
    if not ok:
        raise value
    return value


def _after(read: Callable[[], _T], meanwhile: Callable[[], object] | None) -> _T:
    """`_overlapped` one after the other: `meanwhile()`, then `read()`."""
    if meanwhile is not None:
        meanwhile()
    return read()


def _threads_may_share(connection) -> bool:
    """Whether the connection may be used from another thread: not an in-memory SQLite
    database's, which pysqlite ties to the thread that opened it."""
    if connection.dialect.name != "sqlite":
        return True
    database = connection.engine.url.database
    return bool(database) and database != ":memory:"


def _not_none(values: np.ndarray) -> np.ndarray:
    """Per value of an object array, whether it is not None: `is not None` one by one, where
    numpy's `!= None` asks each Decimal to compare itself with None (four times the time: 25
    ms for 100,000 salaries)."""
    return np.fromiter((v is not None for v in values.tolist()), dtype=bool, count=len(values))


def fold_plan_name(text: str) -> str:
    """A plan name as compared: lower case, letters and digits only ("Blue PPO-1000" and
    "blue ppo 1000" are one name)."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def name_key(person) -> tuple:
    return (
        (person.first_name or "").strip().casefold(),
        (person.last_name or "").strip().casefold(),
        person.birth_date,
    )


def _raw_rows(connection, statement, columns: tuple) -> tuple[list[tuple], list]:
    """The rows of `statement` with `columns` selected as the driver returns them (as stored),
    and per column the processor that types a value as SQLAlchemy would (None: as it is)."""
    selected = statement.with_only_columns(
        *(type_coerce(c, NullType()).label(f"c{i}") for i, c in enumerate(columns)),
        maintain_column_froms=True,
    )
    dialect = connection.dialect
    raw = connection.execute(selected)
    description = raw.cursor.description
    rows = raw.cursor.fetchall()
    raw.close()
    processors = [
        column.type.dialect_impl(dialect).result_processor(dialect, described[1])
        for column, described in zip(columns, description, strict=True)
    ]
    return rows, processors
