"""Paying by ACH: the NACHA file read back by an independent parser (94 characters, blocking
10, entry hash, batch and file totals, credits only; CCD and PPD batches), made once per batch
of payables, marked sent posting balanced entries once, a return reopening the payable, an
approved refund paid to a group, and the 1099-NEC total per agency for a year."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing_core.commissions import ach
from billing_core.commissions.disbursements import (
    file_content,
    make_ach_file,
    mark_sent,
    paid_in_year,
    payables,
    record_return,
)
from billing_core.commissions.payees import BankDetails, confirm_bank_details, enter_bank_details
from billing_core.commissions.postings import agency_balances
from billing_core.errors import CommissionError
from billing_core.ledger import entry_is_balanced
from billing_core.models import JournalEntry
from billing_core.models.commissions import AchEntryStatus, AchFileStatus
from billing_core.models.enums import RefundStatus, Role
from billing_core.money import D
from billing_core.payments.allocation import live_allocations, unallocate
from billing_core.payments.refunds import approve_refund, request_refund
from billing_core.reports import get_report, report_sheet, run_report
from tests.factories import make_user
from tests.unit.commissions.book import approve, make_book, month_bill, pay, run
from tests.unit.commissions.nacha_parser import NachaError, parse
from tests.unit.commissions.test_run import JAN, flat

ORIGINATOR = ach.Originator()
MADE_AT = datetime(2026, 2, 3, 9, 30, tzinfo=UTC)


def credit(amount, routing="021000021", sec="CCD", description="COMMISSION", seq=1, **more):
    fields = dict(sec_code=sec, description=description, routing_number=routing,
                  account_number="123456789", account_type="checking", amount=D(amount),
                  receiver_id="AG-A", receiver_name="AGENCY A", trace_sequence=seq) | more  # fmt: skip
    return ach.Credit(**fields)


def test_a_file_reads_back_with_its_totals_hash_and_blocking():
    credits = [
        credit("75.00", seq=1),
        credit("1234.56", routing="011000015", seq=2, account_type="savings"),
        credit("10.01", routing="122105155", sec="PPD", seq=3, receiver_name="JANE BROKER"),
        credit("400.00", routing="021000021", description="REFUND", seq=4),
    ]
    text = ach.write_file(credits, originator=ORIGINATOR, made_at=MADE_AT,
                          effective_date=date(2026, 2, 5))  # fmt: skip
    parsed = parse(text)
    assert parsed.records % 10 == 0 and parsed.blocks == parsed.records // 10
    assert parsed.credit_cents == 7500 + 123456 + 1001 + 40000 and parsed.debit_cents == 0
    # One batch per SEC code and description
    assert [(b.sec_code, b.description, len(b.entries)) for b in parsed.batches] == [
        ("CCD", "COMMISSION", 2), ("CCD", "REFUND", 1), ("PPD", "COMMISSION", 1)]  # fmt: skip
    first = parsed.batches[0].entries
    assert [(e.transaction_code, e.routing, e.cents) for e in first] == [
        ("22", "021000021", 7500), ("32", "011000015", 123456)]  # fmt: skip
    assert first[0].trace == "021000020000001"
    assert parsed.batches[0].effective == "260205"
    lines = text.splitlines()
    entry_hash = (2100002 + 1100001 + 12210515 + 2100002) % 10**10
    [file_control] = [line for line in lines if line[0] == "9" and line != "9" * 94]
    assert int(file_control[21:31]) == entry_hash
    assert len(lines) == 20  # 1 + 3 batches x (header + control) + 4 entries + 1 = 12, to 20


def test_the_entry_hash_keeps_its_last_ten_digits():
    credits = [credit("1.00", routing="999999994", seq=n) for n in range(1, 1300)]
    parsed = parse(ach.write_file(credits, originator=ORIGINATOR, made_at=MADE_AT,
                                  effective_date=date(2026, 2, 5)))  # fmt: skip
    assert len(parsed.batches[0].entries) == 1299  # the hash (1299 x 99999999) overflows 10^10


def test_the_parser_catches_a_file_that_lies():
    text = ach.write_file([credit("75.00")], originator=ORIGINATOR, made_at=MADE_AT,
                          effective_date=date(2026, 2, 5))  # fmt: skip
    lines = text.splitlines()
    six = next(i for i, line in enumerate(lines) if line[0] == "6")
    lines[six] = lines[six][:29] + "0000007600" + lines[six][39:]  # 76.00, controls say 75.00
    with pytest.raises(NachaError, match="total credit"):
        parse("\n".join(lines))
    with pytest.raises(NachaError, match="94"):
        parse(text.replace("\n", " \n", 1))


def _payable_book(session):
    """Agency A is owed 75.00 commission (January approved) and has confirmed bank details."""
    book = make_book(session)
    flat(session)
    invoice = month_bill(session, book, JAN)
    payment = pay(session, book.group, "1500.00", date(2026, 1, 10), invoice)
    run(session, book, JAN)
    approve(session, book, JAN)
    clerk = make_user(session, Role.BILLING_SPECIALIST)
    details = BankDetails.of(name_on_account="Agency A LLC", routing_number="021000021",
                             account_number="000123456789", account_type="checking")  # fmt: skip
    account = enter_bank_details(session, details, actor=clerk, agency=book.agency_a)
    confirm_bank_details(session, account, actor=book.supervisor)
    return book, clerk, payment


def test_nothing_is_paid_without_confirmed_details(session):
    book = make_book(session)
    flat(session)
    invoice = month_bill(session, book, JAN)
    pay(session, book.group, "1500.00", date(2026, 1, 10), invoice)
    run(session, book, JAN)
    approve(session, book, JAN)
    clerk = make_user(session, Role.BILLING_SPECIALIST)
    [owed] = payables(session)
    assert (owed.payee_code, owed.amount, owed.payable) == (book.agency_a.code, D("75.00"), False)
    details = BankDetails.of(name_on_account="A", routing_number="021000021",
                             account_number="12345678", account_type="checking")  # fmt: skip
    enter_bank_details(session, details, actor=clerk, agency=book.agency_a)  # not confirmed
    with pytest.raises(CommissionError, match="nothing is ready"):
        make_ach_file(session, actor=clerk, effective_date=date(2026, 2, 5))


def test_a_file_is_made_once_sent_once_and_posts_balanced_entries(session):
    book, clerk, _ = _payable_book(session)
    file = make_ach_file(session, actor=clerk, effective_date=date(2026, 2, 5),
                         originator=ORIGINATOR)  # fmt: skip
    parsed = parse(file_content(file))
    [entry] = parsed.batches[0].entries
    assert (entry.account, entry.cents, entry.receiver_id) == ("000123456789", 7500,
                                                               book.agency_a.code)  # fmt: skip
    assert file.total_credit == D("75.00")
    assert "000123456789" not in file.content  # kept encrypted, like the account number
    # Making it again gives the same file; nothing is paid before it is sent.
    assert make_ach_file(session, actor=clerk, effective_date=date(2026, 2, 6)) is file
    assert payables(session) == []
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("75.00")

    assert mark_sent(session, file, actor=clerk, on=date(2026, 2, 5)) is True
    assert mark_sent(session, file, actor=clerk, on=date(2026, 2, 6)) is False
    assert file.status is AchFileStatus.SENT
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("0.00")
    paid = session.scalars(select(JournalEntry).where(JournalEntry.source_type == "ach_payment"))
    [paid] = paid.all()
    assert entry_is_balanced(paid)
    assert sorted((p.account.number, p.debit, p.credit) for p in paid.postings) == [
        ("1000", D("0.00"), D("75.00")), (f"2300-{book.agency_a.code}", D("75.00"), D("0.00"))]  # fmt: skip
    with pytest.raises(CommissionError, match="nothing is ready"):
        make_ach_file(session, actor=clerk, effective_date=date(2026, 2, 6))


def test_a_return_reopens_the_payable_for_the_next_file(session):
    book, clerk, _ = _payable_book(session)
    file = make_ach_file(session, actor=clerk, effective_date=date(2026, 2, 5))
    mark_sent(session, file, actor=clerk, on=date(2026, 2, 5))
    [entry] = file.entries
    with pytest.raises(CommissionError, match="not a return reason code"):
        record_return(session, entry, code="X99", actor=clerk, on=date(2026, 2, 9))
    reversal = record_return(session, entry, code="r01", actor=clerk, on=date(2026, 2, 9))
    assert entry_is_balanced(reversal) and reversal.reverses_entry_id == entry.paid_entry_id
    assert (entry.status, entry.return_code) == (AchEntryStatus.RETURNED, "R01")
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("75.00")
    with pytest.raises(CommissionError, match="already returned"):
        record_return(session, entry, code="R01", actor=clerk, on=date(2026, 2, 9))
    again = make_ach_file(session, actor=clerk, effective_date=date(2026, 2, 12))
    assert again.id != file.id and again.total_credit == D("75.00")
    assert again.entries[0].trace_number != entry.trace_number
    mark_sent(session, again, actor=clerk, on=date(2026, 2, 12))
    assert agency_balances(session, book.agency_a)["commission_payable"] == D("0.00")
    # The year's 1099 figure: 75.00 paid, returned, paid again = 75.00 (two payments)
    [row] = paid_in_year(session, 2026)
    assert (row["agency_code"], row["paid"], row["payments"]) == (book.agency_a.code, D("75.00"), 2)
    assert paid_in_year(session, 2025) == []
    report = get_report("commission_payments_1099")
    ran = run_report(session, report, {"year": "2026"}, date(2026, 12, 31))
    assert [(r["agency_code"], r["paid"]) for r in ran.rows] == [(book.agency_a.code, D("75.00"))]
    assert ran.result.totals["paid"] == D("75.00")
    sheet = report_sheet(ran)
    assert sheet is not None


def test_an_approved_refund_is_paid_to_the_groups_account(session):
    book, clerk, payment = _payable_book(session)
    unallocate(session, live_allocations(session, payment)[0], on=date(2026, 2, 1),
               reason="paid twice")  # fmt: skip
    refund = request_refund(session, payment, D("400.00"), actor=clerk, reason="paid twice")
    approve_refund(session, refund, actor=book.supervisor, on=date(2026, 2, 2))
    assert {p.kind for p in payables(session) if not p.payable} == {"refund"}
    details = BankDetails.of(name_on_account="Test Employer", routing_number="011000015",
                             account_number="555566667777", account_type="checking")  # fmt: skip
    account = enter_bank_details(session, details, actor=clerk, group=book.group)
    confirm_bank_details(session, account, actor=book.supervisor)
    file = make_ach_file(session, actor=clerk, effective_date=date(2026, 2, 5))
    parsed = parse(file_content(file))
    assert [(b.description, [e.cents for e in b.entries]) for b in parsed.batches] == [
        ("COMMISSION", [7500]), ("REFUND", [40000])]  # fmt: skip
    mark_sent(session, file, actor=clerk, on=date(2026, 2, 5))
    assert refund.status is RefundStatus.PAID
    refund_entry = next(e for e in file.entries if e.refund_id == refund.id)
    record_return(session, refund_entry, code="R03", actor=clerk, on=date(2026, 2, 10))
    assert refund.status is RefundStatus.APPROVED and refund.paid_on is None
    # Only commission counts toward the 1099 figure.
    assert [r["paid"] for r in paid_in_year(session, 2026)] == [D("75.00")]
    ach_entries = session.scalar(
        select(func.count()).select_from(JournalEntry).where(JournalEntry.source_type.like("ach%"))
    )
    assert ach_entries == 2  # the commission's payment, the refund's return (its payment is
    # the refund's own "refund_paid" entry)
    assert all(entry_is_balanced(e) for e in session.scalars(select(JournalEntry)))
    assert sum((e.amount for e in file.entries), Decimal("0")) == file.total_credit


def test_a_second_file_for_the_same_batch_is_refused_by_the_database(session):
    from sqlalchemy.exc import IntegrityError

    from billing_core.models.commissions import AchFile

    _, clerk, _ = _payable_book(session)
    file = make_ach_file(session, actor=clerk, effective_date=date(2026, 2, 5))
    session.add(AchFile(batch_key=file.batch_key, effective_date=date(2026, 2, 5), content="",
                        entry_count=1, total_credit=D("75.00")))  # fmt: skip
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
