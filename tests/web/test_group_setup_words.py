"""The set-up screens in words (issue 22, found by looking at the screens): a select shows
words and sends the code, a row reads in words, the check page names every section it writes,
and a class no plan covers yet is "waiting for a plan" on the steps (not "to fix"), while the
check page still lists it and keeps the group a draft."""

from __future__ import annotations

import html
import re
from pathlib import Path

from billing_core.setup import import_setup, load_document
from tests.unit.setup.screen_example import BILLING, GROUP, ROWS
from tests.web.conftest import csrf_token

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "setup_example.yaml"


def _post(client, url, values, prefix=""):
    data = {f"{prefix}{k}": v for k, v in values.items()}
    data[f"{prefix}csrf_token"] = csrf_token(client, url)
    return client.post(url, data=data)


def _page(client, url) -> str:
    return html.unescape(client.get(url).get_data(as_text=True))


def _nav(page: str) -> str:
    nav = re.search(r'<nav aria-label="Set-up steps".*?</nav>', page, re.S).group(0)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", nav))


def test_the_set_up_screens_read_in_words(client, login_as, cast, session):
    import_setup(session, load_document(EXAMPLE))
    session.commit()
    login_as(cast.users["billing_specialist"])
    started = _post(client, "/admin/groups/new", {})
    base = started.headers["Location"].rsplit("/", 1)[0]
    _post(client, f"{base}/group", GROUP)
    _post(client, f"{base}/billing", BILLING)
    for step, rows in ROWS.items():
        for row in rows:
            if step == "plans":
                row = dict(row, **{"class": "FT"})  # every plan limited to full-time
            assert _post(client, f"{base}/{step}", row, prefix="add-").status_code == 303

    # A select: the words shown, the document's code sent.
    billing = _page(client, f"{base}/billing")
    assert re.search(r'<option selected value="list_bill">List bill</option>', billing)
    assert re.search(
        r'<option value="or">Either: within the amount or within the percent<', billing
    )
    assert re.search(r'<option selected value="bi_weekly">Bi-weekly</option>', billing)
    assert ">list bill<" not in billing and ">bi weekly<" not in billing
    # A row: in words.
    subgroups = _page(client, f"{base}/subgroups")
    assert "Kind: Location" in subgroups and "Kind: location" not in subgroups
    plans = _page(client, f"{base}/plans")
    assert "Class (optional: all classes): FT - Full-time employees" in plans
    assert "Product: DEN-PPO - Dental PPO (Tiered composite)" in plans
    rates = _page(client, f"{base}/rates")
    assert re.search(r'<option value="DEN">DEN - Dental PPO</option>', rates)

    # A class no plan covers yet: waiting for the Plans step, not wrong on its own step.
    added = _post(client, f"{base}/classes", {"code": "PT", "name": "Part-time"}, "add-")
    said = _page(client, added.headers["Location"])
    assert "Classes: row 2 added: nothing to fix here; waiting for a plan" in said
    assert "Classes 1 waiting for a plan" in _nav(said)
    assert "Classes 1 to fix" not in _nav(said)
    row_2 = re.search(r'<tr id="row-2">.*?</tr>', said, re.S).group(0)
    assert "Waiting for a plan (the Plans step): no plan covers class PT" in row_2
    assert 'class="errors"><li' not in row_2
    row_page = _page(client, f"{base}/classes/2")
    assert 'id="waiting"' in row_page and 'aria-invalid="true"' not in row_page
    # The Plans step says what it still owes.
    plans = _page(client, f"{base}/plans")
    assert re.search(r'id="awaited".*no plan covers class PT', plans, re.S)

    # The check page: still a problem, and the group stays a draft.
    check = _page(client, f"{base}/check")
    assert "Classes, row 2, code: no plan covers class PT" in check
    assert "Make the group live" not in check
    # What goes live: every section, the catalog's products by name, no codes.
    goes = re.sub(r"<[^>]+>", " ", re.search(r'id="goes-live".*?</table>', check, re.S).group(0))
    for words in (
        "Broker of record",
        "Agency HARBOR from 2024-01-01",
        "Products",
        "Dental PPO (DEN): Dental PPO (DEN-PPO), class Full-time employees only",
        "DEN from 2025-01-01: EE 40.15, ES 80.00, EC 88.90, FAM 112.40 a month",
        "Coverage-month rule: Start by the 15th bills that month",
        "Main office (MAIN): location",
    ):
        assert words in goes, (words, goes)
    for code in ("list_bill", "bi_weekly", "fifteenth", "tiered_composite"):
        assert code not in goes, code
    # Going live is refused, naming it.
    refused = _post(client, f"{base}/live", {})
    assert "no plan covers class PT" in _page(client, refused.headers["Location"])
