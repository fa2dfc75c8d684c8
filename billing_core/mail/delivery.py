"""Delivery of the mail outbox (billing_core.mail) through SMTP: STARTTLS, SMTPS or a plain
local relay. `send_queued`, run by `flask mail send` from cron and, right after a password
reset, by a job (`send_soon`), sends what is due. A run claims the messages it sends by moving
them from `queued` to `sending` in one conditional UPDATE, so a second run at the same time
skips them, and records each result as it goes: a message recorded as sent is never sent again.
A failed attempt is retried later (RETRY_DELAYS), up to MAX_ATTEMPTS, then `failed`; so is one
the server refuses for good (a 5xx) or one still unsent when it expires. `last_error` keeps the
server's answer or the connection error for staff, never a password. Without SMTP_HOST nothing
is sent and nothing changes: messages stay queued."""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from billing_core.config import Settings
from billing_core.db import in_ids, utcnow
from billing_core.errors import JobQueueUnavailable
from billing_core.mail import KINDS, PREFERENCES_PATH
from billing_core.models import OutboxMessage
from billing_core.models.enums import MailStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# The wait after the 1st, 2nd, ... failed attempt (the 6th failure gives up): about 5.5 hours.
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 240))
# A `sending` claim older than this belongs to a run that died: the message is tried again.
CLAIM_TIMEOUT = timedelta(minutes=60)
SMTP_TIMEOUT_SECONDS = 20
SEND_LIMIT = 200  # messages one run claims
MAIL_QUEUE = "mail"
SEND_JOB = "billing_core.mail.delivery.send_queued_job"


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
