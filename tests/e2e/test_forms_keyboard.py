"""Keyboard use of the group set-up in Chromium (issue 22's acceptance: "keyboard use"): a
billing specialist who does not use a mouse starts a set-up, fills the group step and saves it,
then adds a subgroup (a select among the fields), with Tab, typing and Enter alone. Tab visits
the fields in the order they are shown, each with its label; the focused start button and
first field show a focus outline; after a save, the field in error is reached by Tab and its
error read from it (aria-describedby). The labels and error markup of every set-up and user
form are checked from the HTML in tests/web/test_forms_accessible.py."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e

MAX_TABS = 80  # more than any page's links and fields before its form


def _focused(page) -> dict:
    """The focused element: its tag, id, accessible text and whether its outline shows."""
    return page.evaluate(
        """() => {
            const e = document.activeElement;
            const style = getComputedStyle(e);
            const label = e.labels && e.labels.length ? e.labels[0].innerText : '';
            return {tag: e.tagName.toLowerCase(), id: e.id || '', text: (e.innerText || '').trim(),
                    label: label.trim(), outline: style.outlineStyle !== 'none'
                    && parseFloat(style.outlineWidth) > 0};
        }"""
    )


def _tab_to(page, matches, what: str) -> dict:
    """Press Tab until the focused element `matches`; fail naming `what` if it never is."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = _focused(page)
        if matches(now):
            return now
    raise AssertionError(f"{what} is never reached by Tab")


def _next_field(page, leaving: str) -> None:
    """Tab out of the field `leaving`: once, or for a date input, past its own stops (Chromium
    tabs through its month, day and year, then its calendar button)."""
    for _ in range(5):
        page.keyboard.press("Tab")
        if _focused(page)["id"] != leaving:
            return
    raise AssertionError(f"Tab never leaves {leaving}")


def _button(name: str):
    return lambda f: f["tag"] == "button" and f["text"] == name


def _link(name: str):
    return lambda f: f["tag"] == "a" and f["text"] == name


def _field_ids(page) -> list[str]:
    """The ids of the step form's fields in the order they are shown."""
    return page.eval_on_selector_all(
        "form.card input:not([type=hidden]), form.card select, form.card textarea",
        "els => [...new Set(els.map(e => e.id))]",
    )


def test_the_group_step_is_filled_and_saved_with_the_keyboard_alone(live_server, page):
    base_url, cast = live_server
    login(page, base_url, cast.users["billing_specialist"].email)
    page.goto(f"{base_url}/admin/groups/new")
    start = _tab_to(page, _button("Start a new set-up"), "the start button")
    assert start["outline"], "the focused button shows no outline"
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/setup/*/group")

    # Tab from the top reaches the form's first field, then each field in the order shown.
    fields = _field_ids(page)
    assert fields[:3] == ["group_number", "name", "tax_id"]
    first = _tab_to(page, lambda f: f["id"] == fields[0], "the group number")
    assert first["label"] == "Group number" and first["outline"]
    typed = {
        "group_number": "K-7001",
        "name": "Keyboard Cartography",
        "tax_id": "",  # left empty: the save shows the error beside it
        "renewal_month": "1",
        "contact_email": "billing@keyboard.example.com",
        "state": "OR",
    }
    visited = []
    for n, field_id in enumerate(fields):
        if n:
            _next_field(page, fields[n - 1])
        now = _focused(page)
        assert now["id"] == field_id, f"Tab went to {now} instead of {field_id}"
        assert now["label"], f"{field_id} has no label"
        visited.append(field_id)
        if field_id == "original_effective_date":
            page.keyboard.type("01012027")  # a date input: month, day, year as typed
        elif typed.get(field_id):
            page.keyboard.type(typed[field_id])
    assert visited == fields
    _next_field(page, fields[-1])
    assert _focused(page)["text"] == "Save group"
    screenshot(page, "keyboard-group-filled")
    page.keyboard.press("Enter")
    # The new page's flash (the start page's is still shown until the save's page loads).
    expect(page.locator(".flash").first).to_contain_text("Group saved, with 1 thing to fix")

    # The error is on the field: Tab to it and read what it is described by.
    _tab_to(page, lambda f: f["id"] == "tax_id", "the tax id")
    described = page.evaluate(
        "() => document.getElementById(document.activeElement.getAttribute('aria-describedby'))"
        ".innerText"
    )
    assert described.strip() == "required"
    assert page.evaluate("() => document.activeElement.getAttribute('aria-invalid')") == "true"
    screenshot(page, "keyboard-group-error")
    page.keyboard.type("93-7001001")
    page.keyboard.press("Enter")  # submits the form from a text field
    # The page before had a flash too: wait for the new one, not the load state (which the
    # old page already has until the submission's navigation starts).
    expect(page.locator(".flash").first).to_contain_text("Group saved: nothing to fix here")
    assert page.get_by_label("Coverage starts on").input_value() == "2027-01-01"
    assert page.get_by_label("Tax id (EIN)").input_value() == "93-7001001"

    # A list step with a select, by keyboard: the Subgroups link, then its Add form.
    _tab_to(page, _link("Subgroups"), "the Subgroups step")
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/setup/*/subgroups")
    _tab_to(page, lambda f: f["label"] == "Code", "the subgroup code")
    page.keyboard.type("HARBOR")
    page.keyboard.press("Tab")
    page.keyboard.type("Harbor office")
    page.keyboard.press("Tab")
    kind = _focused(page)
    assert kind["tag"] == "select" and kind["label"] == "Kind"
    page.keyboard.type("location")  # a closed select chooses the option typed
    assert page.get_by_label("Kind", exact=True).input_value() == "location"
    _tab_to(page, _button("Add"), "the Add button")
    page.keyboard.press("Enter")
    expect(page.locator(".flash").first).to_contain_text("Subgroups: row 1 added")
    assert "HARBOR" in page.locator("#row-1").inner_text()
    screenshot(page, "keyboard-subgroup-added")
