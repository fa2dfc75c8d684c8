"""A sheet's dependent rows put under their subscribers: by employee id, else family id, else
subscriber SSN (wherever the subscriber's row is), else the nearest subscriber row above (the
"row order" layout of many HRIS exports). A dependent with nothing to join is an error naming
its row; a dependent repeated under one employee is read once when it repeats exactly, else
refused. A change file may send a dependent alone (a new baby, a spouse ending): it becomes a
`dependents_only` row naming the enrolled employee by id, for the diff to check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from billing_core.census.rows import CensusDependent, CensusMember
from billing_core.census.tabular.sheet import Sheet, masked_ssn
from billing_core.models.enums import Gender


def link_dependents(
    sheet: Sheet,
    is_subscriber: np.ndarray,
    is_dependent: np.ndarray,
    kept: np.ndarray,
    accepted: np.ndarray,
    repeat_of: dict[int, int],
    own_ssn: np.ndarray,
    start: np.ndarray,
    dependent_to: np.ndarray,
) -> Families:
    """Each dependent row under its subscriber: by employee id, else family id, else
    subscriber SSN (wherever the subscriber's row is), else the nearest subscriber row
    above. A dependent with nothing to join is an error; an exact repeat is read once.
    Returns the dependents per subscriber (by position in `accepted`) as columns."""
    n = sheet.n
    dependents = np.flatnonzero(is_dependent)
    target = np.full(len(dependents), -1, dtype=np.int64)
    open_rows = np.ones(len(dependents), dtype=bool)  # no link column said anything yet
    links = (
        ("employee_id", sheet.col("employee_id"), "employee id"),
        ("family_id", sheet.col("family_id"), "family id"),
        ("subscriber_ssn", sheet.col("subscriber_ssn"), "subscriber SSN"),
    )
    for name, values, said in links:
        if name not in sheet.columns:
            continue
        if name == "subscriber_ssn":
            keys = own_ssn
        else:
            keys = values
        holders = kept & ~pd.isna(keys)
        holder_rows = np.flatnonzero(holders)
        index = pd.Index(keys[holder_rows], dtype=object)
        unique = ~index.duplicated(keep="first")
        index, holder_rows = index[unique], holder_rows[unique]
        asking = open_rows & ~pd.isna(values[dependents])
        if not asking.any():
            continue
        found = index.get_indexer(values[dependents[asking]])
        at = np.flatnonzero(asking)
        target[at[found >= 0]] = holder_rows[found[found >= 0]]
        open_rows[at] = False
        unlinked = dependents[at[found < 0]].tolist()
        if name == "employee_id" and sheet.is_change:
            # A change file may send only the dependent (a new baby, a spouse ending): it
            # is maintenance under the enrolled employee with that id, whom the diff
            # checks against enrollment (dependents_only_members).
            for i in unlinked:
                sheet.unlinked_dependents.setdefault(values[i], []).append(i)
            unlinked = []
        for i in unlinked:
            shown = masked_ssn(values[i]) if name == "subscriber_ssn" else None
            sheet.row_error(
                i,
                name,
                f"no employee row in the file has this {said}; expected the employee's own "
                "row (relationship EE) in the same file",
                shown,
            )
    # Row order: the nearest subscriber row above (an exact repeat stands for its first).
    above = np.maximum.accumulate(np.where(is_subscriber, np.arange(n), -1))
    by_order = above[dependents[open_rows]]
    if repeat_of:
        by_order = np.array([repeat_of.get(r, r) for r in by_order.tolist()], dtype=np.int64)
    orphans = dependents[open_rows][by_order < 0]
    for i in orphans.tolist():
        group = -1 if sheet.row_group is None else int(sheet.row_group[i])
        own = group < 0 or "relationship" in sheet.groups[group].columns
        sheet.row_error(
            i,
            "relationship" if own else "first_name",
            "a dependent row needs its employee's id, family id or SSN, or must come under "
            "its employee's row; no employee row is above it",
        )
    target[open_rows] = by_order
    # A refused employee row (its error says why) takes no dependents.
    target[(target >= 0) & ~kept[np.maximum(target, 0)]] = -1

    placed = np.flatnonzero(target >= 0)
    rows, targets = dependents[placed], target[placed]
    drop = repeated_dependents(sheet, rows, targets)
    if drop:
        keep = ~np.isin(rows, list(drop))
        rows, targets = rows[keep], targets[keep]
    member_of = np.full(n, -1, dtype=np.int64)
    member_of[accepted] = np.arange(len(accepted))
    starts = start[rows]
    if sheet.row_group is not None:  # a wide row's dependents start with the family's row
        from_family = pd.isna(starts) & (sheet.row_group[rows] >= 0)
        starts[from_family] = start[targets[from_family]]

    def cells(name: str) -> list:
        return sheet.col(name)[rows].tolist()

    return Families(
        member_of[targets],
        sheet.row_no[rows].tolist(),
        cells("first_name"),
        cells("last_name"),
        cells("birth_date"),
        cells("relationship"),
        cells("gender"),
        cells("ssn"),
        starts.tolist(),
        dependent_to[rows].tolist(),
    )


class Families:
    """The dependent rows linked to their subscribers, as columns in file order (`owner`:
    the subscriber's position among the accepted rows); `of(j, last_name)` builds the
    dependents of subscriber j (a blank last name is the subscriber's)."""

    def __init__(self, owner: np.ndarray, *cells: list):
        self.count = len(owner)
        order = np.argsort(owner, kind="stable")  # file order within each subscriber
        self.order = order.tolist()
        counts = np.bincount(owner, minlength=int(owner.max()) + 1 if len(owner) else 0)
        self.bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
        self.cells = cells

    def of(self, j: int, last_name: str) -> list[CensusDependent]:
        if j + 1 >= len(self.bounds):
            return []
        found = []
        row_no, first, last, born, relationship, gender, ssn, since, until = self.cells
        for k in self.order[self.bounds[j] : self.bounds[j + 1]]:
            found.append(
                CensusDependent(
                    source_row=row_no[k],
                    first_name=first[k] or "",
                    last_name=last[k] or last_name,
                    birth_date=born[k],
                    relationship=relationship[k],
                    gender=gender[k] or Gender.UNKNOWN,
                    ssn=ssn[k],
                    effective_from=since[k],
                    effective_to=until[k],
                )
            )
        return found


def dependents_only_members(
    sheet: Sheet, start: np.ndarray, dependent_to: np.ndarray
) -> list[CensusMember]:
    """Per employee id named only by dependent rows of a change file: a row that carries
    those dependents' own maintenance (add, change, term) for the enrolled employee."""
    found = []
    for employee_id, rows in sheet.unlinked_dependents.items():
        member = CensusMember(
            source_row=int(sheet.row_no[rows[0]]),
            employee_id=str(employee_id),
            first_name="",
            last_name="",
            birth_date=None,
            dependents_only=True,
        )
        for i in rows:
            action = sheet.dependent_action[i]
            member.dependents.append(
                CensusDependent(
                    source_row=int(sheet.row_no[i]),
                    first_name=sheet.col("first_name")[i] or "",
                    last_name=sheet.col("last_name")[i] or "",
                    birth_date=sheet.col("birth_date")[i],
                    relationship=sheet.col("relationship")[i],
                    gender=sheet.col("gender")[i] or Gender.UNKNOWN,
                    ssn=sheet.col("ssn")[i],
                    effective_from=start[i] if not pd.isna(start[i]) else None,
                    effective_to=dependent_to[i],
                    maintenance=None if pd.isna(action) else action,
                    maintenance_date=sheet.dependent_action_date[i],
                )
            )
        found.append(member)
    return found


def repeated_dependents(sheet: Sheet, rows: np.ndarray, targets: np.ndarray) -> set[int]:
    """Dependent rows naming a person (first name, birth date, relationship) already under
    the same employee: an exact repeat is read once (a warning), another is an error."""
    if not len(rows):
        return set()

    def codes(name: str) -> np.ndarray:
        column = sheet.columns.get(name)
        return column.codes[rows] if column is not None else np.zeros(len(rows), np.int64)

    frame = pd.DataFrame(
        {
            "employee": pd.Series(targets, dtype=object),
            "first": codes("first_name"),
            "last": codes("last_name"),
            "born": codes("birth_date"),
            "relationship": codes("relationship"),
        }
    )
    again = frame.duplicated(keep="first").to_numpy()
    if not again.any():
        return set()
    first_seen: dict[tuple, int] = {}
    for i, key in zip(rows[~again].tolist(), frame[~again].itertuples(index=False), strict=True):
        first_seen.setdefault(tuple(key), i)
    drop: set[int] = set()
    for i, key in zip(rows[again].tolist(), frame[again].itertuples(index=False), strict=True):
        first = first_seen[tuple(key)]
        drop.add(i)
        if sheet.same_row(i, first):
            sheet.row_warning(
                i, None, f"this row repeats row {sheet.row_no[first]} exactly; it was read once"
            )
        else:
            sheet.row_error(
                i,
                "first_name",
                f"the same dependent (name and date of birth) is on row {sheet.row_no[first]} "
                "with other values; expected one row per person",
            )
    return drop
