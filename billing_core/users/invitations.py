"""Invitations by e-mail: a new employer or staff user gets a set-password link through the mail
outbox. The link's token is random and kept only as its SHA-256 digest; it works once, until it
expires (72 hours); a resend revokes the open link. Who may invite whom is decided here (one
door for the staff pages and the employer administrator's team page):
- staff invite employer users for any group, limited to some subgroups or not;
- an employer administrator invites colleagues for their own group within their own reach (a
  location-limited administrator grants their own locations or fewer, never the whole group);
- only an admin invites staff."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from billing_core import audit, mail
from billing_core.access import group_scope
from billing_core.errors import ValidationFailed
from billing_core.models import (
    EmployerGroup,
    GroupAdministrator,
    OutboxMessage,
    User,
    UserGroupAccess,
    UserInvitation,
)
from billing_core.models.enums import STAFF_ROLES, Role
from billing_core.security import hash_password
from billing_core.users.accounts import find_user_by_email, set_password

INVITATION_LIFETIME = timedelta(hours=72)
INVITATION = "invitation"  # a kind of message; always sent (the way in)
LINK_PREFIX = "/invitation/"
EXPIRED = "This invitation link has expired or was already used. Ask whoever invited you to send a new one."


@dataclass(frozen=True)
class Invited:
    user: User
    token: str  # in the mail only; never stored
    message: OutboxMessage | None

    @property
    def link_path(self) -> str:
        return LINK_PREFIX + self.token


def token_digest(token: str) -> str:
    """The SHA-256 hex digest kept instead of the token (a database read gives no link)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def administers(session: Session, user: User, group_id: int) -> bool:
    """Whether `user` administers the group's users in the portal."""
    if user.role is not Role.EMPLOYER:
        return False
    return (
        session.scalar(
            select(GroupAdministrator.id).where(
                GroupAdministrator.user_id == user.id, GroupAdministrator.group_id == group_id
            )
        )
        is not None
    )


def administered_groups(session: Session, user: User) -> list[EmployerGroup]:
    """The groups whose users `user` administers in the portal, by name."""
    if user.role is not Role.EMPLOYER:
        return []
    return list(
        session.scalars(
            select(EmployerGroup)
            .join(GroupAdministrator, GroupAdministrator.group_id == EmployerGroup.id)
            .where(GroupAdministrator.user_id == user.id)
            .order_by(EmployerGroup.name)
        )
    )


# session.info key: {user id: whether they administer any group's users}, read with the user
# by `second_factor.load_user`, so the top bar's question costs no statement of its own.
_ADMINISTERS_ANY = "administers_any_group"


def administers_any_clause(user_id) -> object:
    """Whether `user_id` administers any group's users (a SQL EXISTS)."""
    return exists().where(GroupAdministrator.user_id == user_id)


def remember_administers_any(session: Session, user_id: int, answer: bool) -> None:
    session.info.setdefault(_ADMINISTERS_ANY, {})[user_id] = answer


def administers_any(session: Session, user: User) -> bool:
    """Whether `user` administers any group's users (the employer's Team link): as read with
    the user in this session, else asked now."""
    if user.role is not Role.EMPLOYER:
        return False
    known = session.info.get(_ADMINISTERS_ANY, {}).get(user.id)
    if known is not None:
        return known
    return bool(session.scalar(select(administers_any_clause(user.id))))


def reach(session: Session, actor: User, group: EmployerGroup) -> frozenset[int] | None:
    """The subgroups `actor` may grant in `group` (None: the whole group). Staff reach the
    whole group; an employer administrator their own subgroups; anyone else is refused."""
    if actor.role.is_staff:
        return None
    if not administers(session, actor, group.id):
        raise ValidationFailed("Only the group's administrators can invite or manage its users.")
    scope = group_scope(session, actor, group.id, on=date.today())
    if scope is None:
        raise ValidationFailed("Only the group's administrators can invite or manage its users.")
    return scope.subgroup_ids


def within_reach(
    session: Session, actor: User, group: EmployerGroup, subgroup_ids: Iterable[int] | None
) -> frozenset[int] | None:
    """The subgroups to grant, checked against the group and the actor's reach: None (or none
    chosen) means the whole group, which only someone reaching the whole group may grant."""
    chosen = frozenset(subgroup_ids or ()) or None
    own = {s.id for s in group.subgroups}
    if chosen is not None and not chosen <= own:
        raise ValidationFailed("Choose locations of this group only.")
    limit = reach(session, actor, group)
    if limit is not None:
        if chosen is None:
            raise ValidationFailed(
                "Your access covers some locations only: choose one or more of them for "
                "your colleague."
            )
        if not chosen <= limit:
            raise ValidationFailed(
                "You can only give access to the locations you have access to yourself."
            )
    return chosen


def _new_user(session: Session, email: str, full_name: str, role: Role) -> User:
    email = (email or "").strip().lower()
    full_name = (full_name or "").strip()
    if not email or "@" not in email:
        raise ValidationFailed("Enter the person's e-mail address.")
    if not full_name:
        raise ValidationFailed("Enter the person's name.")
    if find_user_by_email(session, email) is not None:
        raise ValidationFailed(
            f"{email} already has an account: find it in the users list (resend its "
            "invitation there if it was never used)."
        )
    # Nobody knows this password: the account is used only once the invitation sets one.
    user = User(
        email=email,
        full_name=full_name,
        role=role,
        password_hash=hash_password(secrets.token_urlsafe(32)),
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user


def invite_employer_user(
    session: Session,
    *,
    email: str,
    full_name: str,
    group: EmployerGroup,
    subgroup_ids: Iterable[int] | None,
    administrator: bool,
    actor: User,
    now: datetime,
    ip_address: str | None = None,
) -> Invited:
    """A new employer user of `group` (limited to `subgroup_ids`, or the whole group) and their
    set-password link in the outbox. Staff may invite for any group; an employer administrator
    for their own group within their reach (`within_reach`). `administrator`: the new user may
    invite colleagues in turn (within the reach given here). Audited on the new user."""
    chosen = within_reach(session, actor, group, subgroup_ids)
    user = _new_user(session, email, full_name, Role.EMPLOYER)
    if chosen is None:
        session.add(UserGroupAccess(user_id=user.id, group_id=group.id))
    else:
        for subgroup_id in sorted(chosen):
            session.add(
                UserGroupAccess(user_id=user.id, group_id=group.id, subgroup_id=subgroup_id)
            )
    if administrator:
        session.add(GroupAdministrator(user_id=user.id, group_id=group.id, granted_at=now))
    session.flush()
    codes = sorted(s.code for s in group.subgroups if chosen is not None and s.id in chosen)
    audit.record(
        session,
        "user.invited",
        actor=actor,
        target=user,
        group_id=group.id,
        ip_address=ip_address,
        detail={
            "before": None,
            "after": {
                "email": user.email,
                "role": user.role.value,
                "group": group.group_number,
                "locations": codes or "whole group",
                "administrator": administrator,
            },
        },
    )
    return _send(session, user, actor=actor, now=now, group=group)


def invite_staff_user(
    session: Session,
    *,
    email: str,
    full_name: str,
    role: Role | str,
    actor: User,
    now: datetime,
    ip_address: str | None = None,
) -> Invited:
    """A new staff user (specialist, supervisor or admin) invited by an admin."""
    role = Role(role)
    if actor.role is not Role.ADMIN:
        raise ValidationFailed("Only an administrator can add staff users.")
    if role not in STAFF_ROLES:
        raise ValidationFailed("Choose a staff role: billing specialist, supervisor or admin.")
    user = _new_user(session, email, full_name, role)
    audit.record(
        session,
        "user.invited",
        actor=actor,
        target=user,
        ip_address=ip_address,
        detail={"before": None, "after": {"email": user.email, "role": role.value}},
    )
    return _send(session, user, actor=actor, now=now)


def is_invited(session: Session, user: User) -> bool:
    """Invited and never set a password through the link (whether the link is open or not)."""
    return user.id in invited_among(session, [user.id])


def invited_among(session: Session, user_ids: list[int]) -> set[int]:
    """Which of `user_ids` are invited (`is_invited`), in one query: a page of users shows
    each one's status."""
    if not user_ids:
        return set()
    used_by: dict[int, list] = {}
    for user_id, used in session.execute(
        select(UserInvitation.user_id, UserInvitation.used_at).where(
            UserInvitation.user_id.in_(user_ids)
        )
    ):
        used_by.setdefault(user_id, []).append(used)
    return {user_id for user_id, used in used_by.items() if all(u is None for u in used)}


def open_invitation(session: Session, user: User, now: datetime) -> UserInvitation | None:
    """The user's link that still works (neither used, revoked nor expired)."""
    return session.scalar(
        select(UserInvitation).where(
            UserInvitation.user_id == user.id,
            UserInvitation.used_at.is_(None),
            UserInvitation.revoked_at.is_(None),
            UserInvitation.expires_at > now,
        )
    )


def resend(
    session: Session, user: User, *, actor: User, now: datetime, ip_address: str | None = None
) -> Invited:
    """A new link for a user still invited; the old one stops working. Staff resend any
    employer user's (an admin a staff user's too); an employer administrator their team's
    within their reach."""
    if not is_invited(session, user):
        raise ValidationFailed(
            f"{user.full_name} already set a password: they can reset it from the login page."
        )
    if not user.is_active:
        raise ValidationFailed(f"{user.full_name} is disabled: enable the account first.")
    group = _check_may_manage(session, actor, user)
    audit.record(
        session,
        "user.invitation_resent",
        actor=actor,
        target=user,
        group_id=group.id if group is not None else None,
        ip_address=ip_address,
    )
    return _send(session, user, actor=actor, now=now, group=group)


def _check_may_manage(session: Session, actor: User, user: User) -> EmployerGroup | None:
    """Refuse unless `actor` may manage `user`; the group an employer administrator manages
    them for (None for staff)."""
    if actor.role is Role.ADMIN or (actor.role.is_staff and not user.role.is_staff):
        return _first_group(session, user)
    if user.role.is_staff:
        raise ValidationFailed("Only an administrator manages staff users.")
    if actor.role is Role.EMPLOYER and user.role is Role.EMPLOYER:
        for group_id, grants in _grants(session, user).items():
            group = session.get(EmployerGroup, group_id)
            try:
                limit = reach(session, actor, group)
            except ValidationFailed:
                continue
            if limit is None or (None not in grants and set(grants) <= limit):
                return group
    raise ValidationFailed("You cannot manage this user.")


def _grants(session: Session, user: User) -> dict[int, list[int | None]]:
    grants: dict[int, list[int | None]] = {}
    for group_id, subgroup_id in session.execute(
        select(UserGroupAccess.group_id, UserGroupAccess.subgroup_id).where(
            UserGroupAccess.user_id == user.id
        )
    ):
        grants.setdefault(group_id, []).append(subgroup_id)
    return grants


def _first_group(session: Session, user: User) -> EmployerGroup | None:
    group_id = min(_grants(session, user), default=None)
    return session.get(EmployerGroup, group_id) if group_id is not None else None


def _send(
    session: Session,
    user: User,
    *,
    actor: User,
    now: datetime,
    group: EmployerGroup | None = None,
) -> Invited:
    for old in session.scalars(
        select(UserInvitation).where(
            UserInvitation.user_id == user.id,
            UserInvitation.used_at.is_(None),
            UserInvitation.revoked_at.is_(None),
        )
    ):
        old.revoked_at = now
    token = secrets.token_urlsafe(32)
    invitation = UserInvitation(
        user_id=user.id,
        token_digest=token_digest(token),
        invited_by_id=actor.id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    hours = int(INVITATION_LIFETIME.total_seconds() // 3600)
    where = f" for {group.name}" if group is not None else ""
    message = mail.queue(
        session,
        user.email,
        "You are invited to the premium billing portal",
        (
            f"Hello {user.full_name},\n\n{actor.full_name} invited you to the premium billing "
            f"portal{where}. Open the link below within {hours} hours to choose your password; "
            "it works once. Your login is this e-mail address.\n\n"
            "If you did not expect this, ignore this message."
        ),
        kind=INVITATION,
        user_id=user.id,
        group_id=group.id if group is not None else None,
        link_path=LINK_PREFIX + token,
        expires_at=invitation.expires_at,
    )
    return Invited(user=user, token=token, message=message)


def invitation_for_token(session: Session, token: str, now: datetime) -> UserInvitation | None:
    """The invitation a link's token opens, if it still works (not used, revoked or expired,
    its user not disabled); None otherwise."""
    if not token or len(token) > 200:
        return None
    invitation = session.scalar(
        select(UserInvitation).where(UserInvitation.token_digest == token_digest(token))
    )
    if (
        invitation is None
        or invitation.used_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= now
        or not invitation.user.is_active
    ):
        return None
    return invitation


def accept(
    session: Session,
    token: str,
    password: str,
    *,
    now: datetime,
    ip_address: str | None = None,
) -> User:
    """The invited user chooses their password (the house password rules) through the link;
    the link is used up. Refused for a used, revoked or expired link."""
    invitation = invitation_for_token(session, token, now)
    if invitation is None:
        raise ValidationFailed(EXPIRED)
    user = invitation.user
    set_password(session, user, password, now=now)
    invitation.used_at = now
    audit.record(
        session, "user.invitation_accepted", actor=user, target=user, ip_address=ip_address
    )
    return user
