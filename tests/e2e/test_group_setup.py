"""Issue 22, item 1 in Chromium: a billing specialist sets up a new group on the screens (two
subgroups, three new products on three rating bases, their plans and rates), sees a mistake
named beside its field, checks the draft and makes the group live; the group's page lists the
three plans. Every step is screenshot into test-artifacts/."""

import pytest

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e


def _fill(page, values: dict[str, str]) -> None:
    """Fill fields by their visible labels; a select is chosen by its option's value."""
    for label, value in values.items():
        field = page.get_by_label(label, exact=True)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def _add(page, values: dict[str, str]) -> None:
    _fill(page, values)
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_load_state()


def _step(page, title: str) -> None:
    page.get_by_role("navigation", name="Set-up steps").get_by_role("link", name=title).click()
    page.wait_for_load_state()


def test_a_new_group_is_set_up_on_the_screens_and_goes_live(live_server, page):
    base_url, cast = live_server
    login(page, base_url, cast.users["billing_specialist"].email)
    page.goto(f"{base_url}/admin/")
    page.get_by_role("link", name="Set up a new group").click()
    screenshot(page, "setup-start")
    page.get_by_role("button", name="Start a new set-up").click()
    page.wait_for_load_state()

    group = {
        "Group number": "E-9001",
        "Name": "Juniper Print Works",
        "Tax id (EIN)": "",
        "Coverage starts on": "2026-01-01",
        "Renewal month (1-12)": "1",
        "Billing contact e-mail": "hr@juniper.example.com",
        "State (two letters)": "OR",
    }
    _fill(page, group)
    page.get_by_role("button", name="Save group").click()
    page.wait_for_load_state()
    assert page.locator("#tax_id-errors").inner_text() == "required"
    screenshot(page, "setup-group-error")
    _fill(page, {"Tax id (EIN)": "93-1112223"})
    page.get_by_role("button", name="Save group").click()
    page.wait_for_load_state()
    assert page.locator(".errors").count() == 0

    _step(page, "Subgroups")
    _add(page, {"Code": "NORTH", "Name": "North plant", "Kind": "location"})
    _add(page, {"Code": "SOUTH", "Name": "South plant", "Kind": "location"})
    screenshot(page, "setup-subgroups")
    _step(page, "Classes")
    _add(page, {"Code": "FT", "Name": "Full-time"})
    _step(page, "Billing policy")
    _fill(
        page,
        {
            "Effective from": "2026-01-01",
            "Billing method": "list_bill",
            "Billing frequency": "monthly",
            "Bill this many days before the period": "15",
            "Short-pay tolerance, amount": "25.00",
            "Short-pay tolerance, percent": "2",
            "Tolerance: both (and) or either (or)": "or",
        },
    )
    page.get_by_role("button", name="Save billing policy").click()
    page.wait_for_load_state()
    screenshot(page, "setup-billing")
    _step(page, "Products")
    for code, name, line, basis in [
        ("DEN-JPW", "Dental PPO", "dental", "tiered_composite"),
        ("LIFE-JPW", "Basic life", "basic_life", "per_thousand_volume"),
        ("STD-JPW", "Short-term disability", "std", "std_weekly_benefit"),
    ]:
        _add(page, {"Code": code, "Name": name, "Line of coverage": line, "Rating basis": basis})
    screenshot(page, "setup-products")
    _step(page, "Plans")
    for code, product in [("DEN", "DEN-JPW"), ("LIFE", "LIFE-JPW"), ("STD", "STD-JPW")]:
        _add(
            page,
            {
                "Code": code,
                "Name": f"{code} plan",
                "Product": product,
                "Effective from": "2026-01-01",
            },
        )
    screenshot(page, "setup-plans")
    _step(page, "Rates")
    _add(
        page,
        {
            "Plan": "DEN",
            "Effective from": "2026-01-01",
            "Monthly rate, tier EE": "41.00",
            "Monthly rate, tier ES": "82.00",
            "Monthly rate, tier EC": "90.00",
            "Monthly rate, tier FAM": "120.00",
        },
    )
    _add(
        page,
        {
            "Plan": "LIFE",
            "Effective from": "2026-01-01",
            "Rate per unit (per $1,000 or per $10 of benefit or payroll)": "0.15",
            "Flat volume (life: amount of insurance)": "50000",
        },
    )
    # STD rates missing a field: named on its row.
    _add(
        page,
        {
            "Plan": "STD",
            "Effective from": "2026-01-01",
            "Rate per unit (per $1,000 or per $10 of benefit or payroll)": "0.40",
            "Weekly benefit, share of pay (0.6 = 60%)": "0.6",
        },
    )
    assert (
        "Weekly benefit maximum: required: the plan's rating basis is per $10 of weekly benefit"
        in page.content()
    )
    screenshot(page, "setup-rates-error")
    page.get_by_role("button", name="Remove row 3").click()
    page.wait_for_load_state()
    _add(
        page,
        {
            "Plan": "STD",
            "Effective from": "2026-01-01",
            "Rate per unit (per $1,000 or per $10 of benefit or payroll)": "0.40",
            "Weekly benefit, share of pay (0.6 = 60%)": "0.6",
            "Weekly benefit maximum": "1000",
        },
    )
    screenshot(page, "setup-rates")
    page.get_by_role("link", name="Check and go live").click()
    page.wait_for_load_state()
    screenshot(page, "setup-check")
    page.get_by_role("button", name="Make the group live").click()
    page.wait_for_load_state()
    assert "Juniper Print Works (E-9001) is live" in page.content()
    for plan in ("DEN plan", "LIFE plan", "STD plan"):
        assert plan in page.content()
    screenshot(page, "setup-live-group")
    page.get_by_role("link", name="History").click()
    page.wait_for_load_state()
    assert "Set up on the screens and made live" in page.content()
    screenshot(page, "setup-history")


def test_a_supervisor_terminates_a_group_after_seeing_the_figures(live_server, page):
    base_url, cast = live_server
    login(page, base_url, cast.users["supervisor"].email)
    page.goto(f"{base_url}/admin/groups/{cast.group_b.id}")
    page.get_by_role("link", name="Terminate…").click()
    page.wait_for_load_state()
    page.get_by_label("Last covered day (billing stops after it)").fill("2027-06-30")
    page.get_by_label("Why the group ends").fill("moved to another carrier")
    screenshot(page, "terminate-form")
    page.get_by_role("button", name="Terminate…").click()
    page.wait_for_load_state()
    assert "Terminate Borealis Foods?" in page.content()
    screenshot(page, "terminate-ask")
    page.get_by_role("button", name="Confirm: terminate the group").click()
    page.wait_for_load_state()
    assert "its last covered day is Jun 30, 2027" in page.content()
    page.goto(f"{base_url}/admin/groups/{cast.group_b.id}/history")
    assert "Group terminated" in page.content()
    screenshot(page, "terminate-history")
