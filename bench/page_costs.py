"""What each page of the load test costs the server, one request at a time (issue 19, item 6).

The load test (bench/load.py) asks for p95 under 100 ms on every page with think time and over
150 requests a second on this 2-core machine: each page may cost a few milliseconds of server
CPU. This times each employer page of the load test's mix with the Flask test client (no
gunicorn, no network), logged in as the employer of the largest group (the demo's G-1008, 2,000
members), on the load test's database: per page the median wall time, the median CPU time of
this process (Python's share; PostgreSQL's own CPU is not counted), and the SQL statements it
runs (a SQLAlchemy event counter), beside the 100 ms target. A bare authenticated page
(`/employer/`, which only redirects) shows what log-in, session and CSRF cost every request.
The staff pages of the mix (Today, the upload queue and a review, aging, the book's invoices,
the collections worklist) follow, as one of load.py's staff logins (its second-factor code
from pyotp); `--employer-only` leaves them out.

    .venv/bin/python bench/page_costs.py [--runs N] [--profile LABEL] [--slow-sql] [--reuse]
                                         [--build] [--employer-only]

`--profile dashboard` (any part of a page's label) prints the cProfile of that page's runs,
sorted by cumulative time. The database is bench/load.py's (BENCH_LOAD_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_load), built by load.py's own set-up with
--build when it is missing or holds another book version (else SKIP), and otherwise only read
(the login leaves its audit row). Exit code 0 whatever the result (a benchmark, not a test);
an unreachable PostgreSQL skips, or fails under CI.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import time
from datetime import date
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import load  # noqa: E402 - bench/load.py: the database, its book and its page mix

TARGET_MS = 100.0
# A page should cost a few milliseconds of server CPU for 150 requests a second on two cores
# shared with PostgreSQL and locust: shown beside the target, not judged.
CPU_BUDGET_MS = 10.0
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
SLOWEST_SHOWN = int(os.environ.get("PAGE_COSTS_SLOWEST", "5"))
BARE_PAGE = ("employer: home (redirect only)", "/employer/", 1)


def ensure_book(url: str, reuse: bool, build: bool) -> bool:
    """The load test's book in `url` (with `reuse`, any book load.py built, whatever its
    version or migrations' head); built by load.py's set-up when asked (`build`: about ten
    minutes here), else False after saying SKIP, so `make bench` stays quick."""
    today = date.today()
    key = load.book_key(today)
    stored = load.stored_book_key(url)
    if stored == key or (reuse and stored):
        load.say(f"set-up: database {url.rsplit('/', 1)[-1]} already holds book {stored}")
        return True
    if not build:
        load.say(
            f"SKIP: database {url.rsplit('/', 1)[-1]} does not hold book {key} (stored: "
            f"{stored}); build it with --build (or run make bench-load), or --reuse"
        )
        return False
    load.say(f"set-up (not measured): building book {key}")
    detail = load.build(url, today)
    load.store_book_key(url, key, detail)
    load.say(f"set-up: built in {detail['seconds']:.0f} s")
    return True


def employer_login(session_factory, group_number: str) -> tuple[str, int, list[int]]:
    """The demo employer login of `group_number`, the group's id and its invoices, the
    largest (most lines) first."""
    from sqlalchemy import func, select

    from billing_core.demo.logins import demo_logins
    from billing_core.models import EmployerGroup, Invoice, InvoiceLine

    email = next(
        row["email"]
        for row in demo_logins()
        if row["role"] == "employer"
        and row["group"].startswith(group_number)
        and not row["email"].startswith("hr-")
    )
    with session_factory() as session:
        group_id = session.scalar(
            select(EmployerGroup.id).where(EmployerGroup.group_number == group_number)
        )
        invoices = list(
            session.scalars(
                select(Invoice.id)
                .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
                .where(Invoice.group_id == group_id)
                .group_by(Invoice.id)
                .order_by(func.count().desc(), Invoice.id.desc())
            )
        )
    return email, group_id, invoices


def _token(html: str) -> str:
    match = CSRF.search(html)
    return (match.group(1) or match.group(2)) if match else ""


def log_in(client, email: str, password: str, totp_secret: str | None = None) -> None:
    """Log `client` in as `email`; with `totp_secret`, answer the second-factor step too."""
    page = client.get("/login").get_data(as_text=True)
    data = {"csrf_token": _token(page), "email": email, "password": password}
    answer = client.post("/login", data=data)
    if totp_secret and answer.status_code == 303 and "/login/code" in answer.headers["Location"]:
        import pyotp

        page = client.get("/login/code").get_data(as_text=True)
        code = pyotp.TOTP(totp_secret).now()
        answer = client.post("/login/code", data={"csrf_token": _token(page), "code": code})
    if answer.status_code != 303 or "/login" in answer.headers.get("Location", ""):
        raise SystemExit(f"log-in as {email} refused (HTTP {answer.status_code})")


def staff_client(app, url: str):
    """A test client logged in as load.py's first staff login (made, and its second factor's
    last step cleared, by load.py's set-up), and the staff pages with their paths filled: an
    upload waiting for review (submitted when missing) and the worklist when it answers."""
    load.ensure_uploads(url, date.today())
    reviews = load.ensure_users(url, 0, 1)["upload_reviews"]
    client = app.test_client()
    log_in(client, load.STAFF_EMAIL.format(0), load.LOAD_PASSWORD, load.LOAD_TOTP_SECRET)
    pages = []
    for label, path, weight in load.STAFF_PAGES:
        if "{upload_review}" in path:
            if not reviews:
                continue
            path = reviews[0]
        pages.append((label, path, weight))
    for path in load.WORKLIST_CANDIDATES:
        if client.get(path).status_code == 200:
            pages.append((load.WORKLIST_PAGE[0], path, load.WORKLIST_PAGE[1]))
            break
    return client, pages


def time_page(client, path: str, runs: int, counter: dict, profiler=None) -> dict:
    """Median wall and CPU milliseconds of `runs` GETs of `path` (one warm-up first), and the
    SQL statements of the last one."""
    walls, cpus, sqls = [], [], []
    status = None
    for attempt in range(runs + 1):
        counter.update(n=0, sql=0.0, slow=[])
        if profiler is not None and attempt:
            profiler.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        response.get_data()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if profiler is not None and attempt:
            profiler.disable()
        status = response.status_code
        if attempt:
            walls.append(wall * 1000)
            cpus.append(cpu * 1000)
            sqls.append(counter["sql"] * 1000)
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "wall_max": max(walls),
        "queries": counter["n"],
        "sql": statistics.median(sqls),
        "slowest": sorted(counter["slow"], key=lambda row: -row[0])[:SLOWEST_SHOWN],
        "status": status,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed requests per page")
    parser.add_argument("--group", default="G-1008", help="the demo group whose employer logs in")
    parser.add_argument("--profile", default="", help="cProfile the page whose label has this")
    parser.add_argument("--top", type=int, default=30, help="cProfile lines to print")
    parser.add_argument("--profile-out", default="", help="also write the cProfile to this file")
    parser.add_argument("--slow-sql", action="store_true", help="each page's slowest SQL")
    parser.add_argument(
        "--reuse", action="store_true", help="time the book already built, whatever its version"
    )
    parser.add_argument("--build", action="store_true", help="build the book when missing")
    parser.add_argument("--employer-only", action="store_true", help="no staff pages")
    args = parser.parse_args()

    url = load.bench_url()
    load.refuse_other_databases(url)
    if not load.postgres_reachable(url):
        return 1 if load.IN_CI else 0
    load.say(f"machine: {os.cpu_count()} CPUs, load average {load.load_average()} at start")
    if not ensure_book(url, args.reuse, args.build):
        return 0

    os.environ.update(load.app_environment(url))
    from sqlalchemy import event

    from billing_core.demo.logins import DEMO_PASSWORD
    from portal import create_app

    app = create_app()
    engine = app.extensions["db_engine"]
    counter = {"n": 0, "sql": 0.0, "slow": [], "started": 0.0}

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args):
        counter["n"] += 1
        counter["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def finished(_conn, _cursor, statement, parameters, *_args):
        took = time.perf_counter() - counter["started"]
        counter["sql"] += took
        counter["slow"].append((took, statement, parameters))

    email, group_id, invoices = employer_login(app.extensions["session_factory"], args.group)
    client = app.test_client()
    log_in(client, email, DEMO_PASSWORD)
    load.say(
        f"{args.group} (group {group_id}) as {email}; {len(invoices)} invoices, the largest"
        f" {invoices[0] if invoices else '-'}; {args.runs} requests per page, one warm-up"
    )

    pages = [(client, label, template) for label, template, _ in [BARE_PAGE, *load.EMPLOYER_PAGES]]
    if not args.employer_only:
        staff, staff_paths = staff_client(app, url)
        pages += [(staff, label, path) for label, path, _ in staff_paths]
    rows = []
    profiled = None
    for browser, label, template in pages:
        if "{invoice}" in template and not invoices:
            continue
        path = template.format(group=group_id, invoice=invoices[0] if invoices else 0)
        profiler = None
        if args.profile and args.profile.lower() in label.lower():
            profiler = cProfile.Profile(
                time.process_time
            )  # CPU: waits on PostgreSQL are not Python's cost
            profiled = (label, profiler)
        rows.append((label, time_page(browser, path, args.runs, counter, profiler)))

    load.say()
    load.say(
        f"{'page':32} {'wall ms':>8} {'max ms':>8} {'CPU ms':>8} {'SQL ms':>8} {'SQL':>5}"
        f"  target wall < {TARGET_MS:.0f} ms (CPU budget ~{CPU_BUDGET_MS:.0f} ms)"
    )
    for label, row in rows:
        ok = row["status"] == 200 or label == BARE_PAGE[0]
        mark = load.verdict(ok and row["wall"] < TARGET_MS)
        load.say(
            f"{label:32} {row['wall']:8.1f} {row['wall_max']:8.1f} {row['cpu']:8.1f}"
            f" {row['sql']:8.1f}"
            f" {row['queries']:5d}  {mark}" + ("" if ok else f"  (HTTP {row['status']})")
        )
    load.say(f"machine: load average {load.load_average()} at end")

    for label, row in rows if args.slow_sql else []:
        load.say(f"\nslowest SQL of one {label} request:")
        for took, statement, parameters in row["slowest"]:
            flat = " ".join(statement.split())
            load.say(f"  {took * 1000:7.1f} ms  {flat[:700]}  {str(parameters)[:200]}")
    if profiled:
        label, profiler = profiled
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        out = io.StringIO()
        stats = (
            pstats.Stats(profiler, stream=out)
            .strip_dirs()
            .sort_stats(os.environ.get("PAGE_COSTS_SORT", "cumulative"))
        )
        stats.print_stats(args.top)
        load.say(f"\ncProfile of {label} ({args.runs} requests):")
        load.say(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
