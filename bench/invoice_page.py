"""Benchmark: the employer's invoice page and its PDF for a 10,000-line invoice, on PostgreSQL.

Builds one group of about 3,400 members (every product line; the billing-run benchmark's
generator), issues December 2026 and January 2027 with the real billing run (January renews
every rate, so its bill bridge has a row for nearly every member x product, the worst case),
then times what a view does: the invoice page (`render_invoice_detail`, template included) and
the invoice PDF (`render_invoice_pdf`), best of RUNS each, alternating the old code path (the
bridge rebuilt from this and the previous invoice's lines, `bill_bridge`) with the new one (the
bridge kept at issue, `kept_bridge`) so machine load hits both alike. Targets: the page under
50 ms, the PDF under 0.5 s. Exit code 0 whatever the result (a benchmark, not a test); an
unreachable PostgreSQL skips, or fails under CI.

    .venv/bin/python bench/invoice_page.py [--members N] [--runs N] [--profile FILE]

BENCH_INVOICE_DATABASE_URL picks the database (default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_invoice_page, not another benchmark's, so
they can run side by side); its `public` schema is dropped and recreated on every run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import time
from datetime import date, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from billing_core import migrate
from billing_core.access import GroupScope
from billing_core.billing import bill_bridge as bridge_module
from billing_core.billing.invoicing import issue_billing_run
from billing_core.config import DEV_SSN_KEY
from billing_core.db import make_engine, make_session_factory
from billing_core.models import EmployerGroup, Invoice, InvoiceLine
from billing_core.security import configure_vault

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from billing_run import (  # noqa: E402
    IN_CI,
    build_book,
    load_average,
    postgres_ready,
    refuse_test_database,
    reset_schema,
    say,
    verdict,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_invoice_page"
MONTHS = (date(2026, 12, 1), date(2027, 1, 1))
PAGE_TARGET = 0.050
PDF_TARGET = 0.5


def bench_url() -> str:
    return os.environ.get("BENCH_INVOICE_DATABASE_URL") or DEFAULT_URL


def issue_two_bills(engine) -> tuple[int, float]:
    """December and January through the real run; (January's invoice id, January's run s)."""
    with Session(engine) as session:
        for month in MONTHS:
            started = time.perf_counter()
            outcome = issue_billing_run(session, month, run_date=month - timedelta(days=15))
            session.commit()
            took = time.perf_counter() - started
        return outcome.issued[0].id, took


@contextlib.contextmanager
def old_code_path():
    """The page and the PDF as before the bridge was kept: rebuilt from both invoices' lines on
    every view (`bill_bridge` and the counts and details it answered itself)."""
    import portal.documents as documents
    import portal.invoice_pages as pages

    saved = (pages.kept_bridge, pages.kept_counts_seen, documents.kept_bridge)
    saved += (documents.kept_details,)
    # The page hands kept_bridge what it read with the bill; the old path ignores it.
    pages.kept_bridge = lambda session, invoice, _read=None: bridge_module.bill_bridge(
        session, invoice
    )
    documents.kept_bridge = bridge_module.bill_bridge
    pages.kept_counts_seen = lambda _s, bridge, ids: {
        s.key: len(s.rows_seen(ids)) for s in bridge.steps
    }
    documents.kept_details = lambda _s, bridge, ids, limit: bridge.details(ids, limit)
    try:
        yield
    finally:
        pages.kept_bridge, pages.kept_counts_seen, documents.kept_bridge = saved[:3]
        documents.kept_details = saved[3]


def measure(app, engine, invoice_id: int, runs: int, profile: str | None) -> dict:
    """Best of `runs` for each of (page, PDF) x (old, new), alternating old and new."""
    from portal.documents import render_invoice_pdf
    from portal.extensions import db_session
    from portal.invoice_pages import render_invoice_detail

    keys = ("page old", "page new", "pdf old", "pdf new")
    best = {key: float("inf") for key in keys}
    cpu = {key: float("inf") for key in keys}
    sizes = {}
    profiler = cProfile.Profile() if profile else None
    with app.test_request_context(f"/employer/groups/1/invoices/{invoice_id}"):
        session = db_session()
        invoice = session.get(Invoice, invoice_id)
        group = session.get(EmployerGroup, invoice.group_id)
        scope = GroupScope(group=group, subgroup_ids=None, shows_member_pii=True)
        for run in range(runs + 1):  # the first round warms caches and templates
            for path in ("old", "new"):
                context = old_code_path() if path == "old" else contextlib.nullcontext()
                with context:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    html = render_invoice_detail(scope, invoice_id, "employer")
                    page = time.perf_counter() - started
                    page_cpu = time.process_time() - cpu_started
                    if profiler and path == "new" and run:
                        profiler.enable()
                    started, cpu_started = time.perf_counter(), time.process_time()
                    pdf = render_invoice_pdf(session, invoice, date(2027, 1, 5))
                    took = time.perf_counter() - started
                    took_cpu = time.process_time() - cpu_started
                    if profiler:
                        profiler.disable()
                if run:
                    best[f"page {path}"] = min(best[f"page {path}"], page)
                    best[f"pdf {path}"] = min(best[f"pdf {path}"], took)
                    cpu[f"page {path}"] = min(cpu[f"page {path}"], page_cpu)
                    cpu[f"pdf {path}"] = min(cpu[f"pdf {path}"], took_cpu)
                sizes[path] = (len(html), len(pdf))
                session.expire_all()
    if profiler:
        profiler.dump_stats(profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    best["sizes"] = sizes
    best["cpu"] = cpu
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3400)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", help="cProfile the new PDF path into FILE")
    args = parser.parse_args()

    url = bench_url()
    refuse_test_database(url)
    if not postgres_ready(url):
        return 1 if IN_CI else 0

    from portal import create_app

    say(f"machine: {os.cpu_count()} CPUs, load average {load_average()} at start")
    configure_vault(DEV_SSN_KEY)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        reset_schema(engine)
        migrate.upgrade(engine)
        counts = build_book(engine, 1, args.members)
        invoice_id, run_seconds = issue_two_bills(engine)
        with engine.connect() as conn:  # as autovacuum would by the time anyone looks
            conn.execute(text("ANALYZE"))
            conn.commit()
        with Session(engine) as session:
            lines = session.scalar(select(func.count()).where(InvoiceLine.invoice_id == invoice_id))
            kept = bridge_module.kept_bridge(session, session.get(Invoice, invoice_id))
            rows = sum(s.count for s in kept.steps)
        say(
            f"set-up (not measured): {time.perf_counter() - started:.1f} s for 1 group,"
            f" {counts['member']:,} members; the invoice has {lines:,} lines and its bridge"
            f" {rows:,} rows; issuing it (run + kept bridge) took {run_seconds:.2f} s"
        )
        app = create_app({"TESTING": True, "SESSION_FACTORY": make_session_factory(engine)})
        best = measure(app, engine, invoice_id, args.runs, args.profile)
    finally:
        engine.dispose()

    (page_bytes_old, pdf_bytes_old), (page_bytes_new, pdf_bytes_new) = (
        best["sizes"]["old"],
        best["sizes"]["new"],
    )
    say(
        f"invoice page: old {best['page old'] * 1000:.0f} ms, new {best['page new'] * 1000:.0f} ms"
        f" ({page_bytes_old:,} / {page_bytes_new:,} bytes of HTML)"
    )
    say(
        f"invoice PDF:  old {best['pdf old']:.3f} s, new {best['pdf new']:.3f} s"
        f" ({pdf_bytes_old / 1024:,.0f} / {pdf_bytes_new / 1024:,.0f} KiB)"
    )
    cpu = best["cpu"]
    say(
        f"  this process's CPU (best): page old {cpu['page old'] * 1000:.0f} ms,"
        f" new {cpu['page new'] * 1000:.0f} ms; PDF old {cpu['pdf old']:.3f} s,"
        f" new {cpu['pdf new']:.3f} s (PostgreSQL's share not included)"
    )
    say(f"load average {load_average()} at end (other work on the machine slows every figure)")
    page_ok = best["page new"] < PAGE_TARGET
    pdf_ok = best["pdf new"] < PDF_TARGET
    say(
        f"{verdict(page_ok)}: invoice page {best['page new'] * 1000:.0f} ms"
        f" (target < {PAGE_TARGET * 1000:.0f} ms; old path {best['page old'] * 1000:.0f} ms)"
    )
    say(
        f"{verdict(pdf_ok)}: invoice PDF {best['pdf new']:.3f} s"
        f" (target < {PDF_TARGET} s; old path {best['pdf old']:.3f} s)"
    )
    say(f"RESULT: {verdict(page_ok and pdf_ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
