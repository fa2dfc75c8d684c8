"""Mail through the pages and the CLI, delivered to a real SMTP server in this process: the
password reset from the reset page arrives and its link works; invoice-ready messages go out
with `flask mail send` and lead to the invoice; an employer turns a kind off on their account
page; SMTP down keeps the reset queued for the next run; without SMTP the app says so at start
and nothing is sent; staff see each message's status in the outbox report."""

from __future__ import annotations

import json
import logging
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from billing_core.billing.invoicing import issue_billing_run
from billing_core.config import Settings
from billing_core.db import utcnow
from billing_core.models import OutboxMessage
from billing_core.models.enums import MailStatus
from portal import create_app
from tests.smtp_server import SmtpServer, free_port
from tests.web.conftest import csrf_token


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def mail_settings(port: int) -> Settings:
    return Settings().with_overrides(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls="none",
        mail_from="Premium Billing <billing@carrier.test>",
        portal_url="http://portal.test",
    )


def make_app(session_factory, settings: Settings):
    return create_app(
        {
            "TESTING": True,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
            "SETTINGS": settings,
        }
    )


@pytest.fixture
def web_app(session_factory, smtp):
    """This module's app sends mail to the in-process server (the conftest's client and
    login_as use it)."""
    return make_app(session_factory, mail_settings(smtp.port))


def outbox(session, **where) -> list[OutboxMessage]:
    session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    for name, value in where.items():
        query = query.where(getattr(OutboxMessage, name) == value)
    return list(session.scalars(query))


def ask_for_reset(client, email: str):
    return client.post(
        "/password/reset",
        data={"email": email, "csrf_token": csrf_token(client, "/password/reset")},
    )


def test_a_password_reset_arrives_and_its_link_sets_the_password(client, cast, session, smtp):
    user = cast.users["employer_b"]

    response = ask_for_reset(client, user.email)

    assert response.status_code == 303
    [arrived] = smtp.arrived  # sent at once, not left for the next cron run
    assert arrived.to == user.email and arrived.rcpt_tos == [user.email]
    assert arrived.subject == "Reset your billing portal password"
    assert f"Hello {user.full_name}," in arrived.body
    [message] = outbox(session, kind="password_reset")
    assert message.status is MailStatus.SENT and message.attempts == 1
    path = re.search(r"http://portal\.test(/password/reset/\S+)", arrived.body).group(1)
    response = client.post(
        path,
        data={
            "new_password": "mailed-link-pass-9",
            "confirm": "mailed-link-pass-9",
            "csrf_token": csrf_token(client, path),
        },
    )
    assert response.status_code == 303
    login = client.post(
        "/login",
        data={
            "email": user.email,
            "password": "mailed-link-pass-9",
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert login.status_code == 303
    # Nothing more arrived: the reset mail was sent once.
    assert len(smtp.arrived) == 1


def test_with_smtp_down_the_reset_waits_and_the_next_run_sends_it(
    session_factory, cast, session, smtp
):
    user = cast.users["employer_b"]
    down = make_app(session_factory, mail_settings(free_port()))

    response = ask_for_reset(down.test_client(), user.email)

    assert response.status_code == 303  # the page answers the same: the mail is queued
    [message] = outbox(session, kind="password_reset")
    assert message.status is MailStatus.QUEUED and message.attempts == 1
    assert "could not reach 127.0.0.1:" in message.last_error
    assert smtp.arrived == []
    message.next_attempt_at = utcnow() - timedelta(seconds=1)  # its retry time has come
    session.commit()

    up = make_app(session_factory, mail_settings(smtp.port)).test_cli_runner()
    result = up.invoke(args=["mail", "send", "--json"])

    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] is True and message.id in payload["sent"]
    resets = [a for a in smtp.arrived if a.subject == "Reset your billing portal password"]
    assert [a.to for a in resets] == [user.email]
    arrived = len(smtp.arrived)  # the reset and the scenario's invoice-ready messages
    again = json.loads(up.invoke(args=["mail", "send", "--json"]).output)
    assert again["sent"] == [] and len(smtp.arrived) == arrived


def test_invoice_ready_goes_out_with_mail_send_and_leads_to_the_invoice(
    web_app, client, cast, session, smtp, login_as
):
    runner = web_app.test_cli_runner()

    result = runner.invoke(args=["mail", "send"])

    assert result.exit_code == 0, result.output
    assert "3 sent, 0 to try again, 0 failed, 0 expired unsent; 0 waiting." in result.output
    by_to = {a.to: a for a in smtp.arrived}
    a, a_east, b = (cast.users[k] for k in ("employer_a", "employer_a_east", "employer_b"))
    assert set(by_to) == {a.email, a_east.email, b.email}
    mail_b = by_to[b.email]
    assert mail_b.subject == (
        f"Invoice {cast.invoice_b.invoice_number} is ready: $76.90 due Jan 1, 2027"
    )
    assert "Total due: $76.90" in mail_b.body and "Due date: Jan 1, 2027" in mail_b.body
    link = re.search(r"http://portal\.test(/employer/\S+)", mail_b.body).group(1)
    login_as(b)
    page = client.get(link)
    assert page.status_code == 200
    assert cast.invoice_b.invoice_number in page.get_data(as_text=True)
    # The footer's link is the page where they choose what they receive.
    assert "http://portal.test/account/notifications" in mail_b.body
    assert client.get("/account/notifications").status_code == 200


def test_an_employer_turns_off_invoice_ready_and_gets_none(client, cast, session, login_as):
    user = login_as(cast.users["employer_b"])
    html = client.get("/account/notifications").get_data(as_text=True)
    assert '<label for="mail-invoice_ready">A new invoice is ready' in html
    assert html.count('type="checkbox"') == 7 and html.count("checked") == 7
    assert 'href="/account/notifications">Mail</a>' in html  # beside Password in the header
    chosen = {
        "csrf_token": csrf_token(client, "/account/notifications"),
        "upload_received": "y",
        "upload_returned": "y",
        "upload_approved": "y",
        "payment_received": "y",
        "payment_failed": "y",
        "refund_decided": "y",
    }

    response = client.post("/account/notifications", data=chosen, follow_redirects=True)

    html = response.get_data(as_text=True)
    assert "Saved. You receive 6 of the 7 kinds of message by mail." in html
    assert html.count("checked") == 6
    before = len(outbox(session, kind="invoice_ready", to_address=user.email))
    issue_billing_run(session, date(2027, 2, 1), group_numbers=[cast.group_b.group_number])
    session.commit()
    assert len(outbox(session, kind="invoice_ready", to_address=user.email)) == before


def test_only_employer_users_choose_their_mail(client, cast, login_as):
    login_as(cast.users["billing_specialist"])
    assert client.get("/account/notifications").status_code == 403
    assert 'href="/account/notifications"' not in client.get("/admin/").get_data(as_text=True)


def test_without_smtp_the_app_says_so_at_start_and_sends_nothing(
    session_factory, cast, session, smtp, caplog
):
    with caplog.at_level(logging.WARNING):
        app = make_app(session_factory, Settings())
    assert any(
        "SMTP_HOST is not set" in r.getMessage() and "kept in the outbox" in r.getMessage()
        for r in caplog.records
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_app(session_factory, mail_settings(smtp.port))
    assert not any("SMTP_HOST" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.INFO):
        ask_for_reset(app.test_client(), cast.users["employer_b"].email)
    assert any("kept in the outbox" in r.getMessage() for r in caplog.records)  # and logged
    result = app.test_cli_runner().invoke(args=["mail", "send"])

    assert result.exit_code == 0
    assert "SMTP is not configured (set SMTP_HOST): nothing sent" in result.output
    assert smtp.arrived == []
    for message in outbox(session):
        assert message.status is MailStatus.QUEUED and message.attempts == 0


def test_staff_see_each_message_with_its_status_and_last_error(
    session_factory, client, cast, session, login_as
):
    down = make_app(session_factory, mail_settings(free_port()))
    down.test_cli_runner().invoke(args=["mail", "send"])
    login_as(cast.users["billing_specialist"])

    html = client.get("/admin/reports/mail_outbox").get_data(as_text=True)

    assert "Mail outbox" in html
    assert "Invoice ready" in html and cast.users["employer_b"].email in html
    assert "could not reach 127.0.0.1:" in html and "Queued" in html
    csv = client.get("/admin/reports/mail_outbox/download/csv").get_data(as_text=True)
    assert "Last error" in csv.splitlines()[0] and cast.invoice_b.invoice_number in csv
