"""Editing a live group on the screens (issue 22, items 1 and 4): "Edit set-up" on the staff
group page opens a draft pre-filled from the group; its contact, address and a subgroup's name
are changed through the step forms, a live row keeps its code, a changed billing policy takes
effect from a new date only (the past kept), the delinquency plan is chosen on its own step;
the check page shows the credit-control watchlist's warning; applying goes through the set-up
import, and the history timeline shows before and after while the invoices stay as they were."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import select

from billing_core.collections.plans import plan_for
from billing_core.collections.watchlist import add_entry
from billing_core.models import BillingPolicy, BillingSubgroup, EmployerGroup, Invoice, InvoiceLine
from billing_core.models.setup_draft import GroupSetupDraft
from portal.web import today
from tests.web.conftest import csrf_token


def _post(client, url, values, prefix=""):
    token = csrf_token(client, url)
    data = {f"{prefix}{k}": v for k, v in values.items()}
    data[f"{prefix}csrf_token"] = token
    return client.post(url, data=data)


def _page(client, url) -> str:
    return html.unescape(client.get(url).get_data(as_text=True))


def _invoices(session, group_id):
    session.expire_all()
    return [
        (i.id, i.invoice_number, i.total_due, i.status, tuple(
            (line.line_number, line.member_id, line.plan_id, line.amount) for line in session.scalars(
                select(InvoiceLine).where(InvoiceLine.invoice_id == i.id).order_by(InvoiceLine.line_number)
            )
        ))
        for i in session.scalars(
            select(Invoice).where(Invoice.group_id == group_id).order_by(Invoice.id)
        )
    ]  # fmt: skip


def test_a_live_groups_contact_and_subgroup_are_edited_through_the_screens(
    client, login_as, cast, session
):
    group = cast.group_a
    invoices_before = _invoices(session, group.id)
    assert invoices_before
    login_as(cast.users["billing_specialist"])
    detail = _page(client, f"/admin/groups/{group.id}")
    assert "Edit set-up…" in detail and "No mailing address yet" in detail

    started = _post(client, f"/admin/groups/{group.id}/edit", {})
    assert started.status_code == 303
    base = re.search(r"(/admin/setup/\d+)/group", started.headers["Location"]).group(1)
    # Asking again resumes the same draft.
    assert (
        _post(client, f"/admin/groups/{group.id}/edit", {})
        .headers["Location"]
        .startswith(base + "/")
    )
    page = _page(client, f"{base}/group")
    assert f'value="{group.name}"' in page and 'id="editing-note"' in page
    assert '<label for="zip">ZIP code (5 or 9 digits)</label>' in page

    # A bad ZIP and state are shown beside their fields; the import's own words.
    values = {
        "group_number": group.group_number,
        "name": group.name,
        "tax_id": group.tax_id,
        "original_effective_date": group.original_effective_date.isoformat(),
        "renewal_month": "1",
        "contact_email": "ap@acme.example.com",
        "contact_name": "Lee Park",
        "contact_phone": "312-555-0100",
        "address_line1": "1 Foundry Way",
        "city": "Gary",
        "address_state": "ZZ",
        "zip": "4640",
    }
    assert _post(client, f"{base}/group", values).status_code == 303
    page = _page(client, f"{base}/group")
    assert re.search(r'id="zip-errors"><li>expected a ZIP code of 5 or 9 digits', page)
    assert re.search(r'id="address_state-errors"><li>expected a US state', page)
    assert _post(client, f"{base}/group", dict(values, address_state="in", zip="46402"))
    # The group number of a live group stays.
    _post(client, f"{base}/group", dict(values, address_state="IN", zip="46402",
                                         group_number="OTHER"))  # fmt: skip
    assert "stays " + group.group_number in _page(client, f"{base}/check")
    _post(client, f"{base}/group", dict(values, address_state="IN", zip="46402"))

    # A subgroup's name changes; its code stays (another code: refused); it is never removed.
    subs = _page(client, f"{base}/subgroups")
    assert "live row" in subs and 'aria-label="Remove row 1"' not in subs
    row = {"code": "EAST", "name": "East warehouse", "kind": "location"}
    refused = _post(client, f"{base}/subgroups/1", dict(row, code="EAST2"), prefix="row-")
    assert refused.status_code == 303
    assert "stay as they are" in _page(client, f"{base}/subgroups")
    assert _post(client, f"{base}/subgroups/1", row, prefix="row-").status_code == 303
    assert "East warehouse" in _page(client, f"{base}/subgroups")

    # Rates are shown, not edited.
    rates = _page(client, f"{base}/rates")
    assert 'id="rates-note"' in rates and "Add a rate version" not in rates

    # A billing policy change from its old start date is refused: the past is kept.
    billing = _page(client, f"{base}/billing")
    assert 'id="policy-note"' in billing
    draft = session.get(GroupSetupDraft, int(base.rsplit("/", 1)[1]))
    session.refresh(draft)
    policy = dict(draft.document["billing"])
    _post(client, f"{base}/billing", dict(policy, lead_days="20"))
    check = _page(client, f"{base}/check")
    assert "takes effect from a new date" in check
    starts = today() + timedelta(days=1)
    _post(
        client, f"{base}/billing", dict(policy, lead_days="20", effective_from=starts.isoformat())
    )

    # The delinquency plan: the standard plan from today.
    assert _post(client, f"{base}/delinquency", {"delinquency_plan": "standard"}).status_code == 303

    # The check page warns of a tax id on the credit-control watchlist, never refuses.
    add_entry(session, tax_id=group.tax_id, name=group.name, reason="two returned checks",
              actor=cast.users["supervisor"], today=today())  # fmt: skip
    session.commit()
    check = _page(client, f"{base}/check")
    assert 'id="watchlist-warning"' in check and "two returned checks" in check
    assert "Apply the changes to" in check and 'id="problems"' not in check, check
    # An edit never writes rates: the check page says so, not "no rate version".
    assert "not changed here: the live group's rates stay as they are" in check
    assert "no rate version" not in check

    applied = _post(client, f"{base}/live", {})
    assert applied.status_code == 303
    assert applied.headers["Location"].endswith(f"/admin/groups/{group.id}")
    detail = _page(client, f"/admin/groups/{group.id}")
    assert "the set-up changes are applied" in detail
    assert "1 Foundry Way" in detail and "Gary, IN 46402" in detail and "Lee Park" in detail

    session.expire_all()
    live = session.get(EmployerGroup, group.id)
    assert live.contact_name == "Lee Park" and live.address_lines == [
        "1 Foundry Way",
        "Gary, IN 46402",
    ]
    east = session.scalar(
        select(BillingSubgroup).where(
            BillingSubgroup.group_id == group.id, BillingSubgroup.code == "EAST"
        )
    )
    assert east.name == "East warehouse"
    policies = session.scalars(
        select(BillingPolicy)
        .where(BillingPolicy.group_id == group.id)
        .order_by(BillingPolicy.effective_from)
    ).all()
    assert [(p.effective_from, p.effective_to, p.lead_days) for p in policies] == [
        (group.original_effective_date, starts - timedelta(days=1), 15),
        (starts, None, 20),
    ]
    assert plan_for(session, live, today()).code == "standard"

    history = _page(client, f"/admin/groups/{group.id}/history")
    assert "Set-up changed" in history
    assert "Lee Park" in history and "1 Foundry Way" in history
    assert "subgroups updated" in history and "billing policies created" in history
    # The subgroup's name before and after, in the timeline's table.
    assert re.search(
        r"Subgroup EAST name</td>\s*<td>East location</td>\s*<td>East warehouse</td>", history
    ), history
    assert re.search(r"Billing policy from 2024-01-01 effective to</td>\s*<td>-</td>", history)
    # Invoices unchanged: the same bills, lines and totals.
    assert _invoices(session, group.id) == invoices_before
    # The applied draft is closed; a new "Edit set-up" starts a fresh one.
    assert "These changes are applied" in _page(client, f"{base}/check")
    again = _post(client, f"/admin/groups/{group.id}/edit", {})
    assert not again.headers["Location"].startswith(base + "/")


def test_a_new_group_chooses_its_delinquency_plan_on_its_own_step(client, login_as, cast, session):
    login_as(cast.users["billing_specialist"])
    started = _post(client, "/admin/groups/new", {})
    base = re.search(r"(/admin/setup/\d+)/group", started.headers["Location"]).group(1)
    page = _page(client, f"{base}/delinquency")
    assert '<label for="delinquency_plan">Delinquency plan</label>' in page
    assert "The state's plan" in page and "The standard plan" in page
    _post(client, f"{base}/delinquency", {"delinquency_plan": "NOPE"})
    assert re.search(
        r'id="delinquency_plan-errors"><li>no delinquency plan',
        _page(client, f"{base}/delinquency"),
    )
    _post(client, f"{base}/delinquency", {"delinquency_plan": "standard"})
    check = _page(client, f"{base}/check")
    assert "the standard plan (31-day grace)" in check
    assert "No mailing address" in check  # a warning, not a problem
    assert 'id="watchlist-warning"' not in check
    # A tax id on the credit-control watchlist is warned on the check page too.
    _post(client, f"{base}/group", {"group_number": "G-7001", "name": "Watched Co",
                                    "tax_id": "11-2233445"})  # fmt: skip
    add_entry(session, tax_id="112233445", name="Watched Co", reason="bounced twice",
              actor=cast.users["supervisor"], today=today())  # fmt: skip
    session.commit()
    check = _page(client, f"{base}/check")
    assert 'id="watchlist-warning"' in check and "bounced twice" in check
