"""Benchmark: the staff Today page's read model (`billing_core.reports.work_queue.work_queue`)
over a big book on PostgreSQL, before and after the kept balances (issue 19, item 2).

Builds the aging benchmark's book (bench/aging_report.py's `build_book`: three years of monthly
invoices, payments and allocations per group, with a real book's habits) at 5,000 groups by
default, then fills the kept balances from its postings (`ledger.kept.rebuild_kept_balances`:
the book is bulk-inserted, not posted through `post_entries`) and checks them against the
ledger. Then times, alternating so a busy machine weighs on both alike:

  before  the work queue with its past-due line computed from the postings, as it was
          (`aging_rows(..., from_postings=True)`: the whole book's aging per view)
  after   the work queue as it is (aging as of today from the kept open items)

and, for information, the aging report as of today (kept) and as of a past date (postings).
Target: after < 50 ms (median of the runs). Exit code 0 whatever the result (a benchmark, not a
test); an unreachable PostgreSQL skips, or fails under CI.

    .venv/bin/python bench/today_page.py [--groups N] [--months N] [--runs N] [--keep]

BENCH_TODAY_DATABASE_URL picks the database (default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_today); it is dropped and created afresh on
every run and dropped at the end (unless --keep). It refuses the test suite's database and the
other benchmarks' (`test`, `postgres`, `bench`, `bench_reports`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from unittest import mock

from sqlalchemy import text
from sqlalchemy.engine import make_url

from billing_core import migrate
from billing_core.billing.enrollment import add_months
from billing_core.db import make_engine, make_session_factory
from billing_core.ledger.kept import kept_balance_errors, rebuild_kept_balances
from billing_core.ledger.receivables import past_due_groups
from billing_core.reports import work_queue as work_queue_module
from billing_core.reports.aging import aging_rows
from billing_core.reports.work_queue import work_queue

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aging_report import FIRST_PERIOD, build_book, create_database, drop_database  # noqa: E402
from billing_run import IN_CI, postgres_ready, say, verdict  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_today"
TARGET_SECONDS = 0.050
AUTHORITY_LIMIT = Decimal("5000.00")


def bench_url() -> str:
    return os.environ.get("BENCH_TODAY_DATABASE_URL") or DEFAULT_URL


def refuse_test_database(url: str) -> None:
    name = make_url(url).database
    test_url = os.environ.get("TEST_DATABASE_URL") or "postgresql+psycopg://x@h/test"
    if name in {make_url(test_url).database, "test", "postgres", "bench", "bench_reports"}:
        say(f"REFUSED: {name!r} is not this benchmark's database; set BENCH_TODAY_DATABASE_URL")
        sys.exit(2)


def old_work_queue(session, today):
    """The work queue as it was: its past-due line from the aging report's rows computed from
    the whole book's postings (the path it still takes when an entry is dated after today)."""
    old = partial(aging_rows, from_postings=True)
    with (
        mock.patch.object(work_queue_module, "past_due_groups", lambda session, today: None),
        mock.patch.object(work_queue_module, "aging_rows", old),
    ):
        return work_queue(session, today, authority_limit=AUTHORITY_LIMIT)


def new_work_queue(session, today):
    return work_queue(session, today, authority_limit=AUTHORITY_LIMIT)


def time_alternately(factory, callables: dict, today: date, runs: int) -> tuple[dict, dict]:
    """Median seconds of each callable over `runs` rounds (one warm-up round first), the
    callables taking turns in every round; each call in a fresh session."""
    timings: dict[str, list[float]] = {name: [] for name in callables}
    results = {}
    for attempt in range(runs + 1):
        for name, call in callables.items():
            with factory() as session:
                started = time.perf_counter()
                results[name] = call(session, today)
                elapsed = time.perf_counter() - started
            if attempt:
                timings[name].append(elapsed)
    return {name: statistics.median(times) for name, times in timings.items()}, results


def past_due_line(queue):
    line = next(line for line in queue.lines if line.key == "past_due")
    return line.waiting, line.late, line.amount, line.note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=5000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the book a --keep run left (same --groups and --months) instead of building",
    )
    args = parser.parse_args()

    url = bench_url()
    refuse_test_database(url)
    if not postgres_ready(url, create=None if args.reuse else create_database):
        return 1 if IN_CI else 0

    engine = make_engine(url)
    try:
        started = time.perf_counter()
        factory = make_session_factory(engine)
        if args.reuse:
            with engine.connect() as conn:
                counts = {
                    table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in ("employer_group", "invoice", "journal_entry", "posting")
                }
        else:
            migrate.upgrade(engine)
            counts = build_book(engine, args.groups, args.months)
        kept_started = time.perf_counter()
        with factory() as session:
            rebuild_kept_balances(session)
            session.commit()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE kept_balance"))
            conn.execute(text("VACUUM ANALYZE kept_open_item"))
        kept_seconds = time.perf_counter() - kept_started
        with factory() as session:
            check_started = time.perf_counter()
            errors = kept_balance_errors(session)
            check_seconds = time.perf_counter() - check_started
            kept_rows = session.execute(
                text(
                    "SELECT (SELECT count(*) FROM kept_open_item), (SELECT count(*) FROM kept_balance)"
                )
            ).one()
        say(
            f"set-up (not measured): {time.perf_counter() - started:.1f} s for"
            f" {counts['employer_group']:,} groups, {counts['invoice']:,} invoices,"
            f" {counts['journal_entry']:,} journal entries, {counts['posting']:,} postings;"
            f" kept balances filled from postings in {kept_seconds:.1f} s"
            f" ({kept_rows[0]:,} open items, {kept_rows[1]:,} account balances)"
        )
        say(
            f"  check-balances: {'agree' if not errors else f'{len(errors)} differences'}"
            f" in {check_seconds:.2f} s"
        )
        last = add_months(FIRST_PERIOD, args.months - 1)
        today = add_months(last, 1) - timedelta(days=1)
        load = os.getloadavg()
        medians, results = time_alternately(
            factory, {"before": old_work_queue, "after": new_work_queue}, today, args.runs
        )
        same = past_due_line(results["before"]) == past_due_line(results["after"])
        waiting, late, amount, _ = past_due_line(results["after"])
        say(
            f"Today page read model as of {today}, median of {args.runs} alternating runs"
            f" (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}):"
        )
        say(f"  before (aging from postings): {medians['before'] * 1000:.1f} ms")
        say(
            f"  after  (kept balances):       {medians['after'] * 1000:.1f} ms"
            f" ({medians['before'] / medians['after']:.0f}x);"
            f" past-due groups {waiting:,} ({late:,} late), {amount:,} past due;"
            f" before and after {'agree' if same else 'DIFFER'}"
        )
        past = add_months(last, -12) + timedelta(days=9)
        reports, _ = time_alternately(
            factory,
            {
                "past_due": lambda s, d: past_due_groups(s, d),
                "today": lambda s, d: aging_rows(s, d),
                "past": lambda s, d: aging_rows(s, past),
            },
            today,
            args.runs,
        )
        say(
            f"  for information: the past-due line alone (receivables.past_due_groups, kept)"
            f" {reports['past_due'] * 1000:.1f} ms, the rest of the page is the other queues'"
            f" small queries"
        )
        say(
            f"  for information: aging report rows as of today (kept) {reports['today'] * 1000:.1f}"
            f" ms; as of {past} (a past date, from postings) {reports['past'] * 1000:.1f} ms"
        )
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(url)
            say(f"dropped database {make_url(url).database}")

    ok = medians["after"] < TARGET_SECONDS and same and not errors
    say(
        f"{verdict(ok)}: Today page at {args.groups:,} groups x {args.months} months,"
        f" {medians['after'] * 1000:.1f} ms (target < {TARGET_SECONDS * 1000:.0f} ms;"
        f" before {medians['before'] * 1000:.0f} ms)"
    )
    say(f"RESULT: {verdict(ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
