"""A renewal in Chromium with the keyboard alone (issue 22, item 2): a billing specialist starts
it on the group's rates page (Tab to the date, typed, Enter), edits the dental EE rate and
submits; the page says they cannot approve it themselves; a supervisor approves it through the
confirmation; the rates page then shows the new version beside the billed one."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import login, screenshot
from tests.e2e.test_forms_keyboard import _tab_to

pytestmark = pytest.mark.e2e


def _field(field_id: str):
    return lambda f: f["id"] == field_id


def _button(name: str):
    return lambda f: f["tag"] == "button" and f["text"] == name


def _link(name: str):
    return lambda f: f["tag"] == "a" and f["text"] == name


def _logout(page, base_url: str) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()


def test_a_renewal_with_the_keyboard_and_a_second_approver(live_server, page):
    base_url, cast = live_server
    group = cast.group_a
    specialist, supervisor = cast.users["billing_specialist"], cast.users["supervisor"]
    login(page, base_url, specialist.email)
    page.goto(f"{base_url}/admin/groups/{group.id}")
    page.get_by_role("link", name="Rates, renewals and corrections").click()
    page.wait_for_url(f"**/admin/groups/{group.id}/rates")

    date_box = _tab_to(page, _field("renewal-effective_from"), "the renewal date")
    assert date_box["label"].startswith("Renewal effective on")
    page.keyboard.type("02012027")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/rates/\d+$"))
    assert "Premium impact on current enrollment, February 2027" in page.content()

    _tab_to(page, lambda f: f["tag"] == "a" and f["text"].startswith("Edit "), "the edit link")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/plans/\d+$"))
    ee = _tab_to(page, _field("tier_EE"), "the EE rate")
    assert ee["label"] == "EE monthly rate"
    page.keyboard.press("Control+A")
    page.keyboard.type("40.20")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/rates/\d+$"))
    assert page.locator("#total-change").inner_text() == "2.00"  # West's EE member: +2.00
    screenshot(page, "rate_renewal_impact")

    _tab_to(page, _button("Submit for approval"), "the submit button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#approval-note")
    note = page.locator("#approval-note").inner_text()
    assert "needs a second person" in note and "you requested it" in note
    change_url = page.url
    _logout(page, base_url)

    login(page, base_url, supervisor.email)
    page.goto(change_url)
    _tab_to(page, _button("Approve…"), "the approve button")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Approve the rate renewal of")
    screenshot(page, "rate_renewal_confirm")
    _tab_to(page, _button("Confirm: approve the renewal"), "the confirm button")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Approved: the new rates apply from Feb 1, 2027")

    page.goto(f"{base_url}/admin/groups/{group.id}/rates")
    dental = page.locator("section.plan-rates").first.inner_text()
    assert "EE monthly rate: 40.20" in dental and "EE monthly rate: 38.20" in dental
    assert "billed" in dental
    screenshot(page, "rate_renewal_rates")
