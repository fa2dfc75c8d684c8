"""Two sweeps at once (cron and a caught-up job, say) over the same late groups: every group
moves once, and each stage's notice is sent once. Runs in a database of its own (the threads
must commit); PostgreSQL only (SQLite has one writer)."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.collections.sweep import run_sweep
from billing_core.models import DelinquencyAction, DelinquencyTransition, OutboxMessage
from tests.factories import make_group, make_invoice
from tests.unit.db_helpers import own_postgres_database

GROUPS = 30
SWEEPS = 3


@pytest.fixture
def own_database(engine):
    with own_postgres_database(engine, "coll_concurrency", pool_size=SWEEPS + 1) as own:
        yield own


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("first_day", [date(2027, 1, 11), date(2027, 1, 2)])
def test_sweeps_at_once_do_each_thing_once(own_database, first_day):
    with Session(own_database) as session:
        for n in range(GROUPS):
            group = make_group(session, contact_email=f"ap{n}@late.test")
            make_invoice(session, group, Decimal("700.00"), date(2027, 1, 1))
        session.commit()
        if first_day == date(2027, 1, 2):  # rows exist: the locks decide, not the keys
            run_sweep(session, first_day)
            session.commit()

    start = threading.Barrier(SWEEPS)
    failures: list[BaseException] = []
    results = []

    def sweep() -> None:
        try:
            with Session(own_database) as session:
                start.wait()
                results.append(run_sweep(session, date(2027, 1, 11)))
                session.commit()
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=sweep) for _ in range(SWEEPS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sum(r.notices_sent for r in results) == GROUPS
    with Session(own_database) as session:
        assert _count(session, DelinquencyAction) == GROUPS
        assert _count(session, OutboxMessage, OutboxMessage.kind == "delinquency_notice") == GROUPS
        assert _count(session, DelinquencyTransition) == 2 * GROUPS
