"""Outside collections (issue 20, item 8): referring a cancelled group (its reinstatement window
over) to a collection agency, moving it to referred (`states.move`); the referral's status as
the agency reports it (referred, in collection, recovered, closed, returned) with dated notes;
a decision to sue (the day, who, why); and the package the agency gets as one zip: the
statement PDF, every notice the group was sent (PDF), the contact log (CSV) and the invoices
(CSV), plus a cover sheet. What the agency recovers, and its fee, is recorded through
`charge_off.record_recovery` (the cash itself arrives through the payments path).

A bankruptcy stay forbids referring: the pre-petition balance is not collected."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.collections.states import delinquency_of, move
from billing_core.errors import AccessDenied, ValidationFailed
from billing_core.exports import Column, csv_bytes
from billing_core.models import EmployerGroup, Invoice, User
from billing_core.models.collections import DelinquencyState
from billing_core.models.collections_legal import (
    OPEN_REFERRAL,
    CollectionReferral,
    ReferralStatus,
)
from billing_core.models.enums import STAFF_ROLES
from billing_core.money import ZERO, format_dollars

S = DelinquencyState
STATUS_LABELS = {s: s.value.replace("_", " ").capitalize() for s in ReferralStatus}


def referrals(session: Session, group_id: int) -> list[CollectionReferral]:
    """The group's referrals, newest first."""
    return list(
        session.scalars(
            select(CollectionReferral)
            .where(CollectionReferral.group_id == group_id)
            .order_by(CollectionReferral.referred_on.desc(), CollectionReferral.id.desc())
        )
    )


def open_referral(session: Session, group_id: int) -> CollectionReferral | None:
    """The group's referral the agency still works (referred or in collection), if any."""
    return session.scalar(
        select(CollectionReferral)
        .where(
            CollectionReferral.group_id == group_id, CollectionReferral.status.in_(OPEN_REFERRAL)
        )
        .order_by(CollectionReferral.id.desc())
        .limit(1)
    )


def _staff(actor: User) -> None:
    if actor is None or actor.role not in STAFF_ROLES:
        raise AccessDenied("only billing staff work referrals")


def refer(
    session: Session,
    group: EmployerGroup,
    *,
    agency: str,
    on: date,
    actor: User,
    notes: str = "",
) -> CollectionReferral:
    """Refer `group` to `agency` on `on` with its open receivable (dollars, net of credit):
    a group cancelled for non-payment whose reinstatement window ended before `on` moves to
    referred; a referred group whose agency returned or closed it goes to another. Refused
    under a bankruptcy stay, owing nothing, or while an agency still works it. Audited."""
    from billing_core.collections.bankruptcy import stays
    from billing_core.collections.charge_off import receivable

    _staff(actor)
    agency = (agency or "").strip()
    if not agency:
        raise ValidationFailed("name the collection agency")
    row = delinquency_of(session, group.id)
    if row.state is S.CANCELLED:
        if row.reinstate_until is not None and on <= row.reinstate_until:
            raise ValidationFailed(
                f"the reinstatement window runs to {row.reinstate_until}: payment in full "
                "still reinstates coverage; refer the group after it"
            )
    elif row.state is S.REFERRED:
        working = open_referral(session, group.id)
        if working is not None:
            raise ValidationFailed(
                f"{working.agency} still works this group (referred {working.referred_on}): "
                "record that it returned or closed it first"
            )
    else:
        raise ValidationFailed(
            f"group {group.group_number} is {row.state.value.replace('_', ' ')}: a group is "
            "referred once cancelled for non-payment"
        )
    stayed = stays(session, [group.id], on=on).get(group.id)
    if stayed is not None:
        raise ValidationFailed(
            f"the group filed for bankruptcy on {stayed}: the automatic stay forbids sending "
            "its pre-petition balance to an agency"
        )
    owed = receivable(session, group)
    balance = owed.open - owed.credit
    if balance <= 0:
        raise ValidationFailed(f"group {group.group_number} owes nothing to refer")
    referral = CollectionReferral(
        group_id=group.id,
        agency=agency[:200],
        referred_on=on,
        balance_referred=balance,
        status=ReferralStatus.REFERRED,
        status_on=on,
        notes=_note(on, notes),
        referred_by_id=actor.id,
        referred_by=actor.email,
    )
    session.add(referral)
    session.flush()
    if row.state is not S.REFERRED:
        move(
            session,
            row,
            S.REFERRED,
            reason=f"referred to {referral.agency} with {format_dollars(balance)} owed",
            effective_on=on,
            as_of=on,
            actor=actor,
        )
    audit.record(
        session,
        "collections.referred",
        actor=actor,
        target=referral,
        group_id=group.id,
        detail={"agency": referral.agency, "balance": str(balance), "on": on.isoformat()},
    )
    session.flush()
    return referral


def _note(on: date, text: str) -> str:
    text = (text or "").strip()
    return f"{on}: {text}" if text else ""


def update_referral(
    session: Session,
    referral: CollectionReferral,
    *,
    status: ReferralStatus,
    on: date,
    actor: User,
    note: str = "",
) -> CollectionReferral:
    """The agency's news on `on`: the referral's new `status` and a dated note (appended; the
    earlier notes stay). Audited."""
    _staff(actor)
    if on < referral.referred_on:
        raise ValidationFailed(f"the date is before the referral ({referral.referred_on})")
    if status is referral.status and not (note or "").strip():
        raise ValidationFailed("nothing changes: choose another status or write a note")
    before = referral.status
    referral.status, referral.status_on = status, on
    line = _note(on, f"{STATUS_LABELS[status]}: {note.strip()}" if note.strip() else "")
    if status is not before and not line:
        line = f"{on}: {STATUS_LABELS[status]}."
    referral.notes = "\n".join(x for x in (referral.notes, line) if x)
    audit.record(
        session,
        "collections.referral_updated",
        actor=actor,
        target=referral,
        group_id=referral.group_id,
        detail={"from": before.value, "to": status.value, "on": on.isoformat()},
    )
    session.flush()
    return referral


def decide_to_sue(
    session: Session, referral: CollectionReferral, *, on: date, actor: User, note: str
) -> CollectionReferral:
    """Record the decision to sue the group over the referred balance: the day, who, why
    (a reason is required). Recorded once. Audited."""
    _staff(actor)
    if referral.suit_decided_on is not None:
        raise ValidationFailed(
            f"the decision to sue was recorded on {referral.suit_decided_on} by "
            f"{referral.suit_decided_by}"
        )
    if len((note or "").strip()) < 3:
        raise ValidationFailed("say why the group is sued")
    referral.suit_decided_on = on
    referral.suit_decided_by = actor.email
    referral.suit_note = note.strip()[:1000]
    audit.record(
        session,
        "collections.suit_decided",
        actor=actor,
        target=referral,
        group_id=referral.group_id,
        detail={"on": on.isoformat()},
    )
    session.flush()
    return referral


# --------------------------------------------------------------------------- the package

CONTACT_COLUMNS = [
    Column("When", "date"),
    Column("Kind"),
    Column("By"),
    Column("Outcome"),
    Column("Next follow-up", "date"),
]
INVOICE_COLUMNS = [
    Column("Invoice"),
    Column("Period start", "date"),
    Column("Period end", "date"),
    Column("Issued", "date"),
    Column("Due", "date"),
    Column("Status"),
    Column("Charges", "money"),
    Column("Total due (with balance forward)", "money"),
    Column("Open", "money"),
]


def package_name(group: EmployerGroup, referral: CollectionReferral) -> str:
    return f"referral-{group.group_number}-{referral.referred_on.isoformat()}"


def referral_package(
    session: Session,
    referral: CollectionReferral,
    today: date,
    statement_pdf: Callable[[object], bytes],
) -> bytes:
    """The agency's package as one zip (bytes): `cover.txt` (the group, the agency, the
    balance referred and now), `statement.pdf` (the paid-vs-billed statement from the oldest
    bill still open, or the last 12 months, to `today`; `statement_pdf` renders a
    billing_core.reports.statements.Statement, the portal's renderer), `notices/<date>-<key>.pdf`
    for every notice and letter the group was sent, `contact-log.csv` and `invoices.csv` (every
    issued or void bill, its total and what is open). Only this group's records. Reads only."""
    from billing_core.billing.enrollment import add_months, month_start
    from billing_core.collections.charge_off import receivable
    from billing_core.collections.contacts import contacts
    from billing_core.collections.notices import notice_pdf, notices
    from billing_core.reports.statements import MAX_MONTHS, default_range, paid_vs_billed

    group = session.get(EmployerGroup, referral.group_id)
    owed = receivable(session, group)
    bills = list(
        session.scalars(
            select(Invoice)
            .where(Invoice.group_id == group.id)
            .order_by(Invoice.period_start, Invoice.id)
        )
    )
    open_by_id = {i.id: amount for i, amount in owed.bills}
    start = default_range(today)[0]
    if owed.bills:
        oldest = min(i.period_start for i, _ in owed.bills)
        start = max(min(start, month_start(oldest)), add_months(month_start(today), 1 - MAX_MONTHS))
    statement = paid_vs_billed(session, group, start, today, today, with_bridge=False)
    base = package_name(group, referral)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{base}/cover.txt", _cover(session, group, referral, owed, today))
        archive.writestr(f"{base}/statement.pdf", statement_pdf(statement))
        for n in notices(session, group.id):
            archive.writestr(f"{base}/notices/{n.done_on.isoformat()}-{n.key}.pdf", notice_pdf(n))
        archive.writestr(
            f"{base}/contact-log.csv",
            csv_bytes(
                CONTACT_COLUMNS,
                (
                    (c.at, c.kind.value, c.by, c.outcome, c.next_follow_up_on)
                    for c in reversed(contacts(session, group.id))
                ),
            ),
        )
        archive.writestr(
            f"{base}/invoices.csv",
            csv_bytes(
                INVOICE_COLUMNS,
                (
                    (
                        i.invoice_number,
                        i.period_start,
                        i.period_end,
                        i.issued_on,
                        i.due_on,
                        i.status.value,
                        i.current_premium + i.retro_total + i.fees_total,
                        i.total_due,
                        open_by_id.get(i.id, 0),
                    )
                    for i in bills
                ),
            ),
        )
    return buffer.getvalue()


def _cover(session, group: EmployerGroup, referral: CollectionReferral, owed, today: date) -> str:
    from billing_core.collections.charge_off import charged_off, recoveries

    lines = [
        f"Referral to {referral.agency}",
        f"Group: {group.name} ({group.group_number})",
        f"Referred on: {referral.referred_on}",
        f"Balance referred: {format_dollars(referral.balance_referred)}",
        f"Open on our books on {today}: {format_dollars(owed.open - owed.credit)}",
    ]
    written = charged_off(session, group.id)
    if written is not None:
        lines.append(
            f"Charged off to bad debt on {written.charged_off_on}: "
            f"{format_dollars(written.amount)} (still owed by the group; recoveries are ours)"
        )
    got = [r for r in recoveries(session, group.id) if r.referral_id == referral.id]
    if got:
        gross = sum((r.amount for r in got), ZERO)
        fees = sum((r.fee for r in got), ZERO)
        lines.append(
            f"Recovered through this referral: {format_dollars(gross)} "
            f"(agency fees {format_dollars(fees)})"
        )
    lines += [
        f"Status: {STATUS_LABELS[referral.status]} (since {referral.status_on})",
        "",
        "Contents: statement.pdf (paid vs billed), notices/ (every notice sent),",
        "contact-log.csv (every contact with the group), invoices.csv (every bill).",
    ]
    if referral.notes:
        lines += ["", "Notes:", referral.notes]
    return "\r\n".join(lines) + "\r\n"
