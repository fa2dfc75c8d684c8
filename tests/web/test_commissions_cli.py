"""`flask commissions run` and `flask commissions approve`: JSON with agencies, new lines and
the commission total; a second run adds nothing; the runner cannot approve; an approved month
is closed; an earlier month is refused with the reason."""

import json
from datetime import date

from billing_core.commissions.schedules import set_schedule
from billing_core.models.commissions import CommissionKind
from billing_core.models.enums import LineOfCoverage
from tests.unit.commissions.book import make_book, month_bill, pay


def test_run_twice_approve_and_closed(web_app, session, tmp_path):
    book = make_book(session)
    set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                 effective_from=date(2024, 1, 1), rates=[("0", "5")])  # fmt: skip
    invoice = month_bill(session, book, date(2026, 1, 1))
    pay(session, book.group, "1500.00", date(2026, 1, 12), invoice)
    session.commit()
    runner = web_app.test_cli_runner()
    run = ["commissions", "run", "--month", "2026-01", "--as-user", book.runner.email]

    first = runner.invoke(args=[*run, "--json"])
    assert first.exit_code == 0, first.output
    payload = json.loads(first.output)
    assert (payload["new_lines"], payload["commission_total"]) == (1, "75.00")
    assert [(a["agency"], a["earned"], a["net"]) for a in payload["agencies"]] == [
        (book.agency_a.code, "75.00", "75.00")
    ]

    assert (
        "nothing changed since the last pass; nothing added (run total 75.00)"
        in runner.invoke(args=run).output
    )
    again = json.loads(runner.invoke(args=[*run, "--json"]).output)
    assert (again["new_lines"], again["commission_total"], again["agencies"]) == (0, "0.00", [])
    assert again["run_total"] == "75.00" and again["pass"] == 3

    refused = runner.invoke(
        args=["commissions", "approve", "--month", "2026-01", "--as-user", book.runner.email]
    )
    assert refused.exit_code == 1
    assert "needs a second person" in refused.output

    approved = runner.invoke(
        args=["commissions", "approve", "--month", "2026-01", "--as-user",
              book.supervisor.email, "--json"]
    )  # fmt: skip
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.output)["payable_total"] == "75.00"

    statement = runner.invoke(
        args=["commissions", "statement", "--month", "2026-01", "--agency", book.agency_a.code,
              "--out", str(tmp_path / "jan.csv"), "--json"]
    )  # fmt: skip
    assert statement.exit_code == 0, statement.output
    payload = json.loads(statement.output)
    assert (payload["status"], payload["totals"]["net"]) == ("approved", "75.00")
    assert [(x["kind"], x["premium_basis"], x["rate"], x["commission"])
            for x in payload["statement"]] == [("earned", "1500.00", "5", "75.00")]  # fmt: skip
    assert "75.00" in (tmp_path / "jan.csv").read_text(encoding="utf-8-sig")
    unknown = runner.invoke(
        args=["commissions", "statement", "--month", "2026-01", "--agency", "NOPE"]
    )
    assert unknown.exit_code == 1 and "no agency has the code 'NOPE'" in unknown.output

    closed = runner.invoke(args=run)
    assert closed.exit_code == 0, closed.output
    assert "Jan 2026 is approved and closed: nothing added" in closed.output

    earlier = runner.invoke(args=["commissions", "run", "--month", "2025-12"])
    assert earlier.exit_code == 1
    assert "Dec 2025 cannot be run again" in earlier.output
