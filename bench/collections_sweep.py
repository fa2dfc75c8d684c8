"""Benchmark: the daily collections sweep (`billing_core.collections.sweep.run_sweep`) over a
full book on PostgreSQL (issue 20).

Builds 1,000 groups with three years of monthly bills up to today's month and their ledger
(each bill posted to the group's receivable; each payment received into unapplied cash and
allocated to its bill; no posting dated after today), by bulk Core inserts, then fills the
balances kept beside the ledger from the postings (`ledger.kept.rebuild_kept_balances`, as
bench/aging_report.py does: the book is bulk-inserted, not posted through `post_entries`).
Habits: 85% pay each bill in full from 10 days before to 5 days after it is due; 15% are
late, their last 1 to 6 bills unpaid (from 6 days to half a year past due: some groups only
past due, most in grace; none reaches pending cancellation on a first sweep, since its grace
notice is sent that day and the notice period runs from it). Every group has a contact
address, so each notice queues an outbox message. Then times:

  first   `run_sweep` as of today, the first sweep over the book: every late group moved as
          far as today allows, with its notices (target < 10 s)
  second  a second sweep the same day, which must change nothing (target < 3 s)

and prints the machine (CPUs, load average). Exit code 0 whatever the result (a benchmark, not
a test); an unreachable PostgreSQL skips, or fails under CI.

    .venv/bin/python bench/collections_sweep.py [--groups N] [--months N] [--keep]

BENCH_COLLECTIONS_DATABASE_URL picks the database (default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_collections); it is dropped and created
afresh on every run and dropped at the end (unless --keep). It refuses the test suite's
database and the other benchmarks' (`test`, `postgres`, `bench`, `bench_reports`,
`bench_today`).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from billing_core import migrate
from billing_core.billing.enrollment import add_months, month_start
from billing_core.collections.sweep import run_sweep
from billing_core.db import make_engine, make_session_factory
from billing_core.ledger import Chart
from billing_core.ledger.kept import rebuild_kept_balances
from billing_core.models import (
    BillingPolicy,
    EmployerGroup,
    Invoice,
    JournalEntry,
    LedgerAccount,
    Payment,
    PaymentAllocation,
    Posting,
)
from billing_core.models.collections import DelinquencyAction, GroupDelinquency
from billing_core.models.enums import (
    AccountKind,
    BillingFrequency,
    BillingMethod,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aging_report import Ids, create_database, drop_database  # noqa: E402
from billing_run import IN_CI, postgres_ready, say, verdict  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_collections"
FIRST_TARGET = 10.0
SECOND_TARGET = 3.0
LATE_SHARE = 0.15
SEED = 20261207
BATCH = 20_000
METHODS = [PaymentMethod.CHECK, PaymentMethod.ACH_CREDIT, PaymentMethod.WIRE, PaymentMethod.CARD]
STATES = ["OH", "PA", "TX", "WA", "MI", "CO", "OR", "NY"]


def bench_url() -> str:
    return os.environ.get("BENCH_COLLECTIONS_DATABASE_URL") or DEFAULT_URL


def refuse_test_database(url: str) -> None:
    name = make_url(url).database
    test_url = os.environ.get("TEST_DATABASE_URL") or "postgresql+psycopg://x@h/test"
    others = {"test", "postgres", "bench", "bench_reports", "bench_today"}
    if name in others | {make_url(test_url).database}:
        hint = "set BENCH_COLLECTIONS_DATABASE_URL"
        say(f"REFUSED: {name!r} is not this benchmark's database; {hint}")
        sys.exit(2)


def build_book(engine, n_groups: int, months: int, today: date) -> dict[str, int]:
    """The book, written in batches: `months` monthly bills per group, the last for today's
    month (due on its first day), issued 15 days before they are due. 85% of groups pay each
    bill from 10 days before to 5 days after it is due (a payment that would fall after today is
    not made yet); 15% leave their last 1-6 bills unpaid."""
    rng = random.Random(SEED)
    ids = Ids()
    counts: dict[str, int] = {}
    order = [EmployerGroup, BillingPolicy, LedgerAccount, Invoice, JournalEntry, Posting]
    order += [Payment, PaymentAllocation]
    buffers: dict[type, list[dict]] = {m: [] for m in order}
    first_period = add_months(month_start(today), -(months - 1))

    def flush(conn, force=False):
        if not force and sum(len(rows) for rows in buffers.values()) < BATCH:
            return
        for model in order:
            rows = buffers[model]
            if rows:
                conn.execute(insert(model.__table__), rows)
                counts[model.__tablename__] = counts.get(model.__tablename__, 0) + len(rows)
                rows.clear()

    def entry(on: date, memo: str, source_type: str, legs: list[tuple[int, Decimal, int | None]]):
        entry_id = ids(JournalEntry)
        buffers[JournalEntry].append(
            {"id": entry_id, "entry_date": on, "memo": memo, "source_type": source_type,
             "source_id": None}
        )  # fmt: skip
        for account_id, amount, invoice_id in legs:
            buffers[Posting].append(
                {
                    "id": ids(Posting),
                    "entry_id": entry_id,
                    "account_id": account_id,
                    "debit": amount if amount > 0 else Decimal("0.00"),
                    "credit": -amount if amount < 0 else Decimal("0.00"),
                    "invoice_id": invoice_id,
                }
            )
        return entry_id

    with engine.begin() as conn:
        cash_id, revenue_id = ids(LedgerAccount), ids(LedgerAccount)
        buffers[LedgerAccount] += [
            {"id": cash_id, "number": "1000", "code": "1000", "name": "Cash",
             "kind": AccountKind.ASSET, "group_id": None},
            {"id": revenue_id, "number": "4000", "code": "4000", "name": "Premium revenue",
             "kind": AccountKind.REVENUE, "group_id": None},
        ]  # fmt: skip
        for g in range(1, n_groups + 1):
            group_id = ids(EmployerGroup)
            number = f"C{g:05d}"
            buffers[EmployerGroup].append(
                {
                    "id": group_id,
                    "group_number": number,
                    "name": f"Collections Employer {g:05d}",
                    "tax_id": f"{g:09d}",
                    "original_effective_date": first_period,
                    "renewal_month": 1,
                    "state": rng.choice(STATES),
                    "contact_email": f"billing@employer{g:05d}.example.com",
                }
            )
            buffers[BillingPolicy].append(
                {
                    "id": ids(BillingPolicy),
                    "group_id": group_id,
                    "effective_from": first_period,
                    "billing_method": BillingMethod.LIST_BILL,
                    "billing_frequency": BillingFrequency.MONTHLY,
                }
            )
            receivable, unapplied = ids(LedgerAccount), ids(LedgerAccount)
            buffers[LedgerAccount] += [
                {"id": receivable, "number": f"{Chart.RECEIVABLE.code}-{number}",
                 "code": Chart.RECEIVABLE.code, "name": f"Accounts receivable — {number}",
                 "kind": AccountKind.ASSET, "group_id": group_id},
                {"id": unapplied, "number": f"{Chart.UNAPPLIED_CASH.code}-{number}",
                 "code": Chart.UNAPPLIED_CASH.code, "name": f"Unapplied cash — {number}",
                 "kind": AccountKind.LIABILITY, "group_id": group_id},
            ]  # fmt: skip
            premium = Decimal(rng.randrange(2_000_00, 400_000_00)) / 100
            unpaid_last = rng.randrange(1, 7) if rng.random() < LATE_SHARE else 0
            method = rng.choice(METHODS)
            for m in range(months):
                period = add_months(first_period, m)
                issued = period - timedelta(days=15)
                invoice_id = ids(Invoice)
                buffers[Invoice].append(
                    {
                        "id": invoice_id,
                        "invoice_number": f"{number}-{period:%Y%m}",
                        "group_id": group_id,
                        "billing_method": BillingMethod.LIST_BILL,
                        "period_start": period,
                        "period_end": add_months(period, 1) - timedelta(days=1),
                        "issued_on": issued,
                        "due_on": period,
                        "current_premium": premium,
                        "total_due": premium,
                        "status": "issued",
                    }
                )
                entry(
                    issued,
                    f"Invoice {number}-{period:%Y%m}",
                    "invoice",
                    [(receivable, premium, invoice_id), (revenue_id, -premium, None)],
                )
                if m >= months - unpaid_last:
                    continue
                received = period + timedelta(days=rng.randrange(-10, 6))
                if received > today:
                    continue
                payment_id = ids(Payment)
                buffers[Payment].append(
                    {
                        "id": payment_id,
                        "group_id": group_id,
                        "method": method,
                        "source": PaymentSource.STAFF,
                        "status": PaymentStatus.SUCCEEDED,
                        "amount": premium,
                        "received_on": received,
                        "reference": f"{number}-{m}",
                        "invoice_choice": [],
                    }
                )
                entry(received, "Payment received", "payment",
                      [(cash_id, premium, None), (unapplied, -premium, None)])  # fmt: skip
                allocation_entry = entry(
                    received,
                    "Payment applied",
                    "allocation",
                    [(unapplied, premium, None), (receivable, -premium, invoice_id)],
                )
                buffers[PaymentAllocation].append(
                    {
                        "id": ids(PaymentAllocation),
                        "payment_id": payment_id,
                        "invoice_id": invoice_id,
                        "amount": premium,
                        "journal_entry_id": allocation_entry,
                    }
                )
            flush(conn)
        flush(conn, force=True)
        for name, last in ids.last.items():
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"), {"t": name, "v": last}
            )
    return counts


def book_state(session) -> tuple:
    """What a sweep may change: states, actions, transitions, outbox messages, swept dates."""
    from billing_core.models.collections import DelinquencyTransition

    return (
        tuple(session.execute(
            select(GroupDelinquency.state, func.count()).group_by(GroupDelinquency.state)
            .order_by(GroupDelinquency.state)
        ).all()),
        session.scalar(select(func.count()).select_from(DelinquencyAction)),
        session.scalar(select(func.count()).select_from(DelinquencyTransition)),
        session.scalar(text("SELECT count(*) FROM outbox_message")),
    )  # fmt: skip


def timed_sweep(factory, today: date):
    with factory() as session:
        started = time.perf_counter()
        result = run_sweep(session, today)
        session.commit()
        elapsed = time.perf_counter() - started
    return elapsed, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = bench_url()
    refuse_test_database(url)
    if not postgres_ready(url, create=create_database):
        return 1 if IN_CI else 0

    today = date.today()
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        migrate.upgrade(engine)
        counts = build_book(engine, args.groups, args.months, today)
        factory = make_session_factory(engine)
        with factory() as session:
            rebuild_kept_balances(session)
            session.commit()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        say(
            f"set-up (not measured): {time.perf_counter() - started:.1f} s for"
            f" {counts['employer_group']:,} groups, {counts['invoice']:,} bills,"
            f" {counts['payment']:,} payments, {counts['journal_entry']:,} journal entries,"
            f" {counts['posting']:,} postings"
        )
        load = os.getloadavg()
        say(
            f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f}"
            f" {load[2]:.2f}"
        )
        first_seconds, first = timed_sweep(factory, today)
        with factory() as session:
            after_first = book_state(session)
        states = Counter({state.value: n for state, n in after_first[0]})
        say(
            f"first sweep as of {today}: {first_seconds:.2f} s (target < {FIRST_TARGET:.0f} s);"
            f" {first.groups:,} groups swept, {first.transitions:,} transitions,"
            f" {first.notices_sent:,} notices, {first.messages:,} messages queued;"
            f" states now {dict(sorted(states.items()))}"
        )
        second_seconds, second = timed_sweep(factory, today)
        with factory() as session:
            after_second = book_state(session)
        unchanged = after_second == after_first and second.transitions == 0
        unchanged = unchanged and second.notices_sent == 0 and second.steps == 0
        outcome = "changed nothing" if unchanged else "CHANGED THE BOOK"
        say(
            f"second sweep the same day: {second_seconds:.2f} s (target < {SECOND_TARGET:.0f} s);"
            f" {second.groups:,} groups read, {second.transitions} transitions,"
            f" {second.notices_sent} notices; {outcome}"
        )
        load = os.getloadavg()
        say(f"  load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(url)
            say(f"dropped database {make_url(url).database}")

    first_ok = first_seconds < FIRST_TARGET and first.transitions > 0
    second_ok = second_seconds < SECOND_TARGET and unchanged
    say(f"{verdict(first_ok)}: first sweep {first_seconds:.2f} s (target < {FIRST_TARGET:.0f} s)")
    say(
        f"{verdict(second_ok)}: second sweep the same day {second_seconds:.2f} s"
        f" (target < {SECOND_TARGET:.0f} s), changes nothing"
    )
    say(f"RESULT: {verdict(first_ok and second_ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
