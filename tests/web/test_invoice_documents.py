"""The invoice PDF and the bill bridge chart: rendered for real, read back with pdftotext, page 1
kept as a PNG in test-artifacts/ for a person to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from billing_core import ledger
from billing_core.billing.bill_bridge import bill_bridge
from billing_core.billing.invoices import period_label
from billing_core.billing.invoicing import issue_billing_run, void_invoice
from billing_core.models import Adjustment
from billing_core.models.enums import AdjustmentStatus, Role
from billing_core.money import D, format_rate
from portal.charts import bridge_waterfall_svg
from portal.documents import render_invoice_pdf
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_subgroup,
    make_user,
    renew_rates,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
JAN, FEB = date(2027, 1, 1), date(2027, 2, 1)
ATTACKER = "=cmd|' /C calc'!A0"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} (poppler-utils) is not installed: `make chromium` installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "invoice.pdf"
    source.write_bytes(pdf)
    return subprocess.run(
        [_need("pdftotext"), "-layout", str(source), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def _save_page_one(pdf: bytes, tmp_path: Path, name: str) -> Path:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    subprocess.run(
        [_need("pdftoppm"), "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"]
        + [str(source), str(target)],
        check=True,
        timeout=60,
    )
    png = target.with_suffix(".png")
    assert png.read_bytes().startswith(b"\x89PNG")
    return png


@pytest.fixture
def billed(session):
    """January billed and paid in part; February with a new hire, a termination, a renewal,
    and a late-reported addition credited back as a retro line."""
    group = make_group(session, name="Birch & Daughters <Bakery>")
    east = make_subgroup(session, group, "EAST", name="East bakery")
    plan = make_dental_plan(session, group)
    attacker = make_member(session, group, last_name=ATTACKER, first_name="Mallory", subgroup=east)
    baker = make_member(session, group, last_name="Baker", first_name="Ann")
    leaver = make_member(session, group, last_name="Leaver", first_name="Lou")
    enroll(session, attacker, plan, "FAM")
    enroll(session, baker, plan, "EE")
    leaving = enroll(session, leaver, plan, "ES")
    [jan] = issue_billing_run(session, JAN, group_numbers=[group.group_number]).issued
    receivable = ledger.account(session, ledger.Chart.RECEIVABLE, group)
    unapplied = ledger.account(session, ledger.Chart.UNAPPLIED_CASH, group)
    ledger.post_entry(
        session,
        entry_date=date(2027, 1, 5),
        memo="check 1042",
        source_type="allocation",
        legs=[
            ledger.Leg(unapplied, D("200.00")),
            ledger.Leg(receivable, D("-200.00"), invoice_id=jan.id),
        ],
    )
    leaving.effective_to = date(2027, 1, 31)
    newbie = make_member(session, group, last_name="Newman", first_name="Nia")
    enroll(session, newbie, plan, "EC", effective_from=FEB)
    renew_rates(session, plan, FEB, {"EE": "40.00", "ES": "80.00", "EC": "88.00", "FAM": "118.00"})
    session.add(
        Adjustment(
            group_id=group.id,
            member_id=attacker.id,
            plan_id=plan.id,
            coverage_month=JAN,
            amount=D("-12.50"),
            reason_code="rate_correction",
            source_type="manual",
            status=AdjustmentStatus.APPROVED,
        )
    )
    session.flush()
    [feb] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    return group, east, jan, feb


def test_invoice_pdf_shows_the_bill_and_page_one_looks_right(web_app, session, billed, tmp_path):
    group, east, jan, feb = billed
    # 118 FAM + 40 EE + 88 EC - 12.50 retro + 227.50 January - 200.00 paid
    assert feb.total_due == D("261.00")
    with web_app.app_context():
        pdf = render_invoice_pdf(session, feb, date(2027, 1, 20))

    assert pdf.startswith(b"%PDF-")  # rendering needs no external binary; reading it back does
    text = _pdf_text(pdf, tmp_path)
    flat = " ".join(text.split())
    assert feb.invoice_number in text
    assert "Premium Billing" in text and "INVOICE" in text
    assert "Birch & Daughters <Bakery>" in flat
    assert "TOTAL DUE" in text and "261.00" in text
    assert "Due by Feb 1, 2027" in flat and "Issue date Jan 17, 2027" in flat
    assert "Coverage period Feb 2027" in flat
    assert "Payments and credits since the last bill -200.00" in flat
    assert "Retro adjustments -12.50" in flat
    assert f"{ATTACKER}, Mallory" in flat  # printed as text, never interpreted
    assert "Rate correction" in flat
    assert "Bill bridge" in text and f"invoice {jan.invoice_number}" in flat
    assert "Page 1 of" in text and f"Invoice {feb.invoice_number}" in text
    assert "Member detail 3 premium lines" in flat
    assert "VOID" not in text
    _save_page_one(pdf, tmp_path, "invoice-pdf-page1")


def test_void_invoice_pdf_says_void_with_reason_and_credit_memo(web_app, session, billed, tmp_path):
    group, east, jan, feb = billed
    supervisor = make_user(session, Role.SUPERVISOR)
    memo = void_invoice(
        session, feb, reason="Billed the wrong renewal rates", actor=supervisor, on=FEB
    )
    with web_app.app_context():
        pdf = render_invoice_pdf(session, feb, FEB)

    flat = " ".join(_pdf_text(pdf, tmp_path).split())
    assert "VOID INVOICE" in flat and "VOID — DO NOT PAY" in flat
    assert "Reason: Billed the wrong renewal rates" in flat
    assert f"Credit memo {memo.memo_number} credits {memo.amount:,.2f}" in flat
    assert "nothing to pay on this" in flat
    _save_page_one(pdf, tmp_path, "invoice-pdf-void-page1")


def test_subgroup_limited_pdf_shows_only_their_members(web_app, session, billed, tmp_path):
    group, east, jan, feb = billed
    with web_app.app_context():
        pdf = render_invoice_pdf(session, feb, FEB, subgroup_ids=frozenset({east.id}))

    flat = " ".join(_pdf_text(pdf, tmp_path).split())
    assert "limited to your locations: East bakery" in flat
    assert "Member detail 1 premium line, your locations only" in flat
    assert ATTACKER in flat
    assert "Baker, Ann" not in flat and "Newman, Nia" not in flat and "Leaver" not in flat
    assert "261.00" in flat  # the bill's total is still the bill's


def test_bridge_chart_is_accessible_deterministic_inline_svg(session, billed):
    *_, feb = billed
    bridge = bill_bridge(session, feb)
    bridge_waterfall_svg(bridge)  # warm matplotlib's font cache
    svg = bridge_waterfall_svg(bridge)

    assert svg == bridge_waterfall_svg(bridge)
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert 'role="img"' in svg and 'aria-label="Bill bridge. Prior billed' in svg
    assert f"<title>Bill bridge for invoice {feb.invoice_number}" in svg
    assert "<text" in svg  # text stays text
    # adds, terms, rate changes, retro, volume (none)
    for label in ("+88.00", "\u221276.90", "+7.40", "\u221212.50", "0.00"):
        assert f">{label}<" in svg, label


def test_period_and_rate_formats():
    assert period_label(FEB, date(2027, 2, 28)) == "Feb 2027"
    assert period_label(JAN, date(2027, 3, 31)) == "Jan–Mar 2027"
    assert period_label(date(2026, 12, 1), date(2027, 2, 28)) == "Dec 2026–Feb 2027"
    assert [format_rate(D(v)) for v in ("1395.54", "807", "0.2250", "0.03")] == [
        "1,395.54",
        "807.00",
        "0.225",
        "0.03",
    ]
    assert format_rate(None) == ""


def test_invoice_pdf_is_addressed_to_the_groups_billing_contact(web_app, session, billed, tmp_path):
    """The bill-to block carries the group's billing contact and mailing address (set up on the
    Group step or in the set-up document); a group without them prints its name and number."""
    group, east, jan, feb = billed
    group.contact_name = "Pat Payables"
    group.address_line1 = "400 Harbor Way"
    group.address_line2 = "Suite 12"
    group.city = "Tacoma"
    group.address_state = "WA"
    group.zip_code = "98402-1234"
    session.flush()
    with web_app.app_context():
        pdf = render_invoice_pdf(session, feb, date(2027, 1, 20))
    flat = " ".join(_pdf_text(pdf, tmp_path).split())
    bill_to = flat[flat.index("BILL TO") : flat.index("Summary")]  # columns interleave
    for line in ("Attn: Pat Payables", "400 Harbor Way", "Suite 12", "Tacoma, WA 98402-1234"):
        assert line in bill_to
