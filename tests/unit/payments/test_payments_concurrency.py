"""Twenty sessions allocating the same payment at once over-allocate nothing: the group row lock
serialises them on PostgreSQL. Runs in a database of its own (the threads must commit)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.errors import AllocationError
from billing_core.models import EmployerGroup, Invoice, Payment, PaymentAllocation
from billing_core.models.enums import PaymentMethod, PaymentSource
from billing_core.money import D
from billing_core.payments.allocation import allocate, group_credit
from billing_core.payments.receipts import record_payment
from tests.factories import make_group, make_invoice
from tests.unit.db_helpers import own_postgres_database

THREADS = 20


@pytest.fixture
def own_database(engine):
    with own_postgres_database(engine, "concurrency", pool_size=THREADS + 1) as own:
        yield own


def test_twenty_threads_allocating_one_payment_allocate_it_once(own_database):
    with Session(own_database) as session:
        group = make_group(session)
        payment, _ = record_payment(  # no invoice yet: the whole payment waits as credit
            session,
            group=group,
            amount=D("100.00"),
            method=PaymentMethod.CHECK,
            received_on=date(2027, 1, 2),
            source=PaymentSource.STAFF,
        )
        invoices = [make_invoice(session, group, D("100.00"), date(2027, 1, 1)) for _ in range(3)]
        session.commit()
        payment_id, group_id = payment.id, group.id
        invoice_ids = [i.id for i in invoices]

    start = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with Session(own_database) as session:
            payment = session.get(Payment, payment_id)
            invoice = session.get(Invoice, invoice_ids[n % 3])
            start.wait()
            try:
                allocate(session, payment, invoice, D("100.00"), on=date(2027, 1, 3))
                session.commit()
                result = "allocated"
            except AllocationError:
                session.rollback()
                result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes).count("allocated") == 1
    with Session(own_database) as session:
        allocated = session.scalars(
            select(PaymentAllocation.amount).where(PaymentAllocation.payment_id == payment_id)
        ).all()
        assert allocated == [D("100.00")]

        assert group_credit(session, session.get(EmployerGroup, group_id)) == 0
