"""The normalised census: what every reader (CSV, XLSX, X12 834) turns a file into, and what
the diff, the premium impact and approval work from. Pure data; no session, no Flask.

A file is a list of subscribers (employees, COBRA participants, retirees), each with their
dependents and their coverages per line of coverage. SSNs are kept as nine digits in memory
(matching needs them) and are masked in every rendering (`as_dict`).
"""

from __future__ import annotations

import enum
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import attrgetter

import numpy as np
import pandas as pd

from billing_core.errors import RowError
from billing_core.models import BenefitClass, BillingSubgroup, Member
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Tier,
    UploadFormat,
    UploadKind,
)
from billing_core.security import mask_ssn

# What the database keeps of each text field (dependents' names are as long as members'): a
# longer value is a row error naming the column and this limit, never stored or carried onto
# every bill (a megabyte of first name made the invoice PDF take ten seconds).
TEXT_LIMITS = {
    "employee_id": Member.__table__.c.employee_id.type.length,
    "member_key": Member.__table__.c.member_key.type.length,
    "first_name": Member.__table__.c.first_name.type.length,
    "last_name": Member.__table__.c.last_name.type.length,
    "postal_code": Member.__table__.c.postal_code.type.length,
    "subgroup_code": BillingSubgroup.__table__.c.code.type.length,
    "class_code": BenefitClass.__table__.c.code.type.length,
}
SHOWN_CHARACTERS = 40


def length_problem(field: str, text: str | None) -> str | None:
    """Why `text` cannot be kept as `field` (None when it fits or the field has no limit)."""
    limit = TEXT_LIMITS.get(field)
    if limit is None or text is None or len(text) <= limit:
        return None
    return f"at most {limit:,} characters fit here; this has {len(text):,}"


def clipped(text: str) -> str:
    """A value as a problem quotes it: a long one cut to its first SHOWN_CHARACTERS."""
    if len(text) <= SHOWN_CHARACTERS + 20:
        return text
    return f"{text[:SHOWN_CHARACTERS]}… ({len(text):,} characters)"


class Maintenance(enum.StrEnum):
    """What a row asks for (834 INS03; a tabular change file's action column)."""

    ADD = "add"
    TERM = "term"
    CHANGE = "change"
    REINSTATE = "reinstate"
    AUDIT = "audit"  # a full file's "as is" row


# The 834's maintenance type codes (INS03); a tabular change file's action column may use them.
MAINTENANCE_CODES = {
    "021": Maintenance.ADD,
    "024": Maintenance.TERM,
    "001": Maintenance.CHANGE,
    "025": Maintenance.REINSTATE,
    "030": Maintenance.AUDIT,
}


@dataclass
class CensusCoverage:
    """One line of coverage for a subscriber. `plan_code` is the group's plan code when the file
    names one (834 HD04, a tabular plan column), else the plan is found by `line` (and class).
    `elected_volume` in dollars (life); `effective_to` inclusive (a termination's last day).
    A reader may share one object between the members with the same values (the tabular
    reader does): once read, a census's coverages are not changed."""

    line: LineOfCoverage
    plan_code: str | None = None
    tier: Tier | None = None
    elected_volume: Decimal | None = None
    effective_from: date | None = None
    effective_to: date | None = None

    def as_dict(self) -> dict:
        return {
            "line": self.line.value,
            "plan_code": self.plan_code,
            "tier": self.tier.value if self.tier else None,
            "elected_volume": str(self.elected_volume) if self.elected_volume is not None else None,
            "effective_from": _iso(self.effective_from),
            "effective_to": _iso(self.effective_to),
        }


@dataclass
class CensusDependent:
    """A dependent under a subscriber. `lines` are the lines of coverage the dependent is on
    (tabular files usually imply every line the subscriber has with a family tier).
    `maintenance` and `maintenance_date` say what a change file asks for this dependent alone
    (834 INS03 on a dependent loop: add, change, term); None means "as listed"."""

    source_row: int | str
    first_name: str
    last_name: str
    birth_date: date | None
    relationship: Relationship
    gender: Gender = Gender.UNKNOWN
    ssn: str | None = None
    lines: set[LineOfCoverage] = field(default_factory=set)
    effective_from: date | None = None
    effective_to: date | None = None
    maintenance: Maintenance | None = None
    maintenance_date: date | None = None

    def as_dict(self) -> dict:
        return {
            "source_row": self.source_row,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "birth_date": _iso(self.birth_date),
            "relationship": self.relationship.value,
            "gender": self.gender.value,
            "ssn": mask_ssn(self.ssn[-4:]) if self.ssn else None,
            "lines": sorted(line.value for line in self.lines),
            "effective_from": _iso(self.effective_from),
            "effective_to": _iso(self.effective_to),
            "maintenance": self.maintenance.value if self.maintenance else None,
            "maintenance_date": _iso(self.maintenance_date),
        }


@dataclass
class CensusMember:
    """A subscriber row. `employee_id` is the employer's id for the person (834 REF*0F), the key
    a file is matched on (then the SSN); it is "" when the file has none (a census linking
    families by SSN or a family id): the diff then finds the enrolled member by SSN, or by
    name and birth date, and a new member gets a new key. `annual_salary` in dollars a year.
    `maintenance` and `maintenance_date` come from change files (a term's last covered day,
    an add's start).

    `dependents_only`: the row only names an enrolled subscriber (by `employee_id`) to carry
    maintenance of its dependents (an 834 dependent loop sent without its subscriber loop);
    the subscriber's own fields and coverages say nothing and are left as enrolled."""

    source_row: int | str
    employee_id: str
    first_name: str
    last_name: str
    birth_date: date | None
    ssn: str | None = None
    gender: Gender = Gender.UNKNOWN
    hire_date: date | None = None
    annual_salary: Decimal | None = None
    status: MemberStatus = MemberStatus.ACTIVE
    subgroup_code: str | None = None
    class_code: str | None = None
    postal_code: str | None = None
    maintenance: Maintenance | None = None
    maintenance_date: date | None = None
    coverages: list[CensusCoverage] = field(default_factory=list)
    dependents: list[CensusDependent] = field(default_factory=list)
    dependents_only: bool = False

    def as_dict(self) -> dict:
        return {
            "source_row": self.source_row,
            "employee_id": self.employee_id,
            "dependents_only": self.dependents_only,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "birth_date": _iso(self.birth_date),
            "ssn": mask_ssn(self.ssn[-4:]) if self.ssn else None,
            "gender": self.gender.value,
            "hire_date": _iso(self.hire_date),
            "annual_salary": str(self.annual_salary) if self.annual_salary is not None else None,
            "status": self.status.value,
            "subgroup_code": self.subgroup_code,
            "class_code": self.class_code,
            "postal_code": self.postal_code,
            "maintenance": self.maintenance.value if self.maintenance else None,
            "maintenance_date": _iso(self.maintenance_date),
            "coverages": [c.as_dict() for c in self.coverages],
            "dependents": [d.as_dict() for d in self.dependents],
        }


@dataclass(frozen=True)
class ControlTotals:
    """Counts (and premium) a sender states for the file, to catch truncation: 834 QTY*TO/ET/DT
    segments or the figures typed in the upload form."""

    employees: int | None = None
    dependents: int | None = None
    premium: Decimal | None = None


@dataclass
class CensusFile:
    """A file read and normalised. `kind` is what the file says (834) or the user chose; when
    neither, `kind_guess` is the reader's guess with `kind` None.

    Problems come in two lists. `errors`: the file cannot be applied as sent (no key for a
    member, a date that is not a date, an unknown plan); a file with errors changes nothing.
    `warnings`: applied as read, but a person should look (an SSN that is not an issued
    number, an optional field in an odd format, a foreign postcode, a tolerated deviation
    from the standard). Readers report every error of a file in one pass, not the first."""

    source: str
    file_format: UploadFormat
    members: list[CensusMember] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    kind: UploadKind | None = None
    kind_guess: UploadKind | None = None
    as_of: date | None = None
    control_totals: ControlTotals | None = None
    column_mapping: dict[str, str] = field(default_factory=dict)  # file header -> field name
    detail: dict = field(default_factory=dict)  # format specifics (834 envelope ids, versions)

    @property
    def rows(self) -> Sequence[CensusMember]:
        """The members as the diff reads them: `members` itself, or a reader's columns
        (`MemberColumns`) whose objects are built one by one as they are asked for (the
        diff builds only the rows it does not pass column by column)."""
        lazy = self.__dict__.get("_lazy")
        return lazy if lazy is not None else self.members

    @property
    def employee_count(self) -> int:
        """Employees the file lists (not the enrolled employees a dependent-only row names)."""
        lazy = self.__dict__.get("_lazy")
        if lazy is not None:
            return lazy.employee_count
        return sum(1 for m in self.members if not m.dependents_only)

    @property
    def dependent_count(self) -> int:
        lazy = self.__dict__.get("_lazy")
        if lazy is not None:
            return lazy.dependent_count
        return sum(len(m.dependents) for m in self.members)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self, *, include_members: bool = True) -> dict:
        result = {
            "source": self.source,
            "format": self.file_format.value,
            "kind": self.kind.value if self.kind else None,
            "kind_guess": self.kind_guess.value if self.kind_guess else None,
            "as_of": _iso(self.as_of),
            "employees": self.employee_count,
            "dependents": self.dependent_count,
            "errors": [str(e) for e in self.errors],
            "warnings": [str(w) for w in self.warnings],
            "column_mapping": self.column_mapping,
            "detail": self.detail,
        }
        if include_members:
            result["members"] = [m.as_dict() for m in self.members]
        return result


def _members(census: CensusFile) -> list[CensusMember]:
    found = census.__dict__
    lazy = found.get("_lazy")
    if lazy is not None:
        found["_members"] = lazy.built()
        found["_lazy"] = None
    return found["_members"]


def _set_members(census: CensusFile, members) -> None:
    found = census.__dict__
    if isinstance(members, MemberColumns):
        found["_lazy"], found["_members"] = members, None
    else:
        found["_lazy"], found["_members"] = None, members


# `members` is a list as it always was; a reader may set it to its columns (MemberColumns),
# and the list is then built on first use (`rows` reads them without building it).
CensusFile.members = property(_members, _set_members)  # type: ignore[assignment]


class MemberColumns(Sequence):
    """A reader's subscribers as columns (one array per CensusMember field, in file order),
    with `build(i)` making the i-th member object (its coverages and dependents) when asked
    for, once; `extra` are members built already, after them (a change file's
    dependent-only rows). A 100,000-row census whose members the diff passes column by
    column never builds most of them."""

    def __init__(
        self,
        columns: dict[str, np.ndarray],
        count: int,
        build: Callable[[int], CensusMember],
        *,
        dependent_count: int,
        lines: frozenset[LineOfCoverage],
        shapes: tuple[np.ndarray, list[list[CensusCoverage]]],
        extra: list[CensusMember] | None = None,
    ):
        self.columns = columns
        # Per row its coverages' shape: `shape_coverages[shape[i]]` are row i's coverage
        # objects (shared by the rows of that shape; a built row gets its own list).
        self.shape, self.shape_coverages = shapes
        self.count = count
        self._build = build
        self._built: list[CensusMember | None] = [None] * count
        self.extra = extra or []
        self.lines = lines  # every line any member's coverages name
        self.employee_count = count + sum(1 for m in self.extra if not m.dependents_only)
        self.dependent_count = dependent_count + sum(len(m.dependents) for m in self.extra)

    def __len__(self) -> int:
        return self.count + len(self.extra)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if i >= self.count:
            return self.extra[i - self.count]
        member = self._built[i]
        if member is None:
            member = self._built[i] = self._build(i)
        return member

    def __iter__(self) -> Iterator[CensusMember]:
        return iter(self.built())

    def built(self) -> list[CensusMember]:
        """Every member, built (the ones built already kept: the same objects)."""
        return [self[i] for i in range(self.count)] + self.extra

    def coverages_of(self, i: int) -> list[CensusCoverage]:
        """Row i's coverages, without building the row."""
        if i < self.count:
            return self.shape_coverages[self.shape[i]]
        return self.extra[i - self.count].coverages

    def column(self, name: str) -> np.ndarray:
        """A CensusMember field of every row as one object array (the extra rows' too)."""
        found = self.columns[name]
        if self.extra:
            tail = np.empty(len(self.extra), dtype=object)
            tail[:] = [getattr(m, name) for m in self.extra]
            found = np.concatenate([found, tail])
        return found


def distinct_rows(codes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct combinations of several columns of integer codes (each -1 or more, all
    of one length): per row the combination's number, and per combination its first row.
    Two columns at a time, each pair's codes renumbered (pandas factorize) so that the
    combined number never overflows."""
    count = len(codes[0]) if codes else 0
    if not count:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    combined = np.asarray(codes[0], dtype=np.int64) + 1
    for more in codes[1:]:
        more = np.asarray(more, dtype=np.int64) + 1
        combined = combined * (int(more.max()) + 1) + more
        combined = pd.factorize(combined)[0]
    numbers = pd.factorize(combined)[0]  # numbered in order of first appearance
    _, first = np.unique(numbers, return_index=True)
    return numbers, first


def row_coverages(rows: Sequence[CensusMember], i: int) -> list[CensusCoverage]:
    """Row i's coverages, without building a reader's row."""
    if isinstance(rows, MemberColumns):
        return rows.coverages_of(i)
    return rows[i].coverages


def row_column(rows: Sequence[CensusMember], name: str, at: np.ndarray | None = None) -> np.ndarray:
    """One field of `rows` (of the rows at positions `at`, when given) as an object array:
    a reader's column when it kept one, else read from the objects."""
    if isinstance(rows, MemberColumns) and name in rows.columns:
        found = rows.column(name)
        return found if at is None else found[at]
    if at is not None:
        rows = [rows[i] for i in at.tolist()]
    found = np.empty(len(rows), dtype=object)
    found[:] = list(map(attrgetter(name), rows))
    return found


def share_equal_coverages(members: list[CensusMember]) -> None:
    """Replace coverages equal in every field by one shared object: a 100,000-member file has
    a few dozen distinct coverages, and the diff checks each distinct one once (see
    CensusCoverage). For a reader that builds its coverages one by one (the 834)."""
    shared: dict[tuple, CensusCoverage] = {}
    share = shared.setdefault
    for member in members:
        member.coverages = [
            share(
                (c.line, c.plan_code, c.tier, c.elected_volume, c.effective_from, c.effective_to),
                c,
            )
            for c in member.coverages
        ]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Building some 400,000 small objects (a read) or reading 700,000 enrolled values (a diff)
    triggers the cyclic garbage collector over and over, each pass scanning every live object:
    pausing it cut a 100,000-row read from about 4 s to 1.5 s, and a diff by a third. Nothing
    built there forms a reference cycle, so nothing is left for it to find. On the way out
    what was built is handed to the oldest generation (`promote_to_oldest`)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            promote_to_oldest()
            gc.enable()


def promote_to_oldest() -> None:
    """Move every object the collector tracks into its oldest generation, without a pass.

    What a paused read or diff built is long-lived by construction (the census, the enrolled
    values: kept until the upload is done), but it sits in the youngest generation: the first
    allocations after the pause would scan all of it (a million objects for 100,000
    subscribers), again when it is moved on from the middle generation, and it would count
    toward the next full pass. gc.freeze() then gc.unfreeze() moves the generations into the
    oldest in constant time, and leaves the full-pass trigger alone; garbage cycles among the
    young objects are freed at the next full pass instead of the next young one. Skipped when
    something else froze objects (a pre-fork server's gc.freeze()), whose frozen set
    unfreeze would release."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
