"""Group set-up on screens (issue 22, items 1, 4, 6) through the pages: a draft started,
filled step by step by the forms' POSTs (CSRF), a wrong value shown beside its field, the check
page naming what is missing, going live through the set-up import; the acceptance that the
group set up by the import and the same group set up on the screens bill identical lines;
termination asked and confirmed, a supervisor's only; the history timeline; employers refused."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path

from sqlalchemy import select

from billing_core.billing.invoicing import issue_billing_run
from billing_core.collections.watchlist import add_entry
from billing_core.models import EmployerGroup
from billing_core.models.setup_draft import GroupSetupDraft, GroupTermination
from billing_core.setup import import_setup, load_document
from portal.web import today
from tests.unit.setup.screen_example import (
    BILLING,
    GROUP,
    ROWS,
    invoice_lines,
    members_document,
)
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "setup_example.yaml"


def _post(client, url, values, prefix=""):
    token = csrf_token(client, url)
    data = {f"{prefix}{k}": v for k, v in values.items()}
    data[f"{prefix}csrf_token"] = token
    return client.post(url, data=data)


def _page(client, url) -> str:
    return html.unescape(client.get(url).get_data(as_text=True))


def test_a_group_set_up_on_the_screens_bills_like_the_imported_one(client, login_as, cast, session):
    example = load_document(EXAMPLE)
    import_setup(session, example)
    session.commit()
    login_as(cast.users["billing_specialist"])

    start = _page(client, "/admin/groups/new")
    assert "Start a new set-up" in start and "No drafts" in start
    started = _post(client, "/admin/groups/new", {})
    assert started.status_code == 303
    step_url = started.headers["Location"]
    draft_id = int(re.search(r"/admin/setup/(\d+)/group", step_url).group(1))
    base = f"/admin/setup/{draft_id}"

    # A wrong value is kept and shown beside its field, in words.
    _post(client, f"{base}/group", dict(GROUP, tax_id="", renewal_month="13"))
    page = _page(client, f"{base}/group")
    assert re.search(r'id="tax_id-errors"><li>required</li>', page)
    assert re.search(r'id="renewal_month-errors"><li>expected a whole number from 1 to 12', page)
    assert 'aria-invalid="true"' in page and '<label for="tax_id">Tax id (EIN)</label>' in page

    assert _post(client, f"{base}/group", GROUP).status_code == 303
    # A tax id on the credit-control watchlist: warned on the step, never refused.
    add_entry(session, tax_id=GROUP["tax_id"], name="Cedar Valley", reason="two returned checks",
              actor=cast.users["supervisor"], today=today())  # fmt: skip
    session.commit()
    warned = _page(client, f"{base}/group")
    assert 'id="watchlist-warning"' in warned and "two returned checks" in warned
    assert _post(client, f"{base}/billing", BILLING).status_code == 303
    for step, rows in ROWS.items():
        for row in rows:
            if step == "rates" and row["plan"] == "LTD":
                continue
            assert _post(client, f"{base}/{step}", row, prefix="add-").status_code == 303
    check = _page(client, f"{base}/check")
    assert (
        "Rates: plan LTD has no rate version in force on" in check
        and "Make the group live" not in check
    )
    [ltd] = [r for r in ROWS["rates"] if r["plan"] == "LTD"]
    _post(client, f"{base}/rates", ltd, prefix="add-")
    # A row added by mistake is removed again.
    _post(client, f"{base}/subgroups", {"code": "X", "name": "Oops", "kind": "planet"}, "add-")
    rows_page = _page(client, f"{base}/subgroups")
    assert "Kind: expected one of:" in rows_page
    _post(client, f"{base}/subgroups/2/remove", {})
    check = _page(client, f"{base}/check")
    assert "Make the group live" in check, check[:3000]

    assert "Cedar Valley Dental Lab (screens)" in _page(client, "/admin/groups/new")
    live = _post(client, f"{base}/live", {})
    assert live.status_code == 303
    group = session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == "G-3001"))
    assert live.headers["Location"].endswith(f"/admin/groups/{group.id}")
    assert session.get(GroupSetupDraft, draft_id).group_id == group.id
    live_page = _page(client, live.headers["Location"])
    assert "(G-3001) is live: it is billed in the next run. Note:" in live_page
    assert "Cedar Valley Dental Lab (screens)" not in _page(client, "/admin/groups/new")

    # The acceptance: the same members, the same months, line for line the same bills.
    import_setup(session, members_document(example, "G-3001"))
    for period in (date(2024, 11, 1), date(2025, 1, 1)):
        issue_billing_run(session, period, group_numbers=["G-2001", "G-3001"])
    session.commit()
    imported, screened = invoice_lines(session, "G-2001"), invoice_lines(session, "G-3001")
    assert len(imported) >= 8 and imported == screened

    history = _page(client, f"/admin/groups/{group.id}/history")
    assert "Set up on the screens and made live" in history
    # What went live, in words, one item from the next by "; " (an item holds commas).
    assert "a month; DEN from 2025-01-01: EE 40.15, ES 80.00" in history
    assert cast.users["billing_specialist"].email in history


def test_termination_is_confirmed_first_and_a_supervisors(client, login_as, cast, session):
    group = cast.group_a
    url = f"/admin/groups/{group.id}/terminate"
    login_as(cast.users["billing_specialist"])
    page = _page(client, url)
    assert "Last covered day (billing stops after it)" in page
    data = {"terminated_on": "2099-01-31", "reason": "moved to another carrier"}
    refused = client.post(url, data=dict(data, csrf_token=csrf_token(client, url)))
    assert refused.status_code == 303
    assert session.scalar(select(GroupTermination.id)) is None

    login_as(cast.users["supervisor"])
    asked = client.post(url, data=dict(data, csrf_token=csrf_token(client, url)))
    text = html.unescape(asked.get_data(as_text=True))
    assert asked.status_code == 200 and "Terminate " in text and "Jan 31, 2099" in text
    assert session.scalar(select(GroupTermination.id)) is None  # asked, nothing done yet
    done = post_confirmed(client, url, dict(data, csrf_token=csrf_token(client, url)))
    assert done.status_code == 303
    session.expire_all()
    ended = session.scalar(select(GroupTermination))
    assert (ended.group_id, ended.terminated_on) == (group.id, date(2099, 1, 31))
    history = _page(client, f"/admin/groups/{group.id}/history")
    assert "Group terminated" in history and "terminated 2099-01-31" in history
    assert "Terminated: the last covered day was" in _page(client, url)


def test_employers_are_refused_and_csrf_is_needed(client, login_as, cast):
    login_as(cast.users["billing_specialist"])
    assert client.post("/admin/groups/new", data={}).status_code == 400
    login_as(cast.users["employer_a"])
    for url in ("/admin/groups/new", f"/admin/groups/{cast.group_a.id}/history"):
        assert client.get(url).status_code == 403
