"""The invoice template page (issue 22, item 3) through the staff pages: labels and CSRF; a
preview priced through the run that writes nothing; a value without a label refused beside its
field; save (audited, in the history); the next bill then shows the PO number and subtotals on
its page, in its PDF (read back with pdftotext) and in its downloads; the template changed
after issue leaves the issued bill's page and PDF as they were; a bill issued without a
template shows none of it."""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from billing_core.billing.invoice_templates import DEFAULT, template_of
from billing_core.billing.invoicing import issue_billing_run
from billing_core.db import Base
from billing_core.models import AuditLog
from tests.web.conftest import csrf_token

FEB = date(2027, 2, 1)

FORM = {
    "show_summary_by_plan": "y",
    "show_adjustments": "y",
    "show_bill_bridge": "y",
    "show_member_detail": "y",
    "show_remit_slip": "y",
    "subtotal_by": "subgroup",
    "subgroup_billing": "per_subgroup",
    "reference_label_1": "PO number",
    "reference_value_1": "PO-55821",
    "reference_label_2": "Cost centre",
    "reference_value_2": "CC-0042",
    "remit_to": "Acme Life Lockbox\nPO Box 4410\nHartford, CT 06101",
    "message": "Questions about this bill? Call 800-555-0100.",
}


def _url(group) -> str:
    return f"/admin/groups/{group.id}/invoice-template"


def _post(client, group, values, action="save"):
    data = dict(values, action=action, csrf_token=csrf_token(client, _url(group)))
    return client.post(_url(group), data=data)


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _counts(session) -> dict:
    session.expire_all()
    return {
        t.name: session.scalar(select(func.count()).select_from(t))
        for t in Base.metadata.sorted_tables
    }


def _pdf_text(pdf: bytes, tmp_path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    source = tmp_path / "invoice.pdf"
    source.write_bytes(pdf)
    return subprocess.run(
        [tool, "-layout", str(source), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_the_page_has_labels_and_refuses_a_post_without_csrf(client, login_as, cast, session):
    login_as(cast.users["billing_specialist"])
    page = _text(client.get(_url(cast.group_a)))
    for name, label in [
        ("subtotal_by", "Subtotals of the premium by"),
        ("subgroup_billing", "Subgroups are billed"),
        ("reference_label_1", "Reference field 1: label"),
        ("reference_value_1", "Reference field 1: value"),
        ("remit_to", "Remit-to text printed on the bill (optional, up to 6 lines)"),
        ("show_member_detail", "Member detail"),
    ]:
        assert f'<label for="{name}">{label}</label>' in page
    assert 'name="csrf_token"' in page
    assert "Preview the next bill" in page and "Save template" in page
    # The staff group page links to it.
    assert _url(cast.group_a) in _text(client.get(f"/admin/groups/{cast.group_a.id}"))

    refused = client.post(_url(cast.group_a), data=dict(FORM, action="save"))
    assert refused.status_code == 400  # CSRF: the app refuses a form without its token
    assert template_of(session, cast.group_a.id) == DEFAULT


def test_preview_writes_nothing_then_save_bills_with_po_and_subtotals(
    client, login_as, cast, session, tmp_path
):
    group = cast.group_a
    login_as(cast.users["billing_specialist"])
    csrf_token(client, _url(group))
    before = _counts(session)

    preview = _post(client, group, FORM, action="preview")
    assert preview.status_code == 200
    page = _text(preview)
    assert "Preview: a sample of the next bill" in page
    assert f"Sample invoice {group.group_number}-202702" in page  # after January's bill
    assert "Dental PPO" in page
    assert "PO-55821" in page and "Premium by subgroup" in page
    assert "East location" in page and "West location" in page
    assert "Acme Life Lockbox" in page
    assert _counts(session) == before  # nothing written, not even an audit row
    assert template_of(session, group.id) == DEFAULT

    # A value without its label: refused beside the field, the rest kept in the form.
    bad = _post(client, group, dict(FORM, reference_label_2=""))
    assert bad.status_code == 422
    text = _text(bad)
    assert re.search(r'id="reference_label_2-errors"><li>give the field a label', text)
    assert 'value="PO-55821"' in text
    assert 'role="alert">Not saved and not previewed' in text
    assert template_of(session, group.id) == DEFAULT

    saved = _post(client, group, FORM)
    assert saved.status_code == 303 and saved.headers["Location"].endswith(_url(group))
    session.expire_all()
    choice = template_of(session, group.id)
    assert choice.reference_fields == (("PO number", "PO-55821"), ("Cost centre", "CC-0042"))
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "invoice_template.changed"))
    assert audit.group_id == group.id and audit.detail["after"]["subtotals by"] == "Subgroup"
    history = _text(client.get(f"/admin/groups/{group.id}/history"))
    assert "Invoice template: changed" in history and "PO number: PO-55821" in history

    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    session.commit()
    base = f"/admin/groups/{group.id}/invoices/{invoice.id}"
    bill = _text(client.get(base))
    assert "PO number" in bill and "PO-55821" in bill
    assert 'id="subtotals"' in bill and "Premium by subgroup" in bill
    assert "East location" in bill and "Questions about this bill?" in bill
    pdf = client.get(f"{base}/invoice.pdf")
    assert pdf.status_code == 200
    text = _pdf_text(pdf.data, tmp_path)
    assert "PO-55821" in text and "Cost centre" in text
    assert "Premium by subgroup" in text and "East location" in text and "West location" in text
    assert "Acme Life Lockbox" in text

    workbook = load_workbook(io.BytesIO(client.get(f"{base}/lines.xlsx").data), read_only=True)
    subtotals = [row for row in workbook["Subtotals"].iter_rows(values_only=True)]
    assert subtotals[0][0] == "Subgroup"
    assert {row[0] for row in subtotals[1:]} == {"East location", "West location", "Total"}
    summary = [row[0] for row in workbook["Summary"].iter_rows(values_only=True)]
    assert "PO number: PO-55821" in summary
    csv = client.get(f"{base}/lines.csv").get_data(as_text=True).splitlines()
    assert csv[0].lstrip("\ufeff").startswith("PO number,Cost centre,Section")
    assert all(line.startswith("PO-55821,CC-0042,") for line in csv[1:])

    # The template changed after issue: the issued bill reads as it did.
    changed = dict(FORM, reference_value_1="PO-99999", subtotal_by="", show_member_detail="")
    assert _post(client, group, changed).status_code == 303
    again = _text(client.get(base))
    assert "PO-55821" in again and "PO-99999" not in again and 'id="subtotals"' in again
    assert 'id="lines"' in again
    assert "PO-55821" in _pdf_text(client.get(f"{base}/invoice.pdf").data, tmp_path)


def test_a_bill_issued_without_a_template_shows_none_of_it(client, login_as, cast):
    login_as(cast.users["billing_specialist"])
    invoice = cast.invoice_a
    bill = _text(client.get(f"/admin/groups/{cast.group_a.id}/invoices/{invoice.id}"))
    assert 'id="subtotals"' not in bill and "references" not in bill
    for section in ('id="bridge"', 'id="lines"', 'id="remit-to"', "Premium by product"):
        assert section in bill
