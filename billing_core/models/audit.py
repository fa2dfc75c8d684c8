"""The append-only audit log (every login and staff action), the mail outbox and which mail each
user wants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing_core.db import AppendOnly, Base, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import MailStatus


class AuditLog(AppendOnly, Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"), index=True)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class OutboxMessage(Base):
    """One mail to one address. Written in the transaction of what it tells about; delivered
    through SMTP by billing_core.mail (a run claims it by moving it to `sending`, so two runs
    never send it twice); without SMTP configured it stays queued (and is logged)."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[MailStatus] = mapped_column(
        enum_type(MailStatus, "mail_status"),
        default=MailStatus.QUEUED,
        server_default=MailStatus.QUEUED.value,
    )
    # The recipient user and the group the message is about (None for a password reset).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("employer_group.id"), index=True)
    # The portal page the message points at (PORTAL_URL is put in front when it is sent).
    link_path: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # No attempt before this (None: at once); after a failed attempt, later each time.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A message still unsent at this time is given up (a reset link has expired by then).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The delivery run holding it while `sending`, and since when (a run that died is noticed).
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What went wrong last, for staff: the server's answer or the connection error, no secrets.
    last_error: Mapped[str | None] = mapped_column(Text)


class MailPreference(Base):
    """Whether a user receives one kind of message (billing_core.mail.KINDS). No row means yes:
    every kind is on until the user turns it off."""

    __tablename__ = "mail_preference"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    receive: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
