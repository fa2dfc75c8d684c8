"""Issue 22's acceptance chain in Chromium, from nothing to a first bill, all on the screens:

1. a billing specialist sets up a NEW group at /admin/groups/new: two subgroups, a class, a
   billing policy, a broker of record, three products on three rating bases (age-banded
   medical, tiered composite dental, basic life per $1,000 of a salary-multiple volume), their
   plans and rates, a billing contact; checks it and makes it live;
2. sets the group's invoice template from its contract: premium subtotals by subgroup and a
   purchase order number printed on the bill (`set_the_invoice_template`);
3. invites the group's HR contact at /admin/users; the invitee opens the set-password link read
   from the mail outbox, chooses a password, logs in and sees the group;
4. the HR contact uploads the group's first census (three new hires, a change file) and submits
   it; the specialist approves it;
5. the specialist runs the next billing run (the page's default month) and opens the group's
   first invoice: each plan's premium is what the rates give by hand, to the cent
   (`expected_premium` works it out, `assert_first_invoice` holds every invoice assertion),
   with the template's subtotal per subgroup and its PO number, on the page and in the PDF.

Dates follow the real date (the live server's `today()`): the group's coverage starts on the
first of next month, which is the month the next billing run bills. Every step is screenshot
into test-artifacts/ (`chain-*.png`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import pytest

from billing_core.billing.enrollment import add_months, month_start
from portal.web import today
from tests.e2e.conftest import ARTIFACTS, login, screenshot
from tests.e2e.test_invitation import _outbox_link

pytestmark = pytest.mark.e2e

GROUP_NUMBER = "E-9301"
GROUP_NAME = "Larkspur Ceramics"
HR_NAME = "Hana Holt"
HR_EMAIL = "hana.holt@larkspur.example.com"
HR_PASSWORD = "Kiln-Glaze-Teapot-77"
CENSUS_FILE = "Larkspur first census.csv"
PO_NUMBER = "PO-LC-2027-0415"

# The rates typed on the Rates step.
AGE_BANDS = {(18, 29): Decimal("210.00"), (30, 39): Decimal("262.50"),
             (40, 49): Decimal("331.75"), (50, 64): Decimal("449.10")}  # fmt: skip
DENTAL = {"EE": Decimal("41.00"), "ES": Decimal("82.00"), "EC": Decimal("90.00"),
          "FAM": Decimal("120.00")}  # fmt: skip
LIFE_RATE = Decimal("0.163")  # per $1,000 of volume, monthly
LIFE_MULTIPLE = Decimal("1")  # volume: 1 x annual salary, rounded up to $1,000
LIFE_MAXIMUM = Decimal("50000")


@dataclass(frozen=True)
class Hire:
    employee_id: str
    first: str
    last: str
    age: int  # on the coverage start (born on its day and month)
    location: str
    dental_tier: str | None  # None: waives dental
    salary: Decimal


HIRES = (
    Hire("LC-001", "Ada", "Alder", 30, "NORTH", "EE", Decimal("48250")),
    Hire("LC-002", "Bram", "Birch", 45, "NORTH", "FAM", Decimal("72000")),
    Hire("LC-003", "Cleo", "Cedar", 58, "SOUTH", None, Decimal("39900")),
)


def coverage_start() -> date:
    """The first of next month by the live server's date (UTC): the month the next billing
    run bills (its page's default)."""
    return add_months(month_start(today()), 1)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def expected_premium() -> dict[str, Decimal]:
    """Each plan's first-month premium worked out by hand from the rates above: medical by the
    member's age band, dental by tier, life = volume (salary x multiple, rounded UP to $1,000,
    at most the maximum) / 1,000 x rate, each member's line half-up to the cent, a plan's
    premium the sum of its rounded lines."""
    medical = sum(
        (rate for h in HIRES for (lo, hi), rate in AGE_BANDS.items() if lo <= h.age <= hi),
        Decimal("0"),
    )
    dental = sum((DENTAL[h.dental_tier] for h in HIRES if h.dental_tier), Decimal("0"))
    life = Decimal("0")
    for h in HIRES:
        volume = (h.salary * LIFE_MULTIPLE / 1000).to_integral_value(ROUND_CEILING) * 1000
        life += _cents(min(volume, LIFE_MAXIMUM) / 1000 * LIFE_RATE)
    return {"Larkspur Medical": medical, "Larkspur Dental": dental, "Larkspur Life": life}


# By hand, so a change to the helper above cannot hide a pricing change: 262.50 + 331.75 +
# 449.10; 41.00 + 120.00 (Cleo waives); 49 x 0.163 = 7.987 -> 7.99, 50 (capped) x 0.163 = 8.15,
# 40 x 0.163 = 6.52.
BY_HAND = {
    "Larkspur Medical": Decimal("1043.35"),
    "Larkspur Dental": Decimal("161.00"),
    "Larkspur Life": Decimal("22.66"),
}


# The template's subtotals by subgroup, by hand: North (Ada, Bram) 262.50 + 331.75 medical,
# 41.00 + 120.00 dental, 7.99 + 8.15 life; South (Cleo) 449.10 medical, 6.52 life.
BY_SUBGROUP = {"North studio": Decimal("771.39"), "South kiln yard": Decimal("455.62")}


# --------------------------------------------------------------------------- screen helpers


def _fill(page, values: dict[str, str]) -> None:
    """Fill fields by their visible labels; a select is chosen by its option's value."""
    for label, value in values.items():
        field = page.get_by_label(label, exact=True)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def _save(page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    assert page.locator(".has-error").count() == 0, page.locator(".has-error").all_inner_texts()


def _add(page, values: dict[str, str], *, clean: bool = True) -> None:
    """Add a row; `clean`: the set-up's check finds nothing to fix in it (a class is not clean
    until a plan covers it)."""
    _fill(page, values)
    # The page after the add (the one before shows the last add's flash until it loads).
    with page.expect_navigation():
        page.get_by_role("button", name="Add", exact=True).click()
    said = page.locator(".flash").first.inner_text()
    assert "added" in said and (not clean or "nothing to fix here" in said), said


def _step(page, title: str) -> None:
    page.get_by_role("navigation", name="Set-up steps").get_by_role("link", name=title).click()
    page.wait_for_load_state()


def _us(day: date) -> str:
    return f"{day:%m/%d/%Y}"


# --------------------------------------------------------------------------- the chain's steps


def set_up_the_group(page, base_url: str, start: date) -> None:
    """Every step of the guided set-up, then the check page and going live."""
    page.goto(f"{base_url}/admin/")
    page.get_by_role("link", name="Set up a new group").click()
    page.get_by_role("button", name="Start a new set-up").click()
    page.wait_for_load_state()
    _fill(
        page,
        {
            "Group number": GROUP_NUMBER,
            "Name": GROUP_NAME,
            "Tax id (EIN)": "93-4455667",
            "Coverage starts on": start.isoformat(),
            "Renewal month (1-12)": str(start.month),
            "Billing contact e-mail": "billing@larkspur.example.com",
            "State (two letters)": "WA",
            "Billing contact name": "Rosa Reyes",
            "Billing contact phone": "206-555-0142",
            "Mailing address, line 1": "1200 Kiln Road",
            "City": "Tacoma",
            "Mailing address state (two letters)": "WA",
            "ZIP code (5 or 9 digits)": "98402",
        },
    )
    _save(page, "Save group")
    screenshot(page, "chain-01-group")

    _step(page, "Subgroups")
    _add(page, {"Code": "NORTH", "Name": "North studio", "Kind": "location"})
    _add(page, {"Code": "SOUTH", "Name": "South kiln yard", "Kind": "location"})
    _step(page, "Classes")
    # No plan covers the class yet: that waits for the Plans step, it is not wrong here.
    _add(page, {"Code": "FT", "Name": "Full-time"})
    steps = page.get_by_role("navigation", name="Set-up steps").inner_text()
    [classes] = [line for line in steps.splitlines() if line.startswith("Classes")]
    assert classes == "Classes 1 waiting for a plan", steps
    assert "Waiting for a plan" in page.locator("#row-1").inner_text()
    screenshot(page, "setup-classes-waiting")
    page.get_by_role("link", name="Change row 1").click()
    page.wait_for_load_state()
    assert "Waiting for a plan" in page.locator("#waiting").inner_text()
    assert page.locator("[aria-invalid=true]").count() == 0
    screenshot(page, "setup-class-row-waiting")
    page.get_by_role("link", name="Back to classes").click()
    page.wait_for_load_state()
    _step(page, "Billing policy")
    _fill(
        page,
        {
            "Effective from": start.isoformat(),
            "Billing method": "list_bill",
            "Billing frequency": "monthly",
            "Bill this many days before the period": "15",
            "Short-pay tolerance, amount": "25.00",
            "Short-pay tolerance, percent": "2",
            "Tolerance: both (and) or either (or)": "or",
        },
    )
    _save(page, "Save billing policy")
    _step(page, "Broker of record")
    _add(page, {"Agency code": "AG-A", "Effective from": start.isoformat()})
    _step(page, "Products")
    for code, name, line, basis in [
        ("LC-MED", "Larkspur Medical", "medical", "age_banded"),
        ("LC-DEN", "Larkspur Dental", "dental", "tiered_composite"),
        ("LC-LIFE", "Larkspur Life", "basic_life", "per_thousand_volume"),
    ]:
        _add(page, {"Code": code, "Name": name, "Line of coverage": line, "Rating basis": basis})
    screenshot(page, "chain-02-products")
    _step(page, "Plans")
    # The Plans step says what it still owes the Classes step.
    assert "no plan covers class FT" in page.locator("#awaited").inner_text()
    screenshot(page, "setup-plans-awaited")
    for code, name, product in [
        ("MED", "Medical age-banded", "LC-MED"),
        ("DEN", "Dental PPO", "LC-DEN"),
        ("LIFE", "Basic life 1x salary", "LC-LIFE"),
    ]:
        _add(
            page,
            {"Code": code, "Name": name, "Product": product, "Effective from": start.isoformat()},
        )
    _step(page, "Rates")
    bands = "\n".join(f"{lo}-{hi}: {rate}" for (lo, hi), rate in AGE_BANDS.items())
    _add(
        page,
        {
            "Plan": "MED",
            "Effective from": start.isoformat(),
            "Age bands, one a line (18-29: 12.50)": bands,
            "Age taken on": "coverage_month",
        },
    )
    _add(
        page,
        {"Plan": "DEN", "Effective from": start.isoformat()}
        | {f"Monthly rate, tier {tier}": str(rate) for tier, rate in DENTAL.items()},
    )
    _add(
        page,
        {
            "Plan": "LIFE",
            "Effective from": start.isoformat(),
            "Rate per unit (per $1,000 or per $10 of benefit or payroll)": str(LIFE_RATE),
            "Volume as a multiple of salary": str(LIFE_MULTIPLE),
            "Volume maximum": str(LIFE_MAXIMUM),
            "Round volume up to": "1000",
        },
    )
    screenshot(page, "chain-03-rates")
    page.get_by_role("link", name="Check and go live").click()
    page.wait_for_load_state()
    assert page.locator("#problems").count() == 0, page.locator("#problems").inner_text()
    goes_live = page.locator("#goes-live").inner_text()
    for words in ("Larkspur Medical (LC-MED): Medical, Age-banded per member",
                  "Agency AG-A from", "List bill, billed monthly", "DEN from",
                  "North studio (NORTH): location"):  # fmt: skip
        assert words in goes_live, goes_live
    assert "list_bill" not in goes_live and "age_banded" not in goes_live, goes_live
    screenshot(page, "chain-04-check")
    page.get_by_role("button", name="Make the group live").click()
    page.wait_for_load_state()
    assert f"{GROUP_NAME} ({GROUP_NUMBER}) is live" in page.content()
    screenshot(page, "chain-05-live")


def set_the_invoice_template(page, base_url: str) -> None:
    """The group's invoice template from its contract (issue 22, item 3): premium subtotals by
    subgroup and the employer's purchase order number printed on the bill; saved from the
    staff group page's "Invoice template" link (the page going live left the browser on)."""
    assert GROUP_NUMBER in page.locator("h1").inner_text()
    page.get_by_role("link", name="Invoice template").click()
    page.wait_for_load_state()
    page.get_by_label("Subtotals of the premium by").select_option("subgroup")
    page.get_by_label("Reference field 1: label").fill("PO number")
    page.get_by_label("Reference field 1: value").fill(PO_NUMBER)
    screenshot(page, "chain-06-invoice-template")
    page.get_by_role("button", name="Save template").click()
    page.wait_for_load_state()
    assert "Saved the invoice template" in page.content()


def invite_the_hr_contact(page, base_url: str) -> None:
    """Staff invite the group's HR contact for the whole group (no location limit, so they may
    send the census); the invitee sets a password from the outbox's link, logs in and sees
    their group."""
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Their group's number").fill(GROUP_NUMBER)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert f"Invite a user for {GROUP_NAME}" in page.locator("h1").inner_text()
    page.get_by_label("Full name").fill(HR_NAME)
    page.get_by_label("E-mail address").fill(HR_EMAIL)
    page.get_by_label("May invite colleagues").check()
    screenshot(page, "chain-06-invite")
    page.get_by_role("button", name="Send the invitation").click()
    page.wait_for_load_state()
    assert f"{HR_NAME} is invited" in page.content()
    page.get_by_role("button", name="Log out").click()

    page.goto(base_url + _outbox_link(base_url, HR_EMAIL))
    assert f"Welcome, {HR_NAME}" in page.locator("h1").inner_text()
    page.get_by_label("New password", exact=True).fill(HR_PASSWORD)
    page.get_by_label("Repeat the new password").fill(HR_PASSWORD)
    screenshot(page, "chain-07-set-password")
    page.get_by_role("button", name="Save my password").click()
    page.wait_for_load_state()
    assert "Your password is set" in page.content()

    login(page, base_url, HR_EMAIL, HR_PASSWORD)
    assert GROUP_NAME in page.locator("h1").inner_text()
    screenshot(page, "chain-08-hr-dashboard")


def census_csv(start: date) -> str:
    header = (
        "Employee ID,First Name,Last Name,Date of Birth,Location,Class,Action,Eff Date,"
        "Annual Salary,Medical Plan,Medical Tier,Dental Plan,Dental Tier,Basic Life"
    )
    rows = [header]
    for h in HIRES:
        born = date(start.year - h.age, start.month, 1)
        dental = ("DEN", h.dental_tier) if h.dental_tier else ("", "")
        rows.append(
            ",".join(
                [
                    h.employee_id,
                    h.first,
                    h.last,
                    _us(born),
                    h.location,
                    "FT",
                    "Add",
                    _us(start),
                    str(h.salary),
                    "MED",
                    "EE",
                    *dental,
                    "Y",
                ]
            )  # fmt: skip
        )
    return "\n".join(rows) + "\n"


def send_the_first_census(page, start: date, tmp_path) -> None:
    """The HR contact uploads the three new hires, reads the check and submits."""
    path = tmp_path / CENSUS_FILE
    path.write_text(census_csv(start))
    page.get_by_role("link", name="Census uploads").first.click()
    page.get_by_label("Census or change file (CSV, XLSX or X12 834)").set_input_files(str(path))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    submit = page.get_by_role("button", name=f"Submit {CENSUS_FILE}")
    submit.wait_for()
    screenshot(page, "chain-09-census-checked")
    submit.click()
    page.wait_for_load_state()
    assert "billing will review it" in page.content()
    page.get_by_role("button", name="Log out").click()


def approve_the_census(page) -> None:
    page.get_by_role("link", name="Uploads", exact=True).click()
    page.get_by_role("link", name=CENSUS_FILE).click()
    page.wait_for_load_state()
    screenshot(page, "chain-10-upload-review")
    page.get_by_role("button", name=re.compile(r"^Approve 3 adds, 0 terms, 0 changes")).click()
    page.wait_for_load_state()
    confirm = page.get_by_role("button", name=re.compile(r"^Confirm"))
    if confirm.count():
        screenshot(page, "chain-11-approve-confirmation")
        confirm.click()
        page.wait_for_load_state()
    assert "approved" in page.locator(".flash").first.inner_text()


def run_the_next_billing_run(page, start: date) -> None:
    """The billing run page's default month is next month: preview, then issue; open the
    group's invoice."""
    page.get_by_role("link", name="Billing run", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_label("Billing period (month)").input_value() == f"{start:%Y-%m}"
    page.get_by_role("button", name="Preview").click()
    page.wait_for_load_state()
    invoice_number = f"{GROUP_NUMBER}-{start:%Y%m}"
    assert invoice_number in page.locator(".preview").inner_text()
    screenshot(page, "chain-12-billing-preview")
    page.get_by_role("button", name=re.compile(r"Issue \d+ invoice\(s\)")).click()
    page.wait_for_load_state()
    assert "Issued" in page.content()
    page.get_by_role("link", name=re.compile(invoice_number)).first.click()
    page.wait_for_load_state()
    screenshot(page, "chain-13-first-invoice")


def _money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", "").strip())


def assert_first_invoice(page, start: date) -> None:
    """Everything the first bill must show, in one place: its number and period, and per plan
    (Premium by product: product, plan, lives, premium) the figures worked out by hand; the
    premium is the sum of the plans'; the invoice template's PO number and subtotal per
    subgroup (`set_the_invoice_template`); and the PDF's text."""
    expected = expected_premium()
    assert expected == BY_HAND
    assert f"{GROUP_NUMBER}-{start:%Y%m}" in page.locator("h1").inner_text()
    by_product = page.locator("section", has=page.get_by_role("heading", name="Premium by product"))
    shown = {}
    for row in by_product.locator("tbody tr:not(.total)").all():
        cells = row.locator("td").all_inner_texts()
        product, plan = (line.strip() for line in cells[0].splitlines())
        shown[product] = (plan, int(cells[1]), _money(cells[2]))
    plans = {
        "Larkspur Medical": ("Medical age-banded", 3),
        "Larkspur Dental": ("Dental PPO", 2),  # Cleo waives dental
        "Larkspur Life": ("Basic life 1x salary", 3),
    }
    assert shown == {p: (*plans[p], amount) for p, amount in expected.items()}
    assert page.locator("#invoice-lines tbody tr").count() == 8  # 3 medical, 2 dental, 3 life
    total = sum(expected.values(), Decimal("0"))
    assert total == Decimal("1227.01")
    total_row = by_product.locator("tr.total").inner_text()
    assert f"{total:,.2f}" in total_row
    summary = page.locator("table.summary").inner_text()
    assert "Total due by" in summary and f"{total:,.2f}" in summary

    # The invoice template: the PO number in the bill's header, the premium by subgroup.
    references = page.locator("dl.references").inner_text()
    assert "PO number" in references and PO_NUMBER in references
    subtotals = page.locator("#subtotals")
    assert "Premium by subgroup" in subtotals.locator("h2").inner_text()
    by_subgroup = {}
    for row in subtotals.locator("tbody tr:not(.total)").all():
        label, members, amount = row.locator("td").all_inner_texts()
        name = next(n for n in BY_SUBGROUP if n in label)
        by_subgroup[name] = (int(members), _money(amount))
    assert by_subgroup == {
        "North studio": (2, BY_SUBGROUP["North studio"]),
        "South kiln yard": (1, BY_SUBGROUP["South kiln yard"]),
    }
    assert sum(BY_SUBGROUP.values(), Decimal("0")) == total
    assert f"{total:,.2f}" in subtotals.locator("tr.total").inner_text()

    # And the PDF the employer downloads says the same.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = ARTIFACTS / "chain-14-first-invoice.pdf"
    download.value.save_as(pdf)
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert PO_NUMBER in text
        assert "North studio" in text and "771.39" in text
        assert "South kiln yard" in text and "455.62" in text


def test_a_new_group_is_set_up_staffed_and_billed_on_the_screens(live_server, page, tmp_path):
    base_url, cast = live_server
    start = coverage_start()
    login(page, base_url, cast.users["billing_specialist"].email)
    set_up_the_group(page, base_url, start)
    set_the_invoice_template(page, base_url)
    invite_the_hr_contact(page, base_url)
    send_the_first_census(page, start, tmp_path)
    login(page, base_url, cast.users["billing_specialist"].email)
    approve_the_census(page)
    run_the_next_billing_run(page, start)
    assert_first_invoice(page, start)
