"""The NACHA ACH file writer: credits to payees in fixed-width 94-character records (file
header 1, one batch per SEC code and company entry description with its header 5, entry
details 6 and control 8, file control 9), amounts in cents, entry hash the sum of the
receiving banks' 8-digit routing numbers mod 10^10, blocked to a multiple of 10 records with
all-9 filler. Pure: it knows nothing of the database (disbursements.py feeds it)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from billing_core.money import to_cents_int

RECORD_LENGTH = 94
BLOCKING_FACTOR = 10
HASH_MODULUS = 10**10
# Transaction codes of a credit (no prenote) by account type.
CREDIT_CODES = {"checking": "22", "savings": "32"}
SERVICE_CLASS_CREDITS = "220"


@dataclass(frozen=True)
class Originator:
    """Who sends the file: the originating bank (ODFI) and the company. Development values by
    default; production sets them from ACH_* environment variables (`originator_from`)."""

    bank_routing: str = "021000021"  # the ODFI's routing number (immediate destination)
    bank_name: str = "ORIGINATING BANK"
    company_id: str = "1234567890"  # the company identification the bank assigned
    company_name: str = "GROUP PREMIUM CO"

    @property
    def odfi(self) -> str:
        return self.bank_routing[:8]


def originator_from(env: Mapping[str, str] | None = None) -> Originator:
    """The originator from ACH_ODFI_ROUTING, ACH_ODFI_NAME, ACH_COMPANY_ID, ACH_COMPANY_NAME."""
    env = os.environ if env is None else env
    default = Originator()
    return Originator(
        bank_routing=env.get("ACH_ODFI_ROUTING", default.bank_routing),
        bank_name=env.get("ACH_ODFI_NAME", default.bank_name),
        company_id=env.get("ACH_COMPANY_ID", default.company_id),
        company_name=env.get("ACH_COMPANY_NAME", default.company_name),
    )


@dataclass(frozen=True)
class Credit:
    """One credit: `amount` dollars (positive) to `account_number` at `routing_number`."""

    sec_code: str  # CCD (a company) or PPD (a person)
    description: str  # the company entry description, at most 10 characters
    routing_number: str
    account_number: str
    account_type: str  # checking or savings
    amount: Decimal
    receiver_id: str  # individual identification number (e.g. the agency's code)
    receiver_name: str
    trace_sequence: int  # unique per file, 7 digits (the entry's id)


def _alpha(value: str, width: int) -> str:
    text = "".join(c if 32 <= ord(c) < 127 else " " for c in value.upper())
    return text[:width].ljust(width)


def _num(value: int | str, width: int) -> str:
    text = str(value)
    if len(text) > width or not text.isdigit():
        raise ValueError(f"{text!r} does not fit {width} digits")
    return text.rjust(width, "0")


def _record(*fields: str) -> str:
    line = "".join(fields)
    if len(line) != RECORD_LENGTH:
        raise AssertionError(f"an ACH record of {len(line)} characters: {line!r}")
    return line


def trace_number(originator: Originator, sequence: int) -> str:
    return originator.odfi + _num(sequence % 10**7, 7)


def write_file(
    credits: Sequence[Credit],
    *,
    originator: Originator,
    made_at: datetime,
    effective_date: date,
    file_id_modifier: str = "A",
) -> str:
    """The whole file, records separated by newlines (CRLF is not required by NACHA)."""
    if not credits:
        raise ValueError("an ACH file needs at least one entry")
    lines = [
        _record(
            "1", "01", " " + _num(originator.bank_routing, 9), _alpha(originator.company_id.rjust(10), 10),
            made_at.strftime("%y%m%d"), made_at.strftime("%H%M"), _alpha(file_id_modifier, 1),
            "094", _num(BLOCKING_FACTOR, 2), "1", _alpha(originator.bank_name, 23),
            _alpha(originator.company_name, 23), _alpha("", 8),
        )
    ]  # fmt: skip
    batches: dict[tuple[str, str], list[Credit]] = {}
    for credit in credits:
        batches.setdefault((credit.sec_code, credit.description), []).append(credit)
    file_hash = file_entries = file_credit = 0
    for number, ((sec, description), batch) in enumerate(sorted(batches.items()), start=1):
        lines.append(
            _record(
                "5", SERVICE_CLASS_CREDITS, _alpha(originator.company_name, 16), _alpha("", 20),
                _alpha(originator.company_id, 10), _alpha(sec, 3), _alpha(description, 10),
                effective_date.strftime("%y%m%d"), effective_date.strftime("%y%m%d"),
                "   ", "1", _num(originator.odfi, 8), _num(number, 7),
            )
        )  # fmt: skip
        batch_hash = batch_credit = 0
        for credit in batch:
            cents = to_cents_int(credit.amount)
            if cents <= 0:
                raise ValueError("an ACH credit is a positive amount")
            lines.append(
                _record(
                    "6", CREDIT_CODES[credit.account_type], _num(credit.routing_number[:8], 8),
                    _num(credit.routing_number[8], 1), _alpha(credit.account_number, 17),
                    _num(cents, 10), _alpha(credit.receiver_id, 15),
                    _alpha(credit.receiver_name, 22), "  ", "0",
                    trace_number(originator, credit.trace_sequence),
                )
            )  # fmt: skip
            batch_hash += int(credit.routing_number[:8])
            batch_credit += cents
        lines.append(
            _record(
                "8", SERVICE_CLASS_CREDITS, _num(len(batch), 6), _num(batch_hash % HASH_MODULUS, 10),
                _num(0, 12), _num(batch_credit, 12), _alpha(originator.company_id, 10),
                _alpha("", 19), _alpha("", 6), _num(originator.odfi, 8), _num(number, 7),
            )
        )  # fmt: skip
        file_hash += batch_hash
        file_entries += len(batch)
        file_credit += batch_credit
    records = len(lines) + 1
    blocks = -(-records // BLOCKING_FACTOR)
    lines.append(
        _record(
            "9", _num(len(batches), 6), _num(blocks, 6), _num(file_entries, 8),
            _num(file_hash % HASH_MODULUS, 10), _num(0, 12), _num(file_credit, 12), _alpha("", 39),
        )
    )  # fmt: skip
    lines.extend("9" * RECORD_LENGTH for _ in range(blocks * BLOCKING_FACTOR - records))
    return "\n".join(lines) + "\n"
