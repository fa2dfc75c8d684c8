"""Group set-up on screens (issue 22): a draft group built step by step, kept as the set-up
document the import reads (billing_core.setup.drafts), and a group's termination at a date
(billing_core.setup.lifecycle)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from billing_core.db import Base, UTCDateTime, utcnow

__all__: list[str] = ["GroupSetupDraft", "GroupTermination"]


class GroupSetupDraft(Base):
    """A group being set up on the screens: `document` is a set-up document (products and one
    group) in the import's own shape; `group_id` is set once it went live through the import."""

    __tablename__ = "group_setup_draft"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    group_number: Mapped[str] = mapped_column(String(20), default="")
    document: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"))
    # A draft editing a live group (its page's "Edit set-up"): pre-filled from the group and
    # written through the same import, which updates the group's rows in place.
    edits_group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"))
    went_live_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GroupTermination(Base):
    """A group terminated at a date: coverage and billing end on `terminated_on` (the last
    covered day); `coverages_ended` counts the coverages closed that day."""

    __tablename__ = "group_termination"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    terminated_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    coverages_ended: Mapped[int] = mapped_column(default=0)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
