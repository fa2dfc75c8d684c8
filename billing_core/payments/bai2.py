"""BAI2 bank balance and transaction reports read into a RemittanceFile: each credit detail
(16 record) a premium payment can arrive as becomes a RemittanceItem; debits and other credits
are noted, not imported. Control totals and record counts (49, 98, 99) are checked.

Records (fields separated by `,`, a record ends with `/`, 88 continues the record before it):
01 file header (sender, receiver, creation date YYMMDD, time, file id, ..., version 2);
02 group header (ultimate receiver, originator = the bank, status, as-of date, time, currency);
03 account (number, currency, then summary type/amount/item count/funds type repeated);
16 detail (type code, amount in cents, funds type [+ its fields], bank reference, customer
reference, text to the end of the record); 49 account trailer (control total, record count);
98 group trailer (total, accounts, records); 99 file trailer (total, groups, records).
A control total is the signed sum in cents of every 03 summary and 16 detail amount below it
(checked against the amounts read, so each trailer's own error is reported); a record count
counts physical records, 88 continuations and the header and trailer included.

Errors name the field as record-field (`16-03` is a 16 record's third field, its amount,
counting the record code as field 1).

Decisions: an item's date is its group's as-of date (02-05). The customer reference and the
text are searched for our invoice numbers and group numbers. When an account lists lockbox
items (116) the lockbox deposit totals (115) are noted instead of imported, so no check is
counted twice. The item key is the bank's own reference (16 bank reference with the customer
reference, under the originating bank and account), so the same transaction reported again
(a previous-day file after an intraday one) gets the same key; without a bank reference it is
the file id, creation date and line, stable when the same file is imported twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from billing_core.errors import RemittanceFileError, RowError
from billing_core.models.enums import PaymentMethod
from billing_core.money import ZERO, from_cents_int
from billing_core.payments.remittance import (
    InvoiceRef,
    RemittanceFile,
    RemittanceItem,
    find_references,
    make_item_key,
)

__all__ = ["CREDIT_METHODS", "read_bai2"]

FORMAT = "bai2"

# Detail type codes read as premium payments, and how the money moved. 115 lockbox deposit,
# 116 item in a lockbox deposit; 142 ACH credit received, 165 preauthorized ACH credit, 166 ACH
# settlement, 169 miscellaneous ACH credit, 399 miscellaneous credit (premium that is not a
# check or wire comes as an ACH CCD/CTX credit); 174 other deposit, 175 check deposit package,
# 301 commercial deposit; 195 incoming money transfer, 206 book transfer credit, 208
# international money transfer credit, 275 ZBA credit (a transfer between accounts: a wire).
_LOCKBOX, _ACH, _CHECK, _WIRE = (
    PaymentMethod.LOCKBOX,
    PaymentMethod.ACH_CREDIT,
    PaymentMethod.CHECK,
    PaymentMethod.WIRE,
)
CREDIT_METHODS: dict[str, PaymentMethod] = {
    "115": _LOCKBOX,
    "116": _LOCKBOX,
    "142": _ACH,
    "165": _ACH,
    "166": _ACH,
    "169": _ACH,
    "399": _ACH,
    "174": _CHECK,
    "175": _CHECK,
    "301": _CHECK,
    "195": _WIRE,
    "206": _WIRE,
    "208": _WIRE,
    "275": _WIRE,
}
# The payer's name in an ACH or wire text: after one of these labels, up to the next label.
_LABELS = (
    r"ORIG(?:INATOR)? CO(?:MPANY)? NAME|ORIG(?:INATOR)? ID|ORIGINATOR|ORIG|B/O|BY ORDER OF|"
    r"REMITTER|PAYER|FROM|DESC DATE|CO ENTRY DESCR|ENTRY DESCR|IND ID|IND NAME|RECV NAME|"
    r"SEC|TRACE(?: NO)?|TRN|OBI|REF|BNF|IMAD|OMAD|ADDENDA"
)
_PAYER = re.compile(
    r"(?:ORIG(?:INATOR)? CO(?:MPANY)? NAME|ORIGINATOR|B/O|BY ORDER OF|REMITTER|PAYER|FROM)"
    rf"\s*[:=]\s*(?P<name>.+?)\s*(?=(?:\b(?:{_LABELS})\s*[:=])|[,/]|$)"
)


@dataclass
class _Record:
    code: str
    fields: list[str]  # after the record code; the closing `/` removed
    line: int  # the first physical line
    lines: int = 1  # physical lines, 88 continuations included


@dataclass
class _Account:
    number: str
    currency: str
    line: int
    records: int = 0
    total: int = 0
    items: list[tuple[str, RemittanceItem]] = field(default_factory=list)


@dataclass
class _Group:
    originator: str
    as_of: date | None
    currency: str
    line: int
    records: int = 0
    accounts: int = 0
    total: int = 0  # the amounts of its accounts' 03 and 16 records


def read_bai2(data: bytes, filename: str) -> RemittanceFile:
    """Read a BAI2 file (bytes as received; `filename` names it in every error). Returns every
    credit that is a premium payment as a RemittanceItem (dollars, whole cents, dated the
    group's as-of date) and every problem in `errors`. Raises RemittanceFileError when the
    file is not BAI2 at all (it must start with an 01 file header)."""
    return _Reader(filename).run(data)


class _Reader:
    def __init__(self, source: str):
        self.source = source
        self.errors: list[RowError] = []
        self.notes: list[str] = []
        self.items: list[RemittanceItem] = []
        self.header: dict[str, str] = {}
        self.created_on: date | None = None
        self.group: _Group | None = None
        self.account: _Account | None = None
        self.groups = 0
        self.file_records = 0
        self.amounts = 0  # every 03 and 16 amount in the file, in cents
        self.file_total: int | None = None  # 99-02
        self.debits = 0
        self.keys: dict[str, int] = {}
        self.ended = False

    def error(self, line: int | None, column: str | None, message: str, value=None) -> None:
        self.errors.append(RowError(line, column, message, self.source, value))

    # -- the run ------------------------------------------------------------------------------

    def run(self, data: bytes) -> RemittanceFile:
        records = self.records(data)
        if not records or records[0].code != "01":
            got = records[0].code if records else None
            raise RemittanceFileError(
                f"{self.source} is not a BAI2 file: it must start with an 01 file header record",
                [RowError(1, "01", "expected an 01 file header record", self.source, got)],
            )
        for record in records:
            if self.ended:
                self.error(record.line, record.code, "records follow the 99 file trailer")
                break
            handler = getattr(self, f"on_{record.code}", None)
            if handler is None:
                self.error(
                    record.line,
                    "record code",
                    "unknown record code: expected 01, 02, 03, 16, 88, 49, 98 or 99",
                    record.code,
                )
                continue
            self.file_records += record.lines
            if self.group is not None:
                self.group.records += record.lines
            if self.account is not None:
                self.account.records += record.lines
            handler(record)
        if not self.ended:
            self.close_open(records[-1].line)
            self.error(None, "99", "the file has no 99 file trailer: it was cut short")
        return RemittanceFile(
            format=FORMAT,
            source=self.source,
            items=tuple(self.items),
            file_id=self.header.get("file_id") or None,
            sender_id=self.header.get("sender") or None,
            created_on=self.created_on,
            control_numbers={k: v for k, v in self.header.items() if v},
            control_totals={
                "file_control_total": from_cents_int(
                    self.amounts if self.file_total is None else self.file_total
                ),
                "credits_imported": sum((i.amount for i in self.items), ZERO),
                "debits_ignored": from_cents_int(self.debits),
            },
            notes=tuple(self.notes),
            errors=self.errors,
        )

    def records(self, data: bytes) -> list[_Record]:
        """Physical lines into logical records: an 88 continues the record before it."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        records: list[_Record] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            code, _, rest = line.partition(",")
            code = code.strip()
            if code == "88":
                if not records:
                    self.error(number, "88", "a continuation record with no record before it")
                    continue
                previous = records[-1]
                joined = ",".join(previous.fields).removesuffix("/")
                # a 16 record's text runs on with a blank; other records continue with fields
                in_text = previous.code == "16" and len(previous.fields) > _text_at(previous)
                previous.fields = _split(joined + (" " if in_text else ",") + rest)
                previous.lines += 1
                continue
            records.append(_Record(code, _split(rest), number))
        for record in records:
            if record.fields and record.fields[-1].endswith("/"):
                record.fields[-1] = record.fields[-1][:-1]
        return records

    # -- headers ------------------------------------------------------------------------------

    def on_01(self, r: _Record) -> None:
        f = _pad(r.fields, 8)
        self.header = {
            "sender": f[0].strip(),
            "receiver": f[1].strip(),
            "created": f[2].strip(),
            "created_time": f[3].strip(),
            "file_id": f[4].strip(),
            "version": f[7].strip(),
        }
        self.created_on = self.date(r.line, "01-04", f[2], "file creation date")
        if f[7].strip() not in ("2", ""):
            self.error(r.line, "01-09", "expected BAI version 2", f[7])

    def on_02(self, r: _Record) -> None:
        self.close_open(r.line)
        f = _pad(r.fields, 7)
        as_of = self.date(r.line, "02-05", f[3], "as-of date")
        currency = f[5].strip() or "USD"
        self.group = _Group(f[1].strip(), as_of, currency, r.line, records=r.lines)
        self.groups += 1

    def on_03(self, r: _Record) -> None:
        if self.group is None:
            self.error(r.line, "03", "an 03 account record outside a 02 group")
            return
        if self.account is not None:
            self.close_account(r.line, missing=True)
        f = _pad(r.fields, 2)
        currency = f[1].strip() or self.group.currency
        self.account = _Account(f[0].strip(), currency, r.line, records=r.lines)
        self.group.accounts += 1
        if not self.account.number:
            self.error(r.line, "03-02", "the account number is missing")
        if currency != "USD":  # an account's currency is the group's unless it names its own
            self.error(r.line, "03-03", "only US dollar (USD) accounts can be imported", currency)
        # summaries: type code, amount, item count, funds type (and its fields), repeated
        i = 2
        while i < len(f):
            code = f[i].strip()
            amount = f[i + 1].strip() if i + 1 < len(f) else ""
            if amount:
                value = self.signed(r.line, f"03-{i + 3:02d}", amount, f"summary {code} amount")
                self.account.total += value or 0
            i += 4 + _funds_extra(f, i + 3)

    # -- details ------------------------------------------------------------------------------

    def on_16(self, r: _Record) -> None:
        account, group = self.account, self.group
        if account is None or group is None:
            self.error(r.line, "16", "a 16 detail record outside an 03 account")
            return
        f = _pad(r.fields, 4)
        code = f[0].strip()
        raw_amount = f[1].strip()
        funds_at = 2
        rest_at = funds_at + 1 + _funds_extra(f, funds_at)
        tail = f[rest_at:]
        bank_ref = tail[0].strip() if tail else ""
        customer_ref = tail[1].strip() if len(tail) > 1 else ""
        text = ",".join(tail[2:]).strip() if len(tail) > 2 else ""
        if not raw_amount.isdigit():
            self.error(
                r.line, "16-03", "expected the amount in cents, digits only (12345 = $123.45)", f[1]
            )
            return
        cents = int(raw_amount)
        account.total += cents
        amount = from_cents_int(cents)
        if not (code.isdigit() and len(code) == 3):
            self.error(r.line, "16-02", "expected a three-digit detail type code", code)
            return
        number = int(code)
        # Credits are 100-399 and debits 400-699 (700-799 loans and 900-999 bank-defined codes
        # are neither); below 100 are summary (status) codes, which belong in an 03 record.
        if 400 <= number <= 699:
            self.debits += cents
            self.notes.append(f"line {r.line}: debit {code} of ${amount:,.2f} ignored")
            return
        if number < 100:
            self.error(r.line, "16-02", "a summary type code in a detail record", code)
            return
        method = CREDIT_METHODS.get(code)
        if method is None:
            kind = "credit" if number < 400 else "bank-defined or loan transaction"
            self.notes.append(
                f"line {r.line}: {kind} {code} of ${amount:,.2f} is not a premium payment "
                "type: not imported"
            )
            return
        if cents == 0:
            self.notes.append(f"line {r.line}: credit {code} of $0.00 ignored")
            return
        if group.as_of is None or account.currency != "USD":
            return  # the 02/03 error already says why
        refs = find_references(customer_ref, text)
        if method in (_ACH, _WIRE):
            reference = bank_ref or customer_ref or None
        else:
            reference = customer_ref or bank_ref or None
        if bank_ref:
            key = make_item_key(FORMAT, group.originator, account.number, bank_ref, customer_ref)
        else:
            key = make_item_key(
                FORMAT,
                self.header.get("sender"),
                self.header.get("file_id"),
                self.header.get("created"),
                account.number,
                f"L{r.line}",
            )
        seen = self.keys.get(key, 0)
        self.keys[key] = seen + 1
        if seen:
            key = make_item_key(FORMAT, key.removeprefix(FORMAT + ":"), seen + 1)
        payer = _PAYER.search(text.upper())
        item = RemittanceItem(
            item_key=key,
            source_line=r.line,
            amount=amount,
            received_on=group.as_of,
            method=method,
            reference=reference,
            payer_name=payer["name"].strip() if payer else None,
            group_number=refs.group_number,
            subgroup_code=refs.subgroup_code,
            # the text names invoices, not amounts: how to split is the allocation's call
            invoice_refs=tuple(InvoiceRef(number) for number in refs.invoice_numbers),
            memo=text or None,
        )
        account.items.append((code, item))

    # -- trailers -----------------------------------------------------------------------------

    def on_49(self, r: _Record) -> None:
        if self.account is None:
            self.error(r.line, "49", "a 49 account trailer without its 03 account record")
            return
        self.close_account(r.line, missing=False, fields=r.fields)

    def on_98(self, r: _Record) -> None:
        group = self.group
        if group is None:
            self.error(r.line, "98", "a 98 group trailer without its 02 group header")
            return
        if self.account is not None:
            self.close_account(r.line, missing=True)
        f = _pad(r.fields, 3)
        label = f"group {group.originator or '(no originator)'} (line {group.line})"
        total = self.signed(r.line, "98-02", f[0], "group control total")
        if total is not None and total != group.total:
            self.error(
                r.line,
                "98-02",
                f"{label}: the group control total is {_dollars(total)} but its accounts' "
                f"amounts add up to {_dollars(group.total)}",
                f[0],
            )
        self.count(r.line, "98-03", f[1], group.accounts, f"{label}: accounts")
        self.count(r.line, "98-04", f[2], group.records, f"{label}: records")
        self.amounts += group.total
        self.group = None

    def on_99(self, r: _Record) -> None:
        self.close_open(r.line)
        f = _pad(r.fields, 3)
        total = self.signed(r.line, "99-02", f[0], "file control total")
        if total is not None:
            self.file_total = total
            if total != self.amounts:
                self.error(
                    r.line,
                    "99-02",
                    f"the file control total is {_dollars(total)} but the file's amounts add "
                    f"up to {_dollars(self.amounts)}",
                    f[0],
                )
        self.count(r.line, "99-03", f[1], self.groups, "groups")
        self.count(r.line, "99-04", f[2], self.file_records, "records")
        self.ended = True

    def close_account(self, line: int, *, missing: bool, fields: list[str] | None = None) -> None:
        account, group = self.account, self.group
        self.account = None
        label = f"account {account.number or '(no number)'} (line {account.line})"
        if missing:
            self.error(line, "49", f"{label} has no 49 account trailer: the file was cut short")
        else:
            f = _pad(fields, 2)
            total = self.signed(line, "49-02", f[0], "account control total")
            if total is not None and total != account.total:
                self.error(
                    line,
                    "49-02",
                    f"{label}: the account control total is {_dollars(total)} but its 03 and "
                    f"16 amounts add up to {_dollars(account.total)}",
                    f[0],
                )
            self.count(line, "49-03", f[1], account.records, f"{label}: records")
        group.total += account.total
        has_items = any(code == "116" for code, _ in account.items)
        for code, item in account.items:
            if code == "115" and has_items:
                self.notes.append(
                    f"line {item.source_line}: lockbox deposit total ${item.amount:,.2f} not "
                    "imported: its checks are listed one by one (116)"
                )
                continue
            self.items.append(item)

    def close_open(self, line: int) -> None:
        if self.account is not None:
            self.close_account(line, missing=True)
        if self.group is not None:
            self.error(
                line,
                "98",
                f"group {self.group.originator} (line {self.group.line}) has no 98 group "
                "trailer: the file was cut short",
            )
            self.amounts += self.group.total
            self.group = None

    # -- values -------------------------------------------------------------------------------

    def date(self, line: int, column: str, value: str, what: str) -> date | None:
        text = value.strip()
        if len(text) == 6 and text.isdigit():
            try:
                return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
            except ValueError:
                pass
        self.error(line, column, f"expected the {what} as YYMMDD", value)
        return None

    def signed(self, line: int, column: str, value: str, what: str) -> int | None:
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        self.error(
            line, column, f"expected the {what} in cents, digits with an optional sign", value
        )
        return None

    def count(self, line: int, column: str, value: str, read: int, what: str) -> None:
        text = value.strip()
        if not text.isdigit():
            self.error(line, column, f"expected the number of {what.split(': ')[-1]}", value)
        elif int(text) != read:
            self.error(
                line,
                column,
                f"{what}: the trailer counts {int(text)} but {read} were read: the file was cut "
                "short or edited",
                value,
            )


def _split(text: str) -> list[str]:
    return text.split(",")


def _text_at(record: _Record) -> int:
    """Where a 16 record's text field starts: after type, amount, funds type (and its
    fields), bank reference and customer reference."""
    return 3 + _funds_extra(record.fields, 2) + 2


def _pad(fields: list[str], n: int) -> list[str]:
    return fields + [""] * (n - len(fields)) if len(fields) < n else fields


def _funds_extra(fields: list[str], at: int) -> int:
    """How many fields follow the funds type at `at`: S immediate/one-day/two-day amounts,
    V value date and time, D a count and that many day/amount pairs; none otherwise."""
    funds = fields[at].strip().upper() if at < len(fields) else ""
    if funds == "S":
        return 3
    if funds == "V":
        return 2
    if funds == "D":
        count = fields[at + 1].strip() if at + 1 < len(fields) else ""
        return 1 + 2 * int(count) if count.isdigit() else 1
    return 0


def _dollars(value: int) -> str:
    amount = from_cents_int(value)
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"
