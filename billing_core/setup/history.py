"""A group's history (issue 22, item 6): every set-up change and staff action on the group, read
from the audit log (who, when, before and after) into a readable timeline, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from billing_core.models import AuditLog

__all__ = ["Change", "Event", "timeline"]

LABELS = {
    "setup.group_live": "Set up on the screens and made live",
    "setup.imported": "Set-up document imported",
    "setup.group_changed": "Set-up changed",
    "group.terminated": "Group terminated",
    "collections.cancelled": "Cancelled for non-payment",
    "collections.reinstated": "Reinstated",
    "billing.run": "Billed",
}
# Detail keys that are bookkeeping, not something a reader needs.
_QUIET = {"before", "after", "draft", "episode"}


@dataclass(frozen=True)
class Change:
    what: str
    before: str
    after: str


@dataclass(frozen=True)
class Event:
    at: datetime
    who: str
    what: str
    changes: list[Change]
    notes: list[str]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        # "; " between items: an item may hold commas ("North (NORTH): location, billed ...")
        return "; ".join(_text(v) for v in value) or "-"
    return str(value)


def _changes(before: Any, after: Any) -> list[Change]:
    if isinstance(before, dict) or isinstance(after, dict):
        before = before if isinstance(before, dict) else {}
        after = after if isinstance(after, dict) else {}
        keys = list(dict.fromkeys([*before, *after]))
        return [
            Change(k.replace("_", " "), _text(before.get(k)), _text(after.get(k)))
            for k in keys
            if before.get(k) != after.get(k)
        ]
    return [Change("", _text(before), _text(after))]


def _label(action: str) -> str:
    return LABELS.get(action) or action.replace(".", ": ").replace("_", " ").capitalize()


def timeline(session: Session, group_id: int, limit: int = 200) -> list[Event]:
    """The group's events, newest first: each with who, when, what, and before -> after."""
    rows = session.scalars(
        select(AuditLog)
        .where(
            or_(
                AuditLog.group_id == group_id,
                and_(AuditLog.target_type == "EmployerGroup", AuditLog.target_id == group_id),
            )
        )
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    events = []
    for row in rows:
        detail = row.detail or {}
        changes = (
            _changes(detail.get("before"), detail.get("after"))
            if "before" in detail or "after" in detail
            else []
        )
        notes = [
            f"{k.replace('_', ' ')}: {_text(v)}"
            for k, v in detail.items()
            if k not in _QUIET and v not in (None, "", [], {})
        ]
        events.append(
            Event(
                row.occurred_at, row.actor_email or "the system", _label(row.action), changes, notes
            )
        )
    return events
