"""Load test: the portal behind gunicorn on PostgreSQL, driven by locust (issue 19, item 6).

Sets up a database of its own holding the demo book and a 1,000-group book (bench/billing_run.py's
builder, with the last few months invoiced), one login per virtual user (staff with a known
second-factor key, codes computed with pyotp), starts `gunicorn -w N wsgi:app` on loopback (two
sync workers per CPU; --workers to change) and runs locust headless in two phases:

1. 50 users with 1 to 3 s of think time mixing employer pages (dashboard, invoice list, invoice
   detail, statement, payments) and staff pages (Today, the upload queue and an upload's review,
   aging, the book's invoice list; the collections worklist when it exists). Targets: p95 under
   100 ms on every page, 0 errors.
2. The same mix with no think time: the peak requests per second. Target: over 150 req/s.

It prints per page p50/p95/p99, requests and errors beside the targets, PASS/FAIL like the other
benches, and the machine (CPUs, load average): locust, gunicorn and PostgreSQL share this
machine, and other work on it slows every figure. Exit code 0 whatever the result (a benchmark,
not a test); an unreachable PostgreSQL skips, or fails under CI.

    make bench-load            (installs the `load` extra, then runs this)
    .venv/bin/python bench/load.py [--duration 2m] [--users 50] [--peak-users 50] [--rebuild]

BENCH_LOAD_DATABASE_URL picks the database (default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_load). It is created when missing and kept
between runs: the set-up (a couple of minutes) is skipped while the database holds the same
book version (this file's BOOK_VERSION, the book's size, the month and the migrations' head);
otherwise, or with --rebuild, the database is dropped and built again. It refuses the test
suite's database and the other benchmarks' (`test`, `postgres`, `bench`, `bench_reports`, ...).
The gunicorn log is kept (its path is printed) for the tracebacks of any 500.

The virtual users live in bench/_load_users.py, run as a child process per phase: locust
patches the standard library (gevent) as it is imported, which this process must not have. The
rest (set-up, server, report) stays in this one file of about 800 lines, read top to bottom
like the other benches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_load"
IN_CI = os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}
# Databases this never touches: the test suite's and the other benchmarks'.
REFUSED_DATABASES = {
    "test",
    "postgres",
    "bench",
    "bench_reports",
    "bench_census",
    "bench_statement",
}

# Bump when what the set-up builds changes: a database holding another version is rebuilt.
BOOK_VERSION = "1"
BENCH_GROUPS = 1000
BENCH_MEMBERS_PER_GROUP = 100
INVOICED_MONTHS = 3  # the bench book's latest periods issued, oldest first
UPLOAD_GROUPS = 4  # bench groups with a submitted census change file waiting for review

LOAD_PASSWORD = "load-test-password-2026"  # nosec B105 # a benchmark database's logins
# Base32, as an authenticator key; published like the demo's: the bench database only.
LOAD_TOTP_SECRET = "LOADTESTSTAFFSECONDFACTORKEYBNCH"  # nosec B105
EMPLOYER_EMAIL = "load-hr-{:04d}@load.example.com"
STAFF_EMAIL = "load-staff-{:04d}@load.example.com"

TARGET_P95_MS = 100.0
TARGET_ERRORS = 0
TARGET_PEAK_RPS = 150.0
STAFF_SHARE = 0.2  # one virtual user in five is billing staff

# (label, path template, weight). Employer paths take {group} and {invoice}; staff paths take
# {upload_review} (one of the submitted uploads' review pages).
EMPLOYER_PAGES = [
    ("employer: dashboard", "/employer/groups/{group}", 3),
    ("employer: invoice list", "/employer/groups/{group}/invoices", 2),
    ("employer: invoice detail", "/employer/groups/{group}/invoices/{invoice}", 3),
    ("employer: statement", "/employer/groups/{group}/statement", 1),
    ("employer: payments", "/employer/groups/{group}/payments", 2),
]
STAFF_PAGES = [
    ("staff: Today", "/admin/today", 3),
    ("staff: upload queue", "/admin/uploads", 1),
    ("staff: upload review", "{upload_review}", 2),
    ("staff: aging", "/admin/reports/aging", 2),
    ("staff: invoices (book)", "/admin/invoices", 1),
]
# The collections worklist (issue 19, items 2): included once one of these answers 200.
WORKLIST_CANDIDATES = ["/admin/collections/worklist", "/admin/collections", "/admin/worklist"]
WORKLIST_PAGE = ("staff: collections worklist", 2)


def say(message: str = "") -> None:
    print(message, flush=True)


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover - not every platform has it
        return "unknown"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def seconds(text: str) -> float:
    """'120', '120s', '2m', '1m30s' -> seconds."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 120s, 2m, 1m30s)")
    minutes, secs = match.groups()
    return float(minutes or 0) * 60 + float(secs or 0)


# --------------------------------------------------------------------------- database


def bench_url() -> str:
    return os.environ.get("BENCH_LOAD_DATABASE_URL") or DEFAULT_URL


def conninfo(url: str, database: str | None = None) -> dict:
    """psycopg's keywords for `url`: billing_run's, the one copy the benches share."""
    from billing_run import psycopg_conninfo

    return psycopg_conninfo(url, database)


def refuse_other_databases(url: str) -> None:
    """The database is dropped and rebuilt: never the test suite's or another benchmark's."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database or ""
    test_url = os.environ.get("TEST_DATABASE_URL") or "postgresql+psycopg://x@h/test"
    if name in REFUSED_DATABASES | {make_url(test_url).database} or name.startswith("test"):
        say(f"REFUSED: {name!r} is not the load test's database; set BENCH_LOAD_DATABASE_URL")
        sys.exit(2)


def database_exists(url: str) -> bool:
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with psycopg.connect(**conninfo(url, "postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = sql.Identifier(make_url(url).database)
    with psycopg.connect(**conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def postgres_reachable(url: str) -> bool:
    """False, after saying SKIP (or FAIL under CI), when PostgreSQL cannot be reached."""
    import psycopg
    from sqlalchemy.engine import make_url

    try:
        with psycopg.connect(**conninfo(url, "postgres")):
            pass
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = make_url(url).render_as_string()
        say(f"{'FAIL' if IN_CI else 'SKIP'}: PostgreSQL unreachable at {where}: {reason}")
        return False
    return True


def book_key(today: date) -> str:
    """What the cached database must match: this file's version, the book's size, the month
    (the demo's history and the invoiced months follow today) and the migrations' head."""
    from alembic.script import ScriptDirectory

    from billing_core import migrate

    heads = ",".join(sorted(ScriptDirectory.from_config(migrate.alembic_config()).get_heads()))
    return (
        f"v{BOOK_VERSION} groups={BENCH_GROUPS}x{BENCH_MEMBERS_PER_GROUP}"
        f" months={INVOICED_MONTHS} month={today:%Y-%m} head={heads}"
    )


def stored_book_key(url: str) -> str | None:
    import psycopg

    if not database_exists(url):
        return None
    with psycopg.connect(**conninfo(url)) as conn:
        found = conn.execute("SELECT to_regclass('bench_load_book')").fetchone()[0]
        if found is None:
            return None
        row = conn.execute("SELECT book_key FROM bench_load_book").fetchone()
        return row[0] if row else None


def store_book_key(url: str, key: str, detail: dict) -> None:
    import psycopg

    with psycopg.connect(**conninfo(url)) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_load_book"
            " (book_key text NOT NULL, built_at timestamptz NOT NULL, detail text NOT NULL)"
        )
        conn.execute("DELETE FROM bench_load_book")
        conn.execute(
            "INSERT INTO bench_load_book VALUES (%s, now(), %s)", (key, json.dumps(detail))
        )


# --------------------------------------------------------------------------- the book


def import_billing_run():
    """bench/billing_run.py's book builder and the billing run it times, or None (with the
    reason) when it cannot be imported (a module moved while the code is re-cut)."""
    sys.path.insert(0, str(BENCH_DIR))
    try:
        import billing_run
    except ImportError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return billing_run, None


def invoiced_periods(today: date, months: int, book_start: date, lead_days: int) -> list[date]:
    """The latest `months` monthly periods whose issue date (period start - lead days) is on or
    before today, not before the book's start; oldest first."""
    period = date(today.year, today.month, 1)
    periods = []
    while len(periods) < months + 2 and period >= book_start:
        if period - timedelta(days=lead_days) <= today:
            periods.append(period)
        period = (period - timedelta(days=1)).replace(day=1)
    periods = periods[:months]
    return sorted(periods)


def change_file(today: date, group_index: int) -> str:
    """A census change file adding two employees next month (bench plan codes)."""
    effective = (date(today.year, today.month, 1) + timedelta(days=32)).replace(day=1)
    header = (
        "Action,Employee ID,Relationship,First Name,Last Name,Birth Date,Gender,SSN,"
        "Hire Date,Annual Salary,Effective Date,Medical Plan,Medical Tier,Dental Plan,Dental Tier"
    )
    rows = [header]
    for n, (first, last, born, gender) in enumerate(
        [("Priya", "Loadtest", "1988-04-12", "F"), ("Tomas", "Benchley", "1979-09-30", "M")],
        start=1,
    ):
        ssn = f"512-{40 + group_index:02d}-{1000 + n:04d}"
        rows.append(
            f"Add,E9{group_index:03d}{n},EE,{first},{last},{born},{gender},{ssn},"
            f"{today - timedelta(days=10):%Y-%m-%d},64000,{effective:%Y-%m-%d},MED,EE,DEN,EE"
        )
    return "\n".join(rows) + "\n"


def app_environment(url: str, extra: dict | None = None) -> dict:
    """The environment gunicorn and the CLI run with: this database, development settings
    (the development SSN and second-factor keys the book was written with), no Redis."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "APP_ENV", "SSN_ENCRYPTION_KEY", "TOTP_ENCRYPTION_KEY"}
    }
    env.update({"DATABASE_URL": url, "APP_ENV": "development", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def build(url: str, today: date) -> dict:
    """Drop and create the database, migrate it, load the 1,000-group book and invoice its
    latest months, then load the demo book. Returns what was built (seconds per step)."""
    from sqlalchemy import text

    from billing_core import migrate
    from billing_core.config import DEV_SSN_KEY
    from billing_core.db import make_engine, make_session_factory
    from billing_core.demo import load_demo
    from billing_core.security import configure_vault

    detail: dict = {"steps": {}}
    configure_vault(DEV_SSN_KEY)
    started = time.perf_counter()
    recreate_database(url)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        detail["steps"]["migrate"] = time.perf_counter() - started

        billing_run, why_not = import_billing_run()
        if billing_run is None:
            say(f"  NOTE: bench/billing_run.py cannot be imported ({why_not}): demo book only")
            detail["bench_book"] = f"not built: {why_not}"
        else:
            step = time.perf_counter()
            counts = billing_run.build_book(engine, BENCH_GROUPS, BENCH_MEMBERS_PER_GROUP)
            detail["steps"]["bench book"] = time.perf_counter() - step
            say(
                f"  {counts['employer_group']:,} groups, {counts['member']:,} members,"
                f" {counts['coverage']:,} coverages in {detail['steps']['bench book']:.1f} s"
            )
            numbers = [f"B{g:05d}" for g in range(1, BENCH_GROUPS + 1)]
            factory = make_session_factory(engine)
            lines = invoices = 0
            step = time.perf_counter()
            for period in invoiced_periods(today, INVOICED_MONTHS, billing_run.BOOK_START, 15):
                run_started = time.perf_counter()
                with factory() as session:
                    outcome = billing_run.issue_billing_run(
                        session,
                        period,
                        group_numbers=numbers,
                        run_date=period - timedelta(days=15),
                    )
                    session.commit()
                invoices += len(outcome.issued)
                lines += outcome.line_count
                say(
                    f"  billing run {period:%Y-%m}: {len(outcome.issued):,} invoices,"
                    f" {outcome.line_count:,} lines in {time.perf_counter() - run_started:.1f} s"
                )
            detail["steps"]["bench invoices"] = time.perf_counter() - step
            detail["bench_book"] = {"invoices": invoices, "lines": lines}

        step = time.perf_counter()
        with make_session_factory(engine)() as session:
            result = load_demo(session, today)
            session.commit()
        detail["steps"]["demo book"] = time.perf_counter() - step
        history = result.history or {}
        say(
            f"  demo book: {history.get('invoices', 0):,} invoices,"
            f" {history.get('invoice_lines', 0):,} lines in {detail['steps']['demo book']:.1f} s"
        )

        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    detail["seconds"] = time.perf_counter() - started
    return detail


def ensure_uploads(url: str, today: date) -> None:
    """Census change files waiting for review: UPLOAD_GROUPS of them, submitted through the CLI
    (`flask census import`, the same rules as the page) as the demo's billing specialist.
    Checked on every run, so a file the census code refused once is sent again next time."""
    import psycopg

    with psycopg.connect(**conninfo(url)) as conn:
        waiting = conn.execute("SELECT count(*) FROM upload WHERE status = 'submitted'")
        waiting = waiting.fetchone()[0]
        bench = conn.execute(
            "SELECT count(*) FROM employer_group WHERE group_number LIKE %s", ("B%",)
        ).fetchone()[0]
    if waiting >= UPLOAD_GROUPS or not bench:
        return
    started = time.perf_counter()
    queued = queue_uploads(url, today)
    say(
        f"set-up: {queued} of {UPLOAD_GROUPS} census change files submitted for review"
        f" in {time.perf_counter() - started:.1f} s"
    )


def queue_uploads(url: str, today: date) -> int:
    queued = 0
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        for index in range(1, UPLOAD_GROUPS + 1):
            number = f"B{index * 7:05d}"
            path = Path(folder) / f"changes-{number}.csv"
            path.write_text(change_file(today, index))
            command = [sys.executable, "-m", "flask", "--app", "wsgi", "census", "import"]
            command += [str(path), "--group", number, "--as-user", "billing@carrier.example.com"]
            command += ["--kind", "change"]
            done = subprocess.run(  # nosec B603: our own interpreter and arguments
                command,
                cwd=PROJECT_ROOT,
                env=app_environment(url),
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                say(f"  NOTE: census import for {number} failed: {' / '.join(tail)}")
                continue
            queued += 1
    return queued


def ensure_users(url: str, employers: int, staff: int) -> dict:
    """At least `employers` employer users (each with one group: the demo's groups and the
    bench book's in turn) and `staff` billing specialists with LOAD_TOTP_SECRET, all with
    LOAD_PASSWORD; their lockouts and last second-factor step cleared, so each logs in once
    per phase. Returns the logins, each employer's group and invoices, and the upload reviews."""
    from sqlalchemy import select, update

    from billing_core.db import make_engine, make_session_factory
    from billing_core.models import EmployerGroup, Invoice, Upload, User, UserGroupAccess
    from billing_core.models.enums import Role, UploadStatus
    from billing_core.security import hash_password
    from billing_core.users import second_factor

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            groups = session.execute(
                select(EmployerGroup.id, EmployerGroup.group_number).order_by(EmployerGroup.id)
            ).all()
            demo = [gid for gid, number in groups if number.startswith("G-")]
            bench = [gid for gid, number in groups if number.startswith("B")]

            def group_for(i: int) -> int:
                if i % 2 == 0 or not bench:
                    return demo[(i // 2) % len(demo)]
                return bench[((i // 2) * 97) % len(bench)]

            existing = {
                email: user
                for email, user in session.execute(
                    select(User.email, User).where(User.email.like("load-%@load.example.com"))
                ).all()
            }
            password_hash = None
            now = datetime.now(UTC)
            for i in range(employers):
                email = EMPLOYER_EMAIL.format(i)
                if email in existing:
                    continue
                password_hash = password_hash or hash_password(LOAD_PASSWORD)
                user = User(
                    email=email,
                    full_name=f"Load test HR {i}",
                    password_hash=password_hash,
                    role=Role.EMPLOYER,
                )
                user.group_access.append(UserGroupAccess(group_id=group_for(i)))
                session.add(user)
            for i in range(staff):
                email = STAFF_EMAIL.format(i)
                if email in existing:
                    continue
                password_hash = password_hash or hash_password(LOAD_PASSWORD)
                user = User(
                    email=email,
                    full_name=f"Load test staff {i}",
                    password_hash=password_hash,
                    role=Role.BILLING_SPECIALIST,
                    totp_secret_encrypted=second_factor.encrypt_secret(LOAD_TOTP_SECRET),
                    totp_confirmed_at=now,
                )
                second_factor.new_recovery_codes(user)
                session.add(user)
            session.flush()
            session.execute(
                update(User)
                .where(User.email.like("load-%@load.example.com"))
                .values(failed_login_count=0, locked_until=None, totp_last_step=None)
            )
            session.execute(
                update(User)
                .where(User.email.like("load-staff-%@load.example.com"))
                .values(totp_secret_encrypted=second_factor.encrypt_secret(LOAD_TOTP_SECRET))
            )
            session.commit()

            employer_rows = []
            for i in range(employers):
                email = EMPLOYER_EMAIL.format(i)
                group_id = session.scalar(
                    select(UserGroupAccess.group_id)
                    .join(User, User.id == UserGroupAccess.user_id)
                    .where(User.email == email)
                )
                invoices = list(
                    session.scalars(
                        select(Invoice.id)
                        .where(Invoice.group_id == group_id)
                        .order_by(Invoice.period_start.desc(), Invoice.id.desc())
                        .limit(12)
                    )
                )
                employer_rows.append({"email": email, "group": group_id, "invoices": invoices})
            reviews = [
                f"/admin/groups/{gid}/uploads/{uid}"
                for gid, uid in session.execute(
                    select(Upload.group_id, Upload.id)
                    .where(Upload.status == UploadStatus.SUBMITTED)
                    .order_by(Upload.id)
                )
            ]
    finally:
        engine.dispose()
    return {
        "employers": employer_rows,
        "staff": [STAFF_EMAIL.format(i) for i in range(staff)],
        "upload_reviews": reviews,
        "demo_groups": len(demo),
        "bench_groups": len(bench),
    }


# --------------------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(
    url: str, workers: int, log_path: Path, threads: int = 1
) -> tuple[subprocess.Popen, str]:
    """`gunicorn -w N wsgi:app` on a free loopback port, its output in `log_path`; waits for
    /healthz. A random SECRET_KEY shared by the workers (sessions cross workers)."""
    import secrets
    import urllib.request

    import gunicorn

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    options = ["--timeout", "60"]
    if threads > 1:  # gunicorn's threaded workers (gthread), which also keep connections alive
        options += ["--threads", str(threads)]
    if gunicorn.version_info >= (27,):  # not one control socket shared by every gunicorn here
        options.append("--no-control-socket")
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(  # nosec B603: our own interpreter and arguments
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
        + options
        + ["wsgi:app"],
        cwd=PROJECT_ROOT,
        env=app_environment(url, {"SECRET_KEY": secrets.token_urlsafe(48)}),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:  # nosec B310
                if response.status == 200:
                    return process, base
        except OSError:
            time.sleep(0.3)
    stop_gunicorn(process)
    raise RuntimeError(f"gunicorn did not answer /healthz within 60 s; see {log_path}")


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    process.log.close()  # type: ignore[attr-defined]


def tracebacks(log_path: Path) -> list[str]:
    """The tracebacks gunicorn's workers logged (a 500 each, or a worker's crash)."""
    text = log_path.read_text(errors="replace")
    found = []
    for block in re.split(r"\n(?=\[\d{4}-\d\d-\d\d )", text):
        if "Traceback (most recent call last)" in block:
            found.append(block.strip())
    return found


def cpu_seconds(server_session: int, database: str) -> dict[str, float]:
    """CPU seconds used so far by gunicorn (the processes of its session: it is started in a
    new one) and by PostgreSQL (its server processes and the backends of `database`, not
    those of other databases on the same server), from /proc (Linux; empty elsewhere): where
    a phase's CPU went besides locust."""
    used = {"gunicorn": 0.0, "postgres": 0.0}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue  # exited meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # After the name: state, ppid, pgrp, session, ... utime (the 12th), stime (13th).
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        if int(fields[3]) == server_session:
            used["gunicorn"] += seconds
        elif name == "postgres" or name.startswith("postgres:"):
            # A client backend's title: "postgres: 15/main: <user> <database> <host>(port) ..."
            words = command.split()
            backend = len(words) > 4 and "(" in words[4]
            if not backend or words[3] == database:
                used["postgres"] += seconds
    return used if Path("/proc/self/stat").exists() else {}


def run_phase(spec: dict, folder: Path, label: str, server_session: int, database: str) -> dict:
    """Run one phase in a child process, bench/_load_users.py (locust's gevent stays out of
    this one); with the CPU gunicorn and PostgreSQL used meanwhile (`cpu_seconds`)."""
    spec_path = folder / f"{label}.json"
    spec["result"] = str(folder / f"{label}-result.json")
    spec_path.write_text(json.dumps(spec))
    log_path = folder / f"{label}-locust.log"
    timeout = 120 + spec["users"] * 3 + spec["warmup"] + spec["duration"] * 1.5
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    samples: list[tuple[float, dict]] = []  # (time, cpu_seconds) every half second
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.5):
            samples.append((time.time(), cpu_seconds(server_session, database)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with open(log_path, "w") as log:
        done = subprocess.run(  # nosec B603: our own interpreter and arguments
            [sys.executable, str(BENCH_DIR / "_load_users.py"), str(spec_path)],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampling.set()
    sampler.join()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log = log_path.read_text(errors="replace")
    if done.returncode != 0 or not Path(spec["result"]).exists():
        tail = log.strip().splitlines()[-15:]
        raise RuntimeError(f"locust ({label}) exited with {done.returncode}:\n" + "\n".join(tail))
    result = json.loads(Path(spec["result"]).read_text())
    result["locust_exceptions"] = log.count("Traceback (most recent call last)")
    result["locust_log"] = str(log_path)
    result["locust_cpu"] = cpu
    result["server_cpu"] = measured_cpu(samples, result["started"], result["elapsed"])
    return result


def measured_cpu(samples: list[tuple[float, dict]], started: float, elapsed: float) -> dict:
    """The CPU seconds gunicorn and PostgreSQL used in the measured window (the samples
    inside it, scaled to its length): logging in (password hashing) and the warm-up left out."""
    inside = [(at, used) for at, used in samples if started <= at <= started + elapsed]
    if len(inside) < 2 or not inside[0][1]:
        return {}
    (first_at, first), (last_at, last) = inside[0], inside[-1]
    scale = elapsed / (last_at - first_at) if last_at > first_at else 0.0
    return {key: (last[key] - first[key]) * scale for key in first}


# --------------------------------------------------------------------------- report


def print_phase(title: str, result: dict, with_targets: bool) -> list[tuple[bool, str]]:
    """The phase's table; returns (ok, line) verdicts when the phase has per-page targets."""
    say(title)
    say(
        f"  {'page':<30} {'requests':>8} {'errors':>6} {'p50':>7} {'p95':>7} {'p99':>7}"
        f" {'max':>7}" + ("   target: p95 < 100 ms, 0 errors" if with_targets else "")
    )
    verdicts = []
    order = {name: i for i, (name, _, _) in enumerate(EMPLOYER_PAGES + STAFF_PAGES)}
    rows = sorted(result["pages"], key=lambda p: (order.get(p["name"], 99), p["name"]))
    for page in rows:
        ok = page["p95"] < TARGET_P95_MS and page["errors"] <= TARGET_ERRORS
        mark = f"   {verdict(ok)}" if with_targets and page["name"] != "login" else ""
        say(
            f"  {page['name']:<30} {page['requests']:>8,} {page['errors']:>6,}"
            f" {page['p50']:>4.0f} ms {page['p95']:>4.0f} ms {page['p99']:>4.0f} ms"
            f" {page['max']:>4.0f} ms{mark}"
        )
        if with_targets and page["name"] != "login":
            verdicts.append(
                (
                    ok,
                    f"{page['name']} p95 {page['p95']:.0f} ms, {page['errors']} errors"
                    f" (target p95 < {TARGET_P95_MS:.0f} ms, {TARGET_ERRORS} errors)",
                )
            )
    say(
        f"  all pages: {result['requests']:,} requests in {result['elapsed']:.0f} s ="
        f" {result['rps']:.1f} req/s (best second {result['best_second']}),"
        f" {result['errors_total']:,} errors; logins {result['logged_in']} ok,"
        f" {result['login_failures']} failed; locust itself used {result['locust_cpu']:.0f} s"
        " of CPU on this machine"
    )
    server_cpu = result.get("server_cpu") or {}
    if server_cpu:
        say(
            f"  CPU in the measured window: gunicorn"
            f" {server_cpu['gunicorn']:.0f} s, PostgreSQL {server_cpu['postgres']:.0f} s, locust"
            f" {result['locust_cpu']:.0f} s; per request measured about"
            f" {1000 * server_cpu['gunicorn'] / max(result['requests'], 1):.1f} ms gunicorn,"
            f" {1000 * server_cpu['postgres'] / max(result['requests'], 1):.1f} ms PostgreSQL"
        )
    for error in result["errors"][:10]:
        say(f"  error: {error['count']:,} x {error['name']}: {error['error']}")
    if result.get("locust_exceptions"):
        say(
            f"  note: {result['locust_exceptions']} exceptions in the virtual users' own code"
            f" (not the portal's): {result['locust_log']}"
        )
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=seconds, default=120.0, help="per phase (120s, 2m)")
    parser.add_argument("--users", type=int, default=50, help="phase 1 users (think time)")
    parser.add_argument("--peak-users", type=int, default=50, help="phase 2 users (none)")
    # Sync workers, two per CPU: a worker waits on PostgreSQL (on the same cores) for about
    # half of each request, so one per CPU leaves the cores idle while they wait, and more
    # only queue more requests behind the same two cores (and locust shares them).
    parser.add_argument(
        "--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers"
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--warmup", type=seconds, default=10.0, help="after logging in")
    parser.add_argument("--rebuild", action="store_true", help="build the database again")
    parser.add_argument("--phases", default="1,2", help="which phases to run (1, 2 or 1,2)")
    args = parser.parse_args()

    try:
        import locust  # noqa: F401 - only checking it is installed; the child imports it
    except ImportError:
        say(f"{'FAIL' if IN_CI else 'SKIP'}: locust is not installed (make bench-load installs it)")
        return 1 if IN_CI else 0

    url = bench_url()
    refuse_other_databases(url)
    if not postgres_reachable(url):
        return 1 if IN_CI else 0

    say(f"machine: {os.cpu_count()} CPUs, load average {load_average()} at start")
    today = date.today()
    key = book_key(today)
    started = time.perf_counter()
    if not args.rebuild and stored_book_key(url) == key:
        say(f"set-up: database {url.rsplit('/', 1)[-1]} already holds book {key}; not rebuilt")
    else:
        say(f"set-up (not measured): building book {key}")
        detail = build(url, today)
        store_book_key(url, key, detail)
        say(f"set-up: built in {detail['seconds']:.0f} s")
    ensure_uploads(url, today)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    peak_users = args.peak_users if "2" in phases else 0
    users_needed = max(args.users if "1" in phases else 0, peak_users)
    staff_needed = max(1, round(users_needed * STAFF_SHARE))
    logins = ensure_users(url, users_needed - staff_needed, staff_needed)
    say(
        f"set-up: {time.perf_counter() - started:.0f} s in all; {len(logins['employers'])}"
        f" employer logins over {logins['demo_groups']} demo and {logins['bench_groups']:,}"
        f" bench groups, {len(logins['staff'])} staff logins,"
        f" {len(logins['upload_reviews'])} uploads to review"
    )

    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    log_path = folder / "gunicorn.log"
    try:
        gunicorn, base = start_gunicorn(url, args.workers, log_path, args.threads)
    except RuntimeError as exc:
        found = tracebacks(log_path)
        tail = (found[0] if found else log_path.read_text(errors="replace")).splitlines()[-8:]
        say(f"FAIL: the portal did not start under gunicorn: {exc}")
        for line in tail:
            say(f"  | {line}")
        say("RESULT: FAIL")
        return 0
    threads = f" --threads {args.threads}" if args.threads > 1 else ""
    say(f"gunicorn -w {args.workers}{threads} wsgi:app on {base}; its log: {log_path}")
    worklist = probe_worklist(base)
    staff_pages = list(STAFF_PAGES)
    if worklist:
        staff_pages.append((WORKLIST_PAGE[0], worklist, WORKLIST_PAGE[1]))
    else:
        say("  note: the collections worklist does not exist yet (issue 19, item 2): skipped")

    results = {}
    try:
        for phase in phases:
            users = args.users if phase == "1" else args.peak_users
            staff = max(1, round(users * STAFF_SHARE))
            if phase != phases[0]:
                ensure_users(url, users_needed - staff_needed, staff_needed)  # log in again
            spec = {
                "base": base,
                "users": users,
                "staff_users": staff,
                "spawn_rate": 10,
                "think": [1, 3] if phase == "1" else [0, 0],
                "warmup": args.warmup,
                "duration": args.duration,
                "employers": logins["employers"][: users - staff],
                "staff": logins["staff"][:staff],
                "upload_reviews": logins["upload_reviews"],
                "password": LOAD_PASSWORD,
                "totp_secret": LOAD_TOTP_SECRET,
                "employer_pages": EMPLOYER_PAGES,
                "staff_pages": staff_pages,
            }
            say(
                f"phase {phase}: {users} users ({users - staff} employer, {staff} staff),"
                f" {'1-3 s' if phase == '1' else 'no'} think time, {args.duration:.0f} s"
                f" measured after logging in and {args.warmup:.0f} s of warm-up ..."
            )
            try:
                results[phase] = run_phase(
                    spec, folder, f"phase{phase}", gunicorn.pid, url.rsplit("/", 1)[-1]
                )
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                say(f"FAIL: phase {phase} did not finish: {exc}")
                break
    finally:
        stop_gunicorn(gunicorn)

    say()
    say(f"load average {load_average()} at end (other work on the machine slows every figure)")
    verdicts: list[tuple[bool, str]] = []
    if "1" in results:
        verdicts += print_phase(
            f"phase 1: {args.users} users, 1-3 s think time", results["1"], with_targets=True
        )
        errors = results["1"]["errors_total"] + results["1"]["login_failures"]
        verdicts.append(
            (errors <= TARGET_ERRORS, f"phase 1 errors {errors} (target {TARGET_ERRORS})")
        )
    if "2" in results:
        print_phase(f"phase 2: {args.peak_users} users, no think time", results["2"], False)
        rps = results["2"]["rps"]
        verdicts.append(
            (rps > TARGET_PEAK_RPS, f"peak {rps:.1f} req/s (target > {TARGET_PEAK_RPS:.0f})")
        )
        errors = results["2"]["errors_total"] + results["2"]["login_failures"]
        if errors:
            say(f"  note: {errors} errors with no think time (not a target; see the log)")
    found = tracebacks(log_path)
    if found:
        say(f"gunicorn logged {len(found)} traceback(s) ({log_path}); the first:")
        for line in found[0].splitlines()[-25:]:
            say(f"  | {line}")
    for ok, line in verdicts:
        say(f"{verdict(ok)}: {line}")
    complete = len(results) == len(phases)
    say(f"RESULT: {verdict(complete and all(ok for ok, _ in verdicts))}")
    return 0


def probe_worklist(base: str) -> str | None:
    """The collections worklist's path once it exists (a staff page: an anonymous request
    is sent to the login page, a missing one gets 404)."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    for path in WORKLIST_CANDIDATES:
        try:
            with opener.open(base + path, timeout=5) as response:  # nosec B310
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            continue
        if status in (301, 302, 303):  # exists, asks for a login
            return path
    return None


if __name__ == "__main__":
    sys.exit(main())
