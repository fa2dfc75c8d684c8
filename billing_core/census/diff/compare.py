"""A member's row against the enrolled member, field by field and line by line: what changed
(`field_changes`, `coverage_changes`) and the coverages a term ends (`ended_coverage`). A blank
the file leaves is no change; a code the group does not have is no change."""

from __future__ import annotations

from datetime import date, timedelta

from billing_core.census.diff.enrollment import MEMBER_FIELDS, Enrolled, Enrollment, Held
from billing_core.census.diff.results import CoverageChange, FieldChange, display_text
from billing_core.census.rows import CensusMember
from billing_core.errors import RowError
from billing_core.models.enums import LineOfCoverage
from billing_core.security import mask_ssn


def field_changes(
    member: Enrolled, row: CensusMember, digest: str | None, enrollment: Enrollment
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
        if name == "gender" and display_text(new) == "U":
            continue
        if name in ("first_name", "last_name") and str(old).casefold() == str(new).casefold():
            continue  # an all-capitals feed (most 834s) renames nobody
        if display_text(old) != display_text(new):
            changes.append(FieldChange(name, display_text(old), display_text(new)))
    if digest is not None and member.ssn_digest and digest != member.ssn_digest:
        changes.append(FieldChange("ssn", mask_ssn(member.ssn_last4), f"***-**-{row.ssn[-4:]}"))
    # A code the group does not have (an 834's REF*17 carrying the member's own id, say) is
    # no change: warn_unknown_codes says so once per file.
    subgroup = enrollment.subgroups.get(row.subgroup_code) if row.subgroup_code else None
    if subgroup is not None and subgroup.id != member.subgroup_id:
        old_code = enrollment.subgroup_codes.get(member.subgroup_id, "")
        changes.append(FieldChange("subgroup", old_code, row.subgroup_code))
    klass = enrollment.classes.get(row.class_code) if row.class_code else None
    if klass is not None and klass.id != member.class_id:
        old_code = enrollment.class_codes.get(member.class_id, "")
        changes.append(FieldChange("class", old_code, row.class_code))
    return changes


def coverage_changes(
    member: Enrolled | None,
    row: CensusMember,
    enrollment: Enrollment,
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
                changes.append(
                    ended_coverage(existing, enrollment, wanted.line, wanted.effective_to)
                )
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
                changes.append(ended_coverage(existing, enrollment, line, on - timedelta(days=1)))
    return changes


def ended_coverage(existing: Held, enrollment: Enrollment, line, last_day: date) -> CoverageChange:
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
