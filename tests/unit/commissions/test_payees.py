"""Payee bank details: the ABA check digit, the account number encrypted at rest and masked,
the second person who must confirm any new details (the old ones stay in force until then),
and the all-or-nothing upload naming every bad row and column."""

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import select, text

from billing_core.commissions.payees import (
    BankDetails,
    aba_check_digit_ok,
    account_in_force,
    account_number,
    confirm_bank_details,
    enter_bank_details,
    reject_bank_details,
    upload_bank_details,
)
from billing_core.errors import AccessDenied, CommissionError, ValidationFailed
from billing_core.models import AuditLog, BrokerAgency
from billing_core.models.commissions import PayeeAccount, PayeeAccountStatus
from billing_core.models.enums import Role
from tests.factories import make_broker, make_user

GOOD_ROUTING = "021000021"  # JPMorgan Chase, NY: a real, valid ABA number
OTHER_ROUTING = "011000015"  # Federal Reserve Bank of Boston


def details(routing=GOOD_ROUTING, account="123456789", **more):
    fields = dict(name_on_account="Agency A LLC", routing_number=routing,
                  account_number=account, account_type="checking") | more  # fmt: skip
    return BankDetails.of(**fields)


@pytest.fixture
def people(session):
    agency = session.get(BrokerAgency, make_broker(session, "AG-PAY").agency_id)
    return agency, make_user(session, Role.BILLING_SPECIALIST), make_user(session, Role.SUPERVISOR)


@pytest.mark.parametrize(
    ("routing", "valid"),
    [("021000021", True), ("011000015", True), ("122105155", True), ("021000022", False),
     ("123456789", False), ("02100002", False), ("02100002a", False), ("000000000", True)],
)  # fmt: skip
def test_aba_check_digit(routing, valid):
    assert aba_check_digit_ok(routing) is valid


def test_the_account_number_is_encrypted_at_rest_and_shown_masked(session, people):
    agency, clerk, _ = people
    account = enter_bank_details(session, details(account="9876543210"), actor=clerk, agency=agency)
    raw = session.execute(
        text("SELECT account_number_encrypted, account_last4 FROM payee_account WHERE id = :id"),
        {"id": account.id},
    ).one()
    assert "9876543210" not in raw[0]
    assert raw[1] == "3210"
    assert account.account_masked == "****3210"
    assert account_number(account) == "9876543210"
    audit = session.scalars(select(AuditLog).where(AuditLog.target_id == account.id)).all()
    assert audit and all("9876543210" not in str(row.detail) for row in audit)


def test_new_details_need_a_second_person_and_the_old_stay_in_force(session, people):
    agency, clerk, supervisor = people
    first = enter_bank_details(session, details(account="11112222"), actor=clerk, agency=agency)
    assert account_in_force(session, agency=agency) is None  # nothing pays before confirmation
    with pytest.raises(AccessDenied, match="second person"):
        confirm_bank_details(session, first, actor=clerk)
    confirm_bank_details(session, first, actor=supervisor)
    assert account_in_force(session, agency=agency) == first

    change = enter_bank_details(
        session, details(routing=OTHER_ROUTING, account="99998888"), actor=supervisor, agency=agency
    )
    assert account_in_force(session, agency=agency) == first  # still the old details
    with pytest.raises(CommissionError, match="already waiting"):
        enter_bank_details(session, details(account="55554444"), actor=clerk, agency=agency)
    with pytest.raises(AccessDenied):
        confirm_bank_details(session, change, actor=supervisor)
    confirm_bank_details(session, change, actor=clerk)
    assert account_in_force(session, agency=agency) == change
    assert first.status is PayeeAccountStatus.SUPERSEDED
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.action.like("payee.%")).order_by(AuditLog.id)
    ).all()
    assert actions.count("payee.bank_details_confirmed") == 2


def test_a_rejected_change_never_takes_effect(session, people):
    agency, clerk, supervisor = people
    change = enter_bank_details(session, details(), actor=clerk, agency=agency)
    with pytest.raises(CommissionError, match="say why"):
        reject_bank_details(session, change, actor=supervisor, reason=" ")
    reject_bank_details(session, change, actor=supervisor, reason="caller could not verify")
    assert change.status is PayeeAccountStatus.REJECTED
    assert account_in_force(session, agency=agency) is None
    with pytest.raises(CommissionError, match="already rejected"):
        confirm_bank_details(session, change, actor=supervisor)


def test_the_database_refuses_a_confirmation_by_who_entered_it(session, people):
    agency, clerk, _ = people
    change = enter_bank_details(session, details(), actor=clerk, agency=agency)
    change.status = PayeeAccountStatus.ACTIVE
    change.decided_by_id = clerk.id
    with pytest.raises(Exception, match="(?i)constraint|check"):
        session.flush()
    session.rollback()


def test_wrong_details_name_each_column(session, people):
    agency, clerk, _ = people
    bad = details(routing="021000022", account="12", account_type="current",
                  name_on_account="")  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        enter_bank_details(session, bad, actor=clerk, agency=agency)
    columns = [e.column for e in caught.value.errors]
    assert columns == ["name_on_account", "routing_number", "account_number", "account_type"]
    assert "check digit" in str(caught.value)
    assert session.scalars(select(PayeeAccount)).all() == []


def _csv(rows: list[str]) -> bytes:
    header = "agency_code,name_on_account,routing_number,account_number,account_type"
    return ("\n".join([header, *rows]) + "\n").encode()


def test_an_upload_keeps_every_row_pending(session, people):
    agency, clerk, supervisor = people
    other = session.get(BrokerAgency, make_broker(session, "AG-PAY2").agency_id)
    data = _csv([f"AG-PAY,Agency A,{GOOD_ROUTING},000123456,checking",
                 f"AG-PAY2,Agency B,{OTHER_ROUTING},000987654,savings"])  # fmt: skip
    kept = upload_bank_details(session, "banks.csv", data, actor=clerk)
    assert [(a.agency_id, a.status, a.account_last4) for a in kept] == [
        (agency.id, PayeeAccountStatus.PENDING, "3456"),
        (other.id, PayeeAccountStatus.PENDING, "7654"),
    ]
    assert account_number(kept[0]) == "000123456"  # leading zeros kept (read as text)
    assert kept[0].source == "uploaded in banks.csv"


def test_an_upload_with_a_bad_row_keeps_nothing_and_names_rows_and_columns(session, people):
    _, clerk, _ = people
    data = _csv([f"AG-PAY,Agency A,{GOOD_ROUTING},000123456,checking",
                 "AG-NOPE,Nobody,021000021,1234567,checking",
                 "AG-PAY,Agency A again,021000022,1234567,chequing"])  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        upload_bank_details(session, "banks.csv", data, actor=clerk)
    where = [(e.row, e.column) for e in caught.value.errors]
    assert where == [(3, "agency_code"), (4, "agency_code"), (4, "routing_number"),
                     (4, "account_type")]  # fmt: skip
    assert "nothing was kept" in str(caught.value)
    assert session.scalars(select(PayeeAccount)).all() == []


def test_an_xlsx_upload_reads_like_a_csv(session, people):
    agency, clerk, _ = people
    book = Workbook()
    sheet = book.active
    sheet.append(["Agency code", "Name on account", "Routing number", "Account number",
                  "Account type"])  # fmt: skip
    sheet.append(["AG-PAY", "Agency A", GOOD_ROUTING, "0042424242", "Savings"])
    out = io.BytesIO()
    book.save(out)
    [kept] = upload_bank_details(session, "banks.xlsx", out.getvalue(), actor=clerk)
    assert kept.agency_id == agency.id and account_number(kept) == "0042424242"
    assert kept.account_type.value == "savings"


def test_an_upload_without_the_columns_says_which(session, people):
    _, clerk, _ = people
    with pytest.raises(ValidationFailed, match="account_number, account_type"):
        upload_bank_details(session, "b.csv", b"agency_code,name_on_account,routing_number\n"
                            b"AG-PAY,A,021000021\n", actor=clerk)  # fmt: skip


def test_key_rotation_re_encrypts_account_numbers(session, people):
    from cryptography.fernet import Fernet

    from billing_core import security
    from billing_core.keys import rotate_batch
    from billing_core.security import configure_vault, key_id

    agency, clerk, _ = people
    saved = security._vault, security._configured
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    try:
        configure_vault(old)
        account = enter_bank_details(session, details(account="31415926"), actor=clerk,
                                     agency=agency)  # fmt: skip
        configure_vault(new, [old])
        assert rotate_batch(session).bank_accounts == 1
        assert rotate_batch(session).changed == 0  # a second batch changes nothing
        configure_vault(new)  # the old key gone: the number still reads
        assert account.account_number_encrypted.startswith(key_id(new) + ":")
        assert account_number(account) == "31415926"
    finally:
        security._vault, security._configured = saved
