"""The credit-control watchlist pages (issue 20, item 10): staff add an entry, change its expiry
and remove it through the forms (each needing its CSRF token; a bad tax id said in words); a
watched group's page carries the warning; the credit-control report's page and CSV list it;
non-staff are refused; the set-up import's CLI output warns."""

from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import select

from billing_core.models import AuditLog
from billing_core.models.watchlist import WatchlistEntry
from portal.web import today
from tests.web.conftest import csrf_token

URL = "/admin/watchlist"


def _add(client, **values):
    data = {"tax_id": "", "name": "", "reason": "", "expires_on": ""}
    data.update(values, csrf_token=csrf_token(client, URL))
    return client.post(URL, data=data)


def test_staff_keep_the_watchlist(client, login_as, cast, session):
    login_as(cast.users["billing_specialist"])
    page = client.get(URL).get_data(as_text=True)
    assert "No employer is on the watchlist" in page and 'href="/admin/watchlist"' in page

    refused = _add(client, tax_id="12-34", name="Acme", reason="bounced")
    assert refused.status_code == 303
    assert "enter its nine digits" in html.unescape(client.get(URL).get_data(as_text=True))
    assert session.scalar(select(WatchlistEntry.id)) is None

    tax_id = cast.group_a.tax_id  # the same digits written with a dash and a space
    expiry = today() + timedelta(days=90)
    added = _add(client, tax_id=f"{tax_id[:2]}-{tax_id[2:5]} {tax_id[5:]}", name="Acme Tooling",
                 reason="two returned checks", expires_on=expiry.isoformat())  # fmt: skip
    assert added.status_code == 303
    entry = session.scalar(select(WatchlistEntry))
    assert (entry.tax_id, entry.expires_on) == (tax_id, expiry)
    listed = client.get(URL).get_data(as_text=True)
    assert "two returned checks" in listed and f"/admin/groups/{cast.group_a.id}" in listed

    group_page = client.get(f"/admin/groups/{cast.group_a.id}").get_data(as_text=True)
    assert 'id="watchlist-warning"' in group_page and "two returned checks" in group_page
    other = client.get(f"/admin/groups/{cast.group_b.id}").get_data(as_text=True)
    assert 'id="watchlist-warning"' not in other

    report = client.get("/admin/reports/credit_control?show=watchlist").get_data(as_text=True)
    assert "Acme Tooling" in report and "Borealis Foods" not in report
    csv = client.get("/admin/reports/credit_control/download/csv?show=watchlist")
    assert csv.status_code == 200 and "Acme Tooling: two returned checks" in csv.get_data(
        as_text=True
    )

    entries_csv = client.get("/admin/reports/watchlist/download/csv").get_data(as_text=True)
    assert "two returned checks" in entries_csv and f"{cast.group_a.group_number} Acme" in (
        entries_csv
    )
    assert "/admin/reports/watchlist/download/csv?status=active" in listed

    later = (today() + timedelta(days=10)).isoformat()
    url = f"{URL}/{entry.id}/expiry"
    assert client.post(url, data={"expires_on": later}).status_code == 400  # no CSRF token
    client.post(url, data={"expires_on": later, "csrf_token": csrf_token(client, URL)})
    session.refresh(entry)
    assert entry.expires_on.isoformat() == later

    url = f"{URL}/{entry.id}/remove"
    assert client.post(url, data={"reason": "paid"}).status_code == 400
    client.post(url, data={"reason": "paid in full", "csrf_token": csrf_token(client, URL)})
    session.refresh(entry)
    assert (entry.removed_on, entry.removed_reason) == (today(), "paid in full")
    assert "No employer is on the watchlist" in client.get(URL).get_data(as_text=True)
    removed = client.get(f"{URL}?status=removed").get_data(as_text=True)
    assert "paid in full" in removed
    removed_csv = client.get("/admin/reports/watchlist/download/csv?status=removed")
    assert "paid in full" in removed_csv.get_data(as_text=True)
    assert "paid in full" not in client.get("/admin/reports/watchlist/download/csv").get_data(
        as_text=True
    )
    group_page = client.get(f"/admin/groups/{cast.group_a.id}").get_data(as_text=True)
    assert 'id="watchlist-warning"' not in group_page
    actions = set(session.scalars(select(AuditLog.action).where(AuditLog.action.like("watch%"))))
    assert actions == {"watchlist.added", "watchlist.expiry_set", "watchlist.removed"}


def test_only_staff_see_the_watchlist(client, login_as, cast):
    for role in ("employer_a", "broker_a"):
        login_as(cast.users[role])
        assert client.get(URL).status_code == 403
        assert client.get("/admin/reports/credit_control").status_code == 403


def test_the_setup_import_warns_of_a_watched_group(web_app, session, cast):
    """`flask setup import` of the example document, whose group's tax id is watched."""
    from pathlib import Path

    from billing_core.collections.watchlist import add_entry

    add_entry(session, tax_id="36-4455667", name="Northwind", reason="charged off before",
              actor=cast.users["supervisor"], today=today())  # fmt: skip
    session.commit()
    example = Path(__file__).resolve().parents[1] / "data" / "setup_example.yaml"
    result = web_app.test_cli_runner().invoke(args=["setup", "import", str(example)])
    assert result.exit_code == 0, result.output
    assert "Warning: Group G-2001" in result.output and "charged off before" in result.output
