"""Importing lockbox and 820 files: matched, partially matched and unmatched lines become
allocations and suspense items, member-level 820 detail is kept as reported premium, a bad file
writes nothing, and importing the same file (or the same item in another file) twice changes
nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing_core.errors import ValidationFailed
from billing_core.models import Payment, RemittanceDetail, RemittanceFile, SuspenseItem
from billing_core.models.enums import PaymentSource
from billing_core.payments.allocation import group_credit, open_balances
from billing_core.payments.imports import import_remittance_file
from tests.factories import scenario
from tests.unit.db_helpers import row_counts

ON = date(2027, 1, 6)


@pytest.fixture
def cast(session):
    return scenario(session)


def lockbox(cast) -> bytes:
    a, b = cast.invoice_a.invoice_number, cast.group_b.group_number
    return (
        "deposit_date,check_number,amount,payer_name,group_number,invoice_number\n"
        f'2027-01-05,4021,"$150.60",Acme Tooling LLC,,{a}\n'  # matched by invoice number
        f"2027-01-05,4022,76.90,Borealis Foods,{b},{b}-202612\n"  # group yes, invoice no
        "2027-01-05,4023,412.00,Unknown Payer Co,,\n"  # nothing matches: suspense
    ).encode()


def member_820(cast) -> bytes:
    number, group = cast.invoice_a.invoice_number, cast.group_a.group_number
    segments = [
        "ISA*00*          *00*          *ZZ*PREMIUMHUB     *ZZ*HARBORLIFE     *270104*0930*^*"
        "00501*000004711*0*P*:",
        "GS*RA*PREMIUMHUB*HARBORLIFE*20270104*0930*4711*X*005010X218",
        "ST*820*0001*005010X218",
        "BPR*C*150.60*C*ACH*CCP*01*091000019*DA*1234567890*1931234567**01*091000019*DA*"
        "4400012345*20270104",
        "TRN*1*2701040001*1931234567",
        f"REF*38*{group}",
        "DTM*582****RD8*20270101-20270131",
        "N1*PR*ACME TOOLING*FI*931234567",
        "ENT*1*2J*EI*E-1",
        "NM1*IL*1*EASTWOOD*ANN****EI*E-1",
        f"RMR*IK*{number}**112.40*112.40",
        "ENT*2*2J*EI*W-1",
        "NM1*IL*1*WESTBROOK*BEN****EI*W-1",
        f"RMR*IK*{number}**38.20*38.20",
        "SE*13*0001",
        "GE*1*4711",
        "IEA*1*000004711",
    ]
    return "".join(s + "~\n" for s in segments).encode()


def test_a_lockbox_file_lands_as_allocations_and_suspense(session, cast):
    staff = cast.users["billing_specialist"]
    outcome = import_remittance_file(session, lockbox(cast), "lockbox.csv", actor=staff, on=ON)
    assert [o.result for o in outcome.items] == ["matched", "partial", "suspense"]
    assert open_balances(session, cast.group_a).get(cast.invoice_a.id) is None  # paid
    # Group B's line quoted an invoice that does not exist: oldest open first, flagged.
    assert "not found" in outcome.items[1].note
    assert open_balances(session, cast.group_b).get(cast.invoice_b.id) is None
    suspense = session.scalars(select(SuspenseItem)).all()
    assert len(suspense) == 1 and suspense[0].payment.amount == Decimal("412.00")
    assert "Unknown Payer Co" in suspense[0].reason
    assert {p.source for p in session.scalars(select(Payment))} == {PaymentSource.BANK_FILE}


def test_importing_the_same_file_twice_changes_nothing(session, cast):
    staff = cast.users["billing_specialist"]
    import_remittance_file(session, lockbox(cast), "lockbox.csv", actor=staff, on=ON)
    before = row_counts(session)
    again = import_remittance_file(session, lockbox(cast), "renamed.csv", actor=staff, on=ON)
    assert again.already_imported
    assert row_counts(session) == before


def test_an_item_resent_in_another_file_is_not_recorded_twice(session, cast):
    staff = cast.users["billing_specialist"]
    import_remittance_file(session, lockbox(cast), "lockbox.csv", actor=staff, on=ON)
    resent = lockbox(cast).replace(b"4023,412.00", b"4024,99.00")  # one new check, two old
    outcome = import_remittance_file(session, resent, "lockbox-2.csv", actor=staff, on=ON)
    assert [o.result for o in outcome.items] == ["duplicate", "duplicate", "suspense"]
    assert session.scalar(select(func.count()).select_from(Payment)) == 4


def test_a_member_level_820_pays_the_invoice_and_keeps_the_reported_premium(session, cast):
    outcome = import_remittance_file(session, member_820(cast), "premium.820", actor=None, on=ON)
    assert [o.result for o in outcome.items] == ["matched"]
    assert outcome.items[0].payment.source is PaymentSource.REMITTANCE_820
    assert open_balances(session, cast.group_a).get(cast.invoice_a.id) is None
    details = session.scalars(select(RemittanceDetail).order_by(RemittanceDetail.id)).all()
    assert [(d.employee_id, d.amount, d.invoice_id) for d in details] == [
        ("E-1", Decimal("112.40"), cast.invoice_a.id),
        ("W-1", Decimal("38.20"), cast.invoice_a.id),
    ]
    assert group_credit(session, cast.group_a) == 0
    again = import_remittance_file(session, member_820(cast), "premium.820", actor=None, on=ON)
    assert again.already_imported
    assert session.scalar(select(func.count()).select_from(RemittanceDetail)) == 2


def test_a_file_with_a_bad_row_writes_nothing_and_names_the_row(session, cast):
    bad = lockbox(cast) + b"2027-01-05,4030,twelve dollars,Someone,,\n"
    before = row_counts(session)
    with pytest.raises(ValidationFailed) as caught:
        import_remittance_file(session, bad, "lockbox.csv", actor=None, on=ON)
    assert any(e.column == "amount" for e in caught.value.errors)
    assert "lockbox.csv" in str(caught.value.errors[0]) or caught.value.errors[0].source
    assert row_counts(session) == before
    assert session.scalar(select(func.count()).select_from(RemittanceFile)) == 0


def test_a_payer_known_by_name_is_matched_without_numbers(session, cast):
    text = b"deposit_date,check_number,amount,payer_name\n2027-01-05,777,76.90,BOREALIS FOODS INC\n"
    outcome = import_remittance_file(session, text, "names.csv", actor=None, on=ON)
    assert outcome.items[0].result == "matched"
    assert outcome.items[0].payment.group_id == cast.group_b.id
