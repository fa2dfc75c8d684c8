"""The objects the location-scope tests aim at: on top of `scenario()`, a bill of group A's West
location billed separately, a check paid on it, an upload about a West member and a checkout
on West's bill (all by group A's whole-group user), what the East-only user made themselves,
and group B's own upload, checkout and payment. `row_counts` proves a request wrote nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text

from billing_core.db import Base
from billing_core.models import Checkout, Invoice, Payment, Upload
from billing_core.models.collections import ActionKind, DelinquencyAction
from billing_core.models.enums import BillingMethod, PaymentMethod, PaymentSource, UploadStatus
from billing_core.money import D
from billing_core.payments.online import start_checkout
from billing_core.payments.receipts import record_payment
from tests.factories import Scenario, receive_upload

WEST_CHECK = "WEST-CHECK-1"
WEST_FILE = "west-census.csv"
EAST_FILE = "east-census.csv"


@dataclass
class Locations:
    cast: Scenario
    invoice_west: Invoice
    payment_west: Payment
    upload_west: Upload
    checkout_west: Checkout
    upload_east: Upload
    checkout_east: Checkout
    upload_b: Upload
    checkout_b: Checkout
    payment_b: Payment
    # Past-due notices (the employer's notices page): one naming West's bill, one naming the
    # consolidated bill only (East's user sees it), and group B's.
    notice_west: DelinquencyAction
    notice_east: DelinquencyAction
    notice_b: DelinquencyAction

    def west_markers(self) -> list[str]:
        """Words that appear only on another location's (West's) objects."""
        return [
            self.cast.member_west.last_name,
            self.invoice_west.invoice_number,
            WEST_CHECK,
            WEST_FILE,
        ]


def _census(member) -> bytes:
    return (
        "Employee ID,First Name,Last Name,Date of Birth,Dental Tier\n"
        f"{member.employee_id},{member.first_name},{member.last_name},"
        f"{member.birth_date:%m/%d/%Y},EE\n"
    ).encode()


def _upload(session, group, member, filename, user) -> Upload:
    return receive_upload(
        session,
        group,
        _census(member),
        filename,
        uploaded_by=user,
        as_of=date(2027, 1, 10),
        status=UploadStatus.RECEIVED,
    ).upload


def _checkout(session, group, user, invoice_ids, nonce) -> Checkout:
    checkout, _ = start_checkout(
        session,
        group=group,
        user=user,
        method=PaymentMethod.CARD,
        invoice_ids=invoice_ids,
        amount=None if invoice_ids else D("25.00"),
        nonce=nonce,
    )
    return checkout


def check_paid(session, group, amount, reference, invoice_ids=()) -> Payment:
    payment, _ = record_payment(
        session,
        group=group,
        amount=D(amount),
        method=PaymentMethod.CHECK,
        received_on=date(2027, 1, 5),
        source=PaymentSource.STAFF,
        reference=reference,
        invoice_ids=invoice_ids,
    )
    return payment


def _west_bill(session, cast: Scenario) -> Invoice:
    """January's 60.00 bill of West alone (billed separately), posted to group A's receivable."""
    from billing_core import ledger

    group = cast.group_a
    invoice = Invoice(
        invoice_number=f"W-{group.group_number}-2027-01",
        group_id=group.id,
        subgroup_id=cast.sub_west.id,
        billing_method=BillingMethod.LIST_BILL,
        period_start=date(2027, 1, 1),
        period_end=date(2027, 1, 31),
        issued_on=date(2026, 12, 17),
        due_on=date(2027, 1, 1),
        current_premium=D("60.00"),
        total_due=D("60.00"),
    )
    session.add(invoice)
    session.flush()
    ledger.post_entry(
        session,
        entry_date=invoice.issued_on,
        memo=f"Invoice {invoice.invoice_number}",
        source_type="invoice",
        source_id=invoice.id,
        legs=[
            ledger.Leg(
                ledger.account(session, ledger.Chart.RECEIVABLE, group), D("60.00"), invoice.id
            ),
            ledger.Leg(ledger.account(session, ledger.Chart.PREMIUM_REVENUE), D("-60.00")),
        ],
    )
    return invoice


def _notice(session, invoice: Invoice, key: str) -> DelinquencyAction:
    """A kept grace notice naming `invoice` (as the sweep keeps one)."""
    number = invoice.invoice_number
    action = DelinquencyAction(
        group_id=invoice.group_id, episode=1, kind=ActionKind.NOTICE, key=key,
        done_on=date(2027, 1, 11), amount=invoice.total_due,
        subject=f"Premium past due: grace period notice ({number})",
        body=f"Invoice {number}, due {invoice.due_on}", content={
            "stage": "in_grace", "title": "Premium past due: grace period notice",
            "overdue_bills": [{"invoice": number, "open": str(invoice.total_due)}],
        },
    )  # fmt: skip
    session.add(action)
    session.flush()
    return action


def build_locations(session, cast: Scenario) -> Locations:
    users = cast.users
    invoice_west = _west_bill(session, cast)
    world = Locations(
        cast=cast,
        invoice_west=invoice_west,
        checkout_west=_checkout(
            session, cast.group_a, users["employer_a"], [invoice_west.id], "west"
        ),
        # Paid in full on West's bill and on nothing else.
        payment_west=check_paid(session, cast.group_a, "60.00", WEST_CHECK, [invoice_west.id]),
        upload_west=_upload(
            session, cast.group_a, cast.member_west, WEST_FILE, users["employer_a"]
        ),
        upload_east=_upload(
            session, cast.group_a, cast.member_east, EAST_FILE, users["employer_a_east"]
        ),
        checkout_east=_checkout(
            session, cast.group_a, users["employer_a_east"], [cast.invoice_a.id], "east"
        ),
        upload_b=_upload(session, cast.group_b, cast.member_b, "b.csv", users["employer_b"]),
        checkout_b=_checkout(session, cast.group_b, users["employer_b"], [], "b"),
        payment_b=check_paid(session, cast.group_b, "20.00", "B-CHECK-1"),
        notice_west=_notice(session, invoice_west, "in_grace"),
        notice_east=_notice(session, cast.invoice_a, "step-east"),
        notice_b=_notice(session, cast.invoice_b, "in_grace"),
    )
    session.commit()
    return world


def row_counts(session) -> dict[str, int]:
    """Rows in every table, in one statement: equal before and after means nothing written."""
    tables = [table.name for table in Base.metadata.sorted_tables]
    counts = ", ".join(f'(SELECT count(*) FROM "{name}")' for name in tables)
    return dict(zip(tables, session.execute(text(f"SELECT {counts}")).one(), strict=True))


def written(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The tables whose number of rows changed, with the change."""
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}
