"""Writing the audit log: every login and every staff action goes through `record`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billing_core.models.audit import AuditLog
from billing_core.models.user import User


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    actor_email: str | None = None,
    target: Any = None,
    group_id: int | None = None,
    ip_address: str | None = None,
    detail: dict | None = None,
) -> AuditLog:
    """Append one audit row (flushed with the caller's unit of work, never on its own).

    `action` is a dotted verb such as `login.succeeded` or `setup.imported`; `target` is any
    model instance with an `id`; `detail` must hold no SSN or password (callers pass ids)."""
    entry = AuditLog(
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else actor_email,
        target_type=type(target).__name__ if target is not None else None,
        target_id=getattr(target, "id", None),
        group_id=group_id,
        ip_address=ip_address,
        detail=detail or {},
    )
    session.add(entry)
    return entry


def audit_log_query(action_prefix: str = ""):
    """Newest first, optionally only actions starting with `action_prefix`."""
    from sqlalchemy import select

    query = select(AuditLog).order_by(AuditLog.id.desc())
    if action_prefix:
        query = query.where(AuditLog.action.startswith(action_prefix))
    return query
