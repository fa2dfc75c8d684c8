"""Mail that is sent: the outbox delivered to a real SMTP server in this process (aiosmtpd), with
retries while the server is down, a message never sent twice (even by two runs at once),
permanent refusals and expiry given up, STARTTLS and login, each employer's choice of what they
receive, and without SMTP configured nothing sent (messages stay in the table as before)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from billing_core import mail
from billing_core.billing.invoicing import issue_billing_run
from billing_core.census.uploads import approve_upload, return_upload, submit_upload
from billing_core.config import Settings
from billing_core.errors import ConfigurationError
from billing_core.mail import delivery
from billing_core.models import OutboxMessage
from billing_core.models.enums import (
    MailStatus,
    PaymentMethod,
    PaymentSource,
    Role,
    UploadKind,
    UploadStatus,
)
from billing_core.money import D
from billing_core.payments.receipts import fail_payment, record_payment, return_payment
from billing_core.payments.refunds import approve_refund, reject_refund, request_refund
from tests.factories import (
    PRODUCTION_ENV,
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_subgroup,
    make_user,
    receive_upload,
    scenario,
)
from tests.smtp_server import SmtpServer, free_port, self_signed_tls

FEB = date(2027, 2, 1)
NOW = datetime.now(UTC)  # messages are stamped with the real time; runs are told theirs


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def settings_for(port: int, **changes) -> Settings:
    values = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": "none",
        "mail_from": "Premium Billing <billing@carrier.test>",
        "portal_url": "https://portal.test",
    }
    return Settings().with_overrides(**{**values, **changes})


def outbox(session, **where) -> list[OutboxMessage]:
    session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    for name, value in where.items():
        query = query.where(getattr(OutboxMessage, name) == value)
    return list(session.scalars(query))


def put(session, n: int = 2, **kw) -> list[OutboxMessage]:
    messages = [
        mail.queue(session, f"hr{i}@example.test", f"Subject {i}", f"Body {i}", kind="test", **kw)
        for i in range(n)
    ]
    session.commit()
    return messages


@pytest.fixture
def billed_group(session):
    """A group with a dental plan (FAM 112.40 + EE 38.20), two HR users (one who turned off
    "invoice ready"), a user of another group, and a staff user."""
    group = make_group(session, name="Harbor Freight Lines")
    plan = make_dental_plan(session, group)
    enroll(session, make_member(session, group, last_name="Abbott"), plan, "FAM")
    enroll(session, make_member(session, group, last_name="Baker"), plan, "EE")
    wants = make_user(session, Role.EMPLOYER, groups=[group], email="hr@harbor.test")
    quiet = make_user(session, Role.EMPLOYER, groups=[group], email="quiet@harbor.test")
    mail.set_preferences(session, quiet, {"invoice_ready": False})
    other = make_group(session)
    make_user(session, Role.EMPLOYER, groups=[other], email="hr@other.test")
    make_user(session, Role.BILLING_SPECIALIST, email="staff@carrier.test")
    session.commit()
    return group, wants, quiet


# --------------------------------------------------------------------------- delivery


def test_invoice_ready_arrives_after_a_billing_run(session, smtp, billed_group):
    group, wants, quiet = billed_group
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    session.commit()

    run = delivery.send_queued(session, settings_for(smtp.port), now=NOW)

    assert len(run.sent) == 1 and run.error is None
    [arrived] = smtp.arrived
    assert arrived.to == "hr@harbor.test" and arrived.rcpt_tos == ["hr@harbor.test"]
    assert arrived.mail_from == "billing@carrier.test"
    assert arrived.message["From"] == "Premium Billing <billing@carrier.test>"
    assert arrived.subject == f"Invoice {invoice.invoice_number} is ready: $150.60 due Feb 1, 2027"
    body = arrived.body
    assert f"Hello {wants.full_name}," in body
    assert "Harbor Freight Lines" in body and "covering Feb 2027" in body
    assert "Total due: $150.60" in body and "Due date: Feb 1, 2027" in body
    assert f"https://portal.test/employer/groups/{group.id}/invoices/{invoice.id}" in body
    assert "https://portal.test/account/notifications" in body
    [message] = outbox(session, kind="invoice_ready")
    assert message.status is MailStatus.SENT and message.attempts == 1
    assert message.sent_at is not None and message.last_error is None
    assert (message.user_id, message.group_id) == (wants.id, group.id)
    # Nobody else: not the user who turned it off, another group's user, or staff.
    assert quiet.email not in {a.to for a in smtp.arrived}


def test_smtp_down_keeps_messages_queued_and_the_next_run_sends_them_once(session, smtp):
    first, second = put(session)
    down = settings_for(free_port())

    run = delivery.send_queued(session, down, now=NOW)

    assert run.sent == [] and sorted(run.retrying) == [first.id, second.id]
    assert "could not reach 127.0.0.1:" in run.error
    for message in outbox(session):
        assert message.status is MailStatus.QUEUED and message.attempts == 1
        assert message.next_attempt_at == NOW + timedelta(minutes=1)
        assert "could not reach 127.0.0.1:" in message.last_error
    # Before its retry time a run leaves it alone, whatever the server.
    early = delivery.send_queued(session, settings_for(smtp.port), now=NOW + timedelta(seconds=30))
    assert early.sent == [] and smtp.arrived == [] and early.waiting == 2

    later = NOW + timedelta(minutes=2)
    run = delivery.send_queued(session, settings_for(smtp.port), now=later)

    assert sorted(run.sent) == [first.id, second.id]
    assert sorted(a.subject for a in smtp.arrived) == ["Subject 0", "Subject 1"]
    for message in outbox(session):
        assert message.status is MailStatus.SENT and message.attempts == 2
        assert message.last_error is None and message.next_attempt_at is None
    # Run again (and again): nothing is sent twice.
    assert delivery.send_queued(session, settings_for(smtp.port), now=later).sent == []
    assert (
        delivery.send_queued(session, settings_for(smtp.port), now=later + timedelta(days=1)).sent
        == []
    )
    assert len(smtp.arrived) == 2


def test_a_run_at_the_same_time_skips_what_the_first_has_claimed(session_factory, session, smtp):
    put(session, 3)
    settings = settings_for(smtp.port)
    second_run = []

    def connect_while_another_run_starts(settings):
        # The first run has claimed its messages; a second one starts before it sends.
        with session_factory() as other:
            second_run.append(delivery.send_queued(other, settings, now=NOW))
        return delivery.connect(settings)

    first = delivery.send_queued(
        session, settings, now=NOW, connector=connect_while_another_run_starts
    )

    assert len(first.sent) == 3
    assert second_run[0].sent == [] and second_run[0].retrying == []
    assert len(smtp.arrived) == 3


def test_a_message_claimed_by_a_run_that_died_is_tried_again_later(session, smtp):
    [message] = put(session, 1)
    message.status, message.claim_token, message.claimed_at = MailStatus.SENDING, "x" * 32, NOW
    session.commit()
    settings = settings_for(smtp.port)

    assert delivery.send_queued(session, settings, now=NOW + timedelta(minutes=30)).sent == []
    recovered = NOW + delivery.CLAIM_TIMEOUT + timedelta(minutes=1)
    run = delivery.send_queued(session, settings, now=recovered)
    assert run.retrying == [message.id]  # counted as an attempt, due a minute later
    run = delivery.send_queued(session, settings, now=recovered + timedelta(minutes=2))
    assert run.sent == [message.id] and len(smtp.arrived) == 1
    assert outbox(session)[0].attempts == 2


def test_a_permanent_refusal_fails_at_once_and_the_others_still_go(session, smtp):
    smtp.handler.refuse.add("hr0@example.test")
    refused, fine = put(session)

    run = delivery.send_queued(session, settings_for(smtp.port), now=NOW)

    assert run.failed == [refused.id] and run.sent == [fine.id]
    refused, fine = outbox(session)
    assert refused.status is MailStatus.FAILED and refused.attempts == 1
    assert "550" in refused.last_error and "No such user" in refused.last_error
    assert [a.to for a in smtp.arrived] == ["hr1@example.test"]


def test_a_header_that_would_inject_another_is_refused_not_sent(session, smtp):
    bad = mail.queue(session, "hr@example.test\nBcc: spy@example.test", "Hi", "Body", kind="t")
    odd = mail.queue(session, "hr@example.test", "Census file received: a\r\nb.csv", "B", kind="t")
    session.commit()
    assert odd.subject == "Census file received: a b.csv"  # one line, whatever a file held

    run = delivery.send_queued(session, settings_for(smtp.port), now=NOW)

    assert run.failed == [bad.id] and run.sent == [odd.id]
    [bad, _] = outbox(session)
    assert bad.status is MailStatus.FAILED and "cannot be written" in bad.last_error
    assert [a.rcpt_tos for a in smtp.arrived] == [["hr@example.test"]]


def test_after_the_last_attempt_a_message_is_failed(session):
    [message] = put(session, 1)
    message.attempts = delivery.MAX_ATTEMPTS - 1
    session.commit()

    run = delivery.send_queued(session, settings_for(free_port()), now=NOW)

    assert run.failed == [message.id]
    [message] = outbox(session)
    assert message.status is MailStatus.FAILED and message.attempts == delivery.MAX_ATTEMPTS
    assert message.next_attempt_at is None and "could not reach" in message.last_error


def test_the_retry_delays_grow(session):
    [message] = put(session, 1)
    down = settings_for(free_port())
    now, waits = NOW, []
    for _ in range(delivery.MAX_ATTEMPTS - 1):
        delivery.send_queued(session, down, now=now)
        [message] = outbox(session)
        waits.append(message.next_attempt_at - now)
        now = message.next_attempt_at
    assert waits == list(delivery.RETRY_DELAYS)
    assert message.status is MailStatus.QUEUED and message.attempts == delivery.MAX_ATTEMPTS - 1


def test_a_message_unsent_when_it_expires_is_given_up(session, smtp):
    user = make_user(session, Role.EMPLOYER)
    from billing_core.users.accounts import queue_password_reset

    queue_password_reset(session, user, "https://portal.test/password/reset/t0ken")
    session.commit()
    [message] = outbox(session)
    assert abs(message.expires_at - message.created_at - timedelta(hours=1)).seconds < 1

    run = delivery.send_queued(session, settings_for(smtp.port), now=message.expires_at)

    assert run.expired == [message.id] and run.sent == [] and smtp.arrived == []
    [message] = outbox(session)
    assert message.status is MailStatus.FAILED and "expired unsent" in message.last_error


def test_without_smtp_configured_nothing_is_sent_and_messages_stay(session, smtp):
    put(session)

    run = delivery.send_queued(session, Settings(), now=NOW)

    assert run.configured is False and run.waiting == 2 and run.sent == []
    assert smtp.arrived == []
    for message in outbox(session):
        assert message.status is MailStatus.QUEUED and message.attempts == 0
        assert message.last_error is None


def test_starttls_and_login_with_a_verified_certificate(session, tmp_path):
    server_tls, client_tls = self_signed_tls(tmp_path)
    server = SmtpServer(tls=server_tls, logins={"portal": "s3cret-smtp-pass"}).start()
    try:
        put(session, 1)
        settings = settings_for(
            server.port, smtp_tls="starttls", smtp_user="portal", smtp_password="wrong-pass-xyz"
        )

        def connector(settings):
            return delivery.connect(settings, context=client_tls)

        refused = delivery.send_queued(session, settings, now=NOW, connector=connector)
        assert refused.sent == [] and "535" in refused.error
        [message] = outbox(session)
        assert "wrong-pass-xyz" not in message.last_error  # no secret kept for staff

        settings = settings.with_overrides(smtp_password="s3cret-smtp-pass")
        run = delivery.send_queued(
            session, settings, now=NOW + timedelta(minutes=5), connector=connector
        )
        assert len(run.sent) == 1 and [a.subject for a in server.arrived] == ["Subject 0"]
    finally:
        server.stop()


def test_starttls_refuses_a_certificate_it_cannot_verify(session, tmp_path):
    server_tls, _ = self_signed_tls(tmp_path)
    server = SmtpServer(tls=server_tls).start()
    try:
        put(session, 1)
        run = delivery.send_queued(session, settings_for(server.port, smtp_tls="starttls"), now=NOW)
        assert run.sent == [] and "CERTIFICATE_VERIFY_FAILED" in run.error
        assert server.arrived == []
    finally:
        server.stop()


# --------------------------------------------------------------------------- configuration


def test_smtp_settings_from_the_environment():
    settings = Settings.from_env(
        {
            "SMTP_HOST": "smtp.carrier.test",
            "SMTP_USER": "portal",
            "SMTP_PASSWORD": "pw",
            "MAIL_FROM": "Billing <billing@carrier.test>",
            "PORTAL_URL": "https://billing.carrier.test/",
        }
    )
    assert settings.mail_configured and settings.smtp_tls == "starttls"
    assert settings.smtp_port == 587 and settings.portal_url == "https://billing.carrier.test"
    assert Settings.from_env({"SMTP_HOST": "h", "SMTP_TLS": "ssl"}).smtp_port == 465
    assert Settings.from_env({"SMTP_HOST": "h", "SMTP_PORT": "2525"}).smtp_port == 2525
    assert not Settings.from_env({}).mail_configured
    assert "pw" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"SMTP_HOST": "h", "SMTP_TLS": "tls1.3"}, "SMTP_TLS must be one of"),
        ({"SMTP_HOST": "h", "SMTP_PORT": "smtp"}, "SMTP_PORT must be a port number"),
        ({"SMTP_HOST": "h", "SMTP_USER": "u"}, "SMTP_USER is set without SMTP_PASSWORD"),
        (
            {"SMTP_HOST": "h", "SMTP_USER": "u", "SMTP_PASSWORD": "p", "SMTP_TLS": "none"},
            "without TLS",
        ),
        (
            {**PRODUCTION_ENV, "SMTP_HOST": "h"},
            "without MAIL_FROM, PORTAL_URL",
        ),
    ],
)
def test_bad_smtp_settings_refuse_to_start(env, complaint):
    with pytest.raises(ConfigurationError, match=complaint):
        Settings.from_env(env)


# --------------------------------------------------------------------------- who gets what


def test_preferences_default_on_and_only_for_employer_users(session):
    user = make_user(session, Role.EMPLOYER)
    assert mail.preferences(session, user) == dict.fromkeys(mail.KINDS, True)
    off = mail.set_preferences(session, user, {"invoice_ready": False, "payment_received": False})
    assert off == ["invoice_ready", "payment_received"]
    assert mail.set_preferences(session, user, {"invoice_ready": True}) == ["payment_received"]
    with pytest.raises(Exception, match="unknown kinds"):
        mail.set_preferences(session, user, {"spam": True})
    with pytest.raises(Exception, match="only employer users"):
        mail.set_preferences(session, make_user(session, Role.SUPERVISOR), {"invoice_ready": True})


def test_a_location_user_hears_of_the_group_bill_and_their_own_not_another_locations(session):
    group = make_group(session)
    east, west = make_subgroup(session, group, "EAST"), make_subgroup(session, group, "WEST")
    whole = make_user(session, Role.EMPLOYER, groups=[group])
    east_only = make_user(session, Role.EMPLOYER, subgroups=[east])
    people = mail.recipients(session, [group.id], "invoice_ready")[group.id]
    limits = {user.id: limit for user, limit in people}
    assert limits == {whole.id: None, east_only.id: frozenset({east.id})}
    assert mail._sees(limits[east_only.id], None) and mail._sees(limits[east_only.id], east.id)
    assert not mail._sees(limits[east_only.id], west.id)
    inactive = make_user(session, Role.EMPLOYER, groups=[group])
    inactive.is_active = False
    session.flush()
    assert inactive.id not in {u.id for u, _ in mail.recipients(session, [group.id], "x")[group.id]}


def test_nothing_is_queued_inside_suppressed(session, billed_group):
    group, _, _ = billed_group
    with mail.suppressed(session):
        issue_billing_run(session, FEB, group_numbers=[group.group_number])
    session.commit()
    assert outbox(session) == []


# --------------------------------------------------------------------------- the events


@pytest.fixture
def cast(session):
    world = scenario(session)
    session.commit()
    return world


def _kinds(session, kind: str) -> dict[str, OutboxMessage]:
    return {m.to_address: m for m in outbox(session, kind=kind)}


def test_the_scenario_bills_tell_each_group_s_users(session, cast):
    ready = _kinds(session, "invoice_ready")
    a, a_east, b = (cast.users[k].email for k in ("employer_a", "employer_a_east", "employer_b"))
    # A's bill is consolidated: its East-only user hears of it too.
    assert set(ready) == {a, a_east, b}
    assert ready[b].group_id == cast.group_b.id and "$76.90" in ready[b].subject


def test_census_upload_received_returned_and_approved(session, cast):
    west = cast.member_west
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{west.employee_id},{west.first_name},{west.last_name},"
        f"{west.birth_date:%m/%d/%Y},Term,12/31/2026\n"
    )
    on = date(2027, 1, 20)
    upload = receive_upload(
        session,
        cast.group_a,
        text.encode(),
        "changes.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=on,
        status=UploadStatus.RECEIVED,
    ).upload
    submit_upload(session, upload, today=on)
    session.commit()
    [received] = outbox(session, kind="upload_received", to_address=cast.users["employer_a"].email)
    assert received.subject == "Census file received: changes.csv"
    assert received.link_path == f"/employer/groups/{cast.group_a.id}/uploads/{upload.id}"

    return_upload(upload, actor=cast.users["billing_specialist"], reason="West's date is wrong.")
    session.commit()
    [returned] = outbox(session, kind="upload_returned", to_address=cast.users["employer_a"].email)
    assert "What to correct:\nWest's date is wrong." in returned.body

    upload.status = UploadStatus.SUBMITTED
    approve_upload(session, upload, actor=cast.users["billing_specialist"], as_of=on, today=on)
    session.commit()
    [approved] = outbox(session, kind="upload_approved", to_address=cast.users["employer_a"].email)
    assert approved.subject == "Census file approved: changes.csv"
    # Group B's user hears nothing of group A's files.
    b = cast.users["employer_b"].email
    assert not [m for m in outbox(session, to_address=b) if m.kind.startswith("upload")]


def test_payment_received_failed_and_returned(session, cast):
    b = cast.users["employer_b"].email
    check, _ = record_payment(
        session,
        group=cast.group_b,
        amount=D("76.90"),
        method=PaymentMethod.CHECK,
        received_on=date(2027, 1, 5),
        source=PaymentSource.STAFF,
        reference="1042",
    )
    session.commit()
    [received] = outbox(session, kind="payment_received", to_address=b)
    assert received.subject == "Payment received: $76.90"
    assert "$76.90 by check, reference 1042" in received.body and "Jan 5, 2027" in received.body
    assert received.link_path == f"/employer/groups/{cast.group_b.id}/payments"

    return_payment(session, check, on=date(2027, 1, 9), reason="nsf")
    session.commit()
    [returned] = outbox(session, kind="payment_failed", to_address=b)
    assert returned.subject == "Payment returned: $76.90"
    assert "Insufficient funds (NSF)" in returned.body and "open again" in returned.body

    pending, _ = record_payment(
        session,
        group=cast.group_b,
        amount=D("76.90"),
        method=PaymentMethod.ACH_DEBIT,
        received_on=date(2027, 1, 10),
        source=PaymentSource.ONLINE,
        pending=True,
    )
    fail_payment(session, pending, reason="The bank account is closed.")
    session.commit()
    failed = [
        m for m in outbox(session, kind="payment_failed", to_address=b) if m.id != returned.id
    ]
    assert [m.subject for m in failed] == ["Payment did not go through: $76.90"]
    assert "The bank account is closed." in failed[0].body
    # A pending payment is not "received" until it settles.
    assert len(outbox(session, kind="payment_received", to_address=b)) == 1


def test_payment_in_suspense_tells_nobody(session, cast):
    record_payment(
        session,
        group=None,
        amount=D("10.00"),
        method=PaymentMethod.WIRE,
        received_on=date(2027, 1, 5),
        source=PaymentSource.STAFF,
        suspense_reason="no group",
    )
    session.commit()
    assert outbox(session, kind="payment_received") == []


def test_refund_approved_and_rejected(session, cast):
    b = cast.users["employer_b"].email
    payment, _ = record_payment(
        session,
        group=cast.group_b,
        amount=D("176.90"),
        method=PaymentMethod.CHECK,
        received_on=date(2027, 1, 5),
        source=PaymentSource.STAFF,
    )
    specialist, supervisor = cast.users["billing_specialist"], cast.users["supervisor"]
    first = request_refund(session, payment, D("40.00"), reason="overpaid", actor=specialist)
    approve_refund(session, first, actor=supervisor, on=date(2027, 1, 6))
    second = request_refund(session, payment, D("60.00"), reason="overpaid", actor=specialist)
    reject_refund(session, second, actor=supervisor, reason="Kept for the February bill.")
    session.commit()
    decided = sorted(outbox(session, kind="refund_decided", to_address=b), key=lambda m: m.id)
    assert [m.subject for m in decided] == [
        "Refund approved: $40.00",
        "Refund not approved: $60.00",
    ]
    assert "paid by check" in decided[0].body
    assert "Kept for the February bill." in decided[1].body


# --------------------------------------------------------------------------- the job


def test_the_worker_job_sends_with_its_own_session_and_the_environment(tmp_path, monkeypatch, smtp):
    from billing_core import jobs, migrate
    from billing_core.db import make_engine, make_session_factory

    # The worker opens its own connection: the message must be committed in a database of its
    # own, outside the outer transaction the other tests run in.
    database_url = f"sqlite:///{tmp_path / 'worker.sqlite'}"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with make_session_factory(engine)() as worker_session:
        [message] = put(worker_session, 1)
        message_id = message.id
    engine.dispose()
    environment = {
        "DATABASE_URL": database_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_TLS": "none",
        "MAIL_FROM": "billing@carrier.test",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    result = jobs.run_job(delivery.SEND_JOB, message_id)

    assert result["sent"] == [message_id]
    assert [(a.mail_from, a.subject) for a in smtp.arrived] == [
        ("billing@carrier.test", "Subject 0")
    ]


def test_send_soon_hands_messages_to_the_mail_worker_when_there_is_redis(
    monkeypatch, session_factory, caplog
):
    from billing_core import jobs
    from billing_core.errors import JobQueueUnavailable

    calls = []
    monkeypatch.setattr(jobs, "enqueue", lambda *args, **kw: calls.append((args, kw)))
    settings = settings_for(free_port(), redis_url="redis://127.0.0.1:6379/0")

    assert delivery.send_soon(settings, session_factory, [7]) is None

    [(args, kw)] = calls
    assert args == (delivery.SEND_JOB, 7) and kw["queue_name"] == delivery.MAIL_QUEUE == "mail"

    def unavailable(*args, **kw):
        raise JobQueueUnavailable("the job queue is unavailable (connection refused)")

    monkeypatch.setattr(jobs, "enqueue", unavailable)
    assert delivery.send_soon(settings, session_factory, [7]) is None  # left for the next cron run
    assert "left for the next run" in caplog.text
    assert delivery.send_soon(Settings(), session_factory, [7]) is None  # no SMTP: nothing to do
