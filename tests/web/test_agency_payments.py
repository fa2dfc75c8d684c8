"""Paying agencies through the pages (issue 21, item 6): a specialist enters an agency's bank
details (shown masked), cannot confirm them herself, a supervisor does; the ACH file is made
after a confirmation, downloaded and read back by the independent parser, marked sent (the
payable paid once) and an entry returned (owed again); a bad upload keeps nothing and names the
row; CSRF is required; an employer is refused."""

from __future__ import annotations

import html
import io
import json
from datetime import date

from sqlalchemy import select

from billing_core.commissions.payees import BankDetails, confirm_bank_details, enter_bank_details
from billing_core.commissions.postings import agency_balances
from billing_core.models import AuditLog
from billing_core.models.commissions import AchFile, PayeeAccount, PayeeAccountStatus
from billing_core.models.enums import Role
from billing_core.money import D
from portal.web import today
from tests.factories import make_user
from tests.unit.commissions.book import approve, make_book, month_bill, pay, run
from tests.unit.commissions.nacha_parser import parse
from tests.unit.commissions.test_run import JAN, flat
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token

INDEX = "/admin/agency-payments"


def _book(session):
    book = make_book(session)
    flat(session)
    invoice = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", date(2026, 1, 10), invoice)
    run(session, book, JAN)
    approve(session, book, JAN)
    session.commit()
    return book


def _text(client, url):
    return html.unescape(client.get(url).get_data(as_text=True))


def test_bank_details_a_file_sent_and_a_return(client, login_as, cast, session):
    book = _book(session)
    agency_url = f"{INDEX}/agencies/{book.agency_a.id}"
    login_as(cast.users["billing_specialist"])
    page = _text(client, INDEX)
    assert "No confirmed bank details" in page and "75.00" in page
    assert "Make ACH file" not in page  # nothing payable yet

    entered = client.post(
        f"{agency_url}/bank-details",
        data={"name_on_account": "Agency A LLC", "routing_number": "021000021",
              "account_number": "000123456789", "account_type": "checking",
              "payee_kind": "company", "csrf_token": csrf_token(client, agency_url)},
    )  # fmt: skip
    assert entered.status_code == 303
    shown = _text(client, agency_url)
    assert "****6789" in shown and "000123456789" not in shown
    assert "You entered this change: another staff member must confirm it" in shown
    account = session.scalar(select(PayeeAccount))
    refused = client.post(f"{INDEX}/bank-details/{account.id}/confirm",
                          data={"csrf_token": csrf_token(client, agency_url)})  # fmt: skip
    assert refused.status_code == 303
    assert "needs a second person" in _text(client, agency_url)
    session.expire_all()
    assert account.status is PayeeAccountStatus.PENDING

    login_as(cast.users["supervisor"])
    assert client.post(f"{INDEX}/bank-details/{account.id}/confirm").status_code == 400  # CSRF
    confirmed = client.post(f"{INDEX}/bank-details/{account.id}/confirm",
                            data={"csrf_token": csrf_token(client, agency_url)})  # fmt: skip
    assert confirmed.status_code == 303
    session.expire_all()
    assert account.status is PayeeAccountStatus.ACTIVE

    made = post_confirmed(client, f"{INDEX}/files", {
        "effective_date": today().isoformat(), "csrf_token": csrf_token(client, INDEX)})  # fmt: skip
    assert made.status_code == 303
    file = session.scalar(select(AchFile))
    assert made.headers["Location"].endswith(f"{INDEX}/files/{file.id}")
    download = client.get(f"{INDEX}/files/{file.id}/download")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert session.scalar(select(AuditLog.id).where(AuditLog.action == "ach.file_downloaded"))
    parsed = parse(download.get_data(as_text=True))
    [entry] = parsed.batches[0].entries
    assert (entry.account, entry.cents, parsed.batches[0].sec_code) == ("000123456789", 7500, "CCD")

    file_url = f"{INDEX}/files/{file.id}"
    sent = post_confirmed(client, f"{file_url}/sent", {
        "sent_on": today().isoformat(), "csrf_token": csrf_token(client, file_url)})  # fmt: skip
    assert sent.status_code == 303
    session.expire_all()
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("0.00")
    again = client.post(f"{file_url}/sent", data={
        "sent_on": today().isoformat(), "csrf_token": csrf_token(client, file_url)})  # fmt: skip
    assert again.status_code == 303 and "already marked sent" in _text(client, file_url)

    entry_id = file.entries[0].id
    returned = post_confirmed(client, f"{INDEX}/entries/{entry_id}/return", {
        "code": "R03", "returned_on": today().isoformat(),
        "csrf_token": csrf_token(client, file_url)})  # fmt: skip
    assert returned.status_code == 303
    session.expire_all()
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("75.00")
    after = _text(client, file_url)
    assert "R03 No account" in after and "bank details look wrong" in after
    assert "Make ACH file" in _text(client, INDEX)  # owed again


def test_a_bad_upload_keeps_nothing_and_names_the_row(client, login_as, cast, session):
    book = _book(session)
    login_as(cast.users["billing_specialist"])
    body = ("agency_code,name_on_account,routing_number,account_number,account_type\n"
            f"{book.agency_a.code},Agency A,021000021,123456789,checking\n"
            "NOPE,Nobody,021000022,123456789,checking\n")  # fmt: skip
    answer = client.post(
        f"{INDEX}/bank-details/upload",
        data={"file": (io.BytesIO(body.encode()), "banks.csv"),
              "csrf_token": csrf_token(client, INDEX)},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert answer.status_code == 422
    page = html.unescape(answer.get_data(as_text=True))
    assert "nothing was kept" in page and "row 3, column agency_code" in page
    assert "row 3, column routing_number" in page
    assert session.scalar(select(PayeeAccount.id)) is None


def test_non_staff_are_refused(client, login_as, cast):
    login_as(cast.users["employer_a"])
    assert client.get(INDEX).status_code == 403
    assert client.get(f"{INDEX}/files/1/download").status_code == 403
    login_as(cast.users["broker_a"])
    assert client.get(INDEX).status_code == 403


def test_the_cli_makes_sends_and_returns_the_same_way(web_app, session, tmp_path):
    book = _book(session)
    clerk = make_user(session, Role.BILLING_SPECIALIST)
    details = BankDetails.of(name_on_account="Agency A LLC", routing_number="021000021",
                             account_number="000123456789", account_type="checking")  # fmt: skip
    confirm_bank_details(
        session,
        enter_bank_details(session, details, actor=clerk, agency=book.agency_a),
        actor=book.supervisor,
    )
    session.commit()
    runner = web_app.test_cli_runner()
    out = tmp_path / "ach.txt"
    make = ["commissions", "ach-file", "--pay-on", "2026-02-05", "--as-user", clerk.email]
    made = runner.invoke(args=[*make, "--out", str(out), "--json"])
    assert made.exit_code == 0, made.output
    payload = json.loads(made.output)
    assert (payload["entries"], payload["total"]) == (1, "75.00")
    [entry] = parse(out.read_text()).batches[0].entries
    again = json.loads(runner.invoke(args=[*make, "--json"]).output)
    assert again["file_id"] == payload["file_id"]  # the same file, not a second one

    sent = ["commissions", "ach-sent", "--file", str(payload["file_id"]), "--on", "2026-02-05",
            "--as-user", clerk.email, "--json"]  # fmt: skip
    assert json.loads(runner.invoke(args=sent).output)["posted"] is True
    assert json.loads(runner.invoke(args=sent).output)["posted"] is False
    bad_day = runner.invoke(args=[*sent[:5], "05/02/2026", *sent[6:]])
    assert bad_day.exit_code == 2 and "YYYY-MM-DD" in bad_day.output
    back = runner.invoke(args=["commissions", "ach-return", "--trace", entry.trace, "--code",
                               "R01", "--on", "2026-02-09", "--as-user", clerk.email])  # fmt: skip
    assert back.exit_code == 0 and "75.00 is owed again" in back.output
    unknown = runner.invoke(args=["commissions", "ach-return", "--trace", "1", "--code", "R01",
                                  "--on", "2026-02-09", "--as-user", clerk.email])  # fmt: skip
    assert unknown.exit_code == 1 and "no ACH entry has the trace number 1" in unknown.output
    session.expire_all()
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("75.00")
