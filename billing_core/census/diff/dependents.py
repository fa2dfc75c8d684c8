"""A member's dependents in the file against the enrolled ones: which enrolled dependent a
file's dependent is (the same issued SSN, else first name and birth date, else first name and
relationship), and what is added, ended or changed."""

from __future__ import annotations

from datetime import date, timedelta

from billing_core.census.diff.results import DependentChange, FieldChange, display_text
from billing_core.census.rows import CensusDependent, CensusMember, Maintenance
from billing_core.models import Dependent
from billing_core.models.enums import UploadKind
from billing_core.security import vault


def speaks_for_dependents(row: CensusMember, kind: UploadKind) -> bool:
    """A row whose dependents may change something the quick check does not look at: a
    change file's dependent with its own maintenance. (A snapshot's dependents are compared
    only for members that differ otherwise; see dependent_changes.)"""
    return kind is UploadKind.CHANGE and any(d.maintenance for d in row.dependents)


def same_dependent(wanted: CensusDependent, enrolled: Dependent, digest: str | None) -> bool:
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


def dependent_changes(
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
        match = next((d for d in enrolled if same_dependent(wanted, d, digest)), None)
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
            FieldChange(label, display_text(old), display_text(new))
            for label, old, new in (
                ("first_name", match.first_name, wanted.first_name),
                ("last_name", match.last_name, wanted.last_name),
                ("birth_date", match.birth_date, wanted.birth_date),
            )
            if new not in (None, "") and display_text(old) != display_text(new)
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
