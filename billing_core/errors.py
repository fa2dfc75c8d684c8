"""Errors in the domain's words. Views turn them into form errors or flash messages."""

from __future__ import annotations

from dataclasses import dataclass


class BillingError(Exception):
    """Base of every error a user can act on; its message is shown as is."""


class NotFound(BillingError):
    """The record does not exist or is not visible to the caller (we do not tell which)."""


class AccessDenied(BillingError):
    """The caller's role may not do this."""


class ValidationFailed(BillingError):
    """Input was rejected; `errors` lists every problem found, not just the first, and
    `warnings` what a person should look at once the errors are fixed."""

    def __init__(
        self,
        message: str,
        errors: list[RowError] | None = None,
        warnings: list[RowError] | None = None,
    ):
        super().__init__(message)
        self.errors = list(errors or [])
        self.warnings = list(warnings or [])

    def __str__(self) -> str:
        head = super().__str__()
        if not self.errors:
            return head
        return head + "\n" + "\n".join(f"  - {e}" for e in self.errors)


class ImmutableRecord(BillingError):
    """An issued invoice, a billed rate version, a posted entry or an audit row cannot change."""


class UnbalancedEntry(BillingError):
    """A journal entry whose debits do not equal its credits."""


class AccountLocked(BillingError):
    """Too many failed logins: the account is locked for a while."""


class ConfigurationError(BillingError):
    """The environment is missing a setting that production requires."""


class KeptFilePurged(BillingError):
    """A census upload's file was deleted after the retention period (census.kept): what
    needs its bytes (reading it again, its problems, its 999) cannot be done any more."""


class CensusFileUnreadable(BillingError):
    """A CSV or XLSX census that cannot be read at all (too large, not a spreadsheet, another
    encoding, a damaged, encrypted or zip-bomb workbook); the tabular reader answers it with
    one file-level error whose message says what to send instead."""


class InterchangeHeaderUnreadable(BillingError):
    """An X12 file whose ISA interchange header cannot be read (missing, cut short, damaged
    separators): `column` names the element (ISA, ISA16), `value` what stood there."""

    def __init__(self, column: str, message: str, value: str | None = None):
        super().__init__(message)
        self.column = column
        self.message = message
        self.value = value


class JobQueueUnavailable(BillingError):
    """REDIS_URL is set but the job could not be queued (Redis unreachable)."""


class KeyNotConfigured(ConfigurationError):
    """A ciphertext names a key that is not configured (billing_core.security)."""


class RatingDataMissing(ValidationFailed):
    """A rate or member fact the rating basis needs is absent (e.g. no FAM rate)."""


class PaymentError(BillingError):
    """A payment that cannot move to the asked state (e.g. returning a payment not received)."""


class AllocationError(BillingError):
    """An allocation that would move money that is not there: more than the payment has left,
    more than the invoice has open, a payment not yet received, or another group's invoice."""


class RemittanceFileError(ValidationFailed):
    """A remittance file that cannot be read at all: not the format it claims (no BAI2 01
    header, no X12 ISA, not text), or a CSV without the columns the layout requires. Nothing
    in it is imported; `errors` lists each missing column or header problem."""


class CheckoutError(BillingError):
    """A pay request that cannot start: nothing chosen, an amount that is not a positive number
    of cents within the online limit, or invoices that are not the group's open invoices."""


class GatewayError(BillingError):
    """Stripe refused or could not be reached; nothing was charged and the message says what
    the payer can do."""


class WebhookSignatureInvalid(BillingError):
    """A webhook whose signature (or body) does not verify: it is refused and nothing is read."""


class CommissionError(BillingError):
    """A commission schedule, split or run that cannot be accepted as asked."""


class StatementRangeError(BillingError):
    """A statement range that cannot be drawn: dates outside the supported range, the start
    after the end, or longer than the statement's maximum number of months."""


@dataclass(frozen=True)
class RowError:
    """One problem in bulk input: where it is (file, row or document path, column) and what was expected."""

    row: int | str | None
    column: str | None
    message: str
    source: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.row is not None:
            where.append(f"row {self.row}" if isinstance(self.row, int) else str(self.row))
        if self.column:
            where.append(f"column {self.column}")
        prefix = ", ".join(where)
        value = f" (got {self.value!r})" if self.value is not None else ""
        return f"{prefix}: {self.message}{value}" if prefix else f"{self.message}{value}"
