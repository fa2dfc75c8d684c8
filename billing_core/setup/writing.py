"""Writing a checked set-up document: the counts of what an import created, updated and left
unchanged (`ImportSummary`), and the create-or-update of one row keyed on its natural key that
every section's writer uses, so a re-import of the same document changes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# The kinds of row an import counts, in the order a summary lists them.
KINDS = (
    "products",
    "broker_agencies",
    "brokers",
    "groups",
    "billing_policies",
    "subgroups",
    "classes",
    "brokers_of_record",
    "plans",
    "rate_versions",
    "members",
    "dependents",
    "coverages",
    "users",
    "delinquency_plans",
)


@dataclass
class ImportSummary:
    """Rows created, updated and left unchanged per kind (products, groups, members ...)."""

    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    # What the import did but someone should look at (a group on the credit-control watchlist).
    warnings: list[str] = field(default_factory=list)
    # The fields changed on existing rows of a group's set-up (TRACKED kinds only, never a
    # member's): (kind, key, {field: (before, after)}), for the group's history.
    row_changes: list[tuple[str, str, dict]] = field(default_factory=list)

    def count(self, kind: str, outcome: str) -> None:
        getattr(self, outcome)[kind] += 1

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def as_dict(self) -> dict:
        return {
            "created": dict(self.created),
            "updated": dict(self.updated),
            "unchanged": dict(self.unchanged),
            "warnings": list(self.warnings),
        }


def apply_values(obj: Any, values: dict) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def without(values: dict, skip: Iterable[str]) -> dict:
    """`values` less the keys in `skip` (nested lists and references written on their own)."""
    skip = set(skip)
    return {k: v for k, v in values.items() if k not in skip}


# The kinds whose changed fields a group's history shows before and after.
TRACKED = ("subgroups", "classes", "billing_policies", "brokers_of_record", "plans")


def _shown(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    return getattr(value, "value", None) or (
        value.isoformat() if hasattr(value, "isoformat") else str(value)
    )


def upsert(session, summary, kind, existing, key, values, model, skip=(), **extra):
    """Create or update one row keyed in `existing`; returns (obj, outcome)."""
    obj = existing.get(key)
    scalars = without(values, skip)
    if obj is None:
        obj = model(**scalars, **extra)
        session.add(obj)
        existing[key] = obj
        outcome = "created"
    else:
        tracked = kind in TRACKED
        before = {k: getattr(obj, k) for k in scalars} if tracked else {}
        outcome = "updated" if apply_values(obj, scalars) else "unchanged"
        if outcome == "updated" and tracked:
            shown_key = " ".join(_shown(k) for k in key) if isinstance(key, tuple) else key
            summary.row_changes.append(
                (
                    kind,
                    str(_shown(shown_key)),
                    {
                        k: (_shown(before[k]), _shown(v))
                        for k, v in scalars.items()
                        if before[k] != v
                    },
                )
            )
    summary.count(kind, outcome)
    return obj, outcome
