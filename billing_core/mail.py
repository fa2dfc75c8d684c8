"""The mail outbox: what the portal tells employers (an invoice ready; a census upload received,
returned or approved; a payment received, failed or returned; a refund decided) and the
password-reset mail. A message is queued in the transaction of the event it tells about, so it
exists exactly when the event does; each employer user chooses which kinds they receive.

Delivery (`send_queued`, run by `flask mail send` from cron and, right after a password
reset, by a job) sends what is due through SMTP (STARTTLS, SMTPS or a plain local relay). A
run claims the messages it sends by moving them from `queued` to `sending` in one conditional
UPDATE, so a second run at the same time skips them, and records each result as it goes: a
message recorded as sent is never sent again. A failed attempt is retried later (RETRY_DELAYS),
up to MAX_ATTEMPTS, then `failed`; so is one the server refuses for good (a 5xx) or one still
unsent when it expires. `last_error` keeps the server's answer or the connection error for
staff, never a password. Without SMTP_HOST nothing is sent: messages stay queued in the table
(and the log), as before."""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from billing_core.access import payment_seen, upload_seen
from billing_core.config import Settings
from billing_core.db import in_ids, utcnow
from billing_core.errors import JobQueueUnavailable, ValidationFailed
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

MAX_ATTEMPTS = 6
# The wait after the 1st, 2nd, ... failed attempt (the 6th failure gives up): about 5.5 hours.
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 240))
# A message not sent within this is given up: its news is stale by then.
DEFAULT_LIFETIME = timedelta(days=7)
# A `sending` claim older than this belongs to a run that died: the message is tried again.
CLAIM_TIMEOUT = timedelta(minutes=60)
SMTP_TIMEOUT_SECONDS = 20
SEND_LIMIT = 200  # messages one run claims
MAIL_QUEUE = "mail"
SEND_JOB = "billing_core.mail.send_queued_job"
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


# --------------------------------------------------------------------------- delivery


@dataclass
class DeliveryRun:
    """What one run did, by message id: `sent`; `retrying` (failed this time, queued again);
    `failed` (given up: out of attempts or refused for good); `expired` (given up unsent);
    `waiting`, queued messages left for a later run (not due yet, or beyond this run's limit);
    `error`, why the server could not be reached. `configured` False: nothing was tried."""

    configured: bool
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    waiting: int = 0
    error: str | None = None

    def as_dict(self) -> dict:
        return {
            "configured": self.configured,
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "expired": self.expired,
            "waiting": self.waiting,
            "error": self.error,
        }


Connect = Callable[[Settings], smtplib.SMTP]


def connect(settings: Settings, context: ssl.SSLContext | None = None) -> smtplib.SMTP:
    """An SMTP connection as configured: SMTPS, or plain upgraded by STARTTLS (refused if the
    server does not offer it), or plain for a local relay; logged in when SMTP_USER is set.
    Certificates are verified (the system's CAs unless `context` says otherwise)."""
    host, port = settings.smtp_host, settings.smtp_port
    if settings.smtp_tls == "ssl":
        context = context or ssl.create_default_context()
        smtp = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=context or ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


def compose(message: OutboxMessage, settings: Settings) -> EmailMessage:
    """The mail for an outbox message: its body, then the link to its portal page and, for
    the kinds an employer chooses, where to choose. The Message-ID is the outbox row's own, so
    a receiver can tell a message sent again after a crash from a new one."""
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = message.to_address
    mail["Subject"] = message.subject
    created = message.created_at or utcnow()
    mail["Date"] = format_datetime(created.astimezone(UTC))
    mail["Message-ID"] = (
        f"<outbox-{message.id}.{int(created.timestamp())}@{_domain(settings.mail_from)}>"
    )
    text = message.body.rstrip()
    if message.link_path:
        text += f"\n\nOpen it in the portal:\n{settings.portal_url}{message.link_path}"
    if message.kind in KINDS:
        text += (
            "\n\n--\nYou receive this as a user of the premium billing portal. Choose which "
            f"messages you receive: {settings.portal_url}{PREFERENCES_PATH}"
        )
    mail.set_content(text + "\n")
    return mail


def _describe(error: BaseException, settings: Settings) -> str:
    """The error in words for staff: the server's code and answer, or what failed on the
    connection; any configured secret is blanked out."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        text = "; ".join(
            f"{address} refused: {code} {_text(answer)}"
            for address, (code, answer) in error.recipients.items()
        )
    elif isinstance(error, smtplib.SMTPResponseException):
        text = f"the server answered {error.smtp_code} {_text(error.smtp_error)}"
    elif isinstance(error, smtplib.SMTPServerDisconnected):
        text = f"the server closed the connection ({error or 'no reason given'})"
    elif isinstance(error, smtplib.SMTPException):
        text = f"{type(error).__name__}: {error}"
    elif isinstance(error, ssl.SSLError):
        text = f"TLS with {settings.smtp_host}:{settings.smtp_port} failed: {error}"
    elif isinstance(error, OSError):
        reason = error.strerror or str(error) or type(error).__name__
        text = f"could not reach {settings.smtp_host}:{settings.smtp_port}: {reason}"
    else:
        text = f"{type(error).__name__}: {error}"
    for secret in (settings.smtp_password,):
        if secret:
            text = text.replace(secret, "***")
    return text[:1000]


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)


def _permanent(error: BaseException) -> bool:
    """The server refused this message for good (a 5xx for its recipient or its content):
    trying again would not help. A refused sender or login is the configuration's fault, so
    those are retried (and fail only once out of attempts)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPDataError):
        return error.smtp_code >= 500
    # An address in UTF-8 and a server without SMTPUTF8: this message can never go there.
    return isinstance(error, smtplib.SMTPNotSupportedError)


def _connection_lost(error: BaseException) -> bool:
    """The connection is gone (smtplib's errors are OSErrors too, but most leave it usable)."""
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return True
    return isinstance(error, OSError) and not isinstance(error, smtplib.SMTPException)


def _release(message: OutboxMessage) -> None:
    message.claim_token = None
    message.claimed_at = None


def _failed_attempt(message: OutboxMessage, error: str, now: datetime, *, final: bool) -> bool:
    """Count the attempt; queue the message again after its delay, or give up (True)."""
    message.attempts = (message.attempts or 0) + 1
    message.last_error = error
    _release(message)
    if final or message.attempts >= MAX_ATTEMPTS:
        message.status = MailStatus.FAILED
        message.next_attempt_at = None
        return True
    message.status = MailStatus.QUEUED
    message.next_attempt_at = now + RETRY_DELAYS[min(message.attempts, len(RETRY_DELAYS)) - 1]
    return False


def _record_failure(run: DeliveryRun, message: OutboxMessage, error: str, now, *, final=False):
    if _failed_attempt(message, error, now, final=final):
        run.failed.append(message.id)
    else:
        run.retrying.append(message.id)


def _due(now: datetime):
    return (OutboxMessage.status == MailStatus.QUEUED) & or_(
        OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now
    )


def _recover_and_expire(session: Session, run: DeliveryRun, now: datetime) -> None:
    """Claims of runs that died go back to the queue (counted as an attempt); queued messages
    past their expiry are given up."""
    stale = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == MailStatus.SENDING,
            OutboxMessage.claimed_at < now - CLAIM_TIMEOUT,
        )
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    for message in stale:
        _record_failure(run, message, "the delivery run sending it stopped; trying again", now)
    expired = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == MailStatus.QUEUED, OutboxMessage.expires_at <= now)
        .execution_options(populate_existing=True)
    ).all()
    for message in expired:
        message.status = MailStatus.FAILED
        message.next_attempt_at = None
        message.last_error = (
            f"expired unsent after {message.attempts} attempt(s)"
            + (f"; last error: {message.last_error}" if message.last_error else "")
        )[:1000]
        run.expired.append(message.id)
    session.commit()


def _claim(
    session: Session, now: datetime, limit: int, message_ids: Sequence[int] | None
) -> list[OutboxMessage]:
    """Move up to `limit` due messages to `sending` under a token of this run, and commit: a
    run that comes later (or at the same time: the UPDATE re-checks the status of each row it
    locks) finds them claimed and leaves them alone."""
    due = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
    if message_ids is not None:
        due = due.where(in_ids(OutboxMessage.id, message_ids))
    ids = list(session.scalars(due))
    if not ids:
        return []
    token = secrets.token_hex(16)
    session.execute(
        update(OutboxMessage)
        .where(in_ids(OutboxMessage.id, ids), _due(now))
        .values(status=MailStatus.SENDING, claim_token=token, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.claim_token == token)
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
    )


def send_queued(
    session: Session,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = SEND_LIMIT,
    message_ids: Sequence[int] | None = None,
    connector: Connect = connect,
) -> DeliveryRun:
    """Send the due messages (all, or those of `message_ids` that are due) through SMTP, at
    most `limit`, oldest first, over one connection. A job: it commits as it goes (the claim,
    then each message's result), so whatever happens to the run, a message recorded as sent is
    never sent again. A server that cannot be reached counts an attempt on every message
    claimed; the run is safe to repeat at any time (cron every minute).

    Without SMTP configured it sends nothing and changes nothing: messages stay queued."""
    now = now or utcnow()
    run = DeliveryRun(configured=settings.mail_configured)
    if not run.configured:
        run.waiting = _count_queued(session)
        return run
    _recover_and_expire(session, run, now)
    claimed = _claim(session, now, limit, message_ids)
    if claimed:
        _deliver(session, settings, claimed, run, now, connector)
    run.waiting = _count_queued(session)
    return run


def _count_queued(session: Session) -> int:
    return session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == MailStatus.QUEUED)
    )


def _deliver(session, settings, claimed, run: DeliveryRun, now, connector: Connect) -> None:
    try:
        smtp = connector(settings)
    except OSError as error:  # smtplib's errors included
        run.error = _describe(error, settings)
        log.warning("mail not sent: %s", run.error)
        for message in claimed:
            _record_failure(run, message, run.error, now)
        session.commit()
        return
    try:
        for position, message in enumerate(claimed):
            try:
                email = compose(message, settings)
            except ValueError as error:  # a header the mail format cannot carry
                _record_failure(run, message, f"cannot be written: {error}", now, final=True)
                session.commit()
                continue
            try:
                smtp.send_message(email)
            except UnicodeError as error:  # an address the server cannot take (no SMTPUTF8)
                _record_failure(run, message, f"cannot be sent: {error}", now, final=True)
            except OSError as error:  # smtplib's errors included
                described = _describe(error, settings)
                _record_failure(run, message, described, now, final=_permanent(error))
                if _connection_lost(error):
                    run.error = described
                    for rest in claimed[position + 1 :]:
                        _record_failure(run, rest, described, now)
                    session.commit()
                    return
            else:
                message.status = MailStatus.SENT
                message.sent_at = utcnow()
                message.attempts = (message.attempts or 0) + 1
                message.next_attempt_at = None
                message.last_error = None
                _release(message)
                run.sent.append(message.id)
            session.commit()
    finally:
        try:
            smtp.quit()
        except OSError:
            smtp.close()


def send_queued_job(session: Session, *message_ids: int) -> dict:
    """The background job (RQ): `send_queued` with the worker's settings, for the given
    messages (all that are due when none are given)."""
    settings = Settings.from_env()
    return send_queued(session, settings, message_ids=list(message_ids) or None).as_dict()


def send_soon(
    settings: Settings, session_factory: sessionmaker[Session], message_ids: Sequence[int]
) -> DeliveryRun | None:
    """Send these just-committed messages now rather than at the next cron run (a password
    reset is wanted at once): a job on the mail queue with REDIS_URL, else here, in a session
    of its own. None when SMTP is not configured or the job was queued; a failure is recorded
    on the messages and left to the next run."""
    if not settings.mail_configured or not message_ids:
        return None
    if settings.redis_url:
        from billing_core.jobs import enqueue

        try:
            enqueue(SEND_JOB, *message_ids, settings=settings, queue_name=MAIL_QUEUE)
        except JobQueueUnavailable as error:
            log.warning("mail %s left for the next run: %s", list(message_ids), error)
        return None
    with session_factory() as session:
        return send_queued(session, settings, message_ids=message_ids)
