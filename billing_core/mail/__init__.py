"""The mail outbox: what the portal tells employers (an invoice ready; a census upload received,
returned or approved; a payment received, failed or returned; a refund decided) and the
password-reset mail. A message is queued in the transaction of the event it tells about, so it
exists exactly when the event does; each employer user chooses which kinds they receive.

Delivery through SMTP is delivery.py (`send_queued`, `send_soon`). Without SMTP_HOST nothing is
sent: messages stay queued in the table (and the log)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.access import payment_seen, upload_seen
from billing_core.db import in_ids, utcnow
from billing_core.errors import ValidationFailed
from billing_core.models import (
    BillingSubgroup,
    EmployerGroup,
    Invoice,
    MailPreference,
    OutboxMessage,
    Payment,
    Refund,
    Upload,
    User,
    UserGroupAccess,
)
from billing_core.models.enums import MailStatus, PaymentMethod, RefundStatus, Role
from billing_core.money import format_dollars

log = logging.getLogger(__name__)

# The kinds an employer user may turn off, with the label of their choice on the account page.
KINDS: dict[str, str] = {
    "invoice_ready": "A new invoice is ready (amount due and due date)",
    "upload_received": "A census file was submitted and is waiting for review",
    "upload_returned": "A census file was returned to us to correct (with the reason)",
    "upload_approved": "A census file was approved and applied",
    "payment_received": "A payment was received",
    "payment_failed": "A payment failed or was returned by the bank",
    "refund_decided": "A refund was approved or rejected",
}
PASSWORD_RESET = "password_reset"  # nosec B105 # a kind of message; always sent (the way back in)
PREFERENCES_PATH = "/account/notifications"

# A message not sent within this is given up: its news is stale by then.
DEFAULT_LIFETIME = timedelta(days=7)
_SUPPRESSED = "billing_core.mail.suppressed"


def _on(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


# --------------------------------------------------------------------------- queueing


@contextmanager
def suppressed(session: Session) -> Iterator[None]:
    """Queue nothing on `session` inside this block: the demo's made-up history of bills and
    payments tells nobody anything."""
    session.info[_SUPPRESSED] = session.info.get(_SUPPRESSED, 0) + 1
    try:
        yield
    finally:
        session.info[_SUPPRESSED] -= 1


def queue(
    session: Session,
    to: str,
    subject: str,
    body: str,
    *,
    kind: str,
    user_id: int | None = None,
    group_id: int | None = None,
    link_path: str | None = None,
    expires_at: datetime | None = None,
) -> OutboxMessage | None:
    """Put one message in the outbox (flushes nothing; the caller's unit of work commits it
    with the event). `link_path` is a portal path (PORTAL_URL is put in front when it is
    sent); `expires_at` (default: DEFAULT_LIFETIME from now) is when an unsent message is given
    up. None inside `suppressed`."""
    if session.info.get(_SUPPRESSED):
        return None
    now = utcnow()
    message = OutboxMessage(
        to_address=to.strip(),
        subject=" ".join(subject.split())[:300],  # one line, whatever a file name held
        body=body,
        kind=kind,
        status=MailStatus.QUEUED,
        user_id=user_id,
        group_id=group_id,
        link_path=link_path,
        attempts=0,
        created_at=now,
        expires_at=expires_at or now + DEFAULT_LIFETIME,
    )
    session.add(message)
    log.info("mail queued (%s) to %s: %s", kind, to, subject)
    return message


def preferences(session: Session, user: User) -> dict[str, bool]:
    """Each kind in KINDS -> whether `user` receives it (on unless turned off)."""
    chosen = dict(
        session.execute(
            select(MailPreference.kind, MailPreference.receive).where(
                MailPreference.user_id == user.id
            )
        ).all()
    )
    return {kind: chosen.get(kind, True) for kind in KINDS}


def set_preferences(session: Session, user: User, chosen: Mapping[str, bool]) -> list[str]:
    """Record which kinds `user` (an employer user) receives; kinds not named keep their
    setting. Returns the kinds turned off."""
    if user.role is not Role.EMPLOYER:
        raise ValidationFailed("only employer users choose which messages they receive")
    unknown = sorted(set(chosen) - set(KINDS))
    if unknown:
        raise ValidationFailed("unknown kinds of message: " + ", ".join(unknown))
    rows = {
        row.kind: row
        for row in session.scalars(select(MailPreference).where(MailPreference.user_id == user.id))
    }
    for kind, receive in chosen.items():
        row = rows.get(kind)
        if row is None:
            session.add(MailPreference(user_id=user.id, kind=kind, receive=bool(receive)))
        elif row.receive != bool(receive):
            row.receive = bool(receive)
    session.flush()
    return [kind for kind, on in preferences(session, user).items() if not on]


def recipients(
    session: Session, group_ids: Iterable[int], kind: str
) -> dict[int, list[tuple[User, frozenset[int] | None]]]:
    """Per group, the active employer users who may see it and have not turned `kind` off,
    each with the subgroups they are limited to (None: the whole group). One query."""
    group_ids = sorted(set(group_ids))
    if not group_ids:
        return {}
    turned_off = select(MailPreference.user_id).where(
        MailPreference.kind == kind, MailPreference.receive.is_(False)
    )
    rows = session.execute(
        select(UserGroupAccess.group_id, UserGroupAccess.subgroup_id, User)
        .join(User, User.id == UserGroupAccess.user_id)
        .where(
            in_ids(UserGroupAccess.group_id, group_ids),
            User.role == Role.EMPLOYER,
            User.is_active.is_(True),
            User.id.not_in(turned_off),
        )
        .order_by(UserGroupAccess.group_id, User.id)
    ).all()
    grants: dict[tuple[int, int], tuple[User, set[int | None]]] = {}
    for group_id, subgroup_id, user in rows:
        grants.setdefault((group_id, user.id), (user, set()))[1].add(subgroup_id)
    result: dict[int, list[tuple[User, frozenset[int] | None]]] = defaultdict(list)
    for (group_id, _), (user, subgroups) in grants.items():
        limit = None if None in subgroups else frozenset(s for s in subgroups if s is not None)
        result[group_id].append((user, limit))
    return result


def _sees(limit: frozenset[int] | None, subgroup_id: int | None) -> bool:
    """A user limited to some subgroups hears about those and about the whole group's things
    (its consolidated invoice, its payments), as the portal shows them."""
    return limit is None or subgroup_id is None or subgroup_id in limit


def _queue_for_group(
    session: Session,
    group: EmployerGroup,
    kind: str,
    subject: str,
    body: str,
    link_path: str,
    *,
    subgroup_id: int | None = None,
    people: dict[int, list[tuple[User, frozenset[int] | None]]] | None = None,
    limited_sees: Callable[[User, frozenset[int]], bool] | None = None,
) -> list[OutboxMessage]:
    """Mail the group's users of `kind`; a user limited to some subgroups hears of it when
    `limited_sees(user, their subgroups)` says so (an upload, a payment: billing_core.access),
    else when it is about one of their subgroups or the whole group (`subgroup_id` None)."""
    if session.info.get(_SUPPRESSED):
        return []
    if people is None:
        people = recipients(session, [group.id], kind)
    queued = []
    for user, limit in people.get(group.id, []):
        if limit is not None and limited_sees is not None:
            if not limited_sees(user, limit):
                continue
        elif not _sees(limit, subgroup_id):
            continue
        message = queue(
            session,
            user.email,
            subject,
            f"Hello {user.full_name},\n\n{body}",
            kind=kind,
            user_id=user.id,
            group_id=group.id,
            link_path=link_path,
        )
        if message is not None:
            queued.append(message)
    return queued


def _group_name(group: EmployerGroup, subgroup: BillingSubgroup | None = None) -> str:
    name = f"{group.name} (group {group.group_number})"
    return f"{name}, {subgroup.name}" if subgroup is not None else name


# --------------------------------------------------------------------------- the events


def invoices_ready(session: Session, invoices: Sequence[Invoice]) -> list[OutboxMessage]:
    """An "invoice ready" message per invoice to each employer user of its group who sees it
    and wants it: the total due (dollars, as on the invoice), the due date and the invoice's
    page. Two queries however many invoices a billing run issued."""
    if not invoices or session.info.get(_SUPPRESSED):
        return []
    people = recipients(session, [i.group_id for i in invoices], "invoice_ready")
    if not people:
        return []
    queued = []
    for invoice in invoices:
        if invoice.group_id not in people:
            continue
        group = session.get(EmployerGroup, invoice.group_id)
        subgroup = (
            session.get(BillingSubgroup, invoice.subgroup_id) if invoice.subgroup_id else None
        )
        period = f"{invoice.period_start:%b %Y}"
        if invoice.period_end.replace(day=1) != invoice.period_start.replace(day=1):
            period += f" to {invoice.period_end:%b %Y}"
        total = format_dollars(invoice.total_due)
        body = (
            f"Invoice {invoice.invoice_number} for {_group_name(group, subgroup)}, covering "
            f"{period}, is ready.\n\n"
            f"Total due: {total}\n"
            f"Due date: {_on(invoice.due_on)}\n\n"
            "Open the invoice to see what changed since the last bill, download it as PDF, "
            "or pay it online."
        )
        queued += _queue_for_group(
            session,
            group,
            "invoice_ready",
            f"Invoice {invoice.invoice_number} is ready: {total} due {_on(invoice.due_on)}",
            body,
            f"/employer/groups/{group.id}/invoices/{invoice.id}",
            subgroup_id=invoice.subgroup_id,
            people=people,
        )
    return queued


def _upload_path(upload: Upload) -> str:
    return f"/employer/groups/{upload.group_id}/uploads/{upload.id}"


def upload_received(session: Session, upload: Upload) -> list[OutboxMessage]:
    """A census upload was submitted: it waits for the billing team's review."""
    group = session.get(EmployerGroup, upload.group_id)
    body = (
        f"The census file {upload.original_filename} for {_group_name(group)} was submitted "
        "and is waiting for review by the billing team. You will hear from us when it is "
        "approved, or returned with what to correct."
    )
    return _queue_for_group(
        session,
        group,
        "upload_received",
        f"Census file received: {upload.original_filename}",
        body,
        _upload_path(upload),
        limited_sees=lambda user, limit: upload_seen(upload, limit, user.id),
    )


def upload_returned(session: Session, upload: Upload) -> list[OutboxMessage]:
    """The billing team returned a submitted upload with a reason (upload.return_reason)."""
    group = session.get(EmployerGroup, upload.group_id)
    body = (
        f"The billing team returned the census file {upload.original_filename} for "
        f"{_group_name(group)}. Nothing in it was applied.\n\n"
        f"What to correct:\n{upload.return_reason}\n\n"
        "Send a corrected file from the census uploads page."
    )
    return _queue_for_group(
        session,
        group,
        "upload_returned",
        f"Census file returned to you: {upload.original_filename}",
        body,
        _upload_path(upload),
        limited_sees=lambda user, limit: upload_seen(upload, limit, user.id),
    )


def upload_approved(session: Session, upload: Upload) -> list[OutboxMessage]:
    """The billing team approved an upload: enrollment is changed; differences for months
    already billed come on the next bill."""
    group = session.get(EmployerGroup, upload.group_id)
    body = (
        f"The census file {upload.original_filename} for {_group_name(group)} was approved "
        "and its changes are applied to enrollment. Premium differences for months already "
        "billed appear on your next bill."
    )
    return _queue_for_group(
        session,
        group,
        "upload_approved",
        f"Census file approved: {upload.original_filename}",
        body,
        _upload_path(upload),
        limited_sees=lambda user, limit: upload_seen(upload, limit, user.id),
    )


METHOD_WORDS = {
    PaymentMethod.CHECK: "check",
    PaymentMethod.WIRE: "wire",
    PaymentMethod.ACH_CREDIT: "ACH credit",
    PaymentMethod.ACH_DEBIT: "bank account (ACH)",
    PaymentMethod.CARD: "card",
    PaymentMethod.LOCKBOX: "check (lockbox)",
}


def _payment_words(payment: Payment) -> str:
    method = METHOD_WORDS.get(payment.method, payment.method.value.replace("_", " "))
    reference = f", reference {payment.reference}" if payment.reference else ""
    return f"{format_dollars(payment.amount)} by {method}{reference}"


def _payments_path(group_id: int) -> str:
    return f"/employer/groups/{group_id}/payments"


def payment_received(session: Session, payment: Payment) -> list[OutboxMessage]:
    """A payment for a group has been received (settled). Cash in suspense tells nobody."""
    if payment.group_id is None:
        return []
    group = session.get(EmployerGroup, payment.group_id)
    body = (
        f"We received your payment of {_payment_words(payment)} for {_group_name(group)} on "
        f"{_on(payment.received_on)}. Thank you.\n\nIt is applied to the invoices you chose, "
        "or the oldest open first; anything left is credit on your account."
    )
    return _queue_for_group(
        session,
        group,
        "payment_received",
        f"Payment received: {format_dollars(payment.amount)}",
        body,
        _payments_path(group.id),
        limited_sees=lambda user, limit: payment_seen(session, payment, limit, user.id),
    )


def payment_failed(session: Session, payment: Payment, *, returned: bool) -> list[OutboxMessage]:
    """A payment did not go through (`returned` False: declined or failed before settling) or
    came back after it was received (NSF, ACH return, chargeback): what is open again."""
    if payment.group_id is None:
        return []
    group = session.get(EmployerGroup, payment.group_id)
    reason = payment.status_reason or "no reason was given"
    if returned:
        subject = f"Payment returned: {format_dollars(payment.amount)}"
        body = (
            f"Your payment of {_payment_words(payment)} for {_group_name(group)} was returned "
            f"by the bank ({reason}). The invoices it paid are open again; a returned-payment "
            "fee may be charged on your next bill. Please pay them another way."
        )
    else:
        subject = f"Payment did not go through: {format_dollars(payment.amount)}"
        body = (
            f"Your payment of {_payment_words(payment)} for {_group_name(group)} did not go "
            f"through ({reason}). Nothing was charged and your invoices are still open."
        )
    return _queue_for_group(
        session,
        group,
        "payment_failed",
        subject,
        body,
        _payments_path(group.id),
        limited_sees=lambda user, limit: payment_seen(session, payment, limit, user.id),
    )


def refund_decided(session: Session, refund: Refund) -> list[OutboxMessage]:
    """A refund of a group's credit was approved (how it is paid) or rejected (why)."""
    group = session.get(EmployerGroup, refund.group_id)
    amount = format_dollars(refund.amount)
    if refund.status is RefundStatus.APPROVED:
        online = refund.payment.method in (PaymentMethod.CARD, PaymentMethod.ACH_DEBIT)
        how = (
            "It goes back to the card or bank account the payment came from."
            if online
            else "It is paid by check."
        )
        subject = f"Refund approved: {amount}"
        body = f"A refund of {amount} of credit for {_group_name(group)} was approved. {how}"
    else:
        subject = f"Refund not approved: {amount}"
        body = (
            f"A refund of {amount} of credit for {_group_name(group)} was not approved: "
            f"{refund.decision_note}\n\nThe credit stays on your account."
        )
    return _queue_for_group(
        session,
        group,
        "refund_decided",
        subject,
        body,
        _payments_path(group.id),
        limited_sees=lambda user, limit: False,  # the credit is the group's, not a location's
    )
