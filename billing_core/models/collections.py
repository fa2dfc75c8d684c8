"""Collections (issue 20): delinquency plans (versioned, effective-dated, with their steps), a
group's own plan, moratoriums by jurisdiction, amounts in open dispute, each group's
delinquency state and the append-only record of every transition, and the sweep's actions
(notices, late fees, steps), each unique per group, delinquency episode and stage so a replay
does nothing twice."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import AppendOnly, Base, Money, UTCDateTime, enum_type, utcnow
from billing_core.models.enums import GraceDayKind


class DelinquencyState(enum.StrEnum):
    """DOMAIN.md's states, in the order a group goes through them."""

    CURRENT = "current"
    PAST_DUE = "past_due"
    IN_GRACE = "in_grace"  # the grace notice is sent
    PENDING_CANCELLATION = "pending_cancellation"
    CANCELLED = "cancelled"  # for non-payment
    REINSTATED = "reinstated"
    REFERRED = "referred"  # to an outside collection agency
    CHARGED_OFF = "charged_off"


class StepAction(enum.StrEnum):
    EMAIL = "email"
    LETTER = "letter"  # a PDF letter to print and post
    TASK = "task"  # a call or review for staff


class LateFeeKind(enum.StrEnum):
    NONE = "none"
    FLAT = "flat"
    PERCENT = "percent"  # of the overdue amount (after credits and disputes)


class CoverageEndRule(enum.StrEnum):
    LAST_PAID_MONTH = "last_paid_month"  # the last day of the last month paid in full
    GRACE_END = "grace_end"  # the last day of the grace period


class ActionKind(enum.StrEnum):
    NOTICE = "notice"  # the consolidated notice of a stage
    LATE_FEE = "late_fee"
    EMAIL = "email"  # a plan step's
    LETTER = "letter"
    TASK = "task"
    HOLD = "hold"  # a moratorium held the cancellation


class DelinquencyPlan(Base):
    """One version of a delinquency plan (`code`, `version`), in force from `effective_from` to
    `effective_to` (inclusive; open-ended when None). `jurisdiction` (a state) makes it the
    plan of that state's groups; None: the plan of no state in particular. Days are whole
    days; money is dollars."""

    __tablename__ = "delinquency_plan"
    __table_args__ = (
        UniqueConstraint("code", "version"),
        UniqueConstraint("code", "effective_from"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("grace_days >= 0", name="grace_days"),
        CheckConstraint("notice_day >= 0", name="notice_day"),
        CheckConstraint("notice_days_before_termination >= 0", name="notice_days"),
        CheckConstraint("reinstatement_days >= 0", name="reinstatement_days"),
        CheckConstraint("threshold_amount IS NULL OR threshold_amount >= 0", name="threshold"),
        CheckConstraint("late_fee_amount >= 0 AND late_fee_percent >= 0", name="late_fee"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    jurisdiction: Mapped[str | None] = mapped_column(String(2), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    grace_days: Mapped[int] = mapped_column(Integer, default=31)
    grace_day_kind: Mapped[GraceDayKind] = mapped_column(
        enum_type(GraceDayKind, "grace_day_kind"), default=GraceDayKind.CALENDAR
    )
    # The grace notice goes out this many days after grace starts (the oldest unpaid due date).
    notice_day: Mapped[int] = mapped_column(Integer, default=10)
    # ...and at least this many days before termination (termination moves later if not).
    notice_days_before_termination: Mapped[int] = mapped_column(Integer, default=15)
    # Overdue (after credits and disputes) at or under this is not delinquent; None: the
    # group's billing-policy tolerance amount.
    threshold_amount: Mapped[Decimal | None] = mapped_column(Money())
    late_fee_kind: Mapped[LateFeeKind] = mapped_column(
        enum_type(LateFeeKind, "late_fee_kind"), default=LateFeeKind.NONE
    )
    late_fee_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    late_fee_percent: Mapped[Decimal] = mapped_column(Money(6, 2), default=Decimal("0.00"))
    # The stages (DelinquencyState values) that charge the late fee, once each per episode.
    late_fee_stages: Mapped[list] = mapped_column(JSON, default=lambda: ["in_grace"])
    reinstatement_days: Mapped[int] = mapped_column(Integer, default=30)
    coverage_end_rule: Mapped[CoverageEndRule] = mapped_column(
        enum_type(CoverageEndRule, "coverage_end_rule"), default=CoverageEndRule.LAST_PAID_MONTH
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    steps: Mapped[list[DelinquencyStep]] = relationship(
        back_populates="plan", order_by="DelinquencyStep.day, DelinquencyStep.id"
    )


class DelinquencyStep(Base):
    """A follow-up of a plan: on day `day` after grace starts (while the group is still
    delinquent), do `action` once per episode."""

    __tablename__ = "delinquency_step"
    __table_args__ = (
        UniqueConstraint("plan_id", "day", "action"),
        CheckConstraint("day >= 0", name="day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("delinquency_plan.id"), index=True)
    day: Mapped[int] = mapped_column(Integer)
    action: Mapped[StepAction] = mapped_column(enum_type(StepAction, "step_action"))
    name: Mapped[str] = mapped_column(String(100))

    plan: Mapped[DelinquencyPlan] = relationship(back_populates="steps")


class GroupDelinquencyPlan(Base):
    """A group's own plan (by code) from `effective_from` to `effective_to`, over its
    jurisdiction's and the default."""

    __tablename__ = "group_delinquency_plan"
    __table_args__ = (
        UniqueConstraint("group_id", "effective_from"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    plan_code: Mapped[str] = mapped_column(String(30))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Moratorium(Base):
    """A regulator's order suspending cancellation for non-payment in `jurisdiction` (a state)
    from `starts_on` to `ends_on` inclusive (open-ended when None)."""

    __tablename__ = "moratorium"
    __table_args__ = (CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(2), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(300))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DelinquencyDispute(Base):
    """An amount (dollars) of a group's bill the employer disputes: while open (`resolved_on`
    None) it neither makes the group delinquent nor counts in the cure amount."""

    __tablename__ = "delinquency_dispute"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    opened_on: Mapped[date] = mapped_column(Date)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GroupDelinquency(Base):
    """Where a group stands in collections now, and the dates of its current episode (an
    episode starts when a current group becomes past due; `episode` counts them). Changed only
    by billing_core.collections.states, each change recorded in DelinquencyTransition."""

    __tablename__ = "group_delinquency"

    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), primary_key=True)
    state: Mapped[DelinquencyState] = mapped_column(
        enum_type(DelinquencyState, "delinquency_state"), default=DelinquencyState.CURRENT
    )
    episode: Mapped[int] = mapped_column(Integer, default=0)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("delinquency_plan.id"))
    grace_starts_on: Mapped[date | None] = mapped_column(Date)
    grace_ends_on: Mapped[date | None] = mapped_column(Date)
    notice_sent_on: Mapped[date | None] = mapped_column(Date)
    # The first day the group may be cancelled (grace over and the notice period served).
    terminates_on: Mapped[date | None] = mapped_column(Date)
    cancelled_on: Mapped[date | None] = mapped_column(Date)
    coverage_ends_on: Mapped[date | None] = mapped_column(Date)
    reinstate_until: Mapped[date | None] = mapped_column(Date)
    held_by_moratorium_id: Mapped[int | None] = mapped_column(ForeignKey("moratorium.id"))
    # The clock stands still while set (a payment plan, a promise, a bankruptcy's automatic
    # stay: later slices of issue 20), until `paused_until` (inclusive; None: until lifted).
    paused_reason: Mapped[str | None] = mapped_column(String(30))
    paused_until: Mapped[date | None] = mapped_column(Date)
    overdue_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    last_swept_on: Mapped[date | None] = mapped_column(Date)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    plan: Mapped[DelinquencyPlan | None] = relationship()


class DelinquencyTransition(AppendOnly, Base):
    """One move of a group from a state to another: why, the day it takes effect by the plan's
    rules (`effective_on`), the day it was decided (`as_of`) and by whom (a user, or the
    sweep)."""

    __tablename__ = "delinquency_transition"
    __table_args__ = (Index("ix_delinquency_transition_group", "group_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    episode: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[DelinquencyState] = mapped_column(enum_type(DelinquencyState, "from_state"))
    to_state: Mapped[DelinquencyState] = mapped_column(enum_type(DelinquencyState, "to_state"))
    reason: Mapped[str] = mapped_column(String(300))
    effective_on: Mapped[date] = mapped_column(Date)
    as_of: Mapped[date] = mapped_column(Date)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor: Mapped[str] = mapped_column(String(254))  # an email, or "sweep"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DelinquencyAction(Base):
    """Something the collections clock did for a group in an episode: a stage's consolidated
    notice (its words and figures kept in `content`, the PDF rendered from them), a late fee
    (its adjustment), a plan step. Unique per (group, episode, kind, key): the key is the
    stage or the step, so a replayed or caught-up sweep never does it twice."""

    __tablename__ = "delinquency_action"
    __table_args__ = (UniqueConstraint("group_id", "episode", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    episode: Mapped[int] = mapped_column(Integer)
    kind: Mapped[ActionKind] = mapped_column(enum_type(ActionKind, "delinquency_action_kind"))
    key: Mapped[str] = mapped_column(String(40))
    done_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal | None] = mapped_column(Money())  # the cure amount, or the fee
    adjustment_id: Mapped[int | None] = mapped_column(ForeignKey("adjustment.id"))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    content: Mapped[dict] = mapped_column(JSON, default=dict)
    messages: Mapped[int] = mapped_column(Integer, default=0)  # outbox messages queued
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --------------------------------------------------------------------------- the collector's log


class ContactKind(enum.StrEnum):
    CALL = "call"
    EMAIL = "email"
    LETTER = "letter"
    MEETING = "meeting"


class PromiseStatus(enum.StrEnum):
    OPEN = "open"  # in force: the group's clock is paused until the promised date
    KEPT = "kept"  # the group paid at least the amount since the promise was taken
    BROKEN = "broken"  # the promised date passed short of the amount: the clock resumed
    CANCELLED = "cancelled"  # replaced by a later promise, or withdrawn


class CollectionContact(AppendOnly, Base):
    """One contact a collector had (or tried) with a group about what it owes: the kind, when
    (`at`), by whom, what came of it and the day to follow up. Append-only: a correction is a
    new contact. `episode` is the group's delinquency episode at the time."""

    __tablename__ = "collection_contact"
    __table_args__ = (Index("ix_collection_contact_group", "group_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    episode: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[ContactKind] = mapped_column(enum_type(ContactKind, "collection_contact_kind"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    by: Mapped[str] = mapped_column(String(254))  # the staff user's email
    outcome: Mapped[str] = mapped_column(String(1000))
    next_follow_up_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PromiseToPay(Base):
    """A group's promise to pay `amount` dollars by `promised_on`, taken by a collector. While
    open it pauses the group's clock to the promised date (states.pause_clock); checked daily
    (contacts.check_promises, from the sweep): kept once the group has paid the amount since
    `taken_on`, broken when the date passes short of it (`checked_on`: the day it was
    decided)."""

    __tablename__ = "promise_to_pay"
    __table_args__ = (
        Index("ix_promise_to_pay_group", "group_id", "id"),
        Index("ix_promise_to_pay_status", "status"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("promised_on >= taken_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"))
    episode: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Money())
    promised_on: Mapped[date] = mapped_column(Date)
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    taken_by: Mapped[str] = mapped_column(String(254))
    taken_on: Mapped[date] = mapped_column(Date)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[PromiseStatus] = mapped_column(
        enum_type(PromiseStatus, "promise_status"), default=PromiseStatus.OPEN
    )
    checked_on: Mapped[date | None] = mapped_column(Date)
    paid: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))  # as last checked
    note: Mapped[str] = mapped_column(String(300), default="")


# --------------------------------------------------------------------------- cancellation


class GroupCancellation(Base):
    """A group's cancellation for non-payment in one delinquency episode
    (collections.cancellation): decided on `cancelled_on` by a supervisor, coverage ended on
    `coverage_ends_on`, reinstatable until `reinstate_until`; `overdue` the cure amount then
    (dollars). Once reinstated, `reinstated_on` and by whom, and `billed_through` the last day
    of the last billing period whose missed months were queued for the next invoice (the run
    does not bill those periods again)."""

    __tablename__ = "group_cancellation"
    __table_args__ = (
        UniqueConstraint("group_id", "episode"),
        CheckConstraint("reinstate_until >= cancelled_on", name="window"),
        CheckConstraint(
            "reinstated_on IS NULL OR reinstated_on >= cancelled_on", name="reinstated_on"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    episode: Mapped[int] = mapped_column(Integer)
    cancelled_on: Mapped[date] = mapped_column(Date)
    coverage_ends_on: Mapped[date] = mapped_column(Date)
    reinstate_until: Mapped[date] = mapped_column(Date)
    overdue: Mapped[Decimal] = mapped_column(Money())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    cancelled_by: Mapped[str] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(String(300), default="")
    reinstated_on: Mapped[date | None] = mapped_column(Date)
    reinstated_by: Mapped[str | None] = mapped_column(String(254))  # an email, or "sweep"
    billed_through: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    coverages: Mapped[list[CancelledCoverage]] = relationship(
        back_populates="cancellation", order_by="CancelledCoverage.id"
    )


class CancelledCoverage(Base):
    """A coverage a cancellation ended: its last covered day before (`effective_to_before`,
    None when open-ended), restored when the group is reinstated."""

    __tablename__ = "cancelled_coverage"
    __table_args__ = (UniqueConstraint("cancellation_id", "coverage_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cancellation_id: Mapped[int] = mapped_column(ForeignKey("group_cancellation.id"))
    coverage_id: Mapped[int] = mapped_column(ForeignKey("coverage.id"), index=True)
    effective_to_before: Mapped[date | None] = mapped_column(Date)

    cancellation: Mapped[GroupCancellation] = relationship(back_populates="coverages")
