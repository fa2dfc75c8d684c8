"""Outside collections: a cancelled group is referred once its reinstatement window is over
(moving to referred, recorded), the agency's package is one zip holding the statement, every
notice, the contact log and the invoices of that group only; the referral's status, notes and
a decision to sue are kept; a bankruptcy stay forbids referring."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing_core.collections.bankruptcy import file_bankruptcy
from billing_core.collections.contacts import log_contact
from billing_core.collections.referrals import (
    decide_to_sue,
    refer,
    referral_package,
    update_referral,
)
from billing_core.collections.states import history
from billing_core.errors import ValidationFailed
from billing_core.models.collections import DelinquencyState, GroupDelinquency
from billing_core.models.collections_legal import ReferralStatus
from billing_core.reports.statements import Statement
from tests.unit.collections.legal import WINDOW_ENDS, cancelled_group, staff

S = DelinquencyState
REFER_ON = date(2027, 3, 8)


def test_referral_waits_for_the_reinstatement_window_then_moves_the_group(session):
    group, _ = cancelled_group(session)
    collector, _, _ = staff(session)
    with pytest.raises(ValidationFailed, match="reinstatement window runs to 2027-03-07"):
        refer(session, group, agency="Summit Recovery", on=WINDOW_ENDS, actor=collector)

    referral = refer(
        session, group, agency="Summit Recovery", on=REFER_ON, actor=collector, notes="file 77"
    )
    assert referral.balance_referred == Decimal("1000.00")
    assert (referral.status, referral.status_on) == (ReferralStatus.REFERRED, REFER_ON)
    assert referral.notes == "2027-03-08: file 77"
    assert session.get(GroupDelinquency, group.id).state is S.REFERRED
    last = history(session, group.id)[-1]
    assert (last.from_state, last.to_state, last.effective_on, last.actor) == (
        S.CANCELLED, S.REFERRED, REFER_ON, collector.email,
    )  # fmt: skip
    assert "Summit Recovery" in last.reason and "$1,000.00" in last.reason

    with pytest.raises(ValidationFailed, match="still works this group"):
        refer(session, group, agency="Other Agency", on=REFER_ON, actor=collector)


def test_status_notes_and_a_decision_to_sue_are_kept(session):
    group, _ = cancelled_group(session)
    collector, other, _ = staff(session)
    referral = refer(session, group, agency="Summit Recovery", on=REFER_ON, actor=collector)
    update_referral(
        session, referral, status=ReferralStatus.IN_COLLECTION, on=date(2027, 3, 15),
        actor=collector, note="debtor contacted",
    )  # fmt: skip
    assert referral.notes == "2027-03-15: In collection: debtor contacted"
    assert referral.status_on == date(2027, 3, 15)
    decide_to_sue(session, referral, on=date(2027, 4, 1), actor=other, note="no answer in 3 weeks")
    assert (referral.suit_decided_on, referral.suit_decided_by) == (date(2027, 4, 1), other.email)
    with pytest.raises(ValidationFailed, match="already|recorded on 2027-04-01"):
        decide_to_sue(session, referral, on=date(2027, 4, 2), actor=collector, note="again")

    update_referral(session, referral, status=ReferralStatus.RETURNED, on=date(2027, 5, 1),
                    actor=collector)  # fmt: skip
    again = refer(session, group, agency="Second Agency", on=date(2027, 5, 2), actor=collector)
    assert again.agency == "Second Agency"
    assert session.get(GroupDelinquency, group.id).state is S.REFERRED  # no second move


def test_the_package_is_one_zip_with_this_groups_documents_only(session):
    group, january = cancelled_group(session)
    other, other_january = cancelled_group(session, name="Other Co")
    collector, _, _ = staff(session)
    at = datetime(2027, 2, 10, 15, 0, tzinfo=UTC)
    log_contact(session, group, kind="call", outcome="Owner says cash is short", actor=collector,
                today=date(2027, 2, 10), at=at)  # fmt: skip
    log_contact(session, other, kind="call", outcome="Other group's call", actor=collector,
                today=date(2027, 2, 10), at=at)  # fmt: skip
    referral = refer(session, group, agency="Summit Recovery", on=REFER_ON, actor=collector)
    rendered: list[Statement] = []

    def statement_pdf(statement: Statement) -> bytes:
        rendered.append(statement)
        return b"%PDF-1.7 statement of " + statement.group.group_number.encode()

    data = referral_package(session, referral, REFER_ON, statement_pdf)
    archive = zipfile.ZipFile(io.BytesIO(data))
    base = f"referral-{group.group_number}-2027-03-08"
    assert sorted(archive.namelist()) == sorted(
        f"{base}/{name}"
        for name in (
            "cover.txt", "statement.pdf", "contact-log.csv", "invoices.csv",
            "notices/2027-01-11-in_grace.pdf", "notices/2027-02-02-pending_cancellation.pdf",
            "notices/2027-02-05-cancelled.pdf",
        )
    )  # fmt: skip
    [statement] = rendered
    assert statement.group.id == group.id and statement.start <= date(2027, 1, 1)
    assert archive.read(f"{base}/statement.pdf").startswith(b"%PDF")
    assert all(archive.read(n).startswith(b"%PDF") for n in archive.namelist() if "/notices/" in n)
    invoices = list(
        csv.DictReader(io.StringIO(archive.read(f"{base}/invoices.csv").decode("utf-8-sig")))
    )
    assert [(r["Invoice"], r["Charges"], r["Open"]) for r in invoices][-1] == (
        january.invoice_number, "1000.00", "1000.00",
    )  # fmt: skip
    assert len(invoices) == 2  # December (paid) and January
    contacts = archive.read(f"{base}/contact-log.csv").decode("utf-8-sig")
    assert "Owner says cash is short" in contacts
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert other.group_number.encode() not in everything
    assert other_january.invoice_number.encode() not in everything
    assert b"Other group's call" not in everything
    cover = archive.read(f"{base}/cover.txt").decode()
    assert "Summit Recovery" in cover and "$1,000.00" in cover


def test_a_bankruptcy_stay_forbids_referring(session):
    group, _ = cancelled_group(session)
    collector, _, _ = staff(session)
    file_bankruptcy(session, group, filed_on=date(2027, 3, 1), chapter=7, case_number="27-10001",
                    actor=collector, today=date(2027, 3, 1))  # fmt: skip
    with pytest.raises(ValidationFailed, match="automatic stay"):
        refer(session, group, agency="Summit Recovery", on=REFER_ON, actor=collector)
    assert session.get(GroupDelinquency, group.id).state is S.CANCELLED
