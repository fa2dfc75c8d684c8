"""`flask ledger check-balances`: the kept balances against the ledger, --json, exit 1 with every
difference, and --rebuild recomputing them from the postings."""

import json
from datetime import date

from billing_core.models.ledger import KeptOpenItem
from billing_core.money import D
from tests.factories import make_group, make_invoice


def test_check_balances_agrees_names_a_drift_and_rebuilds(web_app, session):
    group = make_group(session)
    invoice = make_invoice(session, group, D("250.00"), date(2027, 1, 1))
    session.commit()
    runner = web_app.test_cli_runner()

    agreed = runner.invoke(args=["ledger", "check-balances", "--json"])
    assert agreed.exit_code == 0, agreed.output
    assert json.loads(agreed.output)["differences"] == 0

    session.get(KeptOpenItem, invoice.id).open_amount = D("1.00")
    session.commit()
    drifted = runner.invoke(args=["ledger", "check-balances", "--json"])
    assert drifted.exit_code == 1
    payload = json.loads(drifted.output)
    assert payload["ok"] is False
    assert any(f"invoice {invoice.id}" in e and "250.00" in e for e in payload["errors"])

    rebuilt = runner.invoke(args=["ledger", "check-balances", "--rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Rebuilt from the postings; the kept balances equal the ledger." in rebuilt.output
    session.expire_all()
    assert session.get(KeptOpenItem, invoice.id).open_amount == D("250.00")
