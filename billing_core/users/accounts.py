"""Logging in, lockout after repeated failures, the second factor at login, logout, password
change and reset. Every attempt is audited. Messages never say whether an email exists or is
locked (one answer for every refusal), and every attempt checks one password hash (an unknown
e-mail against a stand-in), so the time taken does not tell either."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core import audit, mail
from billing_core.db import utcnow
from billing_core.errors import AccountLocked, ValidationFailed
from billing_core.models import OutboxMessage, User
from billing_core.security import hash_password, password_problems, verify_password
from billing_core.users import second_factor

WRONG_CREDENTIALS = "That email and password do not match an account."
_stand_in_hash: str | None = None


def refusal(max_failures: int, lockout_minutes: int) -> str:
    """The one answer to every refused login: wrong e-mail, wrong password or locked."""
    return (
        f"{WRONG_CREDENTIALS} After {max_failures} failed attempts an account is locked for "
        f"{lockout_minutes} minutes: try again then, or reset your password."
    )


def _check_stand_in(password: str) -> None:
    """Spend the time a real password check takes (an unknown or locked account)."""
    global _stand_in_hash
    if _stand_in_hash is None:
        _stand_in_hash = hash_password("stand-in password never used by anyone")
    verify_password(_stand_in_hash, password)


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    now: datetime,
    max_failures: int,
    lockout_minutes: int,
    ip_address: str | None = None,
) -> User:
    """The user for these credentials, or an error. After `max_failures` wrong passwords (or
    second-factor codes) in a row the account is locked for `lockout_minutes`, even for the
    right password. Every refusal has the same message (`refusal`) and checks one password
    hash, whatever the reason.

    A user with a second factor is not logged in yet: the caller asks for a code and calls
    `complete_second_factor`; their failure count stands until then, so wrong codes add up."""
    refused = refusal(max_failures, lockout_minutes)
    user = find_user_by_email(session, email)
    if user is None or not user.is_active:
        _check_stand_in(password)
        audit.record(session, "login.failed", actor_email=email[:254], ip_address=ip_address)
        raise ValidationFailed(refused)
    if _locked(user, now):
        _check_stand_in(password)
        audit.record(session, "login.locked_out", actor=user, ip_address=ip_address)
        raise AccountLocked(refused)
    if not verify_password(user.password_hash, password):
        _count_failure(session, user, now, max_failures, lockout_minutes, ip_address)
        raise ValidationFailed(refused)
    if user.second_factor_enrolled:
        audit.record(session, "login.password_accepted", actor=user, ip_address=ip_address)
        return user
    _succeed(session, user, now, ip_address)
    return user


def _locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _count_failure(
    session: Session,
    user: User,
    now: datetime,
    max_failures: int,
    lockout_minutes: int,
    ip_address: str | None,
    action: str = "login.failed",
) -> None:
    user.failed_login_count += 1
    detail = {"failures": user.failed_login_count}
    if user.failed_login_count >= max_failures:
        user.locked_until = now + timedelta(minutes=lockout_minutes)
        user.failed_login_count = 0
        detail["locked_until"] = user.locked_until.isoformat()
    audit.record(session, action, actor=user, ip_address=ip_address, detail=detail)


def _succeed(session: Session, user: User, now: datetime, ip_address: str | None, **detail) -> None:
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, "login.succeeded", actor=user, ip_address=ip_address, detail=detail)


def complete_second_factor(
    session: Session,
    user: User,
    code: str,
    *,
    now: datetime,
    max_failures: int,
    lockout_minutes: int,
    ip_address: str | None = None,
) -> str:
    """The login's second step for a user whose password was accepted: an authenticator code
    or a recovery code (billing_core.users.second_factor.verify). A wrong code counts as a failed
    login (the same lockout); a locked account is refused with the login's one answer."""
    if _locked(user, now):
        audit.record(session, "login.locked_out", actor=user, ip_address=ip_address)
        raise AccountLocked(refusal(max_failures, lockout_minutes))
    try:
        used = second_factor.verify(session, user, code, now=now)
    except ValidationFailed:
        _count_failure(
            session, user, now, max_failures, lockout_minutes, ip_address, "login.code_failed"
        )
        if _locked(user, now):
            raise AccountLocked(refusal(max_failures, lockout_minutes)) from None
        raise
    _succeed(session, user, now, ip_address, second_factor=used)
    return used


def end_sessions(session: Session, user: User, *, ip_address: str | None = None) -> None:
    """Log out: every session of the user ends on the server (the session version in the
    identity changes), including a copy of the cookie kept elsewhere."""
    user.session_version = (user.session_version or 0) + 1
    audit.record(session, "logout", actor=user, ip_address=ip_address)


def set_password(session: Session, user: User, new_password: str, *, now: datetime) -> None:
    """Replace the password (all other sessions of the user end: see User.get_id)."""
    problems = password_problems(new_password)
    if problems:
        raise ValidationFailed("Choose a stronger password: " + "; ".join(problems) + ".")
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    user.failed_login_count = 0
    user.locked_until = None


def change_password(
    session: Session, user: User, current: str, new_password: str, *, now: datetime
) -> None:
    if not verify_password(user.password_hash, current):
        raise ValidationFailed("Your current password is not right.")
    set_password(session, user, new_password, now=now)
    audit.record(session, "password.changed", actor=user)


def reset_password(
    session: Session,
    user: User,
    new_password: str,
    *,
    now: datetime,
    ip_address: str | None = None,
) -> None:
    """Set the password chosen through a reset link (the link proved the mailbox), audited."""
    set_password(session, user, new_password, now=now)
    audit.record(session, "password.reset", actor=user, ip_address=ip_address)


def queue_password_reset(
    session: Session, user: User, reset_link: str, *, expires_in: timedelta = timedelta(hours=1)
) -> OutboxMessage:
    """Put the reset mail in the outbox (billing_core.mail sends it; without SMTP it is only
    kept and logged). Unsent after `expires_in`, the link's own lifetime, it is given up."""
    message = mail.queue(
        session,
        user.email,
        "Reset your billing portal password",
        (
            f"Hello {user.full_name},\n\nSomeone asked to reset the password of this account. "
            f"Open this link within one hour to choose a new password:\n\n{reset_link}\n\n"
            "If it was not you, ignore this message; your password stays the same."
        ),
        kind=mail.PASSWORD_RESET,
        user_id=user.id,
        expires_at=utcnow() + expires_in,
    )
    audit.record(session, "password.reset_requested", actor=user)
    return message
