"""Users: creating them from the CLI or set-up documents (here), logging in with lockout and
password reset (`accounts`), and the TOTP second factor (`second_factor`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.errors import ValidationFailed
from billing_core.models import User
from billing_core.models.enums import Role
from billing_core.security import hash_password, password_problems
from billing_core.users.accounts import find_user_by_email


def create_user(
    session: Session, *, email: str, full_name: str, role: str, password: str, actor=None
) -> User:
    """A new active user; the password must pass the password rules."""
    if find_user_by_email(session, email) is not None:
        raise ValidationFailed(f"a user with email {email} already exists")
    problems = password_problems(password)
    if problems:
        raise ValidationFailed("password refused: " + "; ".join(problems))
    user = User(
        email=email.strip().lower(),
        full_name=full_name,
        role=Role(role),
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    audit.record(session, "user.created", actor=actor, target=user, detail={"role": role})
    return user
