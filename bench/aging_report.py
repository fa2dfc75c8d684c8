"""Benchmark: the staff aging report over a full book on PostgreSQL.

Builds 1,000 groups with three years of monthly invoices (36,000) and their ledger: each
invoice posted to the group's receivable, each payment received into unapplied cash and
allocated to the invoice (about 100,000 journal entries, 200,000 postings), with the habits a
real book has (most groups pay in full a few days late, some short, some stop paying), by bulk
Core inserts. Then times the aging report (`billing_core.reports`, filters parsed, rows sorted,
as the admin page runs it) at month end and at a past date, and, for information, balances over
90 days and a year of cash receipts. Target: aging <= 0.5 s (median of 5 warm runs).
Exit code 0 whatever the result (a benchmark, not a test); an unreachable PostgreSQL skips, or
fails under CI.

    .venv/bin/python bench/aging_report.py [--groups N] [--months N] [--keep]

BENCH_REPORTS_DATABASE_URL picks the database (default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports); it is dropped and created afresh
on every run and dropped at the end (unless --keep). It refuses the test suite's database and
the other benchmarks' (`test`, `postgres`, `bench`).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal

import psycopg
from psycopg import sql
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from billing_core import migrate
from billing_core.billing.enrollment import add_months
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
from billing_core.models.enums import (
    AccountKind,
    BillingFrequency,
    BillingMethod,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
)
from billing_core.reports import REPORTS, run_report

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from billing_run import IN_CI, postgres_ready, say, verdict  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports"
FIRST_PERIOD = date(2024, 1, 1)
TARGET_SECONDS = 0.5
RUNS = 5
SEED = 20261231
BATCH = 20_000
METHODS = [PaymentMethod.CHECK, PaymentMethod.ACH_CREDIT, PaymentMethod.WIRE, PaymentMethod.CARD]


def bench_url() -> str:
    return os.environ.get("BENCH_REPORTS_DATABASE_URL") or DEFAULT_URL


def conninfo(url: str, database: str) -> dict:
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "dbname": database,
        "connect_timeout": 5,
    }


def refuse_test_database(url: str) -> None:
    name = make_url(url).database
    test_url = os.environ.get("TEST_DATABASE_URL") or "postgresql+psycopg://x@h/test"
    if name in {make_url(test_url).database, "test", "postgres", "bench"}:
        say(f"REFUSED: {name!r} is not a benchmark database; set BENCH_REPORTS_DATABASE_URL")
        sys.exit(2)


def create_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(**conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(**conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


class Ids:
    def __init__(self):
        self.last: dict[str, int] = {}

    def __call__(self, model) -> int:
        name = model.__tablename__
        self.last[name] = self.last.get(name, 0) + 1
        return self.last[name]


def build_book(engine, n_groups: int, months: int) -> dict[str, int]:
    """The book, written in batches. Habits per group: 80% pay each bill in full 0-20 days after
    it is due, 10% pay 95% of it (the rest stays open), 7% stop paying in the last 3-8 months,
    3% pay nothing for the last year."""
    rng = random.Random(SEED)
    ids = Ids()
    counts: dict[str, int] = {}
    buffers: dict[type, list[dict]] = {
        m: []
        for m in (EmployerGroup, BillingPolicy, LedgerAccount, Invoice, JournalEntry, Posting)
        + (Payment, PaymentAllocation)
    }
    order = [EmployerGroup, BillingPolicy, LedgerAccount, Invoice, JournalEntry, Posting]
    order += [Payment, PaymentAllocation]

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
            {
                "id": entry_id,
                "entry_date": on,
                "memo": memo,
                "source_type": source_type,
                "source_id": None,
            }
        )
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
            {
                "id": cash_id,
                "number": "1000",
                "code": "1000",
                "name": "Cash",
                "kind": AccountKind.ASSET,
                "group_id": None,  # every row names every column: an executemany takes the
            },  # first row's keys, and the groups' accounts would lose their group_id
            {
                "id": revenue_id,
                "number": "4000",
                "code": "4000",
                "name": "Premium revenue",
                "kind": AccountKind.REVENUE,
                "group_id": None,
            },
        ]
        for g in range(1, n_groups + 1):
            group_id = ids(EmployerGroup)
            number = f"A{g:05d}"
            buffers[EmployerGroup].append(
                {
                    "id": group_id,
                    "group_number": number,
                    "name": f"Aging Employer {g:05d}",
                    "tax_id": f"{g:09d}",
                    "original_effective_date": FIRST_PERIOD,
                    "renewal_month": 1,
                }
            )
            buffers[BillingPolicy].append(
                {
                    "id": ids(BillingPolicy),
                    "group_id": group_id,
                    "effective_from": FIRST_PERIOD,
                    "billing_method": BillingMethod.LIST_BILL,
                    "billing_frequency": BillingFrequency.MONTHLY,
                }
            )
            receivable, unapplied = ids(LedgerAccount), ids(LedgerAccount)
            buffers[LedgerAccount] += [
                {
                    "id": receivable,
                    "number": f"{Chart.RECEIVABLE.code}-{number}",
                    "code": Chart.RECEIVABLE.code,
                    "name": f"Accounts receivable — {number}",
                    "kind": AccountKind.ASSET,
                    "group_id": group_id,
                },
                {
                    "id": unapplied,
                    "number": f"{Chart.UNAPPLIED_CASH.code}-{number}",
                    "code": Chart.UNAPPLIED_CASH.code,
                    "name": f"Unapplied cash — {number}",
                    "kind": AccountKind.LIABILITY,
                    "group_id": group_id,
                },
            ]
            premium = Decimal(rng.randrange(2_000_00, 400_000_00)) / 100
            habit = rng.random()
            stops_after = months
            if 0.90 <= habit < 0.97:
                stops_after = months - rng.randrange(3, 9)
            elif habit >= 0.97:
                stops_after = months - 12
            method = rng.choice(METHODS)
            for m in range(months):
                period = add_months(FIRST_PERIOD, m)
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
                if m >= stops_after:
                    continue
                paid = (
                    premium
                    if habit < 0.80 or habit >= 0.90
                    else (premium * 95 / 100).quantize(Decimal("0.01"))
                )
                received = period + timedelta(days=rng.randrange(0, 21))
                payment_id = ids(Payment)
                buffers[Payment].append(
                    {
                        "id": payment_id,
                        "group_id": group_id,
                        "method": method,
                        "source": PaymentSource.STAFF,
                        "status": PaymentStatus.SUCCEEDED,
                        "amount": paid,
                        "received_on": received,
                        "reference": f"{number}-{m}",
                        "invoice_choice": [],
                    }
                )
                entry(
                    received,
                    "Payment received",
                    "payment",
                    [(cash_id, paid, None), (unapplied, -paid, None)],
                )
                allocation_entry = entry(
                    received,
                    "Payment applied",
                    "allocation",
                    [(unapplied, paid, None), (receivable, -paid, invoice_id)],
                )
                buffers[PaymentAllocation].append(
                    {
                        "id": ids(PaymentAllocation),
                        "payment_id": payment_id,
                        "invoice_id": invoice_id,
                        "amount": paid,
                        "journal_entry_id": allocation_entry,
                    }
                )
            flush(conn)
        flush(conn, force=True)
        for name, last in ids.last.items():
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"), {"t": name, "v": last}
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return counts


def time_report(session_factory, name: str, args: dict, today: date) -> tuple[float, int, object]:
    """Median seconds of RUNS warm runs (one warm-up first), the row count and the totals."""
    report = REPORTS[name]
    timings = []
    run = None
    for attempt in range(RUNS + 1):
        with session_factory() as session:
            started = time.perf_counter()
            run = run_report(session, report, args, today)
            elapsed = time.perf_counter() - started
        if attempt:
            timings.append(elapsed)
    assert run is not None and not run.errors, run.errors if run else "no run"
    return statistics.median(timings), len(run.rows), run.result.totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = bench_url()
    refuse_test_database(url)  # stricter than postgres_ready's: never "bench" or "postgres"
    if not postgres_ready(url, create=create_database):
        return 1 if IN_CI else 0

    engine = make_engine(url)
    try:
        started = time.perf_counter()
        migrate.upgrade(engine)
        counts = build_book(engine, args.groups, args.months)
        factory = make_session_factory(engine)
        with factory() as session:  # the book was bulk-inserted past post_entries: keep its
            rebuild_kept_balances(
                session
            )  # balances as the migration would (as of today reads them)
            session.commit()
        say(
            f"set-up (not measured): {time.perf_counter() - started:.1f} s for"
            f" {counts['employer_group']:,} groups, {counts['invoice']:,} invoices,"
            f" {counts['payment']:,} payments, {counts['journal_entry']:,} journal entries,"
            f" {counts['posting']:,} postings"
        )
        last = add_months(FIRST_PERIOD, args.months - 1)
        month_end = add_months(last, 1) - timedelta(days=1)
        # "As of today", the usual run: nothing is posted after the date.
        aging_seconds, rows, totals = time_report(
            factory, "aging", {"as_of": month_end.isoformat()}, month_end
        )
        say(
            f"aging as of {month_end} (today): {rows:,} groups in {aging_seconds * 1000:.0f} ms"
            f" (median of {RUNS}); open {totals['total_open']:,}, over 120 days"
            f" {totals['over_120']:,}, past due {totals['past_due_percent']}%"
        )
        # A past date, mid-month: every posting's entry date is read.
        past = add_months(last, -12) + timedelta(days=9)
        past_seconds, past_rows, past_totals = time_report(
            factory, "aging", {"as_of": past.isoformat(), "sort": "-total_open"}, month_end
        )
        say(
            f"aging as of {past} (a past date), sorted by open: {past_rows:,} groups in"
            f" {past_seconds * 1000:.0f} ms; open {past_totals['total_open']:,},"
            f" past due {past_totals['past_due_percent']}%"
        )
        over_seconds, over_rows, _ = time_report(
            factory, "over_90", {"as_of": month_end.isoformat()}, month_end
        )
        say(
            f"  for information: balances over 90 days, {over_rows:,} groups in"
            f" {over_seconds * 1000:.0f} ms"
        )
        year = {"date_from": add_months(last, -11).isoformat(), "date_to": month_end.isoformat()}
        cash_seconds, cash_rows, _ = time_report(factory, "cash_receipts", year, month_end)
        say(
            f"  for information: a year of cash receipts, {cash_rows:,} day x method rows in"
            f" {cash_seconds * 1000:.0f} ms"
        )
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(url)
            say(f"dropped database {make_url(url).database}")

    worst = max(aging_seconds, past_seconds)
    ok = worst <= TARGET_SECONDS
    say(
        f"{verdict(ok)}: aging report, slower of the two, {worst * 1000:.0f} ms"
        f" (target <= {TARGET_SECONDS * 1000:.0f} ms)"
    )
    say(f"RESULT: {verdict(ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
