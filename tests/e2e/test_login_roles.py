"""Each role logs in through the real login page in Chromium and lands on its home page."""

import pytest

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e

HOMES = {
    "employer_a": ("Acme Tooling", "Products"),
    "employer_a_east": ("Acme Tooling", "Your access covers"),
    "broker_a": ("Book of business", "Acme Tooling"),
    "billing_specialist": ("Today", "Nothing waits: every queue is clear."),
    "supervisor": ("Today", "Audit log"),
    "admin": ("Today", "Nothing waits"),
}


@pytest.mark.parametrize("role", list(HOMES))
def test_role_logs_in_and_reaches_home(live_server, page, role):
    base_url, cast = live_server
    login(page, base_url, cast.users[role].email)
    heading, text = HOMES[role]
    assert heading in page.locator("h1").inner_text()
    assert text in page.content()
    screenshot(page, f"home-{role}")
    page.get_by_role("button", name="Log out").click()
    assert "Log in" in page.locator("h1").inner_text()


def test_admin_opens_group_and_searches_members(live_server, page):
    base_url, cast = live_server
    login(page, base_url, cast.users["admin"].email)
    page.get_by_role("link", name="Groups", exact=True).click()  # staff land on Today
    page.get_by_role("link", name="Acme Tooling").click()
    assert "***-**-9999" in page.content()
    page.get_by_label("Search members").fill("Westbrook")
    page.get_by_role("button", name="Search").last.click()
    page.wait_for_load_state()
    assert "Westbrook" in page.content() and "Eastwood" not in page.content()
    screenshot(page, "admin-group")


def test_wrong_password_shows_plain_message(live_server, page):
    base_url, cast = live_server
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(cast.users["employer_b"].email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    assert "do not match an account" in page.content()
    screenshot(page, "login-error")


def test_staff_member_sets_up_the_second_factor_then_logs_in_with_it(live_server, page):
    """A staff member without a second factor is sent to set it up: the QR code and its key,
    the first code, the ten recovery codes; the next login asks for a code."""
    import re

    import pyotp
    from sqlalchemy.orm import Session

    from billing_core.db import make_engine
    from billing_core.models.enums import Role
    from tests.e2e.conftest import DATABASES
    from tests.factories import PASSWORD, make_user

    base_url, _cast = live_server
    engine = make_engine(DATABASES[base_url])
    with Session(engine) as session:
        user = make_user(session, Role.SUPERVISOR, second_factor=False)
        email = user.email
        session.commit()
    engine.dispose()

    login(page, base_url, email)
    assert "Set up your second factor" in page.locator("h1").inner_text()
    assert page.get_by_role("img", name="QR code for your authenticator app").is_visible()
    secret = page.locator("#totp-secret").inner_text()
    screenshot(page, "second-factor-setup")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    codes = re.findall(r"[a-z2-9]{5}-[a-z2-9]{5}", page.locator("ul.recovery-codes").inner_text())
    assert len(codes) == 10
    screenshot(page, "second-factor-recovery-codes")
    page.get_by_role("link", name="Continue").click()
    assert "Today" in page.locator("h1").inner_text()
    page.get_by_role("button", name="Log out").click()

    # Next time: the password, then a recovery code in place of the app's code.
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert "Enter your authentication code" in page.locator("h1").inner_text()
    page.get_by_label("Authentication code").fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    assert "Today" in page.locator("h1").inner_text()
