"""The demo groups' payments: each bill paid by the group's habit (book.paying_habits: method,
days early or late, one short payment written off, one overpayment, one NSF return, a group that
stopped paying), and one lockbox check left in suspense for the workbench."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from billing_core.demo.book import PayingHabit, paying_habits
from billing_core.models import EmployerGroup, Invoice
from billing_core.models.enums import PaymentMethod, PaymentSource
from billing_core.payments.allocation import open_balances
from billing_core.payments.receipts import record_payment, return_payment


@dataclass
class PaymentBook:
    """Payments due to be recorded, each on its own date, interleaved with the billing runs so
    each invoice's "payments since the last bill" shows what had come in by then."""

    due: list[tuple[date, int]] = field(default_factory=list)  # (pay on, invoice id)
    recorded: int = 0
    _short_done: set[str] = field(default_factory=set)
    _over_done: set[str] = field(default_factory=set)
    _returned_done: set[str] = field(default_factory=set)

    def schedule(self, invoices, today: date) -> None:
        for invoice in invoices:
            habit = self._habit(invoice.invoice_number, today)
            if habit is None or (
                habit.stops_paying_after and invoice.due_on >= habit.stops_paying_after
            ):
                continue
            self.due.append((invoice.due_on + timedelta(days=habit.days_after_due), invoice.id))
        self.due.sort()
        self._today = today

    @staticmethod
    def _habit(invoice_number: str, today: date) -> PayingHabit | None:
        return paying_habits(today).get(invoice_number[:6])

    def record_until(self, session: Session, day: date) -> None:
        while self.due and self.due[0][0] <= day:
            pay_on, invoice_id = self.due.pop(0)
            invoice = session.get(Invoice, invoice_id)
            self._pay(session, invoice, pay_on)

    def _pay(self, session: Session, invoice: Invoice, pay_on: date) -> None:
        group = session.get(EmployerGroup, invoice.group_id)
        owed = open_balances(session, group).get(invoice.id, Decimal("0.00"))
        if owed <= 0:
            return
        number = group.group_number
        habit = self._habit(invoice.invoice_number, self._today)
        amount = owed
        if habit.short_by and number not in self._short_done and owed > 10 * habit.short_by:
            amount -= habit.short_by
            self._short_done.add(number)
        elif habit.over_by and number not in self._over_done:
            amount += habit.over_by
            self._over_done.add(number)
        reference = f"{habit.method.value[:3].upper()}-{invoice.invoice_number[2:]}"
        payment, _ = record_payment(
            session,
            group=group,
            amount=amount,
            method=habit.method,
            received_on=pay_on,
            source=habit.source,
            reference=reference,
            payer_name=group.name,
            external_id=f"demo-{invoice.invoice_number}",
            invoice_ids=[invoice.id],
        )
        self.recorded += 1
        returned_on = pay_on + timedelta(days=4)
        if (
            habit.returned_once
            and number not in self._returned_done
            and returned_on + timedelta(days=7) <= self._today
        ):
            self._returned_done.add(number)
            return_payment(session, payment, on=returned_on, reason="nsf")
            record_payment(
                session,
                group=group,
                amount=payment.amount,
                method=PaymentMethod.WIRE,
                received_on=returned_on + timedelta(days=7),
                source=PaymentSource.STAFF,
                reference=f"WIR-{invoice.invoice_number[2:]}",
                payer_name=group.name,
                external_id=f"demo-{invoice.invoice_number}-replacement",
                invoice_ids=[invoice.id],
            )
            self.recorded += 1


def lockbox_item_in_suspense(session: Session, today: date) -> None:
    """A lockbox check ten days ago that names no group or invoice: the suspense workbench's
    open item."""
    record_payment(
        session,
        group=None,
        amount=Decimal("1234.56"),
        method=PaymentMethod.LOCKBOX,
        received_on=today - timedelta(days=10),
        source=PaymentSource.BANK_FILE,
        reference="LBX-0042817",
        payer_name="NORTHSTAR RETAIL GRP",
        external_id="demo-lockbox-0042817",
        suspense_reason="lockbox check with no group or invoice number on the coupon",
    )
