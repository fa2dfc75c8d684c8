"""A sheet's coverages: per subscriber, a line for each medical/dental/vision plan or tier it
elects, each Y/N line it says yes to and a supplemental life amount; the tier of a line from
its own tier column, else the row's, else spouse Y/N and child count, else (a file stating no
tier anywhere) the dependent rows listed. Then the dependents on the lines their tier covers.
Coverage objects with the same values are shared between members (a 100,000-row file has a
few hundred, not 600,000)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import numpy as np
import pandas as pd

from billing_core.census.rows import CensusCoverage, CensusMember, Maintenance, distinct_rows
from billing_core.census.tabular.sheet import Sheet
from billing_core.census.tabular.vocabulary import FLAG_LINES, TIERED_LINES, WAIVE
from billing_core.models.enums import LineOfCoverage, Relationship, Tier

# Coverages are built positionally for speed; this fails at import if rows.py reorders them.
assert [f.name for f in fields(CensusCoverage)] == [
    "line",
    "plan_code",
    "tier",
    "elected_volume",
    "effective_from",
    "effective_to",
], "CensusCoverage fields changed: update read_coverages"


def row_tiers(sheet: Sheet) -> np.ndarray:
    """The row's tier: the tier column, else spouse Y/N plus child count (and a row error
    where both are given and disagree)."""
    tier = sheet.col("tier")
    if "spouse" not in sheet.columns and "child_count" not in sheet.columns:
        return tier
    partner = sheet.mask("spouse", lambda v: v is True)
    child = sheet.mask("child_count", lambda v: bool(v))
    stated = ~pd.isna(sheet.col("spouse")) | ~pd.isna(sheet.col("child_count"))
    derived = np.array([Tier.EE, Tier.EC, Tier.ES, Tier.FAM], dtype=object)[partner * 2 + child]
    is_tier = sheet.mask("tier", lambda v: isinstance(v, Tier))
    for i in np.flatnonzero(stated & is_tier & (tier != derived)).tolist():
        sheet.row_error(
            i,
            "tier",
            f"the coverage level says {tier[i].value} but spouse/children say "
            f"{derived[i].value}; expected them to agree",
        )
    return np.where(stated & pd.isna(tier), derived, tier)


def read_coverages(
    sheet: Sheet,
    accepted: np.ndarray,
    member: Callable[[int], CensusMember],
    start: np.ndarray,
    end: np.ndarray,
) -> tuple[np.ndarray, list[list[CensusCoverage]], frozenset[LineOfCoverage]]:
    """Each accepted subscriber's coverages, line by line (see the module docstring for the
    tier rules), as its shape (`shapes[shape[j]]` are subscriber j's coverages; members with
    the same coverages share the objects and the list), and the lines any of them has. `member(j)` is the j-th subscriber's row
    (its fields and dependents), asked for only when a line's tier must be derived."""
    columns = sheet.columns
    lines: set[LineOfCoverage] = set()
    starts, ends = start[accepted], end[accepted]
    bare = row_tiers(sheet)[accepted]
    tier_stated = any(
        name in columns
        for name in ("tier", "spouse", "child_count", *(t for _, _, t in TIERED_LINES))
    )
    fallback_column = next(
        (name for name in ("tier", "spouse", "child_count") if name in columns), "tier"
    )
    derive = "relationship" in columns and not tier_stated

    line_columns = [
        (line, plan, tier)
        for line, plan, tier in TIERED_LINES
        if plan in columns or tier in columns
    ]
    if line_columns:
        elections = []
        for line, plan_name, tier_name in line_columns:
            plan, own = sheet.col(plan_name)[accepted], sheet.col(tier_name)[accepted]
            waived = (
                sheet.mask(plan_name, lambda v: v is WAIVE)
                | sheet.mask(tier_name, lambda v: v is WAIVE)
            )[accepted]
            # Plan texts and tiers, None when blank (never NaN): numpy's == None, half the
            # time of pd.isna.
            no_tier = np.equal(own, None)
            elected = ~waived & ~(np.equal(plan, None) & no_tier)
            tier = np.where(no_tier, bare, own)
            column = tier_name if tier_name in columns else fallback_column
            elections.append((line, elected, plan, tier, column))
    else:
        elected = np.fromiter((isinstance(t, Tier) for t in bare), bool, len(bare))
        none = np.full(len(bare), None, dtype=object)
        elections = [(line, elected, none, bare, "tier") for line in sheet.tier_lines]

    count = len(accepted)
    start_codes, end_codes = pd.factorize(starts)[0], pd.factorize(ends)[0]
    slots: list[tuple[np.ndarray, list[CensusCoverage]]] = []  # per line read: codes, objects

    def add(line, rows, plans=None, tiers=None, volumes=None) -> None:
        """Coverages of `line` for the members at positions `rows` (an index array). One
        object per distinct set of values, shared by the members who have it: a 100,000-row
        file has a few hundred, not 600,000 (and the diff checks each once). The distinct
        sets are found column by column (factorize), not row by row. The field order of
        the positional arguments is checked at import."""
        codes = np.full(count, -1, dtype=np.int64)
        made: list[CensusCoverage] = []
        if len(rows):
            lines.add(line)
            values = [
                None if values is None else values[rows]
                for values in (plans, tiers, volumes, starts, ends)
            ]
            keys = [start_codes[rows], end_codes[rows]]
            if plans is not None:
                keys.append(pd.factorize(values[0])[0])
            if tiers is not None:
                keys.append(object_codes(values[1]))
            if volumes is not None:
                keys.append(pd.factorize(values[2])[0])
            inverse, first = distinct_rows(keys)
            made = [
                CensusCoverage(line, *(None if v is None else v[k] for v in values))
                for k in first.tolist()
            ]
            codes[rows] = inverse
        slots.append((codes, made))

    for line, elected, plan, tier, column in elections:
        rows = np.flatnonzero(elected)
        tier = tier.copy()
        for j in rows[[not isinstance(t, Tier) for t in tier[rows].tolist()]].tolist():
            tier[j] = missing_tier(sheet, member(j), accepted[j], line, tier[j], column, derive)
        add(line, rows, plans=plan, tiers=tier)
    for name, line in FLAG_LINES.items():
        if name in columns:
            add(line, np.flatnonzero(sheet.mask(name, lambda v: v is True)[accepted]))
    if "life_volume" in columns:
        volumes = sheet.col("life_volume")[accepted]
        elected = np.flatnonzero(sheet.mask("life_volume", bool)[accepted])
        add(LineOfCoverage.SUPPLEMENTAL_LIFE, elected, volumes=volumes)
    # Each member's coverages are one of a few hundred shapes (the same objects in the same
    # order, line by line as read): the shape per member, and each shape's coverages.
    if not slots or not count:
        return np.zeros(count, dtype=np.int64), [[]], frozenset(lines)
    shape, first = distinct_rows([codes for codes, _ in slots])
    shapes = [[made[codes[j]] for codes, made in slots if codes[j] >= 0] for j in first.tolist()]
    return shape, shapes, frozenset(lines)


def object_codes(values: np.ndarray) -> np.ndarray:
    """Codes of a column of tiers (enum members, each one object, or None), by identity:
    hashing an enum member runs Python code. Two equal texts (an unreadable tier) may get
    two codes: only the sharing of their coverage objects is lost."""
    return pd.factorize(np.fromiter(map(id, values.tolist()), dtype=np.int64, count=len(values)))[0]


def missing_tier(
    sheet: Sheet,
    member: CensusMember,
    i: int,
    line: LineOfCoverage,
    stated: object,
    column: str,
    derive: bool,
) -> Tier | None:
    """An elected line without a tier: derived from the dependent rows when the file states
    no tier anywhere (snapshot rows and adds only), else a row error."""
    if derive:
        if not sheet.is_change or member.maintenance in (Maintenance.ADD, Maintenance.REINSTATE):
            return family_tier(member)
        return None
    if sheet.bad(i, column, "tier", "spouse", "child_count"):
        return None
    if column in sheet.columns:
        said = "says Waive" if stated is WAIVE else "is blank"
        sheet.row_error(
            i,
            column,
            f"{line.label} is elected but its coverage level {said}; expected EE, ES, EC or FAM",
            None if stated is WAIVE else "",
        )
    return None


def attach_coverages(
    member: CensusMember,
    listed: list[CensusCoverage],
    last,
    shapes: dict[tuple[int, ...], dict[Relationship, frozenset[LineOfCoverage]]],
) -> None:
    """A subscriber's coverages, and each of its dependents on the lines whose tier covers
    it (spouse or partner: ES, FAM; child: EC, FAM; never life or disability), ending when the
    subscriber's coverage ends (`last`) unless its own row ends it sooner. `shapes`: the
    lines per relationship of each set of coverage objects met so far (members with the
    same coverages share the objects), kept by the caller across members."""
    member.coverages = listed
    if member.dependents:
        shape_key = tuple(map(id, listed))
        lines = shapes.get(shape_key)
        if lines is None:
            shape = [(c.line, c.tier) for c in listed if c.tier is not None]
            lines = shapes[shape_key] = {
                relationship: frozenset(line for line, tier in shape if tier in covered)
                for relationship, covered in _COVERED_BY.items()
            }
        for dependent in member.dependents:
            dependent.lines = set(lines[dependent.relationship])
            if dependent.effective_to is None:
                dependent.effective_to = last


_COVERED_BY = {
    Relationship.SPOUSE: {Tier.ES, Tier.FAM},
    Relationship.DOMESTIC_PARTNER: {Tier.ES, Tier.FAM},
    Relationship.CHILD: {Tier.EC, Tier.FAM},
}


def family_tier(member: CensusMember) -> Tier:
    """The tier the dependents listed under a subscriber imply."""
    partner = any(d.relationship is not Relationship.CHILD for d in member.dependents)
    child = any(d.relationship is Relationship.CHILD for d in member.dependents)
    if partner and child:
        return Tier.FAM
    if partner:
        return Tier.ES
    if child:
        return Tier.EC
    return Tier.EE
