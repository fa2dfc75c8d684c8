"""Invoice pages: the employer's list and detail (sections, bridge, member lines, downloads), tenant
scope, the admin billing run (preview writes nothing, issue, issue again) and the void form."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from billing_core.models import CreditMemo, EmployerGroup, Invoice, JournalEntry
from billing_core.models.enums import InvoiceStatus
from billing_core.money import D
from tests.factories import enroll, make_dental_plan, make_member
from tests.web.confirming import confirmed_run, post_confirmed
from tests.web.conftest import csrf_token


def _detail_url(invoice, area="employer"):
    prefix = "/admin" if area == "admin" else "/employer"
    return f"{prefix}/groups/{invoice.group_id}/invoices/{invoice.id}"


def test_employer_sees_the_invoice_list_and_detail(client, cast, login_as):
    login_as(cast.users["employer_a"])
    invoice = cast.invoice_a

    home = client.get(f"/employer/groups/{cast.group_a.id}").get_data(as_text=True)
    assert "Latest bill" in home and f"Open invoice {invoice.invoice_number}" in home

    listing = client.get(f"/employer/groups/{cast.group_a.id}/invoices").get_data(as_text=True)
    assert invoice.invoice_number in listing
    assert "150.60" in listing and "Jan 2027" in listing

    page = client.get(_detail_url(invoice)).get_data(as_text=True)
    assert "Total due" in page and "150.60" in page and "Jan 1, 2027" in page
    assert "Why this bill differs from the last one" in page
    assert "Eastwood" in page and "Westbrook" in page  # member lines
    assert 'src="data:image/svg+xml;base64,' in page  # the waterfall chart
    assert "Void" not in page.split("<main>")[1].split("Why this bill")[0]


def test_member_lines_search_and_bridge_drilldown_are_fragments(client, cast, login_as):
    login_as(cast.users["employer_a"])
    invoice = cast.invoice_a
    headers = {"HX-Request": "true"}

    lines = client.get(_detail_url(invoice) + "/lines?q=eastw", headers=headers)
    html = lines.get_data(as_text=True)
    assert "<main>" not in html and "Eastwood" in html and "Westbrook" not in html

    step = client.get(_detail_url(invoice) + "/bridge/adds", headers=headers)
    html = step.get_data(as_text=True)
    assert "<main>" not in html and "Eastwood" in html and "+112.40" in html
    assert client.get(_detail_url(invoice) + "/bridge/nonsense").status_code == 404


def test_another_tenants_invoice_is_a_404_even_under_their_own_group(client, cast, login_as):
    login_as(cast.users["employer_b"])
    own_group = cast.group_b.id
    assert (
        client.get(f"/employer/groups/{own_group}/invoices/{cast.invoice_b.id}").status_code == 200
    )
    for suffix in ("", "/lines", "/invoice.pdf", "/lines.csv", "/bridge/adds"):
        url = f"/employer/groups/{own_group}/invoices/{cast.invoice_a.id}{suffix}"
        assert client.get(url).status_code == 404, url


def test_subgroup_limited_user_sees_only_their_members_on_a_consolidated_bill(
    client, cast, login_as
):
    login_as(cast.users["employer_a_east"])
    page = client.get(_detail_url(cast.invoice_a)).get_data(as_text=True)
    assert "Eastwood" in page and "Westbrook" not in page
    assert "only the locations you look after" in page
    csv_text = client.get(_detail_url(cast.invoice_a) + "/lines.csv").get_data(as_text=True)
    assert "Eastwood" in csv_text and "Westbrook" not in csv_text


def test_downloads_are_attachments(client, cast, login_as):
    login_as(cast.users["employer_a"])
    base = _detail_url(cast.invoice_a)
    pdf = client.get(base + "/invoice.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    xlsx = client.get(base + "/lines.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    csv = client.get(base + "/lines.csv")
    assert csv.status_code == 200 and "Eastwood" in csv.get_data(as_text=True)


def test_admin_billing_run_preview_then_issue_then_issue_again(client, cast, login_as, session):
    group = cast.group_a
    newbie = make_member(session, group, subgroup=cast.sub_east, last_name="Febster")
    plan = cast.invoice_a.lines[0].rate_version_id and make_dental_plan(session, group)
    enroll(session, newbie, plan, "EC")
    session.commit()
    login_as(cast.users["billing_specialist"])
    count = session.scalar(select(func.count()).select_from(Invoice))

    preview = client.get(f"/admin/billing?period=2027-02&group={group.group_number}")
    html = preview.get_data(as_text=True)
    assert f"{group.group_number}-202702" in html and "234.70" in html  # 112.40 + 38.20 + 84.10
    assert session.scalar(select(func.count()).select_from(Invoice)) == count

    token = csrf_token(client, f"/admin/billing?period=2027-02&group={group.group_number}")
    form = {"period": "2027-02", "group": group.group_number, "csrf_token": token}
    issued = client.post("/admin/billing", data=confirmed_run(client, form), follow_redirects=True)
    assert "Issued 1 invoice(s) for Feb 2027" in issued.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Invoice)) == count + 1

    # Posting the same run again only shows its preview: nothing is left to issue.
    again = client.post("/admin/billing", data=form, follow_redirects=True)
    assert "Nothing to issue for this period" in again.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Invoice)) == count + 1


def test_billing_run_preview_totals_each_column_under_it(client, cast, login_as):
    """The preview's total row sums each column under it: "Total due" there is the invoices'
    total due (balances forward included), and the run's new charges are said apart."""
    login_as(cast.users["billing_specialist"])
    html = client.get("/admin/billing?period=2027-02").get_data(as_text=True)
    table = re.search(r'<table class="compact preview">.*?</table>', html, re.S).group(0)
    rows = [
        [re.sub(r"<[^>]+>", " ", cell).split() for cell in re.findall(r"<td[^>]*>(.*?)</td>", r)]
        for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
    ]
    rows = [r for r in rows if r]
    body, total = rows[:-1], rows[-1]
    assert len(body) == 2 and " ".join(total[0]) == "2 invoice(s)"

    def amount(cell):
        return D(cell[0].replace(",", ""))

    # Premium, Retro, Fees, Balance forward, Payments & credits, Total due; the total row's
    # first cell spans three columns.
    for column in range(4, 10):
        assert sum(amount(r[column]) for r in body) == amount(total[column - 2]), column
    new_charges = sum(amount(r[column]) for r in body for column in (4, 5, 6))
    total_due = amount(total[-1])
    assert total_due == new_charges + amount(total[5]) + amount(total[6])
    assert total_due != new_charges  # group A's January bill is carried forward unpaid
    said = re.search(r'<p id="new-charges">(.*?)</p>', html, re.S).group(1)
    assert f"<strong>{new_charges:,.2f}</strong>" in said and "balance forward" in said


def test_admin_billing_run_names_an_unknown_group(client, cast, login_as):
    login_as(cast.users["billing_specialist"])
    html = client.get("/admin/billing?period=2027-02&group=NOPE").get_data(as_text=True)
    assert "no group numbered NOPE" in html


def test_supervisor_voids_with_a_reason_specialist_cannot(client, cast, login_as, session):
    invoice = cast.invoice_a
    url = _detail_url(invoice, "admin")
    login_as(cast.users["billing_specialist"])
    page = client.get(url).get_data(as_text=True)
    assert "Only a supervisor can void" in page
    token = csrf_token(client, "/admin/")
    assert (
        client.post(url + "/void", data={"reason": "x" * 10, "csrf_token": token}).status_code
        == 403
    )

    login_as(cast.users["supervisor"])
    token = csrf_token(client, url)
    refused = client.post(
        url + "/void", data={"reason": "", "csrf_token": token}, follow_redirects=True
    )
    assert "Not voided" in refused.get_data(as_text=True)
    done = post_confirmed(
        client,
        url + "/void",
        {"reason": "Billed before the group's termination", "csrf_token": token},
        follow_redirects=True,
    )
    html = done.get_data(as_text=True)
    assert f"credit memo CM-{invoice.invoice_number}" in html
    session.expire_all()
    voided = session.get(Invoice, invoice.id)
    assert voided.status is InvoiceStatus.VOID
    assert session.scalar(select(func.count()).select_from(CreditMemo)) == 1
    assert (
        session.scalar(select(func.count()).where(JournalEntry.reverses_entry_id.is_not(None))) == 1
    )
    assert session.get(EmployerGroup, invoice.group_id) is not None


def test_the_invoice_list_page_is_the_list_query_paged(cast, session):
    """`group_invoice_page` (one kept statement with the count) lists what
    `invoice_list_query` selects, for the whole group and for a location's reader: a page past
    the last is the last, a search matching nothing one empty page, a status its own bills."""
    from datetime import UTC, datetime

    from billing_core.billing.invoices import group_invoice_page, invoice_list_query

    today = datetime.now(UTC).date()
    east = frozenset({cast.member_east.subgroup_id})
    for subgroup_ids in (None, east):
        expected = session.scalars(invoice_list_query(cast.group_a.id, subgroup_ids)).all()
        assert expected
        page = group_invoice_page(session, cast.group_a, subgroup_ids, today, per_page=1)
        assert (page.page, page.total) == (1, len(expected))
        assert [r.invoice.invoice_number for r in page.items] == [expected[0].invoice_number]
        assert page.items[0].balance == page.items[0].amount == D("150.60")
        past = group_invoice_page(
            session, cast.group_a, subgroup_ids, today, asked_page=9, per_page=1
        )
        assert (past.page, past.total) == (len(expected), len(expected))
        assert past.items[0].invoice.id == expected[-1].id
        none = group_invoice_page(
            session, cast.group_a, subgroup_ids, today, search="no such", asked_page=3
        )
        assert (none.page, none.total, none.items) == (1, 0, [])
        status = page.items[0].status
        assert group_invoice_page(session, cast.group_a, subgroup_ids, today, status=status).total
        other = "void" if status != "void" else "paid"
        assert (
            group_invoice_page(session, cast.group_a, subgroup_ids, today, status=other).items == []
        )
