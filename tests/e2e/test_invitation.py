"""Issue 22, item 5 in Chromium: a billing specialist invites an HR contact for one location of
a group; the invited person opens the link from the outbox, chooses a password, logs in and
sees their group (their location's view) and their team page."""

import pytest
from sqlalchemy import select

from billing_core.db import make_engine, make_session_factory
from billing_core.models import OutboxMessage
from tests.e2e.conftest import DATABASES, login, screenshot

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "Coffee-Table-Lamp-42"


def _outbox_link(base_url: str, email: str) -> str:
    engine = make_engine(DATABASES[base_url])
    try:
        with make_session_factory(engine)() as session:
            message = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.to_address == email, OutboxMessage.kind == "invitation")
                .order_by(OutboxMessage.id.desc())
            ).first()
            assert message is not None, f"no invitation to {email} in the outbox"
            return message.link_path
    finally:
        engine.dispose()


def test_staff_invite_an_hr_user_who_sets_a_password_and_sees_their_group(live_server, page):
    base_url, cast = live_server
    login(page, base_url, cast.users["billing_specialist"].email)
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Their group's number").fill(cast.group_a.group_number)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert "Invite a user for Acme Tooling" in page.locator("h1").inner_text()
    page.get_by_label("Full name").fill("Erin East")
    page.get_by_label("E-mail address").fill("erin.east@acme.test")
    page.get_by_label("EAST — East location").check()
    page.get_by_label("May invite colleagues").check()
    screenshot(page, "users-invite")
    page.get_by_role("button", name="Send the invitation").click()
    page.wait_for_load_state()
    assert "Erin East is invited" in page.content()
    screenshot(page, "users-list")
    page.get_by_role("link", name="See their account").click()
    page.wait_for_load_state()
    assert "only EAST" in page.content() and "Invited" in page.content()
    screenshot(page, "users-detail")
    page.get_by_role("button", name="Log out").click()

    page.goto(base_url + _outbox_link(base_url, "erin.east@acme.test"))
    assert "Welcome, Erin East" in page.locator("h1").inner_text()
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Repeat the new password").fill("short")
    page.get_by_role("button", name="Save my password").click()
    page.wait_for_load_state()
    assert "Choose a stronger password" in page.content()
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    screenshot(page, "users-set-password")
    page.get_by_role("button", name="Save my password").click()
    page.wait_for_load_state()
    assert "Your password is set" in page.content()

    login(page, base_url, "erin.east@acme.test", NEW_PASSWORD)
    assert "Acme Tooling" in page.locator("h1").inner_text()
    assert "Your access covers" in page.content()  # East only
    page.get_by_role("link", name="Team", exact=True).click()
    page.wait_for_load_state()
    assert "Your team at Acme Tooling" in page.locator("h1").inner_text()
    assert "erin.east@acme.test" in page.content() and "WEST" not in page.content()
    screenshot(page, "users-team")


def test_an_admin_changes_a_staff_role_and_sees_it_in_the_history(live_server, page):
    base_url, cast = live_server
    specialist = cast.users["billing_specialist"]
    login(page, base_url, cast.users["admin"].email)
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Role").first.select_option("billing_specialist")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    page.get_by_role("link", name=specialist.full_name).click()
    page.wait_for_load_state()
    page.get_by_label("New role").select_option("supervisor")
    page.get_by_role("button", name="Change the role").click()
    page.wait_for_load_state()
    assert "is now supervisor" in page.content()
    history = page.locator("table").last.inner_text()
    assert "Role changed" in history and "Billing specialist" in history
    screenshot(page, "users-staff-role")
