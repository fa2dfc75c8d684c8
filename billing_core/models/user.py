"""People who log in, their role, and which groups (or subgroups) an employer user may see."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
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

    def get_id(self) -> str:
        """The session identity changes with the password, so a change ends old sessions."""
        changed = self.password_changed_at
        stamp = int(changed.timestamp() * 1_000_000) if changed else 0
        return f"{self.id}:{stamp}"

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
