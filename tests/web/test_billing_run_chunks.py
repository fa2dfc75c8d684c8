"""The billing run in chunks on the staff page and in the CLI: its progress, its failed chunks
and their retry (issue 19, item 3)."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from billing_core.billing import run as billing_runs
from billing_core.billing.invoicing import issue_billing_run
from billing_core.models import EmployerGroup, Invoice
from tests.factories import enroll, make_dental_plan, make_group, make_member
from tests.web.confirming import confirmed_run
from tests.web.conftest import csrf_token


def _groups(session, count: int) -> list[str]:
    numbers = []
    for _ in range(count):
        group = make_group(session)
        enroll(session, make_member(session, group), make_dental_plan(session, group), "FAM")
        numbers.append(group.group_number)
    session.commit()
    return numbers


def _failing_once(monkeypatch, group_number: str) -> None:
    left = [1]

    def issuing(session, period, *, group_numbers, **kwargs):
        if group_number in group_numbers and left[0]:
            left[0] -= 1
            raise RuntimeError(f"injected failure in {group_number}")
        return issue_billing_run(session, period, group_numbers=group_numbers, **kwargs)

    monkeypatch.setattr(billing_runs, "issue_billing_run", issuing)


def _invoices(session, numbers) -> int:
    return session.scalar(
        select(func.count(Invoice.id))
        .join(EmployerGroup, EmployerGroup.id == Invoice.group_id)
        .where(EmployerGroup.group_number.in_(numbers))
    )


def test_the_cli_prints_the_chunks_and_the_failed_ones_and_resumes(web_app, session, monkeypatch):
    numbers = _groups(session, 3)
    _failing_once(monkeypatch, numbers[1])
    runner = web_app.test_cli_runner()
    base = ["billing", "run", "--period", "2027-02", "--issue-date", "2027-01-17"]
    base += [arg for number in numbers for arg in ("--group", number)]

    first = runner.invoke(args=[*base, "--chunk-groups", "1", "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert len(data["issued"]) == 2 and data["line_count"] == 2  # the old keys stay
    assert data["chunks"]["total"] == 3 and data["chunks"]["done"] == 2
    assert data["chunks"]["failed"] == 1 and data["chunks"]["status"] == "failed"
    [failed] = data["failed_chunks"]
    assert failed["number"] == 2 and failed["groups"] == [numbers[1]]
    assert failed["attempts"] == 1 and "injected failure" in failed["error"]

    text = runner.invoke(args=base)  # the same run, resumed: only the failed chunk runs
    assert text.exit_code == 0, text.output
    assert "Issued 1 invoice(s) for Feb 2027" in text.output
    assert f"Run {data['chunks']['run_id']}: 3 of 3 chunk(s) done" in text.output
    assert _invoices(session, numbers) == 3

    again = json.loads(runner.invoke(args=[*base, "--json"]).output)
    assert again["issued"] == [] and len(again["already_issued"]) == 3
    assert again["failed_chunks"] == [] and again["chunks"]["status"] == "done"
    assert _invoices(session, numbers) == 3


def test_the_billing_page_shows_the_runs_progress_and_retries_a_failed_chunk(
    client, session, login_as, monkeypatch, cast
):
    numbers = _groups(session, 2)
    web_app = client.application
    web_app.config["SETTINGS"] = web_app.config["SETTINGS"].with_overrides(
        billing_run_chunk_groups=1, redis_url=""
    )
    _failing_once(monkeypatch, numbers[1])
    login_as(cast.users["billing_specialist"])
    form = {"period": "2027-02", "group": numbers[1], "csrf_token": csrf_token(client, "/admin/")}
    issued = client.post("/admin/billing", data=confirmed_run(client, form), follow_redirects=True)
    html = issued.get_data(as_text=True)
    assert "Issued 0 invoice(s) for Feb 2027" in html and "1 chunk(s) failed" in html
    assert _invoices(session, numbers) == 0

    page = client.get("/admin/billing").get_data(as_text=True)
    runs = re.search(r'<section class="card" id="billing-runs">.*?</section>', page, re.S)
    assert runs, page[:2000]
    runs = runs.group(0)
    assert "failed" in runs and "0 of 1" in runs
    assert f"injected failure in {numbers[1]}" in runs
    action = re.search(r'action="(/admin/billing/runs/(\d+)/retry)"', runs)
    retried = client.post(
        action.group(1), data={"csrf_token": csrf_token(client, "/admin/")}, follow_redirects=True
    )
    html = retried.get_data(as_text=True)
    assert f"Billing run {action.group(2)}: 1 of 1 chunk(s) done, 0 failed." in html
    assert _invoices(session, numbers) == 1
    runs = re.search(r'id="billing-runs">.*?</section>', html, re.S)
    assert runs and "Retry the failed chunks" not in runs.group(0)
