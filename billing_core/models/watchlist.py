"""The credit-control watchlist (issue 20, item 10): employers staff keep an eye on, keyed on
their tax id (kept normalised: digits only), with why, who added them and until when. An
entry is never deleted: removing it records who ended it, when and why."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from billing_core.db import Base, UTCDateTime, utcnow

__all__: list[str] = ["WatchlistEntry"]


class WatchlistEntry(Base):
    """One watchlist entry: the employer's tax id (nine digits, dashes and spaces dropped) and
    name, the reason, who added it on which day, and its expiry (`expires_on`, inclusive; None:
    until removed). It matches a group from `added_on` to the earlier of its expiry and the
    day before `removed_on`."""

    __tablename__ = "watchlist_entry"
    __table_args__ = (
        CheckConstraint("length(tax_id) = 9", name="tax_id"),
        CheckConstraint("expires_on IS NULL OR expires_on >= added_on", name="expiry"),
        CheckConstraint("removed_on IS NULL OR removed_on >= added_on", name="removal"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tax_id: Mapped[str] = mapped_column(String(9), index=True)
    name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    added_by: Mapped[str] = mapped_column(String(254))  # the staff user's email
    added_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    removed_by: Mapped[str | None] = mapped_column(String(254))
    removed_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def active_on(self, day: date) -> bool:
        """Whether the entry matches on `day` (see the class docstring)."""
        if day < self.added_on:
            return False
        if self.removed_on is not None and day >= self.removed_on:
            return False
        return self.expires_on is None or day <= self.expires_on
