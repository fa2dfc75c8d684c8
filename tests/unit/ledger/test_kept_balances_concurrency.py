"""Payments for one group posted at once by many sessions lose no update to the kept balances:
each change is `SET x = x + delta` under the row's lock on PostgreSQL. Runs in a database of its
own (the threads must commit)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy.orm import Session

from billing_core import ledger
from billing_core.ledger import Chart, Leg
from billing_core.ledger.kept import kept_balance_errors
from billing_core.models import EmployerGroup
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.money import D
from tests.factories import make_group, make_invoice
from tests.unit.db_helpers import own_postgres_database

THREADS = 12
ON = date(2027, 1, 5)


@pytest.fixture
def own_database(engine):
    with own_postgres_database(engine, "kept_concurrency", pool_size=THREADS + 1) as own:
        yield own


def test_payments_for_one_group_at_once_all_land_in_the_kept_balances(own_database):
    with Session(own_database) as session:
        group = make_group(session)
        invoice = make_invoice(session, group, D("1000.00"), date(2027, 1, 1))
        ledger.account(session, Chart.CASH)
        ledger.account(session, Chart.UNAPPLIED_CASH, group)
        session.commit()
        group_id, invoice_id = group.id, invoice.id

    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with Session(own_database) as session:
                group = session.get(EmployerGroup, group_id)
                cash = ledger.account(session, Chart.CASH)
                unapplied = ledger.account(session, Chart.UNAPPLIED_CASH, group)
                receivable = ledger.account(session, Chart.RECEIVABLE, group)
                paid = D("10.00") + n
                start.wait()
                ledger.post_entry(
                    session,
                    entry_date=ON,
                    memo=f"payment {n}",
                    source_type="payment",
                    legs=[Leg(cash, paid), Leg(unapplied, -paid)],
                )
                ledger.post_entry(
                    session,
                    entry_date=ON,
                    memo=f"applied {n}",
                    source_type="allocation",
                    legs=[Leg(unapplied, paid), Leg(receivable, -paid, invoice_id)],
                )
                session.commit()
        except BaseException as error:  # reported below, with the thread's number
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    paid_total = sum((D("10.00") + n for n in range(THREADS)), D("0"))
    with Session(own_database) as session:
        assert kept_balance_errors(session) == []
        assert session.get(KeptOpenItem, invoice_id).open_amount == D("1000.00") - paid_total
        group = session.get(EmployerGroup, group_id)
        receivable = ledger.account(session, Chart.RECEIVABLE, group)
        assert session.get(KeptBalance, receivable.id).balance == D("1000.00") - paid_total
