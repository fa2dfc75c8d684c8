"""Managing users after they exist: the users list (staff, employer and broker users with their
status), disabling and re-enabling (a disabled user cannot log in and their sessions end),
staff roles (an admin's decision, never one's own), the second factor reset, and a user's
timeline (every change audited with who, when, before and after)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.errors import ValidationFailed
from billing_core.models import (
    AuditLog,
    EmployerGroup,
    GroupAdministrator,
    User,
    UserGroupAccess,
    UserInvitation,
)
from billing_core.models.enums import STAFF_ROLES, Role
from billing_core.users import second_factor
from billing_core.users.invitations import _check_may_manage, _grants

STATUSES = {
    "active": "Active",
    "invited": "Invited (no password yet)",
    "disabled": "Disabled",
}
ROLE_CHOICES = [(role.value, role.label) for role in Role]
STAFF_ROLE_CHOICES = [(role.value, role.label) for role in Role if role in STAFF_ROLES]


def _invited_clause():
    """Invited and never used a link."""
    any_invitation = exists().where(UserInvitation.user_id == User.id)
    used = exists().where(UserInvitation.user_id == User.id, UserInvitation.used_at.is_not(None))
    return and_(any_invitation, ~used)


def find_group(session: Session, group_number: str) -> EmployerGroup | None:
    """The group with this number (case and spaces ignored), or None."""
    number = (group_number or "").strip().upper()
    if not number:
        return None
    return session.scalar(
        select(EmployerGroup).where(func.upper(EmployerGroup.group_number) == number)
    )


def users_query(
    *,
    search: str = "",
    role: str = "",
    group_id: int | None = None,
    status: str = "",
) -> Select:
    """Every user, by name, filtered: `search` in the name or e-mail, a role, a group (its
    employer users), a status (`STATUSES`); unknown filter values are ignored. A SELECT of
    User for paging."""
    query = select(User).order_by(func.lower(User.full_name), User.id)
    words = (search or "").strip().lower()
    if words:
        like = f"%{words}%"
        query = query.where(
            or_(func.lower(User.full_name).like(like), func.lower(User.email).like(like))
        )
    if role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    if group_id:
        query = query.where(
            exists().where(UserGroupAccess.user_id == User.id, UserGroupAccess.group_id == group_id)
        )
    if status == "disabled":
        query = query.where(User.is_active.is_(False))
    elif status == "invited":
        query = query.where(User.is_active.is_(True), _invited_clause())
    elif status == "active":
        query = query.where(User.is_active.is_(True), ~_invited_clause())
    return query


def status_of(session: Session, user: User) -> str:
    """One of `STATUSES`."""
    return statuses_of(session, [user])[user]


def statuses_of(session: Session, users: list[User]) -> dict[User, str]:
    """`status_of` each of `users`, with one query for the lot."""
    from billing_core.users.invitations import invited_among

    invited = invited_among(session, [u.id for u in users if u.is_active])
    return {
        u: "disabled" if not u.is_active else "invited" if u.id in invited else "active"
        for u in users
    }


@dataclass(frozen=True)
class Access:
    """One group an employer user sees: the whole group or some locations, and whether they
    administer its users."""

    group: EmployerGroup
    location_names: list[str]  # empty: the whole group
    administrator: bool


def access_of(session: Session, user: User) -> list[Access]:
    rows = session.execute(
        select(UserGroupAccess.group_id, UserGroupAccess.subgroup_id).where(
            UserGroupAccess.user_id == user.id
        )
    ).all()
    grants: dict[int, list[int | None]] = {}
    for group_id, subgroup_id in rows:
        grants.setdefault(group_id, []).append(subgroup_id)
    admin_of = set(
        session.scalars(
            select(GroupAdministrator.group_id).where(GroupAdministrator.user_id == user.id)
        )
    )
    result = []
    for group_id, subgroups in sorted(grants.items()):
        group = session.get(EmployerGroup, group_id)
        names = (
            []
            if None in subgroups
            else sorted(f"{s.code} ({s.name})" for s in group.subgroups if s.id in subgroups)
        )
        result.append(Access(group, names, group_id in admin_of))
    return result


def team_query(group_id: int, reach: frozenset[int] | None) -> Select:
    """The employer users of a group an administrator with `reach` sees on their team page:
    everyone of the group for a whole-group administrator; for a location-limited one, those
    whose access lies within their locations."""
    query = (
        select(User)
        .where(
            User.role == Role.EMPLOYER,
            exists().where(
                UserGroupAccess.user_id == User.id, UserGroupAccess.group_id == group_id
            ),
        )
        .order_by(func.lower(User.full_name), User.id)
    )
    if reach is not None:
        outside = exists().where(
            UserGroupAccess.user_id == User.id,
            UserGroupAccess.group_id == group_id,
            or_(UserGroupAccess.subgroup_id.is_(None), UserGroupAccess.subgroup_id.not_in(reach)),
        )
        query = query.where(~outside)
    return query


@dataclass(frozen=True)
class Allowed:
    """What `actor` may do to one user's account (the buttons a page shows; the use cases
    check the same)."""

    resend: bool = False
    disable: bool = False
    enable: bool = False
    change_role: bool = False
    reset_second_factor: bool = False


def allowed(session: Session, actor: User, user: User) -> Allowed:
    from billing_core.users.invitations import is_invited

    if actor.id == user.id:
        return Allowed()
    if actor.role is Role.EMPLOYER:
        return _allowed_colleague(session, actor, user)
    if not actor.role.is_staff:
        return Allowed()
    if user.role.is_staff and actor.role is not Role.ADMIN:
        return Allowed()
    invited = is_invited(session, user)
    is_admin_on_staff = actor.role is Role.ADMIN and user.role.is_staff
    return Allowed(
        resend=invited and user.is_active,
        disable=user.is_active,
        enable=not user.is_active,
        change_role=is_admin_on_staff,
        reset_second_factor=second_factor.may_reset(actor, user)
        and (user.second_factor_enrolled or bool(user.totp_secret_encrypted)),
    )


def _allowed_colleague(session: Session, actor: User, user: User) -> Allowed:
    """An employer administrator's buttons for a colleague within their reach (none outside)."""
    try:
        _check_change(session, actor, user)
    except ValidationFailed:
        return Allowed()
    return Allowed(disable=user.is_active, enable=not user.is_active)


def team_member(
    session: Session, group_id: int, reach: frozenset[int] | None, user_id: int
) -> User | None:
    """One user of an administrator's team page (None: not theirs to see, a 404)."""
    return session.scalar(team_query(group_id, reach).where(User.id == user_id))


def disable(session: Session, user: User, *, actor: User, ip_address: str | None = None) -> None:
    """The user can no longer log in and every session of theirs ends now; their invitation
    link, if any, stops working. Staff disable employer and broker users, an admin staff users
    too, an employer administrator the colleagues within their reach
    (invitations.within_reach's reach); nobody disables themselves."""
    group = _check_change(session, actor, user)
    if not user.is_active:
        raise ValidationFailed(f"{user.full_name} is already disabled.")
    user.is_active = False
    user.session_version = (user.session_version or 0) + 1
    audit.record(
        session,
        "user.disabled",
        actor=actor,
        target=user,
        group_id=group.id if group is not None else None,
        ip_address=ip_address,
        detail={"before": {"status": "enabled"}, "after": {"status": "disabled"}},
    )


def enable(session: Session, user: User, *, actor: User, ip_address: str | None = None) -> None:
    """A disabled user may log in again (with their password; a user who never set one needs
    their invitation resent). The same people as `disable` decide it."""
    group = _check_change(session, actor, user)
    if user.is_active:
        raise ValidationFailed(f"{user.full_name} is already enabled.")
    user.is_active = True
    audit.record(
        session,
        "user.enabled",
        actor=actor,
        target=user,
        group_id=group.id if group is not None else None,
        ip_address=ip_address,
        detail={"before": {"status": "disabled"}, "after": {"status": "enabled"}},
    )


def _check_change(session: Session, actor: User, user: User) -> EmployerGroup | None:
    """Refuse unless `actor` may disable or enable `user`: staff (an admin for staff users), or
    an employer administrator for a colleague within their reach; never oneself. The group an
    employer administrator acts for (its history), else the user's first group or None."""
    if actor.id == user.id:
        raise ValidationFailed("You cannot change your own account here: ask an administrator.")
    if not actor.role.is_staff and actor.role is not Role.EMPLOYER:
        raise ValidationFailed("Only staff disable or enable users.")
    group = _check_may_manage(session, actor, user)
    if actor.role is Role.EMPLOYER and set(_grants(session, user)) - {group.id}:
        # Their account serves another employer too: not one group's administrator's call.
        raise ValidationFailed(
            f"{user.full_name} also uses the portal for another group: ask the billing team."
        )
    return group


def set_group_administrator(
    session: Session,
    user: User,
    group: EmployerGroup,
    administrator: bool,
    *,
    actor: User,
    ip_address: str | None = None,
) -> None:
    """Staff let an employer user of `group` invite colleagues there (within their own access),
    or stop them. Audited with before and after."""
    if not actor.role.is_staff:
        raise ValidationFailed("Only staff choose who administers a group's users.")
    if user.role is not Role.EMPLOYER or group.id not in {
        a.group.id for a in access_of(session, user)
    }:
        raise ValidationFailed(f"{user.full_name} is not one of {group.name}'s users.")
    row = session.scalar(
        select(GroupAdministrator).where(
            GroupAdministrator.user_id == user.id, GroupAdministrator.group_id == group.id
        )
    )
    if (row is not None) == administrator:
        return
    if administrator:
        session.add(GroupAdministrator(user_id=user.id, group_id=group.id))
    else:
        session.delete(row)
    audit.record(
        session,
        "user.administrator_changed",
        actor=actor,
        target=user,
        group_id=group.id,
        ip_address=ip_address,
        detail={
            "before": {"group": group.group_number, "administrator": not administrator},
            "after": {"group": group.group_number, "administrator": administrator},
        },
    )


def change_role(
    session: Session,
    user: User,
    role: Role | str,
    *,
    actor: User,
    ip_address: str | None = None,
) -> None:
    """An admin moves a staff user between the staff roles (billing specialist, supervisor,
    admin). Nobody changes their own role (so nobody raises it); employer and broker users keep
    theirs."""
    role = Role(role)
    if actor.role is not Role.ADMIN:
        raise ValidationFailed("Only an administrator changes staff roles.")
    if actor.id == user.id:
        raise ValidationFailed("You cannot change your own role: ask another administrator.")
    if not user.role.is_staff or role not in STAFF_ROLES:
        raise ValidationFailed("Only staff users move between the staff roles.")
    if role is user.role:
        raise ValidationFailed(f"{user.full_name} is already {role.label.lower()}.")
    before = user.role
    user.role = role
    # What they may do changed: their sessions start again with the new role.
    user.session_version = (user.session_version or 0) + 1
    audit.record(
        session,
        "user.role_changed",
        actor=actor,
        target=user,
        ip_address=ip_address,
        detail={"before": {"role": before.value}, "after": {"role": role.value}},
    )


def reset_second_factor(
    session: Session, user: User, *, actor: User, ip_address: str | None = None
) -> None:
    """Clear a user's authenticator: an admin a staff user's, a supervisor or an admin an
    employer user's (billing_core.users.second_factor.reset)."""
    second_factor.reset(session, user, actor=actor, ip_address=ip_address)


ACTION_WORDS = {
    "user.created": "Account created",
    "user.invited": "Invited",
    "user.invitation_resent": "Invitation sent again (the earlier link stopped working)",
    "user.invitation_accepted": "Chose a password through the invitation",
    "user.disabled": "Disabled (sessions ended)",
    "user.enabled": "Enabled",
    "user.role_changed": "Role changed",
    "user.administrator_changed": "May invite colleagues: changed",
    "second_factor.reset": "Second factor reset",
    "password.reset": "Password reset through a reset link",
    "password.changed": "Password changed",
}


_FIELD_WORDS = {"administrator": "invites colleagues", "locations": "access"}


def describe_change(value: object) -> str:
    """A timeline's before or after in words: `role: Supervisor; status: disabled`."""
    if value is None:
        return "—"
    if not isinstance(value, dict):
        return str(value)
    parts = []
    for key, item in value.items():
        if key == "role":
            item = Role(item).label
        elif isinstance(item, bool):
            item = "yes" if item else "no"
        elif isinstance(item, list):
            item = ", ".join(str(i) for i in item)
        parts.append(f"{_FIELD_WORDS.get(key, key)}: {item}")
    return "; ".join(parts)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    who: str
    before: object
    after: object


def timeline(session: Session, user: User, limit: int = 200) -> list[TimelineEntry]:
    """The changes to a user's account, newest first: who, when, before and after."""
    rows = session.scalars(
        select(AuditLog)
        .where(
            or_(
                and_(AuditLog.target_type == "User", AuditLog.target_id == user.id),
                and_(
                    AuditLog.actor_id == user.id,
                    AuditLog.action.in_(["password.changed", "password.reset"]),
                ),
            )
        )
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    entries = []
    for row in rows:
        detail = row.detail or {}
        entries.append(
            TimelineEntry(
                at=row.occurred_at,
                what=ACTION_WORDS.get(row.action, row.action),
                who=row.actor_email or "the system",
                before=detail.get("before"),
                after=detail.get("after"),
            )
        )
    return entries
