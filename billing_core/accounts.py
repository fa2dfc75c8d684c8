"""Logging in, lockout after repeated failures, password change and reset. Every attempt is
audited. Messages never say whether an email exists."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core import audit, mail
from billing_core.db import utcnow
from billing_core.errors import AccountLocked, ValidationFailed
from billing_core.models import OutboxMessage, User
from billing_core.security import hash_password, password_problems, verify_password

WRONG_CREDENTIALS = "That email and password do not match an account."


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
    """The user for these credentials, or an error. After `max_failures` wrong passwords in a
    row the account is locked for `lockout_minutes`, even for the right password."""
    user = find_user_by_email(session, email)
    if user is None or not user.is_active:
        audit.record(session, "login.failed", actor_email=email[:254], ip_address=ip_address)
        raise ValidationFailed(WRONG_CREDENTIALS)
    if user.locked_until is not None and user.locked_until > now:
        audit.record(session, "login.locked_out", actor=user, ip_address=ip_address)
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise AccountLocked(
            f"Too many failed attempts: this account is locked. Try again in {minutes} "
            "minutes or reset your password."
        )
    if not verify_password(user.password_hash, password):
        user.failed_login_count += 1
        detail = {"failures": user.failed_login_count}
        if user.failed_login_count >= max_failures:
            user.locked_until = now + timedelta(minutes=lockout_minutes)
            user.failed_login_count = 0
            detail["locked_until"] = user.locked_until.isoformat()
        audit.record(session, "login.failed", actor=user, ip_address=ip_address, detail=detail)
        raise ValidationFailed(WRONG_CREDENTIALS)
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, "login.succeeded", actor=user, ip_address=ip_address)
    return user


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
