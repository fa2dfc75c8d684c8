"""What a diff reports beside the changes: an 834 for another employer (`sponsor_problem`, an
error), location and class codes the group does not have (read as nothing) and a tier billed
with nobody of that kind enrolled or listed (warnings: applied as read, a person looks)."""

from __future__ import annotations

import pandas as pd

from billing_core.census.diff.enrollment import Enrolled, Enrollment
from billing_core.census.diff.results import CensusDiff, MemberDiff
from billing_core.census.rows import CensusFile, Maintenance, row_column
from billing_core.errors import RowError
from billing_core.models import Dependent, EmployerGroup
from billing_core.models.enums import Relationship, Tier


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


def warn_unknown_codes(census: CensusFile, enrollment: Enrollment, result: CensusDiff) -> None:
    """Location and class codes the group does not have are read as nothing (a member keeps
    the subgroup and class they have): one warning per code, naming its first row."""
    for attribute, known, what in (
        ("subgroup_code", enrollment.subgroups, "location or billing subgroup"),
        ("class_code", enrollment.classes, "class"),
    ):
        first_row: dict[str, object] = {}
        codes = pd.Series(row_column(census.rows, attribute), dtype=object)
        firsts = codes[codes.notna() & (codes != "")].drop_duplicates()
        if len(firsts):
            source_rows = row_column(census.rows, "source_row")
            for i, code in zip(firsts.index.tolist(), firsts.tolist(), strict=True):
                if code not in known:
                    first_row[code] = source_rows[i]
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


def warn_tier_without_dependent(
    entry: MemberDiff,
    member: Enrolled | None,
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
