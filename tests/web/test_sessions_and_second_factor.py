"""Issue 17, findings 6 (logout, lockout answers and timing, HSTS) and 7 (the second factor):
sessions end on the server at logout; every refused login reads the same and checks one
password hash; staff log in with an authenticator code (or a recovery code, once), set one up
before any staff page, and an admin resets another's; a group may require it of its employer
users."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from billing_core.config import Settings
from billing_core.models import AuditLog, User
from billing_core.models.enums import Role
from billing_core.users import accounts, second_factor
from portal import create_app
from tests.factories import PASSWORD, RECOVERY_CODE, make_user, totp_code
from tests.web.conftest import csrf_token, log_in, logout


def _post_code(client, code):
    return client.post(
        "/login/code", data={"code": code, "csrf_token": csrf_token(client, "/login/code")}
    )


# --- logout ends the session on the server ----------------------------------------------------


def test_a_copied_cookie_stops_working_after_logout(web_app, client, cast, login_as):
    login_as(cast.users["employer_a"])
    copied = client.get_cookie("session", domain="portal.test").value
    page = f"/employer/groups/{cast.group_a.id}"
    assert client.get(page).status_code == 200
    logout(client)
    thief = web_app.test_client()
    thief.set_cookie("session", copied, domain="portal.test")
    response = thief.get(page)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_logout_is_audited_and_counts_the_session_version(client, cast, login_as, session):
    user = login_as(cast.users["broker_a"])
    before = session.get(User, user.id).session_version
    logout(client)
    session.expire_all()
    assert session.get(User, user.id).session_version == before + 1
    assert session.scalar(select(AuditLog).where(AuditLog.action == "logout")) is not None


# --- lockout: one answer, one hash ------------------------------------------------------------


def _refusal(client, email, password="wrong-password-1"):
    response = log_in(client, email, password)
    assert response.status_code == 200
    return re.search(r'<ul class="errors"[^>]*><li>(.*?)</li>', response.get_data(as_text=True))[1]


def test_a_locked_account_and_an_unknown_email_get_the_same_answer(client, cast):
    real = cast.users["employer_a"].email
    answers = {_refusal(client, real) for _ in range(5)}
    answers |= {_refusal(client, "nobody@example.test") for _ in range(6)}
    answers.add(_refusal(client, real, PASSWORD))  # locked now, even with the right password
    assert len(answers) == 1, answers
    assert "locked" in answers.pop()


@pytest.mark.parametrize("who", ["unknown", "inactive", "locked", "wrong password", "right"])
def test_every_login_attempt_checks_one_password_hash(session, cast, monkeypatch, who):
    checked = []
    real_verify = accounts.verify_password
    monkeypatch.setattr(
        accounts, "verify_password", lambda h, p: checked.append(p) or real_verify(h, p)
    )
    user = cast.users["employer_b"]
    email, password = user.email, "wrong-password-1"
    if who == "unknown":
        email = "nobody@example.test"
    elif who == "inactive":
        user.is_active = False
    elif who == "locked":
        user.locked_until = datetime.now(UTC) + timedelta(minutes=5)
    elif who == "right":
        password = PASSWORD
    try:
        accounts.authenticate(
            session, email, password, now=datetime.now(UTC), max_failures=5, lockout_minutes=15
        )
    except Exception as error:  # noqa: BLE001 - the refusal itself is not what is tested here
        assert str(error) == accounts.refusal(5, 15)
    assert checked == [password]


# --- HSTS and the production app ----------------------------------------------------------------

STRONG = {
    "APP_ENV": "production",
    "SECRET_KEY": "q8V2-rLx7Tn0pZc4Wm9Yb1Hs6Kd3Jf5Ge",
    "SSN_ENCRYPTION_KEY": "3c9pEoLbmOOWGqkIbvkHAiu3aM6hK1pGbdvvgtS-Ej0=",
    "TOTP_ENCRYPTION_KEY": "uXoSP81lfxgqe5BXHZ4tTBi0Em8ocVEu1iikntp9ijk=",
    "DATABASE_URL": "sqlite://",
}


@pytest.fixture
def keep_keys(monkeypatch):
    """A production app configures its own keys; give the process its own back afterwards."""
    from billing_core import security

    monkeypatch.setattr(security, "_vault", security.vault())
    monkeypatch.setattr(second_factor, "_cipher", second_factor._cipher)


def test_production_answers_with_hsts_and_development_without(session_factory, keep_keys):
    production = create_app(
        {"SESSION_FACTORY": session_factory, "SETTINGS": Settings.from_env(STRONG)}
    )
    header = production.test_client().get("/login").headers["Strict-Transport-Security"]
    assert header.startswith("max-age=31536000")
    development = create_app({"SESSION_FACTORY": session_factory, "SETTINGS": Settings()})
    assert "Strict-Transport-Security" not in development.test_client().get("/login").headers


# --- the second factor at login ---------------------------------------------------------------


def test_staff_password_alone_does_not_log_in(client, cast):
    user = cast.users["supervisor"]
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/code")
    assert client.get("/admin/").status_code == 302  # not logged in yet
    assert "Enter your authentication code" in client.get("/login/code").get_data(as_text=True)


def test_a_wrong_code_is_refused_and_counts_towards_the_lockout(client, cast, session):
    user = cast.users["billing_specialist"]
    wrong = f"{(int(totp_code()) + 1) % 1_000_000:06d}"
    response = log_in(client, user.email, code=wrong)
    assert response.status_code == 200
    assert "That code is not right" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, user.id).failed_login_count == 1
    for _ in range(4):
        response = _post_code(client, "000000" if wrong != "000000" else "111111")
    # The fifth failure locks the account: back to the login page with the one answer.
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    session.expire_all()
    assert session.get(User, user.id).locked_until is not None
    assert client.get("/admin/").status_code == 302


def test_a_code_works_once(web_app, client, cast):
    user = cast.users["admin"]
    code = totp_code()
    assert log_in(client, user.email, code=code).status_code == 303
    assert client.get("/admin/").status_code == 200
    other = web_app.test_client()
    replay = log_in(other, user.email, code=code)
    assert replay.status_code == 200 and "That code is not right" in replay.get_data(as_text=True)


def test_a_recovery_code_logs_in_once(web_app, client, cast, session):
    user = cast.users["supervisor"]
    assert log_in(client, user.email, code=RECOVERY_CODE.upper()).status_code == 303
    assert client.get("/admin/").status_code == 200
    session.expire_all()
    assert second_factor.recovery_codes_left(session.get(User, user.id)) == 0
    again = log_in(web_app.test_client(), user.email, code=RECOVERY_CODE)
    assert again.status_code == 200
    used = session.scalar(
        select(AuditLog).where(AuditLog.action == "login.succeeded", AuditLog.actor_id == user.id)
    )
    assert used.detail == {"second_factor": "recovery code"}


def test_the_code_step_expires(client, cast, monkeypatch):
    user = cast.users["supervisor"]
    client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    later = datetime.now(UTC) + timedelta(minutes=6)
    monkeypatch.setattr("portal.auth.views.now", lambda: later)
    response = client.get("/login/code")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")


# --- enrolment --------------------------------------------------------------------------------


def test_staff_without_a_second_factor_set_it_up_before_any_staff_page(client, session):
    user = make_user(session, Role.BILLING_SPECIALIST, second_factor=False)
    session.commit()
    assert log_in(client, user.email).status_code == 303  # no code asked: there is none yet
    response = client.get("/admin/today")
    assert response.status_code == 302 and "/account/second-factor" in response.headers["Location"]
    page = client.get("/account/second-factor").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code, inline
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)[1]
    # A reload shows the same key (the app may already hold it).
    assert secret in client.get("/account/second-factor").get_data(as_text=True)
    session.expire_all()
    stored = session.get(User, user.id).totp_secret_encrypted
    assert stored and secret not in stored  # encrypted at rest

    wrong = client.post(
        "/account/second-factor",
        data={"code": "123456", "csrf_token": csrf_token(client, "/account/second-factor")},
    )
    assert "That code is not right" in wrong.get_data(as_text=True)
    done = client.post(
        "/account/second-factor",
        data={
            "code": pyotp.TOTP(secret).now(),
            "csrf_token": csrf_token(client, "/account/second-factor"),
        },
    )
    codes = re.findall(
        r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.get_data(as_text=True)
    )
    assert len(codes) == 10 and len(set(codes)) == 10
    session.expire_all()
    enrolled = session.get(User, user.id)
    assert enrolled.second_factor_enrolled
    assert not any(code in str(enrolled.recovery_code_hashes) for code in codes)  # digests
    assert client.get("/admin/today").status_code == 200
    assert session.scalar(
        select(AuditLog).where(
            AuditLog.action == "second_factor.enrolled", AuditLog.actor_id == user.id
        )
    )
    # The next login asks for the code; a recovery code from the page works.
    logout(client)
    assert log_in(client, user.email, code=codes[3]).status_code == 303


def test_an_admin_resets_another_staff_members_second_factor(web_app, client, cast, session):
    supervisor = cast.users["supervisor"]
    theirs = web_app.test_client()
    assert log_in(theirs, supervisor.email).status_code == 303
    assert theirs.get("/admin/").status_code == 200

    admin = cast.users["admin"]
    log_in(client, admin.email)
    page = client.get("/admin/staff").get_data(as_text=True)
    assert supervisor.email in page and "Reset second factor" in page
    response = client.post(
        f"/admin/staff/{supervisor.id}/second-factor/reset",
        data={"csrf_token": csrf_token(client, "/admin/staff")},
    )
    assert response.status_code == 303
    session.expire_all()
    reset = session.get(User, supervisor.id)
    assert not reset.second_factor_enrolled and reset.totp_secret_encrypted is None
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "second_factor.reset"))
    assert entry.actor_id == admin.id and entry.target_id == supervisor.id
    assert theirs.get("/admin/").status_code == 302  # their session ended
    # Next time: the password, then straight to setting it up again.
    assert log_in(theirs, supervisor.email).headers["Location"].endswith("/admin/today")
    assert "/account/second-factor" in theirs.get("/admin/today").headers["Location"]


def test_only_an_admin_resets_and_not_their_own(client, cast, login_as, session):
    login_as(cast.users["supervisor"])
    assert client.get("/admin/staff").status_code == 403
    with pytest.raises(Exception, match="cannot reset your own"):
        second_factor.reset(session, cast.users["admin"], actor=cast.users["admin"])


# --- employer users: optional, or required by their group -------------------------------------


def test_a_group_can_require_it_of_its_employer_users(client, cast, login_as, session):
    login_as(cast.users["admin"])
    response = client.post(
        f"/admin/groups/{cast.group_a.id}/second-factor",
        data={
            "require_second_factor": "y",
            "csrf_token": csrf_token(client, f"/admin/groups/{cast.group_a.id}"),
        },
    )
    assert response.status_code == 303
    session.expire_all()
    assert cast.group_a.require_second_factor is True
    login_as(cast.users["employer_a"])
    response = client.get(f"/employer/groups/{cast.group_a.id}")
    assert "/account/second-factor" in response.headers["Location"]
    # Group B does not: its user goes on with a password alone.
    login_as(cast.users["employer_b"])
    assert client.get(f"/employer/groups/{cast.group_b.id}").status_code == 200


def test_an_employer_user_may_set_it_up_and_turn_it_off(client, cast, login_as, session):
    user = login_as(cast.users["employer_b"])
    page = client.get("/account/second-factor").get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)[1]
    token = csrf_token(client, "/account/second-factor")
    at = datetime.now(UTC)
    client.post(
        "/account/second-factor", data={"code": pyotp.TOTP(secret).at(at), "csrf_token": token}
    )
    session.expire_all()
    assert session.get(User, user.id).second_factor_enrolled
    response = client.post(
        "/account/second-factor",
        data={
            "action": "turn_off",
            "code": pyotp.TOTP(secret).at(at + timedelta(seconds=30)),
            "csrf_token": csrf_token(client, "/account/second-factor"),
        },
    )
    assert response.status_code == 303
    session.expire_all()
    assert not session.get(User, user.id).second_factor_enrolled
    assert client.get(f"/employer/groups/{cast.group_b.id}").status_code == 200
