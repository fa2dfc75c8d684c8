"""The credit-control watchlist (issue 20, item 10): entries added, re-dated and removed (each
audited, nothing deleted), matched on the tax id's digits whatever the dashes and spaces, on
exactly the days they are active; a set-up import of a watched group goes ahead with a
warning; the credit-control report lists watched, delinquent, promised, referred and charged
off groups (and no one else), with the days past due and the cure amount; the broker's figures
(billing_core.collections.standing)."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_core.collections.contacts import take_promise
from billing_core.collections.standing import standings
from billing_core.collections.sweep import run_sweep
from billing_core.collections.watchlist import (
    add_entry,
    entries,
    format_tax_id,
    matches,
    normalise_tax_id,
    remove_entry,
    set_expiry,
    watched_group_ids,
)
from billing_core.db import utcnow
from billing_core.errors import ValidationFailed
from billing_core.models import AuditLog
from billing_core.models.collections import (
    DelinquencyDispute,
    DelinquencyState,
    GroupDelinquency,
)
from billing_core.models.enums import Role
from billing_core.reports import get_report, report_sheets, run_report
from billing_core.setup import import_setup, load_document
from tests.factories import make_group, make_invoice, make_user, pay_by_check

S = DelinquencyState
D = Decimal
JAN10, JAN25, FEB1 = date(2027, 1, 10), date(2027, 1, 25), date(2027, 2, 1)
EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml"


@pytest.fixture
def staff(session):
    return make_user(session, Role.BILLING_SPECIALIST, email="cc@example.test")


@pytest.mark.parametrize(
    "text, digits",
    [("12-3456789", "123456789"), ("12 345 6789", "123456789"), (" 123456789 ", "123456789")],
)
def test_a_tax_id_is_its_digits(text, digits):
    assert normalise_tax_id(text) == digits
    assert format_tax_id(digits) == "12-3456789"


def test_an_entry_matches_on_exactly_its_days(session, staff):
    group = make_group(session, tax_id="12-3456789", name="Shaky Ltd")
    entry = add_entry(
        session, tax_id="12 345 6789", name="Shaky Ltd", reason="two returned ACH debits",
        actor=staff, today=JAN10, expires_on=JAN25,
    )  # fmt: skip
    assert entry.tax_id == "123456789" and entry.added_by == "cc@example.test"
    assert matches(session, "123456789", JAN10) == [entry]
    assert matches(session, "12-3456789", JAN25) == [entry]  # the expiry day itself
    assert matches(session, "12-3456789", JAN25 + timedelta(days=1)) == []
    assert matches(session, "12-3456789", JAN10 - timedelta(days=1)) == []  # before it was added
    assert watched_group_ids(session, JAN10) == {group.id: [entry]}
    assert [r.status for r in entries(session, FEB1, status="all")] == ["expired"]

    set_expiry(session, entry.id, expires_on=None, actor=staff, today=JAN25)
    assert matches(session, "123456789", FEB1) == [entry]
    remove_entry(session, entry.id, reason="paid up, cleared by credit", actor=staff, today=FEB1)
    assert matches(session, "123456789", FEB1) == []
    assert matches(session, "123456789", FEB1 - timedelta(days=1)) == [entry]  # history kept
    assert (entry.removed_by, entry.removed_reason) == (staff.email, "paid up, cleared by credit")
    audited = session.scalars(select(AuditLog.action).where(AuditLog.action.like("watchlist.%")))
    assert sorted(audited) == ["watchlist.added", "watchlist.expiry_set", "watchlist.removed"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(tax_id="12-34567"), "nine digits"),
        (dict(tax_id="AB-CDEFGHI"), "nine digits"),
        (dict(reason="  "), "why"),
        (dict(name=""), "name"),
        (dict(expires_on=JAN10 - timedelta(days=1)), "in the past"),
    ],
)
def test_an_entry_needs_an_ein_a_reason_and_a_future_expiry(session, staff, change, message):
    values = dict(tax_id="12-3456789", name="Shaky Ltd", reason="returned checks")
    with pytest.raises(ValidationFailed, match=message):
        add_entry(session, **{**values, **change}, actor=staff, today=JAN10)


def test_one_active_entry_per_tax_id_and_a_removed_one_stays_removed(session, staff):
    entry = add_entry(session, tax_id="123456789", name="A", reason="r", actor=staff, today=JAN10)
    with pytest.raises(ValidationFailed, match="already on the watchlist"):
        add_entry(session, tax_id="12-3456789", name="A", reason="r", actor=staff, today=JAN10)
    with pytest.raises(ValidationFailed, match="say why"):
        remove_entry(session, entry.id, reason="", actor=staff, today=JAN10)
    remove_entry(session, entry.id, reason="error", actor=staff, today=JAN10)
    with pytest.raises(ValidationFailed, match="was removed"):
        set_expiry(session, entry.id, expires_on=FEB1, actor=staff, today=JAN10)
    again = add_entry(session, tax_id="123456789", name="A", reason="r", actor=staff, today=JAN10)
    assert matches(session, "123456789", JAN10) == [again]


def test_a_watched_group_is_set_up_with_a_warning(session, staff):
    """The example document's group G-2001 (tax id 36-4455667) is imported, with a warning
    naming the entry; a renewal (the same document again) warns again; another group none."""
    document = load_document(EXAMPLE)
    today = utcnow().date()
    add_entry(
        session, tax_id="364455667", name="Northwind (old owner)", reason="charged off in 2025",
        actor=staff, today=today,
    )  # fmt: skip
    summary = import_setup(session, copy.deepcopy(document), source="setup_example.yaml")
    assert summary.created["groups"] == 1  # not refused
    [warning] = summary.warnings
    assert "G-2001" in warning and "36-4455667" in warning and "charged off in 2025" in warning
    assert summary.as_dict()["warnings"] == [warning]
    renewal = import_setup(session, copy.deepcopy(document), source="again.yaml")
    assert renewal.warnings == [warning]

    other = copy.deepcopy(document)
    other["groups"][0]["tax_id"] = "36-0000001"
    assert import_setup(session, other, source="other.yaml").warnings == []


@pytest.fixture
def book(session, staff):
    """On Jan 25, 2027: `late` owes 1,000.00 due Jan 1 (in grace), `promised` 600.00 due Jan 20
    with a promise to pay (past due, clock paused), `watched` owes nothing but is on the
    watchlist, `referred` and `charged` are so recorded, `fine` paid its bill."""
    groups = {
        key: make_group(session, state="CA", name=f"{key.title()} Co")
        for key in ("late", "promised", "watched", "referred", "charged", "fine")
    }
    make_invoice(session, groups["late"], D("1000.00"), date(2027, 1, 1))
    make_invoice(session, groups["promised"], D("600.00"), date(2027, 1, 20))
    paid = make_invoice(session, groups["fine"], D("300.00"), date(2027, 1, 1))
    pay_by_check(session, groups["fine"], "300.00", date(2026, 12, 28), [paid])
    for day in (date(2027, 1, 2), date(2027, 1, 11), date(2027, 1, 21), JAN25):
        run_sweep(session, day)
    take_promise(session, groups["promised"], amount=D("600.00"), promised_on=FEB1,
                 actor=staff, today=JAN25)  # fmt: skip
    for key, state in (("referred", S.REFERRED), ("charged", S.CHARGED_OFF)):
        session.add(GroupDelinquency(group_id=groups[key].id, state=state, episode=1))
    add_entry(session, tax_id=groups["watched"].tax_id, name="Watched Co", reason="new owners",
              actor=staff, today=JAN10)  # fmt: skip
    session.flush()
    return groups


def test_the_credit_control_report_lists_who_credit_control_watches(session, book):
    report = get_report("credit_control")
    run = run_report(session, report, {"as_of": JAN25.isoformat()}, JAN25)
    rows = {r["group_name"]: r for r in run.rows}
    assert set(rows) == {"Late Co", "Promised Co", "Watched Co", "Referred Co", "Charged Co"}
    late = rows["Late Co"]
    assert (late["state_label"], late["days_past_due"], late["overdue"]) == (
        "In grace", 24, D("1000.00"),
    )  # fmt: skip
    assert late["listed_for"] == "Delinquent"
    promised = rows["Promised Co"]
    assert promised["listed_for"] == "Delinquent, In a plan or promise"
    assert promised["arrangement"] == "Promise to pay $600.00 by Feb 1, 2027"
    assert (promised["days_past_due"], promised["overdue"]) == (5, D("600.00"))
    watched = rows["Watched Co"]
    assert watched["listed_for"] == "On the watchlist" and watched["watchlist"] == (
        "Watched Co: new owners"
    )
    assert rows["Referred Co"]["listed_for"] == "Referred"
    assert rows["Charged Co"]["listed_for"] == "Charged off"
    assert run.result.totals["overdue"] == D("1600.00")
    assert run.rows[0]["group_name"] == "Late Co"  # most overdue first

    only = run_report(session, report, {"as_of": JAN25.isoformat(), "show": "watchlist"}, JAN25)
    assert [r["group_name"] for r in only.rows] == ["Watched Co"]
    before = run_report(session, report, {"as_of": "2027-01-09", "show": "watchlist"}, JAN25)
    assert before.rows == []  # the entry was added on Jan 10
    sheets = report_sheets(run, JAN25)
    assert sheets[0].columns[4].header == "State"


def test_the_brokers_figures_are_counts_and_amounts(session, book):
    got = standings(session, JAN25, [book["late"].id, book["promised"].id, book["fine"].id])
    late, promised, fine = (got[book[k].id] for k in ("late", "promised", "fine"))
    assert (late.state_label, late.days_past_due, late.overdue, late.late) == (
        "In grace", 24, D("1000.00"), True,
    )  # fmt: skip
    assert (promised.paused_label, promised.paused_until) == ("Promise to pay", FEB1)
    assert (fine.state, fine.days_past_due, fine.overdue, fine.late) == (S.CURRENT, 0, 0, False)


def test_a_bill_wholly_in_dispute_counts_no_days_past_due(session):
    group = make_group(session, name="Disputing Co")
    bill = make_invoice(session, group, D("800.00"), date(2027, 1, 1))
    session.add(DelinquencyDispute(group_id=group.id, invoice_id=bill.id, amount=D("800.00"),
                                   opened_on=date(2027, 1, 5), reason="wrong rates"))  # fmt: skip
    session.flush()
    got = standings(session, JAN25, [group.id])[group.id]
    assert (got.days_past_due, got.overdue) == (0, 0)
    make_invoice(session, group, D("100.00"), date(2027, 1, 15))
    got = standings(session, JAN25, [group.id])[group.id]
    assert (got.days_past_due, got.overdue) == (24, D("100.00"))  # from the oldest bill open
