"""A billing run in chunks of groups (issue 19): the run asked for (period, issue date, which
groups, who) and its chunks, each issued in its own transaction by whichever process claims it
(inline, or an RQ worker), with its counts, attempts and last error, so a failed chunk is
retried alone and a stopped run resumes (billing_core.billing.run)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import Base, Money, UTCDateTime, enum_type, utcnow
from billing_core.money import ZERO


class RunStatus(enum.StrEnum):
    RUNNING = "running"  # chunks left to issue (or being issued)
    DONE = "done"  # every chunk issued
    FAILED = "failed"  # every chunk tried, some failed: retry them


class ChunkStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BillingRun(Base):
    __tablename__ = "billing_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[date] = mapped_column(Date, index=True)
    # The issue date printed on the invoices; None: each group's scheduled date.
    run_date: Mapped[date | None] = mapped_column(Date)
    # The group numbers asked for; None: the whole book.
    group_numbers: Mapped[list | None] = mapped_column(JSON)
    chunk_groups: Mapped[int] = mapped_column(Integer)
    status: Mapped[RunStatus] = mapped_column(
        enum_type(RunStatus, "billing_run_status"), default=RunStatus.RUNNING
    )
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    started_by_email: Mapped[str | None] = mapped_column(String(255))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    chunks: Mapped[list[BillingRunChunk]] = relationship(
        back_populates="run", order_by="BillingRunChunk.number"
    )


class BillingRunChunk(Base):
    __tablename__ = "billing_run_chunk"
    __table_args__ = (UniqueConstraint("run_id", "number", name="uq_billing_run_chunk_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_run.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... in group-number order
    group_numbers: Mapped[list] = mapped_column(JSON)
    status: Mapped[ChunkStatus] = mapped_column(
        enum_type(ChunkStatus, "billing_run_chunk_status"), default=ChunkStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    already_issued_count: Mapped[int] = mapped_column(Integer, default=0)
    held_count: Mapped[int] = mapped_column(Integer, default=0)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    new_charges: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(160))  # jobs.worker_id() of its claim
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    run: Mapped[BillingRun] = relationship(back_populates="chunks")
