"""The one shape every bank or remittance file becomes (BAI2, the lockbox CSV layout, the X12
820) before anything is recorded: a RemittanceFile of RemittanceItems, one per payment
received, each with the invoices and members the payer said it pays. Pure values, no database.

Readers never stop at the first problem: every row problem is a `RowError` in
`RemittanceFile.errors` and only a file that is not the format at all (or lacks required
columns) raises `RemittanceFileError`. `items` holds every item that could be read in full; an
item with a bad amount, date or reference is left out and named in `errors`. Control totals
and counts that do not add up are errors too, since the file was cut short or edited: the
import should refuse a file whose `errors` is not empty rather than record part of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from billing_core.errors import RowError
from billing_core.models.enums import PaymentMethod
from billing_core.money import ZERO, D, cents

__all__ = [
    "FORMATS",
    "InvoiceNumber",
    "InvoiceRef",
    "MemberRemittance",
    "References",
    "RemittanceFile",
    "RemittanceFormat",
    "RemittanceItem",
    "find_references",
    "make_item_key",
    "parse_dollars",
    "parse_invoice_number",
]

RemittanceFormat = Literal["bai2", "lockbox_csv", "x12_820"]
FORMATS: tuple[str, ...] = ("bai2", "lockbox_csv", "x12_820")
ITEM_KEY_LENGTH = 100  # Payment.external_id is String(100)


@dataclass(frozen=True)
class InvoiceRef:
    """An invoice the payer says this payment pays: `amount_paid` toward it (dollars, whole
    cents) when the payer said how much (820 RMR04, the CSV's amount_applied), None when it
    only named the invoice (BAI2 text): then the allocation policy splits the item's amount
    over the named invoices. `amount_billed` when the payer quoted the invoice's amount (820
    RMR05)."""

    invoice_number: str
    amount_paid: Decimal | None = None
    amount_billed: Decimal | None = None


@dataclass(frozen=True)
class MemberRemittance:
    """One member's premium in an 820's member-level detail (or any source that lists
    members). `member_id` is the employee id; `coverage_start`/`coverage_end` the period paid
    (inclusive) when the file gives one; `plan_code` the policy/plan id the payer quoted."""

    member_id: str | None
    name: str | None
    amount: Decimal
    coverage_start: date | None = None
    coverage_end: date | None = None
    plan_code: str | None = None
    invoice_number: str | None = None
    amount_billed: Decimal | None = None


@dataclass(frozen=True)
class RemittanceItem:
    """One payment received: the money (positive dollars, whole cents, Decimal), when and how
    it came, and what the payer said it is for. `item_key` is stable across re-imports of the
    same file (built from the bank's or sender's own reference, never from the file name or an
    import time), so recording it as `Payment.external_id` makes a second import harmless.
    `source_line` is the 1-based line (BAI2, CSV) or segment (820) of the item in the file.
    `advice_only` marks an 820 that only tells about money travelling separately (BPR01 I):
    the bank's own record of the credit is the payment, so match the two rather than record
    the money twice."""

    item_key: str
    source_line: int
    amount: Decimal
    received_on: date
    method: PaymentMethod
    reference: str | None = None
    payer_name: str | None = None
    group_number: str | None = None
    subgroup_code: str | None = None
    invoice_refs: tuple[InvoiceRef, ...] = ()
    member_detail: tuple[MemberRemittance, ...] = ()
    memo: str | None = None
    advice_only: bool = False

    def __post_init__(self) -> None:
        if (
            not isinstance(self.amount, Decimal)
            or self.amount <= 0
            or cents(self.amount) != (self.amount)
        ):
            raise ValueError(f"a remittance item is a positive amount in cents, got {self.amount}")
        if not self.item_key or len(self.item_key) > ITEM_KEY_LENGTH:
            raise ValueError(f"item_key must be 1 to {ITEM_KEY_LENGTH} characters")


@dataclass(frozen=True)
class RemittanceFile:
    """A whole file read: `format` (bai2, lockbox_csv, x12_820), `source` the file name as
    uploaded, `file_id`/`sender_id`/`created_on` from its header (None for the CSV layout,
    which has none), `control_numbers` every header/trailer id worth showing (BAI2 file id,
    ISA13, GS06, ST02...), `control_totals` the totals the file states and the reader counted
    (dollars), `notes` what was read but deliberately not imported (debits, advice-only 820s),
    `errors` every problem found."""

    format: str
    source: str
    items: tuple[RemittanceItem, ...]
    file_id: str | None = None
    sender_id: str | None = None
    created_on: date | None = None
    control_numbers: dict[str, str] = field(default_factory=dict)
    control_totals: dict[str, Decimal] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    errors: list[RowError] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """The sum of the items' amounts (dollars)."""
        return sum((item.amount for item in self.items), ZERO)

    @property
    def ok(self) -> bool:
        return not self.errors


def make_item_key(file_format: str, *parts: str | int | None) -> str:
    """`format:part:part...` with blanks trimmed and empty parts kept as empty, so the same
    inputs always give the same key; a key longer than Payment.external_id allows becomes the
    format and a SHA-256 of the full key (still stable)."""
    text = ":".join([file_format, *("" if p is None else str(p).strip() for p in parts)])
    if len(text) <= ITEM_KEY_LENGTH:
        return text
    return f"{file_format}:sha256:{hashlib.sha256(text.encode()).hexdigest()}"[:ITEM_KEY_LENGTH]


def parse_dollars(value: str, *, allow_zero: bool = False) -> Decimal:
    """A dollar amount as a payer writes it (`1,234.50`, `$1234.5`, `1234`) as Decimal. Raises
    ValueError with the expectation when it is not a number, is negative (or zero unless
    `allow_zero`), or has fractions of a cent (a remittance is in whole cents: not rounded)."""
    text = (value or "").strip()
    if not text:
        raise ValueError("expected an amount in dollars, e.g. 1,234.50")
    try:
        amount = D(text)
    except ValueError:
        raise ValueError("expected an amount in dollars, e.g. 1,234.50") from None
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValueError("expected a positive amount")
    if cents(amount) != amount:
        raise ValueError("expected whole cents (at most two decimal places)")
    return cents(amount)


# --- invoice and group numbers in free text --------------------------------------------------

# invoicing.invoice_number_for: `{group_number}-{YYYYMM}`, `-{subgroup code}` for a separately
# billed subgroup, `-R2`, `-R3`... for reissues after a void. Group numbers are `G-1001` in the
# demo book (letters, optional hyphen, digits); a subgroup code is letters and digits.
_INVOICE = re.compile(
    r"(?<![A-Z0-9-])(?P<group>[A-Z]{1,3}-?\d{3,8})-(?P<period>20\d\d(?:0[1-9]|1[0-2]))"
    r"(?:-(?!R\d+(?![A-Z0-9]))(?P<subgroup>[A-Z0-9]{1,10}))?(?:-R(?P<reissue>\d{1,3}))?"
    r"(?![A-Z0-9-])"
)
# A group number on its own: the `G-1001` scheme (also written G1001 or G 1001), or any token
# with a digit after a GROUP / GRP / GROUP NO label (kept as written: the import resolves it;
# "ACME GROUP INC" names no group).
_GROUP_SCHEME = re.compile(r"(?<![A-Z0-9-])G[- ]?(\d{4,6})(?![0-9-])")
_GROUP_LABEL = re.compile(
    r"\b(?:GROUP|GRP)(?:\s*(?:NO\.?|NUMBER|NBR|#|ID))?\s*[:#=]?\s*"
    r"(?P<value>(?=[A-Z-]*\d)[A-Z0-9][A-Z0-9-]*)"
)


@dataclass(frozen=True)
class InvoiceNumber:
    """An invoice number taken apart: `G-1008-202701-DC-R2` is group G-1008, period 2027-01,
    subgroup DC, reissue 2 (0 for the first issue)."""

    number: str
    group_number: str
    period: date
    subgroup_code: str | None
    reissue: int


def parse_invoice_number(text: str) -> InvoiceNumber | None:
    """The parts of an invoice number in our scheme, or None when `text` is not one."""
    match = _INVOICE.fullmatch(text.strip().upper())
    return _invoice(match) if match else None


def _invoice(match: re.Match) -> InvoiceNumber:
    period = match["period"]
    return InvoiceNumber(
        number=match.group(0),
        group_number=match["group"],
        period=date(int(period[:4]), int(period[4:]), 1),
        subgroup_code=match["subgroup"],
        reissue=int(match["reissue"]) if match["reissue"] else 0,
    )


@dataclass(frozen=True)
class References:
    """What free text (a BAI2 customer reference or text, a memo line) says a payment is for.
    `group_number` is an explicit group reference, else the group of the invoices named (when
    they agree); `subgroup_code` the invoices' subgroup when they all name the same one."""

    group_number: str | None = None
    subgroup_code: str | None = None
    invoice_numbers: tuple[str, ...] = ()


def find_references(*texts: str | None) -> References:
    """Invoice and group numbers found in `texts` (case-insensitive), invoices in order of
    appearance without repeats."""
    invoices: list[InvoiceNumber] = []
    groups: list[str] = []
    for text in texts:
        if not text:
            continue
        upper = text.upper()
        for match in _INVOICE.finditer(upper):
            invoice = _invoice(match)
            if invoice.number not in (i.number for i in invoices):
                invoices.append(invoice)
        rest = _INVOICE.sub(" ", upper)
        for match in _GROUP_LABEL.finditer(rest):
            groups.append(_canonical_group(match["value"]))
        for match in _GROUP_SCHEME.finditer(_GROUP_LABEL.sub(" ", rest)):
            groups.append(f"G-{match.group(1)}")
    group = groups[0] if groups else _only({i.group_number for i in invoices})
    invoices_of_group = [i for i in invoices if group is None or i.group_number == group]
    subgroup = _only({i.subgroup_code for i in invoices_of_group}) if invoices_of_group else None
    return References(group, subgroup, tuple(i.number for i in invoices))


def _canonical_group(value: str) -> str:
    match = _GROUP_SCHEME.fullmatch(value)
    return f"G-{match.group(1)}" if match else value


def _only(values: Iterable[str | None]) -> str | None:
    values = set(values)
    return values.pop() if len(values) == 1 else None
