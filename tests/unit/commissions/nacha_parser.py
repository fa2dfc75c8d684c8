"""A NACHA ACH file reader written for the tests from the NACHA record layouts, independently
of billing_core/commissions/ach.py: it checks the structure (record lengths, order, blocking)
and recomputes every control total instead of trusting the file's."""

from __future__ import annotations

from dataclasses import dataclass, field


class NachaError(AssertionError):
    pass


@dataclass
class Entry:
    transaction_code: str
    routing: str  # the 8-digit RDFI id and its check digit: 9 digits
    account: str
    cents: int
    receiver_id: str
    receiver_name: str
    trace: str

    @property
    def is_credit(self) -> bool:
        return self.transaction_code in {"22", "32", "23", "33"}


@dataclass
class Batch:
    service_class: str
    company_name: str
    company_id: str
    sec_code: str
    description: str
    effective: str
    number: int
    entries: list[Entry] = field(default_factory=list)


@dataclass
class NachaFile:
    destination: str
    origin: str
    batches: list[Batch]
    records: int
    blocks: int
    credit_cents: int
    debit_cents: int


def _fail(line_no: int, message: str):
    raise NachaError(f"line {line_no}: {message}")


def _digits(value: str, line_no: int, what: str) -> int:
    if not value.isdigit():
        _fail(line_no, f"{what} is not numeric: {value!r}")
    return int(value)


def parse(text: str) -> NachaFile:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        if len(line) != 94:
            _fail(n, f"{len(line)} characters, not 94")
    if len(lines) % 10:
        _fail(len(lines), f"{len(lines)} records is not a multiple of the blocking factor 10")
    header = lines[0]
    if header[0] != "1" or header[34:37] != "094" or header[37:39] != "10" or header[39] != "1":
        _fail(1, "not a file header with record size 094, blocking factor 10, format code 1")
    batches: list[Batch] = []
    current: Batch | None = None
    file_control = None
    n = 1
    for n, line in enumerate(lines[1:], 2):
        kind = line[0]
        if file_control is not None:
            if line != "9" * 94:
                _fail(n, "after the file control only all-9 filler records may follow")
            continue
        if kind == "5":
            if current is not None:
                _fail(n, "a batch header inside an open batch")
            current = Batch(line[1:4], line[4:20].strip(), line[40:50].strip(), line[50:53],
                            line[53:63].strip(), line[69:75], _digits(line[87:94], n, "batch"))  # fmt: skip
        elif kind == "6":
            if current is None:
                _fail(n, "an entry outside a batch")
            current.entries.append(
                Entry(
                    line[1:3],
                    line[3:12],
                    line[12:29].strip(),
                    _digits(line[29:39], n, "amount"),
                    line[39:54].strip(),
                    line[54:76].strip(),
                    line[79:94],
                )  # fmt: skip
            )
            if line[78] != "0":
                _fail(n, "addenda are not expected")
        elif kind == "8":
            if current is None:
                _fail(n, "a batch control without a batch")
            _check_batch(current, line, n)
            batches.append(current)
            current = None
        elif kind == "9":
            if current is not None:
                _fail(n, "the file control inside an open batch")
            file_control = line
        else:
            _fail(n, f"unknown record type {kind!r}")
    if file_control is None:
        _fail(n, "no file control record")
    entries = [e for b in batches for e in b.entries]
    expected_hash = sum(int(e.routing[:8]) for e in entries) % 10**10
    credit = sum(e.cents for e in entries if e.is_credit)
    debit = sum(e.cents for e in entries if not e.is_credit)
    checks = {
        "batch count": (int(file_control[1:7]), len(batches)),
        "block count": (int(file_control[7:13]), len(lines) // 10),
        "entry count": (int(file_control[13:21]), len(entries)),
        "entry hash": (int(file_control[21:31]), expected_hash),
        "total debit": (int(file_control[31:43]), debit),
        "total credit": (int(file_control[43:55]), credit),
    }
    for what, (said, computed) in checks.items():
        if said != computed:
            raise NachaError(f"file control {what} says {said}, the entries give {computed}")
    return NachaFile(header[3:13], header[13:23], batches, len(lines), len(lines) // 10,
                     credit, debit)  # fmt: skip


def _check_batch(batch: Batch, line: str, n: int) -> None:
    hashed = sum(int(e.routing[:8]) for e in batch.entries) % 10**10
    credit = sum(e.cents for e in batch.entries if e.is_credit)
    debit = sum(e.cents for e in batch.entries if not e.is_credit)
    checks = {
        "service class": (line[1:4], batch.service_class),
        "entry count": (int(line[4:10]), len(batch.entries)),
        "entry hash": (int(line[10:20]), hashed),
        "total debit": (int(line[20:32]), debit),
        "total credit": (int(line[32:44]), credit),
        "company id": (line[44:54].strip(), batch.company_id),
        "batch number": (int(line[87:94]), batch.number),
    }
    for what, (said, computed) in checks.items():
        if said != computed:
            _fail(n, f"batch {batch.number} control {what} says {said}, computed {computed}")
