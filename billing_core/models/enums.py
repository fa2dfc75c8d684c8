"""The domain's closed vocabularies, stored as their string values."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    EMPLOYER = "employer"
    BROKER = "broker"
    BILLING_SPECIALIST = "billing_specialist"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self in STAFF_ROLES

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


STAFF_ROLES = frozenset({Role.BILLING_SPECIALIST, Role.SUPERVISOR, Role.ADMIN})


class BillingMethod(enum.StrEnum):
    LIST_BILL = "list_bill"
    SELF_BILL = "self_bill"


class BillingFrequency(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMI_ANNUAL = "semi_annual"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "semi_annual": 6, "annual": 12}[self.value]


class ToleranceRule(enum.StrEnum):
    """Inside tolerance when the variance is within the amount AND/OR within the percent."""

    AND = "and"
    OR = "or"


class CoverageMonthRule(enum.StrEnum):
    FIFTEENTH = "fifteenth"  # start on/before the 15th bills that month, after it the next
    FIRST_OF_MONTH = "first_of_month"  # coverage bills from the first full month
    DAILY_PRORATION = "daily_proration"


class PayrollFrequency(enum.StrEnum):
    WEEKLY = "weekly"
    BI_WEEKLY = "bi_weekly"
    SEMI_MONTHLY = "semi_monthly"
    MONTHLY = "monthly"


class GraceDayKind(enum.StrEnum):
    CALENDAR = "calendar"
    BUSINESS = "business"


class SubgroupKind(enum.StrEnum):
    DIVISION = "division"
    LOCATION = "location"
    CLASS = "class"


class LineOfCoverage(enum.StrEnum):
    MEDICAL = "medical"
    DENTAL = "dental"
    VISION = "vision"
    BASIC_LIFE = "basic_life"
    SUPPLEMENTAL_LIFE = "supplemental_life"
    ADD = "add"
    STD = "std"
    LTD = "ltd"

    @property
    def label(self) -> str:
        return {
            "medical": "Medical",
            "dental": "Dental",
            "vision": "Vision",
            "basic_life": "Basic life",
            "supplemental_life": "Supplemental life",
            "add": "AD&D",
            "std": "Short-term disability",
            "ltd": "Long-term disability",
        }[self.value]


class RatingBasis(enum.StrEnum):
    TIERED_COMPOSITE = "tiered_composite"
    AGE_BANDED = "age_banded"
    PER_THOUSAND_VOLUME = "per_thousand_volume"
    STD_WEEKLY_BENEFIT = "std_weekly_benefit"
    LTD_COVERED_PAYROLL = "ltd_covered_payroll"

    @property
    def label(self) -> str:
        return {
            "tiered_composite": "Tiered composite",
            "age_banded": "Age-banded per member",
            "per_thousand_volume": "Per $1,000 of volume",
            "std_weekly_benefit": "Per $10 of weekly benefit",
            "ltd_covered_payroll": "Per $100 of covered payroll",
        }[self.value]


class Tier(enum.StrEnum):
    EE = "EE"
    ES = "ES"
    EC = "EC"
    FAM = "FAM"


class AgeReference(enum.StrEnum):
    """Which date an age band reads the age at."""

    COVERAGE_MONTH = "coverage_month"  # age on the first of each coverage month
    POLICY_ANNIVERSARY = "policy_anniversary"  # age at the last rate effective date
    JANUARY_FIRST = "january_first"


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    COBRA = "cobra"
    RETIREE = "retiree"
    TERMINATED = "terminated"

    @property
    def label(self) -> str:
        return "COBRA" if self is MemberStatus.COBRA else self.value.capitalize()


class Relationship(enum.StrEnum):
    SPOUSE = "spouse"
    DOMESTIC_PARTNER = "domestic_partner"
    CHILD = "child"


class Gender(enum.StrEnum):
    FEMALE = "F"
    MALE = "M"
    UNKNOWN = "U"


class InvoiceStatus(enum.StrEnum):
    ISSUED = "issued"
    VOID = "void"


class InvoiceSection(enum.StrEnum):
    PREMIUM = "premium"
    RETRO = "retro"
    FEE = "fee"


class AccountKind(enum.StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    ACH_DEBIT = "ach_debit"
    CHECK = "check"
    WIRE = "wire"
    ACH_CREDIT = "ach_credit"
    LOCKBOX = "lockbox"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETURNED = "returned"
    REFUNDED = "refunded"


class UploadFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    X12_834 = "x12_834"


class UploadKind(enum.StrEnum):
    SNAPSHOT = "snapshot"
    CHANGE = "change"


class UploadStatus(enum.StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"


class JobStatus(enum.StrEnum):
    """A background job's state, as the page polling it shows it."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class AdjustmentStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    BILLED = "billed"
    REVERSED = "reversed"


class PaymentSource(enum.StrEnum):
    """Where a payment came from (the method says how the money moved)."""

    ONLINE = "online"  # Stripe Checkout or the local test checkout
    STAFF = "staff"  # recorded by hand from a check, wire or ACH credit
    BANK_FILE = "bank_file"  # BAI2 or the lockbox CSV layout
    REMITTANCE_820 = "remittance_820"


class SuspenseStatus(enum.StrEnum):
    OPEN = "open"
    APPLIED = "applied"
    REVERSED = "reversed"
    REFUNDED = "refunded"


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # money owed back: refunds payable
    REJECTED = "rejected"
    PAID = "paid"  # money has left: check mailed or Stripe refund succeeded


class WriteOffStatus(enum.StrEnum):
    REQUESTED = "requested"  # above the requester's authority: waits for a supervisor
    APPROVED = "approved"  # posted
    REJECTED = "rejected"  # by a supervisor, or withdrawn by the requester


class CreditPolicy(enum.StrEnum):
    """What happens to a group's unapplied credit when its next invoice is issued: used on
    that invoice (allocated at issue), or held for a refund (staff refund it; the page says
    so)."""

    APPLY_TO_NEXT_BILL = "apply_to_next_bill"
    HOLD_FOR_REFUND = "hold_for_refund"


class ReviewCause(enum.StrEnum):
    """Why a payment waits in the manual reconciliation queue, where the portal can tell when
    the cause is gone: a short payment (until the invoices it was meant for are settled) or an
    over payment (until the credit it left is used or refunded). Other flags (a refund made in
    Stripe outside the portal, a chargeback that could not be applied) have none: staff clear
    them."""

    SHORT_PAYMENT = "short_payment"
    OVER_PAYMENT = "over_payment"


class ShortPayPolicy(enum.StrEnum):
    """What happens to a short payment within tolerance: the invoice counts as paid as billed
    and the difference is written off, or it stays open and carries to the next bill."""

    WRITE_OFF = "write_off"
    CARRY_FORWARD = "carry_forward"


class CheckoutStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class MailStatus(enum.StrEnum):
    """Where an outbox message stands (billing_core.mail delivers them)."""

    QUEUED = "queued"  # waiting for its first or next attempt (next_attempt_at)
    SENDING = "sending"  # claimed by a delivery run: no other run touches it
    SENT = "sent"
    FAILED = "failed"  # given up: out of attempts, refused by the server, or expired unsent
