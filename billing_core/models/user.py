"""People who log in, their role, and which groups (or subgroups) an employer user may see."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import Base, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import Role


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    broker_id: Mapped[int | None] = mapped_column(ForeignKey("broker.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Part of the session identity (get_id): logging out adds one, so every cookie issued
    # before, copied or not, stops working (checked on every request by the user loader).
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    # The second factor (billing_core.users.second_factor): the TOTP secret encrypted at rest, set
    # when enrolment starts and confirmed by the first code; the last time step accepted (a
    # code is good once); the SHA-256 digests of the unused recovery codes.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(255))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    recovery_code_hashes: Mapped[list | None] = mapped_column(JSON)

    broker: Mapped[Broker | None] = relationship()  # noqa: F821
    group_access: Mapped[list[UserGroupAccess]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    # What Flask-Login expects of a user, without importing it into the domain package.
    is_authenticated = True
    is_anonymous = False

    @property
    def second_factor_enrolled(self) -> bool:
        return self.totp_confirmed_at is not None and bool(self.totp_secret_encrypted)

    def get_id(self) -> str:
        """The session identity changes with the password and with every logout (the session
        version), so either ends the sessions issued before."""
        changed = self.password_changed_at
        stamp = int(changed.timestamp() * 1_000_000) if changed else 0
        return f"{self.id}:{stamp}:{self.session_version or 0}"

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class UserGroupAccess(Base):
    """An employer user's access to a group; with `subgroup_id` set, only to that subgroup.
    A user with any subgroup-limited row for a group sees only those subgroups of it."""

    __tablename__ = "user_group_access"
    __table_args__ = (UniqueConstraint("user_id", "group_id", "subgroup_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    subgroup_id: Mapped[int | None] = mapped_column(ForeignKey("billing_subgroup.id"))

    user: Mapped[User] = relationship(back_populates="group_access")


class UserInvitation(Base):
    """A set-password link sent to a user invited by e-mail (billing_core.users.invitations):
    only the SHA-256 digest of its token is kept; good once, until `expires_at`; a resend
    revokes the open one. The user is invited until one invitation of theirs is used."""

    __tablename__ = "user_invitation"
    __table_args__ = (
        CheckConstraint("used_at IS NULL OR revoked_at IS NULL", name="used_or_revoked"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class GroupAdministrator(Base):
    """An employer user who administers the group's users in the portal: invites colleagues
    within their own reach (their subgroups, or the whole group)."""

    __tablename__ = "group_administrator"
    __table_args__ = (UniqueConstraint("user_id", "group_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
