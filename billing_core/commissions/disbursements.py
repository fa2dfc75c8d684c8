"""Paying by ACH (issue 21, item 6): what is ready to pay (each agency's approved commission
payable not yet in a file, and approved refunds owed to employer groups with bank details),
the ACH file that pays it (made once per batch of payables: making it again gives the same
file), marking the file sent (each entry posts Dr payable / Cr cash, once), a returned entry
(R01 ...) reopening what it paid with a reversing entry, and the total paid per agency in a
calendar year (the 1099-NEC figure)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_core import audit, ledger
from billing_core.commissions import ach
from billing_core.commissions.payees import account_in_force, account_number
from billing_core.commissions.postings import agency_account
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, CommissionError, NotFound
from billing_core.ledger import Chart, Leg
from billing_core.models import BrokerAgency, EmployerGroup, JournalEntry, Refund, User
from billing_core.models.commissions import (
    AchEntry,
    AchEntryStatus,
    AchFile,
    AchFileStatus,
    PayeeAccount,
    PayeeKind,
)
from billing_core.models.enums import RefundStatus
from billing_core.money import ZERO, format_dollars
from billing_core.payments.refunds import ONLINE_METHODS, mark_refund_paid
from billing_core.security import vault

COMMISSION_DESCRIPTION = "COMMISSION"
REFUND_DESCRIPTION = "REFUND"
# The return reason codes staff most often enter, in the bank's words.
RETURN_CODES = {
    "R01": "Insufficient funds",
    "R02": "Account closed",
    "R03": "No account / unable to locate account",
    "R04": "Invalid account number",
    "R06": "Returned per ODFI's request",
    "R07": "Authorization revoked by customer",
    "R08": "Payment stopped",
    "R10": "Customer advises not authorized",
    "R16": "Account frozen",
    "R20": "Non-transaction account",
    "R23": "Credit entry refused by receiver",
    "R24": "Duplicate entry",
    "R29": "Corporate customer advises not authorized",
}
# Codes that say the bank details themselves are wrong: the payee needs new ones.
DETAILS_WRONG = frozenset({"R02", "R03", "R04", "R16", "R20"})


@dataclass(frozen=True)
class Payable:
    """One amount ready to pay (or held back for want of bank details): an agency's
    commission payable, or an approved refund owed to a group."""

    kind: str  # "commission" or "refund"
    payee: str  # the agency's or group's name
    payee_code: str
    amount: Decimal
    account: PayeeAccount | None  # the confirmed details; None: cannot be paid by ACH yet
    agency_id: int | None = None
    group_id: int | None = None
    refund_id: int | None = None
    marker: int = 0  # what makes this payable's batch differ from an earlier one

    @property
    def payable(self) -> bool:
        return self.account is not None


def _check_staff(actor: User) -> None:
    if actor is None or not actor.role.is_staff:
        raise AccessDenied("only billing staff pay agencies and refunds")


def _in_open_files(session: Session) -> tuple[dict[int, Decimal], set[int]]:
    """Per agency, what files not yet sent already hold; refunds in a file (unsent or paid)."""
    held: dict[int, Decimal] = defaultdict(lambda: ZERO)
    refunds: set[int] = set()
    rows = session.execute(
        select(AchEntry.agency_id, AchEntry.refund_id, AchEntry.amount, AchEntry.status)
        .where(AchEntry.status != AchEntryStatus.RETURNED)
    ).all()  # fmt: skip
    for agency_id, refund_id, amount, status in rows:
        if refund_id is not None:
            refunds.add(refund_id)
        elif status is AchEntryStatus.IN_FILE:
            held[agency_id] += amount
    return held, refunds


def _payable_balances(session: Session) -> list[tuple[BrokerAgency, Decimal, int]]:
    """Each agency with a commission payable account: (agency, what the ledger owes it, the
    last entry on that account)."""
    from billing_core.models import LedgerAccount, Posting

    code = Chart.COMMISSION_PAYABLE.code
    agencies = {a.code: a for a in session.scalars(select(BrokerAgency))}
    out = []
    accounts = session.scalars(
        select(LedgerAccount).where(LedgerAccount.number.like(f"{code}-%"))
    ).all()
    for account in accounts:
        agency = agencies.get(account.number[len(code) + 1 :])
        if agency is None:
            continue
        last = session.scalar(
            select(Posting.entry_id).where(Posting.account_id == account.id)
            .order_by(Posting.entry_id.desc()).limit(1)
        )  # fmt: skip
        out.append((agency, -ledger.account_balance(session, account), last or 0))
    return out


def payables(session: Session) -> list[Payable]:
    """What is owed and not yet in a file: each agency's commission payable (approved runs, less
    what files not yet sent hold) and each approved refund owed to a group (not a card or ACH
    debit payment's, which Stripe refunds), in the payee's order; `account` is None where the
    payee has no confirmed bank details."""
    held, refunds_in_files = _in_open_files(session)
    out: list[Payable] = []
    for agency, owed, last in sorted(_payable_balances(session), key=lambda r: r[0].code):
        amount = owed - held[agency.id]
        if amount <= 0:
            continue
        out.append(
            Payable("commission", agency.name, agency.code, amount,
                    account_in_force(session, agency=agency), agency_id=agency.id, marker=last)
        )  # fmt: skip
    refunds = session.scalars(
        select(Refund).where(
            Refund.status == RefundStatus.APPROVED, Refund.group_id.is_not(None)
        ).order_by(Refund.id)
    ).all()  # fmt: skip
    for refund in refunds:
        if refund.id in refunds_in_files or refund.payment.method in ONLINE_METHODS:
            continue
        group = session.get(EmployerGroup, refund.group_id)
        returned = session.scalar(
            select(AchEntry.id).where(AchEntry.refund_id == refund.id)
            .order_by(AchEntry.id.desc()).limit(1)
        )  # fmt: skip
        out.append(
            Payable("refund", group.name, group.group_number, refund.amount,
                    account_in_force(session, group=group), group_id=group.id,
                    refund_id=refund.id, marker=returned or 0)
        )  # fmt: skip
    return out


def batch_key(items: list[Payable]) -> str:
    """Names a batch of payables: the same payables (same amounts, same ledger state) give the
    same key, so a second click makes no second file."""
    parts = sorted(
        f"{p.kind}:{p.agency_id or p.refund_id}:{p.amount}:{p.marker}:{p.account.id}" for p in items
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def open_file(session: Session) -> AchFile | None:
    """A file made and not yet sent (at most one: a new one is made only once it is sent)."""
    return session.scalar(
        select(AchFile).where(AchFile.status == AchFileStatus.MADE).order_by(AchFile.id)
    )


def make_ach_file(
    session: Session,
    *,
    actor: User,
    effective_date: date,
    originator: ach.Originator | None = None,
) -> AchFile:
    """The ACH file paying every payable with confirmed bank details (`payables`): one credit
    per agency (its whole payable, dollars to the cent) and per refund, CCD for a company, PPD
    for a person, one batch per SEC code and description. Idempotent: while a file is made and
    not sent, this returns it (its payables are in it); the same batch never makes two files
    (`batch_key`, unique in the database). Posts nothing: the ledger moves when it is sent."""
    _check_staff(actor)
    existing = open_file(session)
    if existing is not None:
        return existing
    items = [p for p in payables(session) if p.payable]
    if not items:
        raise CommissionError(
            "nothing is ready to pay by ACH: no approved payable or refund has confirmed bank "
            "details"
        )
    key = batch_key(items)
    same = session.scalar(select(AchFile).where(AchFile.batch_key == key))
    if same is not None:
        return same
    originator = originator or ach.originator_from()
    made_at = utcnow()
    file = AchFile(
        batch_key=key,
        effective_date=effective_date,
        content="",
        entry_count=len(items),
        total_credit=sum((p.amount for p in items), ZERO),
        made_by_id=actor.id,
        made_at=made_at,
    )
    try:
        with session.begin_nested():  # two people pressing at once: the second gets the first's
            session.add(file)
            session.flush()
    except IntegrityError:
        return session.scalars(select(AchFile).where(AchFile.batch_key == key)).one()
    entries = []
    for item in items:
        entry = AchEntry(
            file_id=file.id, agency_id=item.agency_id, group_id=item.group_id,
            refund_id=item.refund_id, payee_account_id=item.account.id, amount=item.amount,
            trace_number=f"pending-{file.id}-{len(entries)}",
        )  # fmt: skip
        session.add(entry)
        entries.append((entry, item))
    session.flush()
    credits = []
    for entry, item in entries:
        entry.trace_number = ach.trace_number(originator, entry.id)
        credits.append(
            ach.Credit(
                sec_code="PPD" if item.account.payee_kind is PayeeKind.PERSON else "CCD",
                description=COMMISSION_DESCRIPTION if item.kind == "commission"
                else REFUND_DESCRIPTION,
                routing_number=item.account.routing_number,
                account_number=account_number(item.account),
                account_type=item.account.account_type.value,
                amount=item.amount,
                receiver_id=item.payee_code,
                receiver_name=item.account.name_on_account,
                trace_sequence=entry.id,
            )
        )  # fmt: skip
    # The file holds whole account numbers: kept encrypted like them (`file_content` opens it).
    file.content = vault().encrypt_text(
        ach.write_file(
            credits, originator=originator, made_at=made_at, effective_date=effective_date,
            file_id_modifier="ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(file.id - 1) % 26],
        )
    )  # fmt: skip
    session.flush()
    audit.record(
        session,
        "ach.file_made",
        actor=actor,
        target=file,
        detail={"entries": len(items), "total": str(file.total_credit),
                "effective_date": effective_date.isoformat()},
    )  # fmt: skip
    return file


def file_content(file: AchFile) -> str:
    """The NACHA file as made (decrypted; it holds whole account numbers)."""
    return vault().decrypt(file.content)


def download_ach_file(session: Session, file: AchFile, *, actor: User) -> str:
    """The file for sending to the bank, audited (who took whole account numbers, when)."""
    _check_staff(actor)
    audit.record(session, "ach.file_downloaded", actor=actor, target=file,
                 detail={"entries": file.entry_count, "total": str(file.total_credit)})  # fmt: skip
    return file_content(file)


def mark_sent(session: Session, file: AchFile, *, actor: User, on: date) -> bool:
    """The file went to the bank on `on`: each entry pays what it holds, once. An agency's:
    Dr its commission payable, Cr cash; a refund's: `mark_refund_paid` (Dr refunds payable,
    Cr cash). Balanced entries, idempotent keys; False when the file was already sent."""
    _check_staff(actor)
    if file.status is AchFileStatus.SENT:
        return False
    for entry in file.entries:
        if entry.refund_id is not None:
            refund = session.get(Refund, entry.refund_id)
            mark_refund_paid(session, refund, on=on, actor=actor)
            entry.paid_entry_id = session.scalar(
                select(JournalEntry.id).where(
                    JournalEntry.idempotency_key == f"refund-{refund.id}-paid"
                )
            )
        else:
            agency = session.get(BrokerAgency, entry.agency_id)
            posted = ledger.post_entry(
                session,
                entry_date=on,
                memo=f"Commission paid by ACH to {agency.code} (trace {entry.trace_number})",
                source_type="ach_payment",
                source_id=entry.id,
                idempotency_key=f"ach-entry-{entry.id}-paid",
                created_by_id=actor.id,
                legs=[
                    Leg(agency_account(session, Chart.COMMISSION_PAYABLE, agency), entry.amount),
                    Leg(ledger.account(session, Chart.CASH), -entry.amount),
                ],
            )
            entry.paid_entry_id = posted.id
        entry.status = AchEntryStatus.PAID
    file.status = AchFileStatus.SENT
    file.sent_on = on
    file.sent_by_id = actor.id
    session.flush()
    audit.record(
        session, "ach.file_sent", actor=actor, target=file,
        detail={"entries": file.entry_count, "total": str(file.total_credit)},
    )  # fmt: skip
    return True


def record_return(
    session: Session, entry: AchEntry, *, code: str, actor: User, on: date
) -> JournalEntry:
    """The bank returned a paid entry (`code`, R01 ...): its payment is reversed by a new
    entry (the payable is owed again and will be in the next file; a refund is approved and
    unpaid again). A return of an entry not paid, or returned already, is refused."""
    _check_staff(actor)
    code = code.strip().upper()
    if code not in RETURN_CODES:
        raise CommissionError(
            f"{code or 'an empty code'} is not a return reason code we know (R01, R02, ...)"
        )
    if entry.status is AchEntryStatus.RETURNED:
        raise CommissionError(
            f"entry {entry.trace_number} was already returned ({entry.return_code})"
        )
    if entry.status is not AchEntryStatus.PAID or entry.paid_entry_id is None:
        raise CommissionError("only an entry of a file marked sent can be returned")
    paid = session.get(JournalEntry, entry.paid_entry_id)
    reversal = ledger.reverse_entry(
        session,
        paid,
        entry_date=on,
        memo=f"ACH return {code} ({RETURN_CODES[code]}): trace {entry.trace_number}",
        source_type="ach_return",
        source_id=entry.id,
        created_by_id=actor.id,
    )
    if entry.refund_id is not None:
        refund = session.get(Refund, entry.refund_id)
        refund.status = RefundStatus.APPROVED  # owed again, to be paid again
        refund.paid_on = None
    entry.status = AchEntryStatus.RETURNED
    entry.return_code = code
    entry.returned_on = on
    entry.returned_by_id = actor.id
    entry.return_entry_id = reversal.id
    session.flush()
    audit.record(
        session, "ach.entry_returned", actor=actor, target=entry, group_id=entry.group_id,
        detail={"code": code, "amount": str(entry.amount), "trace": entry.trace_number},
    )  # fmt: skip
    return reversal


def return_advice(code: str) -> str:
    """What staff should do after a return, in a sentence for the page."""
    if code in DETAILS_WRONG:
        return (
            "The bank details look wrong: enter new ones (a second person confirms them) "
            "before the next file."
        )
    return "It goes in the next file."


def entry_by_trace(session: Session, trace: str) -> AchEntry:
    """The entry with this trace number (NotFound when none: the number is on the bank's
    return notice)."""
    entry = session.scalar(select(AchEntry).where(AchEntry.trace_number == trace.strip()))
    if entry is None:
        raise NotFound(f"no ACH entry has the trace number {trace.strip()}")
    return entry


def files(session: Session, limit: int = 50) -> list[AchFile]:
    """The files made, newest first."""
    return list(session.scalars(select(AchFile).order_by(AchFile.id.desc()).limit(limit)))


def paid_in_year(session: Session, year: int) -> list[dict]:
    """The 1099-NEC figure: per agency, commission paid by ACH in calendar `year` (the sent
    date), less what was returned in it; dollars to the cent, agencies paid nothing omitted."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    counts: dict[int, int] = defaultdict(int)
    rows = session.execute(
        select(AchEntry.agency_id, AchEntry.amount, AchFile.sent_on, AchEntry.returned_on)
        .join(AchFile, AchFile.id == AchEntry.file_id)
        .where(AchEntry.agency_id.is_not(None), AchFile.status == AchFileStatus.SENT)
    ).all()  # fmt: skip
    for agency_id, amount, sent_on, returned_on in rows:
        if start <= sent_on <= end:
            totals[agency_id] += amount
            counts[agency_id] += 1
        if returned_on is not None and start <= returned_on <= end:
            totals[agency_id] -= amount
    agencies = {a.id: a for a in session.scalars(select(BrokerAgency))}
    return [
        {"agency_code": agencies[a].code, "agency_name": agencies[a].name,
         "tax_id": agencies[a].tax_id or "", "payments": counts[a], "paid": totals[a]}
        for a in sorted(totals, key=lambda a: agencies[a].code)
        if totals[a] != 0
    ]  # fmt: skip


def describe(file: AchFile) -> str:
    return (
        f"ACH file {file.id}: {file.entry_count} entr{'y' if file.entry_count == 1 else 'ies'}, "
        f"{format_dollars(file.total_credit)}"
    )
