"""The lockbox CSV layout (what a lockbox bank or a staff export sends when it cannot send
BAI2) read into a RemittanceFile: one row per check or credit received.

Layout (also in docs/lockbox_csv.md). A header row, then one row per item; column names are
matched without regard to case, blanks or hyphens; other columns are ignored (and noted).

| column         | required | content                                                        |
|----------------|----------|----------------------------------------------------------------|
| deposit_date   | yes      | the day the bank credited it: 2027-01-04, 01/04/2027, 20270104 |
| check_number   | yes      | the check number, or the ACH/wire trace (alias trace_number,   |
|                |          | reference)                                                     |
| amount         | yes      | dollars, positive, whole cents; `$` and `,` allowed: $1,286.40 |
| payer_name     | no       | as printed on the check                                        |
| group_number   | no       | our group number, e.g. G-1001                                  |
| invoice_number | no       | one or more invoice numbers separated by `;`                   |
| amount_applied | no       | dollars per invoice, `;`-separated in invoice_number's order;  |
|                |          | they may not add up to more than amount (the rest is unapplied)|
| method         | no       | lockbox (the default), check, ach or wire                      |

Every problem in every row is reported at once (file, row, column, value and what was
expected); a row with a problem yields no item. The item key is the deposit date, check
number, amount and group (else payer), so the same file imported twice gives the same keys;
the same check twice in one file is an error.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime

import pandas as pd

from billing_core.errors import RemittanceFileError, RowError
from billing_core.models.enums import PaymentMethod
from billing_core.money import ZERO
from billing_core.payments.remittance import (
    InvoiceRef,
    RemittanceFile,
    RemittanceItem,
    find_references,
    make_item_key,
    parse_dollars,
    parse_invoice_number,
)

__all__ = ["COLUMNS", "REQUIRED_COLUMNS", "read_lockbox_csv"]

FORMAT = "lockbox_csv"
COLUMNS = (
    "deposit_date",
    "check_number",
    "amount",
    "payer_name",
    "group_number",
    "invoice_number",
    "amount_applied",
    "method",
)
REQUIRED_COLUMNS = ("deposit_date", "check_number", "amount")
_ALIASES = {
    "trace_number": "check_number",
    "trace": "check_number",
    "reference": "check_number",
    "check_no": "check_number",
    "invoice_numbers": "invoice_number",
    "amounts_applied": "amount_applied",
}
_METHODS = {
    "": PaymentMethod.LOCKBOX,
    "lockbox": PaymentMethod.LOCKBOX,
    "check": PaymentMethod.CHECK,
    "ach": PaymentMethod.ACH_CREDIT,
    "ach_credit": PaymentMethod.ACH_CREDIT,
    "wire": PaymentMethod.WIRE,
}
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")


def read_lockbox_csv(data: bytes, filename: str) -> RemittanceFile:
    """Read a lockbox CSV (bytes as received, UTF-8 or Windows-1252; `filename` names it in
    every error). Amounts are dollars in whole cents as Decimal; each item is dated its
    deposit_date. Returns the items of the rows without problems and every row's problems in
    `errors`. Raises RemittanceFileError when the file is not CSV text, has no header row or
    lacks a required column (each missing column listed)."""
    text = _decode(data, filename)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found is None:
            raise RemittanceFileError(
                f"{filename} is not a readable CSV file ({exc}); expected the lockbox CSV layout"
            ) from None
        expected, line, saw = (int(n) for n in found.groups())
        message = (
            f"row {line} has {saw} values but the header has {expected} columns: put quotes "
            'around values that hold commas, e.g. "$1,286.40"'
        )
        raise RemittanceFileError(
            f"{filename}: {message}", [RowError(line, None, message, filename)]
        ) from None
    rows = frame.values.tolist()
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)  # blank lines before the header
    if not rows:
        raise RemittanceFileError(
            f"{filename} is empty: expected a header row ({', '.join(COLUMNS)}) and one row "
            "per check"
        )
    skipped = len(frame) - len(rows)
    header = [_column_name(cell) for cell in rows[0]]
    header_row = skipped + 1
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RemittanceFileError(
            f"{filename} is missing the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (the layout is: {', '.join(COLUMNS)})",
            [
                RowError(header_row, column, "required column is missing", filename)
                for column in missing
            ],
        )
    where = {}
    for index, name in enumerate(header):
        if name in COLUMNS and name not in where:
            where[name] = index
    notes = []
    ignored = [str(rows[0][i]).strip() for i, n in enumerate(header) if n not in where]
    if any(ignored):
        notes.append(f"columns not in the layout, ignored: {', '.join(c for c in ignored if c)}")
    reader = _Rows(filename)
    for offset, cells in enumerate(rows[1:], start=1):
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: cells[i].strip() for name, i in where.items()}
        reader.row(header_row + offset, values)
    return RemittanceFile(
        format=FORMAT,
        source=filename,
        items=tuple(reader.items),
        control_totals={"deposits": sum((i.amount for i in reader.items), ZERO)},
        notes=tuple(notes),
        errors=reader.errors,
    )


class _Rows:
    def __init__(self, source: str):
        self.source = source
        self.errors: list[RowError] = []
        self.items: list[RemittanceItem] = []
        self.keys: dict[str, int] = {}

    def row(self, number: int, values: dict[str, str]) -> None:
        problems: list[RowError] = []

        def problem(column: str, message: str) -> None:
            problems.append(RowError(number, column, message, self.source, values.get(column)))

        deposit_date = _date(values["deposit_date"])
        if deposit_date is None:
            problem("deposit_date", "expected a date as 2027-01-04, 01/04/2027 or 20270104")
        reference = values["check_number"]
        if not reference:
            problem("check_number", "expected the check number or the ACH/wire trace number")
        amount = None
        try:
            amount = parse_dollars(values["amount"])
        except ValueError as exc:
            problem("amount", f"{exc} (e.g. $1,286.40)")
        method = _METHODS.get(values.get("method", "").lower().replace(" ", "_"))
        if method is None:
            problem("method", "expected lockbox, check, ach or wire (or leave it blank)")
        invoices = [n.strip().upper() for n in values.get("invoice_number", "").split(";")]
        invoices = [n for n in invoices if n]
        if len(set(invoices)) != len(invoices):
            problem("invoice_number", "an invoice number is listed twice")
        applied_text = values.get("amount_applied", "")
        applied: list = [None] * len(invoices)
        if applied_text:
            parts = [p.strip() for p in applied_text.split(";")]
            if len(parts) != len(invoices):
                problem(
                    "amount_applied",
                    f"expected one amount per invoice number ({len(invoices)}), separated by ;",
                )
            else:
                try:
                    applied = [parse_dollars(p) for p in parts]
                except ValueError as exc:
                    problem("amount_applied", f"{exc}, one per invoice separated by ;")
                else:
                    if amount is not None and sum(applied, ZERO) > amount:
                        problem(
                            "amount_applied",
                            f"the amounts applied add up to {sum(applied, ZERO):,.2f}, more "
                            f"than the check's {amount:,.2f}",
                        )
        group_number = values.get("group_number", "").upper() or None
        refs = find_references(";".join(invoices))
        for number_text in invoices:
            parsed = parse_invoice_number(number_text)
            if group_number and parsed and parsed.group_number != group_number:
                problem(
                    "invoice_number",
                    f"invoice {number_text} is group {parsed.group_number}'s, not {group_number}'s",
                )
        if problems:
            self.errors.extend(problems)
            return
        group_number = group_number or refs.group_number
        payer_name = values.get("payer_name") or None
        key = make_item_key(
            FORMAT,
            deposit_date.isoformat(),
            reference,
            f"{amount:.2f}",
            group_number or (payer_name or "").upper(),
        )
        if key in self.keys:
            self.errors.append(
                RowError(
                    number,
                    "check_number",
                    f"the same check (date, number, amount and payer) is on row "
                    f"{self.keys[key]}: a check is listed once",
                    self.source,
                    reference,
                )
            )
            return
        self.keys[key] = number
        self.items.append(
            RemittanceItem(
                item_key=key,
                source_line=number,
                amount=amount,
                received_on=deposit_date,
                method=method,
                reference=reference,
                payer_name=payer_name,
                group_number=group_number,
                subgroup_code=refs.subgroup_code if refs.group_number == group_number else None,
                invoice_refs=tuple(
                    InvoiceRef(n, amount_paid=a) for n, a in zip(invoices, applied, strict=True)
                ),
            )
        )


def _decode(data: bytes, filename: str) -> str:
    if b"\x00" in data[:4096]:
        raise RemittanceFileError(
            f"{filename} is not CSV text (UTF-16 or a binary file such as XLSX); expected a CSV "
            "saved as UTF-8"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _column_name(cell: str) -> str:
    name = re.sub(r"[\s\-.]+", "_", str(cell).strip().lower()).strip("_")
    name = name.replace("#", "number")
    return _ALIASES.get(name, name)


def _date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
