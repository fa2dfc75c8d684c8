"""CSRF, lockout, headers, password reset, tenant and subgroup scope, SSN masking."""

import logging
import re
from datetime import timedelta

from sqlalchemy import select

from billing_core.access import group_scope
from billing_core.models import AuditLog, OutboxMessage, User
from portal.web import today
from tests.factories import PASSWORD
from tests.web.conftest import csrf_token, log_in


def test_form_post_without_csrf_token_is_refused(client, cast):
    response = client.post(
        "/login", data={"email": cast.users["admin"].email, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    with client.session_transaction() as cookie_session:
        assert "_user_id" not in cookie_session


def _try_login(client, email, password):
    return log_in(client, email, password)


def test_repeated_failed_logins_lock_the_account(client, cast, session):
    user = cast.users["employer_a"]
    for _ in range(5):
        response = _try_login(client, user.email, "wrong-password-1")
        assert "do not match" in response.get_data(as_text=True)
    response = _try_login(client, user.email, PASSWORD)
    assert response.status_code == 200
    assert "locked" in response.get_data(as_text=True)
    session.expire_all()
    locked = session.get(User, user.id)
    assert locked.locked_until is not None
    actions = session.scalars(select(AuditLog.action).where(AuditLog.actor_id == user.id)).all()
    assert actions.count("login.failed") == 5 and "login.locked_out" in actions
    # Once the lock expires the right password works again.
    locked.locked_until = locked.locked_until - timedelta(hours=1)
    session.commit()
    assert _try_login(client, user.email, PASSWORD).status_code == 303


def test_successful_login_is_audited_and_sets_safe_cookie(client, cast, session):
    response = _try_login(client, cast.users["supervisor"].email, PASSWORD)
    assert response.status_code == 303
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert session.scalar(select(AuditLog).where(AuditLog.action == "login.succeeded")) is not None


def test_security_headers_allow_only_own_scripts(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.get_data(as_text=True)


def test_password_reset_by_token(client, cast, session):
    user = cast.users["employer_b"]
    response = client.post(
        "/password/reset",
        data={"email": user.email, "csrf_token": csrf_token(client, "/password/reset")},
    )
    assert response.status_code == 303
    mail = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.to_address == user.email, OutboxMessage.kind == "password_reset"
        )
    ).one()
    link = re.search(r"https?://\S+", mail.body).group(0)
    path = link.split("portal.test", 1)[1]
    token_page = csrf_token(client, path)
    response = client.post(
        path,
        data={
            "new_password": "brand-new-pass-7",
            "confirm": "brand-new-pass-7",
            "csrf_token": token_page,
        },
    )
    assert response.status_code == 303
    assert _try_login(client, user.email, "brand-new-pass-7").status_code == 303
    # The link is single-use: the password it was bound to has changed.
    assert client.get(path).status_code == 303


def test_unknown_email_gets_the_same_answer_and_no_mail(client, session):
    response = client.post(
        "/password/reset",
        data={"email": "nobody@example.test", "csrf_token": csrf_token(client, "/password/reset")},
        follow_redirects=True,
    )
    assert "If that address has an account" in response.get_data(as_text=True)
    assert session.scalars(select(OutboxMessage)).all() == []


def test_subgroup_limited_employer_sees_only_that_subgroup(session, cast):
    scope = group_scope(session, cast.users["employer_a_east"], cast.group_a.id, today())
    members = session.scalars(scope.members_query()).all()
    assert [m.last_name for m in members] == ["Eastwood"]
    full = group_scope(session, cast.users["employer_a"], cast.group_a.id, today())
    assert {m.last_name for m in session.scalars(full.members_query())} == {"Eastwood", "Westbrook"}
    assert group_scope(session, cast.users["employer_b"], cast.group_a.id, today()) is None


def test_ssn_never_appears_unmasked_in_pages_or_logs(client, cast, login_as, caplog):
    full_ssns = ["219-09-9999", "219099999", "219-09-8888", "219098888", "219-09-7777", "219097777"]
    login_as(cast.users["admin"])
    pages = [
        f"/admin/groups/{cast.group_a.id}",
        f"/admin/groups/{cast.group_a.id}/members",
        f"/admin/groups/{cast.group_a.id}/members?q=9999",
        f"/admin/groups/{cast.group_b.id}",
        "/admin/",
        "/admin/audit",
    ]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("portal.test").info("member ssn 219-09-9999 should be redacted")
        bodies = [client.get(page).get_data(as_text=True) for page in pages]
    assert "***-**-9999" in bodies[0] and "***-**-9999" in bodies[2]
    for page, body in zip(pages, bodies, strict=True):
        for ssn in full_ssns:
            assert ssn not in body, f"{ssn} unmasked on {page}"
    for ssn in full_ssns:
        assert ssn not in caplog.text
    login_as(cast.users["employer_a"])
    body = client.get(f"/employer/groups/{cast.group_a.id}").get_data(as_text=True)
    assert not any(ssn in body for ssn in full_ssns)


def test_ssn_is_encrypted_at_rest(session, cast, connection):
    raw = connection.exec_driver_sql(
        f"SELECT ssn_encrypted, ssn_last4 FROM member WHERE id = {cast.member_east.id}"
    ).one()
    assert "219099999" not in raw[0] and raw[1] == "9999"


def test_broker_pages_show_no_member_names(client, cast, login_as):
    login_as(cast.users["broker_a"])
    body = client.get(f"/broker/groups/{cast.group_a.id}").get_data(as_text=True)
    assert "Acme Tooling" in body
    assert "Eastwood" not in body and "Westbrook" not in body and "***-**-" not in body


def test_password_change_ends_other_sessions(web_app, cast, login_as, client):
    user = cast.users["billing_specialist"]
    other = web_app.test_client()
    assert log_in(other, user.email).status_code == 303
    assert other.get("/admin/").status_code == 200
    login_as(user)
    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "another-secret-9",
            "confirm": "another-secret-9",
            "csrf_token": csrf_token(client, "/account/password"),
        },
    )
    assert response.status_code == 303
    assert client.get("/admin/").status_code == 200  # this session was renewed
    assert other.get("/admin/").status_code == 302  # the other one has to log in again


def test_weak_new_password_is_refused_in_plain_words(cast, login_as, client):
    login_as(cast.users["employer_a"])
    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "short",
            "confirm": "short",
            "csrf_token": csrf_token(client, "/account/password"),
        },
    )
    assert response.status_code == 200
    assert "at least 10 characters" in response.get_data(as_text=True)


def test_broker_of_record_that_ended_no_longer_sees_the_group(session, cast):
    from datetime import date

    from billing_core.models import BrokerOfRecord

    bor = session.scalars(
        select(BrokerOfRecord).where(BrokerOfRecord.group_id == cast.group_a.id)
    ).one()
    bor.effective_to = date(2025, 12, 31)
    session.flush()
    assert group_scope(session, cast.users["broker_a"], cast.group_a.id, today()) is None
    assert (
        group_scope(session, cast.users["broker_a"], cast.group_a.id, date(2025, 6, 1)) is not None
    )


def test_a_sessions_csrf_token_is_signed_once_and_still_checked(client, cast, session, monkeypatch):
    """The page's token is remembered per session (portal.extensions.csrf_token): the same on
    every page of one session (though each signing would stamp another second), another for
    another session, accepted by a form, and a token with a forged signature is still
    refused."""
    import itertools

    from itsdangerous.timed import TimestampSigner

    seconds = itertools.count(1_800_000_000, 7)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: next(seconds))
    log_in(client, cast.users["employer_a"].email, PASSWORD)
    invoices = f"/employer/groups/{cast.group_a.id}/invoices"  # a page without a form of its own
    first = csrf_token(client, invoices)
    assert csrf_token(client, invoices) == first
    other = type(client)(client.application, client.response_wrapper, use_cookies=True)
    assert csrf_token(other, "/login") != first

    forged = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")
    refused = client.post("/logout", data={"csrf_token": forged})
    assert refused.status_code == 400
    assert client.post("/logout", data={"csrf_token": first}).status_code in (302, 303)
