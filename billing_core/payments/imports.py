"""Importing a bank, lockbox or 820 remittance file: read it into RemittanceItems, refuse it
whole if anything in it is wrong, then record each item as one Payment matched to a group and
its invoices by the one cash matcher (billing_core.payments.matching.Matcher). What matches no
group goes to suspense with the reason. Member-level 820 detail is kept as the premium the employer reports.

Idempotent twice over: the same file (by SHA-256) is recognised and changes nothing, and each
item is recorded under its stable `item_key` (`Payment.external_id`), so an item re-sent in
another file is not recorded again.

A payer's stated split between invoices is not used as such: the item pays the quoted invoices
in the payer's order, each up to its open balance (the usual case gives the same result), and
what is left stays as the group's credit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.errors import RowError, ValidationFailed
from billing_core.models import (
    EmployerGroup,
    Payment,
    RemittanceDetail,
    User,
)
from billing_core.models import RemittanceFile as RemittanceFileRow
from billing_core.models.enums import PaymentSource
from billing_core.payments.bai2 import read_bai2
from billing_core.payments.lockbox_csv import read_lockbox_csv
from billing_core.payments.matching import Matcher
from billing_core.payments.receipts import record_payment
from billing_core.payments.remittance import RemittanceFile, RemittanceItem
from billing_core.payments.x820 import read_820

MAX_FILE_BYTES = 20 * 1024 * 1024


def read_remittance(data: bytes, filename: str) -> RemittanceFile:
    """Read `data` as whichever format it is: BAI2 (starts with an 01 record), X12 820 (starts
    with ISA), else the lockbox CSV layout."""
    head = data[:200].lstrip(b"\xef\xbb\xbf \r\n\t")
    if head.startswith(b"01,"):
        return read_bai2(data, filename)
    if head.startswith(b"ISA"):
        return read_820(data, filename)
    return read_lockbox_csv(data, filename)


@dataclass(frozen=True)
class ItemOutcome:
    """What became of one item: `matched` (group and every invoice found), `partial` (the group
    but not every invoice quoted), `suspense`, `duplicate` (already recorded from another
    file), or `advice` (an 820 that only describes money recorded from the bank)."""

    item: RemittanceItem
    result: str
    payment: Payment | None
    note: str = ""


@dataclass
class ImportOutcome:
    file: RemittanceFileRow
    already_imported: bool
    items: list[ItemOutcome] = field(default_factory=list)
    notes: tuple[str, ...] = ()

    def count(self, result: str) -> int:
        return sum(1 for outcome in self.items if outcome.result == result)


def import_remittance_file(
    session: Session, data: bytes, filename: str, *, actor: User | None, on: date
) -> ImportOutcome:
    """Import a remittance file (see the module docstring). A file with any error raises
    ValidationFailed naming each row and column, and writes nothing. `on` is the import date
    (postings use each item's own received date)."""
    if not data:
        raise ValidationFailed(f"{filename}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed(f"{filename}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(select(RemittanceFileRow).where(RemittanceFileRow.sha256 == digest))
    if existing is not None:
        return ImportOutcome(file=existing, already_imported=True)
    remittance = read_remittance(data, filename)
    if remittance.errors:
        raise ValidationFailed(
            f"{filename}: {len(remittance.errors)} problem(s); nothing was imported",
            [_named(error, filename) for error in remittance.errors],
        )
    row = RemittanceFileRow(
        file_format=remittance.format,
        original_filename=filename[:255],
        sha256=digest,
        content=data,
        item_count=len(remittance.items),
        total_amount=remittance.total,
        imported_by_id=actor.id if actor else None,
    )
    session.add(row)
    session.flush()
    outcome = ImportOutcome(file=row, already_imported=False, notes=remittance.notes)
    matcher = Matcher(session)
    for item in remittance.items:
        outcome.items.append(_import_item(session, item, row, matcher, remittance.format, actor))
    if actor is not None:
        audit.record(
            session,
            "remittance.imported",
            actor=actor,
            target=row,
            detail={
                "filename": filename,
                "items": len(outcome.items),
                **{r: outcome.count(r) for r in ("matched", "partial", "suspense", "duplicate")},
            },
        )
    session.flush()
    return outcome


def _named(error: RowError, filename: str) -> RowError:
    """The error with the file named (readers name it already; this is a guard)."""
    return error if error.source else replace(error, source=filename)


def _import_item(
    session: Session,
    item: RemittanceItem,
    file_row: RemittanceFileRow,
    matcher: Matcher,
    file_format: str,
    actor: User | None,
) -> ItemOutcome:
    if item.advice_only:
        return _attach_advice(session, item, matcher)
    known = session.scalar(select(Payment).where(Payment.external_id == item.item_key))
    if known is not None:
        return ItemOutcome(item, "duplicate", known, "already recorded from an earlier file")
    group, invoices, note = matcher.match(item)
    with session.begin_nested():
        payment, _ = record_payment(
            session,
            group=group,
            amount=item.amount,
            method=item.method,
            received_on=item.received_on,
            source=PaymentSource.REMITTANCE_820
            if file_format == "x12_820"
            else PaymentSource.BANK_FILE,
            reference=item.reference,
            payer_name=item.payer_name,
            external_id=item.item_key,
            invoice_ids=[invoice.id for invoice in invoices],
            suspense_reason=note if group is None else None,
            actor=actor,
            remittance_file_id=file_row.id,
        )
        _keep_member_detail(session, item, payment, group, matcher)
    if group is None:
        return ItemOutcome(item, "suspense", payment, note)
    return ItemOutcome(item, "partial" if note else "matched", payment, note)


def _attach_advice(session: Session, item: RemittanceItem, matcher: Matcher) -> ItemOutcome:
    """An 820 that only describes money sent separately: keep its member detail on the
    payment the bank file recorded under the same trace number."""
    payment = None
    if item.reference:
        payment = session.scalar(
            select(Payment)
            .where(Payment.reference == item.reference, Payment.amount == item.amount)
            .order_by(Payment.id.desc())
        )
    if payment is None:
        return ItemOutcome(item, "advice", None, "remittance advice; no matching payment yet")
    group = session.get(EmployerGroup, payment.group_id) if payment.group_id else None
    _keep_member_detail(session, item, payment, group, matcher)
    return ItemOutcome(item, "advice", payment, "member detail kept on the payment received")


def _keep_member_detail(
    session: Session,
    item: RemittanceItem,
    payment: Payment,
    group: EmployerGroup | None,
    matcher: Matcher,
) -> None:
    if not item.member_detail:
        return
    single = item.invoice_refs[0].invoice_number if len(item.invoice_refs) == 1 else None
    for member in item.member_detail:
        invoice = matcher.invoice(member.invoice_number or single)
        session.add(
            RemittanceDetail(
                payment_id=payment.id,
                group_id=group.id if group else None,
                invoice_id=invoice.id if invoice else None,
                employee_id=member.member_id,
                member_name=member.name,
                amount=member.amount,
                period_start=member.coverage_start,
                period_end=member.coverage_end,
                product_ref=member.plan_code,
            )
        )


__all__ = ["ImportOutcome", "ItemOutcome", "import_remittance_file", "read_remittance"]
