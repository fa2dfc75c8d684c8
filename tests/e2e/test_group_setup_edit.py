"""Issue 22, items 1 and 4 in Chromium: a billing specialist opens a live group's page, presses
"Edit set-up…", fills the mailing address and billing contact by their labels (a bad ZIP named
beside its field), renames a subgroup through its row's Change page, checks and applies; the
group's page shows the address and the history timeline the contact before and after. Each
page is screenshot into test-artifacts/."""

import pytest

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e


def _fill(page, values: dict[str, str]) -> None:
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)


def _step(page, title: str) -> None:
    page.get_by_role("navigation", name="Set-up steps").get_by_role("link", name=title).click()
    page.wait_for_load_state()


def test_a_live_group_is_edited_on_the_screens(live_server, page):
    base_url, cast = live_server
    group = cast.group_a
    login(page, base_url, cast.users["billing_specialist"].email)
    page.goto(f"{base_url}/admin/groups/{group.id}")
    page.get_by_role("button", name="Edit set-up…").click()
    page.wait_for_load_state()
    assert page.get_by_label("Name", exact=True).input_value() == group.name
    _fill(
        page,
        {
            "Billing contact name": "Noor Haddad",
            "Billing contact phone": "(612) 555-0199",
            "Billing contact e-mail": "ap@acme.example.com",
            "Mailing address, line 1": "77 Grain Exchange Rd",
            "City": "Minneapolis",
            "Mailing address state (two letters)": "MN",
            "ZIP code (5 or 9 digits)": "5540",
        },
    )
    page.get_by_role("button", name="Save group").click()
    page.wait_for_load_state()
    assert "ZIP code of 5 or 9 digits" in page.locator("#zip-errors").inner_text()
    assert page.get_by_label("ZIP code (5 or 9 digits)").get_attribute("aria-invalid") == "true"
    screenshot(page, "setup-edit-group-error")
    _fill(page, {"ZIP code (5 or 9 digits)": "55401-2210"})
    page.get_by_role("button", name="Save group").click()
    page.wait_for_load_state()
    assert page.locator(".errors").count() == 0

    _step(page, "Subgroups")
    page.get_by_role("link", name="Change row 1").click()
    page.wait_for_load_state()
    assert page.get_by_label("Code", exact=True).input_value() == "EAST"
    page.get_by_label("Name", exact=True).fill("East warehouse")
    page.get_by_role("button", name="Save row 1").click()
    page.wait_for_load_state()
    assert "East warehouse" in page.content()
    screenshot(page, "setup-edit-subgroups")

    _step(page, "Check and apply")
    screenshot(page, "setup-edit-check")
    page.get_by_role("button", name=f"Apply the changes to {group.name}").click()
    page.wait_for_load_state()
    assert "the set-up changes are applied" in page.content()
    contact = page.locator("#contact")
    assert "77 Grain Exchange Rd" in contact.inner_text()
    assert "Minneapolis, MN 55401-2210" in contact.inner_text()
    screenshot(page, "setup-edit-group-page")
    page.get_by_role("link", name="History").click()
    page.wait_for_load_state()
    history = page.content()
    assert "Set-up changed" in history and "Noor Haddad" in history
    assert "subgroups updated" in history
    assert "Subgroup EAST name" in history and "East warehouse" in history
    screenshot(page, "setup-edit-history")
