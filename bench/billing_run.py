"""Benchmark: one monthly billing run over a full book on PostgreSQL.

Builds 1,000 groups, 100,000 members and about 300,000 member-product coverages (every rating
basis) with bulk Core inserts, then times the billing run for January 2027 in chunks of groups
(`billing_core.billing.run`, inline: each chunk its own transaction, ANALYZE at the end) and
compares it with a COPY of as many rows into a scratch table shaped like invoice_line (see
`measure_copy` for why that table and what else is printed). Targets: the run takes at most
60 s and at most 6x the COPY. `--runner single` times the run as one transaction
(`issue_billing_run` + commit, the code before issue 19); `--compare` times single and chunked
alternately, each on a fresh copy of the same book (CREATE DATABASE ... TEMPLATE).

`--members 1000000` builds 5,000 groups of 200 members (about 2.9 million lines; the set-up
takes several minutes) and times the run on RQ workers started as subprocesses
(`rq worker`, SimpleWorker, started and warm before the run: see `measure_workers`) against Redis (REDIS_URL, default
redis://127.0.0.1:6379/0) for one, two and three workers (`--workers 1,2,3`), each on a fresh
copy of the book: targets under 3 minutes with two workers and a peak RSS per worker under
500 MB. Exit code 0 whatever the result (a benchmark, not a test); an unreachable PostgreSQL
skips, or fails under CI.

    .venv/bin/python bench/billing_run.py [--groups N] [--members-per-group N] [--profile FILE]
        [--runner chunked|single] [--chunk-groups N] [--compare]
        [--members 1000000 [--workers 1,2,3]]

BENCH_DATABASE_URL picks the database (default postgresql+psycopg://postgres@127.0.0.1:5432/bench);
it is created when missing and its `public` schema is dropped and recreated on every run; the
runs are timed on copies of it named `<database>_run`.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

import psycopg
from psycopg import sql
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection, make_url

from billing_core import migrate
from billing_core.billing import run as billing_runs
from billing_core.billing.invoicing import issue_billing_run
from billing_core.config import DEV_SSN_KEY, Settings
from billing_core.db import make_engine, make_session_factory
from billing_core.models import (
    AgeReduction,
    BillingPolicy,
    Coverage,
    CoveredDependent,
    Dependent,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    JournalEntry,
    Member,
    Plan,
    Posting,
    Product,
    RateAgeBand,
    RateTier,
    RateVersion,
)
from billing_core.models.billing_run import BillingRun, RunStatus
from billing_core.models.enums import (
    AgeReference,
    BillingFrequency,
    BillingMethod,
    CoverageMonthRule,
    Gender,
    LineOfCoverage,
    MemberStatus,
    RatingBasis,
    Relationship,
    Tier,
)
from billing_core.money import D
from billing_core.security import configure_vault

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
IN_CI = os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}

PERIOD = date(2027, 1, 1)
WORKER_START_LIMIT = 120  # seconds for the RQ workers to start and register
BOOK_START = date(2026, 1, 1)
RENEWAL = date(2027, 1, 1)
TARGET_SECONDS = 60.0
TARGET_COPY_RATIO = 6.0
TARGET_WORKERS_SECONDS = 180.0  # 1 million members with two workers
TARGET_WORKER_RSS_MB = 500.0
MILLION_MEMBERS_PER_GROUP = 200
AGE_BANDED_EVERY = 50  # every 50th group rates medical by age band (20 groups of 1,000)
SEED = 20270101

# code, name, line of coverage, basis
PRODUCTS = [
    ("MED-PPO", "Medical PPO", LineOfCoverage.MEDICAL, RatingBasis.TIERED_COMPOSITE),
    ("MED-AGE", "Medical PPO (age-banded)", LineOfCoverage.MEDICAL, RatingBasis.AGE_BANDED),
    ("DEN-PPO", "Dental PPO", LineOfCoverage.DENTAL, RatingBasis.TIERED_COMPOSITE),
    ("VIS", "Vision", LineOfCoverage.VISION, RatingBasis.TIERED_COMPOSITE),
    ("BLIFE", "Basic life", LineOfCoverage.BASIC_LIFE, RatingBasis.PER_THOUSAND_VOLUME),
    ("STD", "Short-term disability", LineOfCoverage.STD, RatingBasis.STD_WEEKLY_BENEFIT),
    ("LTD", "Long-term disability", LineOfCoverage.LTD, RatingBasis.LTD_COVERED_PAYROLL),
]
# Share of members enrolled in each line: 0.80 + 0.70 + 0.50 + 0.50 + 0.25 + 0.25 = 3.0 a member.
ENROLLMENT = {"MED": 0.80, "DEN": 0.70, "VIS": 0.50, "BLIFE": 0.50, "STD": 0.25, "LTD": 0.25}
TIER_RATES = {  # monthly, before a group's factor
    "MED": {Tier.EE: "612.40", Tier.ES: "1286.04", Tier.EC: "1102.32", Tier.FAM: "1776.00"},
    "DEN": {Tier.EE: "38.25", Tier.ES: "76.50", Tier.EC: "84.15", Tier.FAM: "122.40"},
    "VIS": {Tier.EE: "7.10", Tier.ES: "13.49", Tier.EC: "13.92", Tier.FAM: "20.87"},
}
TIERS = [Tier.EE, Tier.ES, Tier.EC, Tier.FAM]
TIER_WEIGHTS = [50, 20, 15, 15]
FIRST_NAMES = "Ana Ben Chloe Dev Elena Farid Grace Hugo Ines Jamal Kira Liam Mei Noah Olga Pablo"
LAST_NAMES = "Adams Baker Chen Diaz Evans Fischer Garcia Haddad Ito Jones Kowalski Lopez Moreau"
FIRST_NAMES, LAST_NAMES = FIRST_NAMES.split(), LAST_NAMES.split()


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- database


def bench_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL


def psycopg_conninfo(url: str, database: str | None = None) -> dict:
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "dbname": database or parsed.database,
        "connect_timeout": 5,
    }


def refuse_test_database(url: str) -> None:
    """The schema is dropped on every run: never point this at the test suite's database."""
    name = make_url(url).database
    test_url = os.environ.get("TEST_DATABASE_URL") or "postgresql+psycopg://x@h/test"
    if name == make_url(test_url).database:
        say(f"REFUSED: {name!r} is the test suite's database; set BENCH_DATABASE_URL elsewhere")
        sys.exit(2)


def ensure_database(url: str) -> None:
    """Create the benchmark database when missing (CREATE DATABASE cannot run in a transaction)."""
    name = make_url(url).database
    with psycopg.connect(**psycopg_conninfo(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            say(f"created database {name}")


def reset_schema(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def run_copy_url(url: str) -> str:
    """The database the runs are timed on: a fresh copy of the built book each time."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_run").render_as_string(hide_password=False)


def fresh_copy(book_url: str) -> str:
    """Drop the run copy and make it again from the book (CREATE DATABASE ... TEMPLATE: a file
    copy, seconds even for the million-member book). Returns its URL."""
    target = run_copy_url(book_url)
    book, copy = make_url(book_url).database, make_url(target).database
    with psycopg.connect(**psycopg_conninfo(book_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(copy), sql.Identifier(book)
            )
        )
    return target


# --------------------------------------------------------------------------- the book


class Loader:
    """Explicit ids (so children can point at parents without RETURNING) and Core executemany."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.next_id: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def new_id(self, model) -> int:
        name = model.__tablename__
        self.next_id[name] = self.next_id.get(name, 0) + 1
        return self.next_id[name]

    def insert(self, model, rows: list[dict]) -> None:
        if rows:
            self.conn.execute(insert(model.__table__), rows)
            name = model.__tablename__
            self.counts[name] = self.counts.get(name, 0) + len(rows)
            rows.clear()

    def fix_sequences(self) -> None:
        for name, last in self.next_id.items():
            self.conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"), {"t": name, "v": last}
            )


def scaled(amount: str, factor: Decimal, places: str = "0.01") -> Decimal:
    return (D(amount) * factor).quantize(D(places))


def build_book(engine, n_groups: int, members_per_group: int) -> dict[str, int]:
    rng = random.Random(SEED)
    with engine.begin() as conn:
        load = Loader(conn)
        product_ids = {}
        rows = []
        for code, name, line, basis in PRODUCTS:
            product_ids[code] = load.new_id(Product)
            rows.append(
                {
                    "id": product_ids[code],
                    "code": code,
                    "name": name,
                    "line_of_coverage": line,
                    "rating_basis": basis,
                }
            )
        load.insert(Product, rows)

        groups, policies, plans, versions = [], [], [], []
        tiers, bands, reductions = [], [], []
        group_plans: dict[int, dict[str, int]] = {}
        for g in range(1, n_groups + 1):
            group_id = load.new_id(EmployerGroup)
            groups.append(
                {
                    "id": group_id,
                    "group_number": f"B{g:05d}",
                    "name": f"Bench Employer {g:05d} Inc.",
                    "tax_id": f"{g:09d}",
                    "original_effective_date": BOOK_START,
                    "renewal_month": 1,
                    "contact_email": f"hr{g}@example.com",
                    "state": rng.choice(["CA", "NY", "TX", "IL", "WA", "GA"]),
                }
            )
            policies.append(
                {
                    "id": load.new_id(BillingPolicy),
                    "group_id": group_id,
                    "effective_from": BOOK_START,
                    "effective_to": None,
                    "billing_method": BillingMethod.LIST_BILL,
                    "billing_frequency": BillingFrequency.MONTHLY,
                    "lead_days": 15,
                    "coverage_month_rule": CoverageMonthRule.FIFTEENTH,
                }
            )
            age_banded = g % AGE_BANDED_EVERY == 0
            offered = {
                "MED": "MED-AGE" if age_banded else "MED-PPO",
                "DEN": "DEN-PPO",
                "VIS": "VIS",
                "BLIFE": "BLIFE",
                "STD": "STD",
                "LTD": "LTD",
            }
            group_plans[group_id] = {}
            factor = D(rng.randrange(85, 125)) / 100
            for plan_code, product_code in offered.items():
                plan_id = load.new_id(Plan)
                group_plans[group_id][plan_code] = plan_id
                plans.append(
                    {
                        "id": plan_id,
                        "group_id": group_id,
                        "product_id": product_ids[product_code],
                        "class_id": None,
                        "code": plan_code,
                        "name": f"{plan_code} plan",
                        "effective_from": BOOK_START,
                        "effective_to": None,
                    }
                )
                # The 2026 rates and the renewal the January 2027 run bills.
                for start, end, trend in (
                    (BOOK_START, RENEWAL - timedelta(days=1), D(1)),
                    (RENEWAL, None, D("1.07")),
                ):
                    version_id = load.new_id(RateVersion)
                    version = {
                        "id": version_id,
                        "plan_id": plan_id,
                        "effective_from": start,
                        "effective_to": end,
                        "unit_rate": None,
                        "volume_flat_amount": None,
                        "volume_salary_multiple": None,
                        "volume_maximum": None,
                        "volume_rounding_unit": None,
                        "weekly_benefit_percent": None,
                        "weekly_benefit_maximum": None,
                        "covered_payroll_maximum": None,
                        "age_reference": AgeReference.COVERAGE_MONTH,
                        "first_billed_on": None,
                    }
                    f = factor * trend
                    if plan_code in TIER_RATES and product_code != "MED-AGE":
                        for tier, rate in TIER_RATES[plan_code].items():
                            tiers.append(
                                {
                                    "id": load.new_id(RateTier),
                                    "rate_version_id": version_id,
                                    "tier": tier,
                                    "monthly_rate": scaled(rate, f),
                                }
                            )
                    elif product_code == "MED-AGE":
                        edges = [(0, 14)] + [(a, a + 4) for a in range(15, 65, 5)] + [(65, 120)]
                        for min_age, max_age in edges:
                            base = 180 + 11 * max(min_age - 15, 0)
                            bands.append(
                                {
                                    "id": load.new_id(RateAgeBand),
                                    "rate_version_id": version_id,
                                    "min_age": min_age,
                                    "max_age": max_age,
                                    "monthly_rate": scaled(str(int(base)), f, "0.000001"),
                                }
                            )
                    elif plan_code == "BLIFE":
                        version.update(
                            unit_rate=scaled("0.145", f, "0.000001"),
                            volume_salary_multiple=D(rng.choice([1, 2])),
                            volume_maximum=D(200000),
                            volume_rounding_unit=D(1000),
                        )
                        for from_age, percent in ((65, "65.00"), (70, "50.00")):
                            reductions.append(
                                {
                                    "id": load.new_id(AgeReduction),
                                    "rate_version_id": version_id,
                                    "from_age": from_age,
                                    "volume_percent": D(percent),
                                }
                            )
                    elif plan_code == "STD":
                        version.update(
                            unit_rate=scaled("0.305", f, "0.000001"),
                            weekly_benefit_percent=D("0.6000"),
                            weekly_benefit_maximum=D(1500),
                        )
                    elif plan_code == "LTD":
                        version.update(
                            unit_rate=scaled("0.38", f, "0.000001"),
                            covered_payroll_maximum=D(12500),
                        )
                    versions.append(version)
        for model, batch in (
            (EmployerGroup, groups),
            (BillingPolicy, policies),
            (Plan, plans),
            (RateVersion, versions),
            (RateTier, tiers),
            (RateAgeBand, bands),
            (AgeReduction, reductions),
        ):
            load.insert(model, batch)

        members, dependents, coverages, covered = [], [], [], []
        for group_id, plan_ids in group_plans.items():
            age_banded = group_id % AGE_BANDED_EVERY == 0
            for n in range(1, members_per_group + 1):
                member_id = load.new_id(Member)
                last_name = rng.choice(LAST_NAMES)
                hired = BOOK_START + timedelta(days=rng.randrange(-3000, 400))
                members.append(
                    {
                        "id": member_id,
                        "group_id": group_id,
                        "subgroup_id": None,
                        "class_id": None,
                        "member_key": f"M{member_id:07d}",
                        "employee_id": f"E{n:05d}",
                        "first_name": rng.choice(FIRST_NAMES),
                        "last_name": last_name,
                        "birth_date": date(1957, 1, 1) + timedelta(days=rng.randrange(0, 17000)),
                        "gender": rng.choice([Gender.FEMALE, Gender.MALE]),
                        "hire_date": hired,
                        "annual_salary": D(rng.randrange(260, 3000) * 100),
                        "status": MemberStatus.ACTIVE,
                        "postal_code": f"{rng.randrange(10000, 99999)}",
                    }
                )
                tier = rng.choices(TIERS, TIER_WEIGHTS)[0]
                # Most coverage runs from the book's start; some starts and terms fall around
                # the billed month so the 15th rule and terminations are exercised.
                roll = rng.random()
                if roll < 0.80:
                    start, end = BOOK_START, None
                elif roll < 0.93:
                    start, end = BOOK_START + timedelta(days=rng.randrange(30, 365)), None
                elif roll < 0.95:
                    start, end = BOOK_START, date(2026, 6, 30)
                elif roll < 0.97:
                    start, end = BOOK_START, date(2027, 1, 20)
                elif roll < 0.985:
                    start, end = date(2027, 1, 10), None
                else:
                    start, end = date(2027, 1, 20), None
                dependent_ids = []
                if age_banded and tier is not Tier.EE:
                    kids = 0 if tier is Tier.ES else rng.randrange(1, 4)
                    people = ([Relationship.SPOUSE] if tier in (Tier.ES, Tier.FAM) else []) + [
                        Relationship.CHILD
                    ] * kids
                    for k, relation in enumerate(people, start=1):
                        dependent_id = load.new_id(Dependent)
                        dependent_ids.append(dependent_id)
                        years = rng.randrange(25, 60) if relation is Relationship.SPOUSE else 0
                        born = (
                            date(2026, 6, 1) - timedelta(days=365 * years + rng.randrange(0, 9000))
                            if years
                            else date(2000, 1, 1) + timedelta(days=rng.randrange(0, 9500))
                        )
                        dependents.append(
                            {
                                "id": dependent_id,
                                "member_id": member_id,
                                "dependent_key": f"{k:02d}",
                                "first_name": rng.choice(FIRST_NAMES),
                                "last_name": last_name,
                                "relationship_to_member": relation,
                                "birth_date": born,
                                "gender": Gender.UNKNOWN,
                                "effective_from": None,
                                "effective_to": None,
                            }
                        )
                for plan_code, share in ENROLLMENT.items():
                    if rng.random() >= share:
                        continue
                    coverage_id = load.new_id(Coverage)
                    tiered = plan_code in TIER_RATES
                    coverages.append(
                        {
                            "id": coverage_id,
                            "member_id": member_id,
                            "plan_id": plan_ids[plan_code],
                            "tier": tier if tiered else None,
                            "elected_volume": None,
                            "effective_from": start,
                            "effective_to": end,
                            "source_upload_id": None,
                        }
                    )
                    if plan_code == "MED" and age_banded:
                        covered.extend(
                            {
                                "id": load.new_id(CoveredDependent),
                                "coverage_id": coverage_id,
                                "dependent_id": dependent_id,
                            }
                            for dependent_id in dependent_ids
                        )
            if len(coverages) >= 30_000:
                for model, batch in (
                    (Member, members),
                    (Dependent, dependents),
                    (Coverage, coverages),
                    (CoveredDependent, covered),
                ):
                    load.insert(model, batch)
        for model, batch in (
            (Member, members),
            (Dependent, dependents),
            (Coverage, coverages),
            (CoveredDependent, covered),
        ):
            load.insert(model, batch)
        load.fix_sequences()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return load.counts


# --------------------------------------------------------------------------- measurements


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a local process (the PostgreSQL backend serving the run), or None
    when PostgreSQL runs elsewhere."""
    try:
        with open(f"/proc/{pid}/comm") as comm:
            if not comm.read().startswith("postgres"):
                return None  # a process of that id here, but not the backend: PG is remote
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def measure_billing_run(engine, profile_path: str | None, runner: str, chunk_groups: int):
    """Wall seconds of the run (`runner` "single": issue_billing_run + commit, one
    transaction; "chunked": billing.run's start_run + execute_run inline, a commit per chunk
    and ANALYZE at the end), and the CPU seconds spent by this process and by the PostgreSQL
    backend (which tell work from waiting on a busy machine). Returns (invoices, lines, held,
    seconds, client CPU, backend CPU)."""
    session = make_session_factory(engine)()
    profiler = cProfile.Profile() if profile_path else None
    try:
        backend_pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        backend_before = process_cpu_seconds(backend_pid)
        client_before = time.process_time()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        if runner == "single":
            outcome = issue_billing_run(session, PERIOD)
            session.commit()
            invoices, lines, held = len(outcome.issued), outcome.line_count, outcome.held
            del outcome
        else:
            run = billing_runs.start_run(session, PERIOD, chunk_groups=chunk_groups)
            summaries = billing_runs.execute_run(session, run)
            merged = billing_runs.merged(PERIOD, None, summaries)
            invoices, lines, held = len(merged["issued"]), merged["line_count"], merged["held"]
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_before
        backend_after = process_cpu_seconds(backend_pid)
    finally:
        session.close()
    backend_cpu = None
    if backend_before is not None and backend_after is not None:
        backend_cpu = backend_after - backend_before
    if profiler:
        profiler.dump_stats(profile_path)
        say(f"profile written to {profile_path}; top 25 by cumulative time:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return invoices, lines, held, seconds, client_cpu, backend_cpu


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident set (VmHWM) of a live local process, in MB."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _run_finished(session, run_id: int) -> bool:
    """Whether the run is no longer running (its own row, read afresh)."""
    status = session.scalar(select(BillingRun.status).where(BillingRun.id == run_id))
    session.commit()
    return status is not RunStatus.RUNNING


def measure_workers(url: str, workers: int, chunk_groups: int, redis_url: str):
    """The run on `workers` RQ workers against the database at `url`, as production runs it:
    the workers already running (subprocesses, `rq worker` with `_warm_worker.WarmWorker`, a
    SimpleWorker that has imported the billing run's code, so each chunk runs in the worker
    process itself), then timed from the run's start (the run and its chunks recorded, every
    chunk queued on a queue of this bench's own) until the run is finished (its last chunk
    closed it: every invoice issued, its tables ANALYZEd), read from the run's row as the admin
    page does. The workers' own start (a Python process importing rq and the billing code,
    about a second each here) is printed apart and not counted: a worker starts once, not per
    run. Returns (seconds, the workers' start in seconds, peak RSS in MB of each worker, the
    run's progress)."""
    from redis import Redis
    from rq import Queue, Worker

    engine = make_engine(url)
    session = make_session_factory(engine)()
    queue_name = f"bench-billing-{uuid.uuid4().hex[:8]}"
    connection = Redis.from_url(redis_url)
    queue = Queue(queue_name, connection=connection)
    rq_bin = shutil.which("rq", path=os.path.dirname(sys.executable)) or "rq"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SSN_ENCRYPTION_KEY": DEV_SSN_KEY,
        "REDIS_URL": redis_url,
        "BILLING_RUN_CHUNK_GROUPS": str(chunk_groups),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH")])
        ),
    }
    launched = time.perf_counter()
    processes = [
        subprocess.Popen(
            [
                rq_bin,
                "worker",
                "--quiet",
                "--worker-class",
                "_warm_worker.WarmWorker",
                "--url",
                redis_url,
                queue_name,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(workers)
    ]
    peaks = [0.0] * workers

    def sample_peaks() -> None:
        for index, process in enumerate(processes):
            if process.poll() is None:
                peaks[index] = max(peaks[index], peak_rss_mb(process.pid) or 0.0)

    try:
        while Worker.count(connection=connection, queue=queue) < workers:
            if any(p.poll() is not None for p in processes) or (
                time.perf_counter() - launched > WORKER_START_LIMIT
            ):
                raise RuntimeError("the RQ workers did not start")
            time.sleep(0.05)
        warm = time.perf_counter() - launched
        started = time.perf_counter()
        run = billing_runs.start_run(session, PERIOD, chunk_groups=chunk_groups)
        session.commit()
        for chunk in run.chunks:
            queue.enqueue(
                "billing_core.jobs.run_job", billing_runs.CHUNK_JOB, chunk.id, job_timeout=1800
            )
        polls = 0
        while not _run_finished(session, run.id):
            if all(p.poll() is not None for p in processes):
                break
            polls += 1
            if polls % 4 == 0:
                sample_peaks()
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        if not _run_finished(session, run.id):
            seconds = float("nan")
        sample_peaks()
        progress = billing_runs.progress(session, run)
        session.commit()
    finally:
        for process in processes:  # idle workers: a warm shutdown is immediate
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        session.close()
        engine.dispose()
        queue.delete(delete_jobs=True)
    return seconds, warm, peaks, progress


LINE_COLUMNS = (
    "invoice_id, line_number, section, member_id, plan_id, rate_version_id, coverage_month, "
    "tier, volume, rate, amount, description, reason_code, adjustment_id"
)


def measure_copy(url: str) -> tuple[int, float, float, float]:
    """COPY the rows the run wrote, as Python values, into scratch temp tables and, rolled back,
    into invoice_line itself. Returns (rows, scratch-table seconds, bare-table seconds,
    invoice_line seconds).

    The target's reference is the scratch table shaped like invoice_line (`LIKE invoice_line
    INCLUDING ALL`: its columns, defaults, CHECK constraints and indexes; a temp table, so
    unlogged and without foreign keys): the cost of writing these rows as rows of this table.
    A bare table (no indexes, no constraints) and invoice_line itself (indexes, the trigger
    that checks its references, WAL) are printed for information: the run writes to the
    latter."""
    copy_sql = f"COPY {{}} ({LINE_COLUMNS}) FROM STDIN"
    with psycopg.connect(**psycopg_conninfo(url)) as conn:
        rows = conn.execute(f"SELECT {LINE_COLUMNS} FROM invoice_line ORDER BY id").fetchall()
        conn.execute("CREATE TEMP TABLE bench_scratch_line (LIKE invoice_line INCLUDING ALL)")
        conn.execute(
            "CREATE TEMP TABLE bench_bare_line ("
            " id serial, invoice_id integer, line_number integer, section varchar(32),"
            " member_id integer, plan_id integer, rate_version_id integer, coverage_month date,"
            " tier varchar(32), volume numeric(12, 2), rate numeric(14, 6),"
            " amount numeric(12, 2), description varchar(300), reason_code varchar(30),"
            " adjustment_id integer)"
        )
        conn.commit()
        timings = []
        for table, finish in (
            ("bench_scratch_line", conn.commit),
            ("bench_bare_line", conn.commit),
            ("invoice_line", conn.rollback),
        ):
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(copy_sql.format(table)) as copy:
                for row in rows:
                    copy.write_row(row)
            timings.append(time.perf_counter() - started)
            finish()
    return len(rows), timings[0], timings[1], timings[2]


def check_run(engine) -> list[str]:
    """Cheap consistency checks on what the run wrote (not timed)."""
    problems = []
    with engine.connect() as conn:
        premium = conn.scalar(select(func.coalesce(func.sum(Invoice.current_premium), 0)))
        lines = conn.scalar(select(func.coalesce(func.sum(InvoiceLine.amount), 0)))
        debit, credit = conn.execute(
            select(
                func.coalesce(func.sum(Posting.debit), 0),
                func.coalesce(func.sum(Posting.credit), 0),
            )
        ).one()
        entries = conn.scalar(select(func.count()).select_from(JournalEntry))
        invoices = conn.scalar(select(func.count()).select_from(Invoice))
    if premium != lines:
        problems.append(f"invoice premium {premium} != sum of lines {lines}")
    if debit != credit:
        problems.append(f"ledger debits {debit} != credits {credit}")
    if entries != invoices:
        problems.append(f"{entries} journal entries for {invoices} invoices")
    return problems


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover - not every platform has it
        return "unknown"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def postgres_ready(url: str, create=None) -> bool:
    """Refuse the test database, then make sure `url`'s database exists (`create`, default
    `ensure_database`). False, after saying SKIP (or FAIL under CI), when PostgreSQL cannot
    be reached: the caller exits 0, or 1 under CI."""
    refuse_test_database(url)
    try:
        (create or ensure_database)(url)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = make_url(url).render_as_string()
        say(f"{'FAIL' if IN_CI else 'SKIP'}: PostgreSQL unreachable at {where}: {reason}")
        return False
    return True


def build(url: str, n_groups: int, members_per_group: int) -> None:
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        reset_schema(engine)
        migrate.upgrade(engine)
        counts = build_book(engine, n_groups, members_per_group)
    finally:
        engine.dispose()
    say(
        f"set-up (not measured): {time.perf_counter() - started:.1f} s for "
        f"{counts['employer_group']:,} groups, {counts['member']:,} members, "
        f"{counts['coverage']:,} coverages, {counts['plan']:,} plans, "
        f"{counts['rate_version']:,} rate versions, {counts.get('dependent', 0):,} dependents"
    )


def one_run(book_url: str, runner: str, chunk_groups: int, profile: str | None) -> dict:
    """One timed run of `runner` on a fresh copy of the book, its checks and the COPY floor."""
    url = fresh_copy(book_url)
    engine = make_engine(url)
    try:
        invoices, lines, held, seconds, client_cpu, backend_cpu = measure_billing_run(
            engine, profile, runner, chunk_groups
        )
        what = "one transaction" if runner == "single" else f"chunks of {chunk_groups} groups"
        say(
            f"billing run {PERIOD:%Y-%m} ({runner}: {what}): {invoices:,} invoices, "
            f"{lines:,} lines in {seconds:.2f} s = {lines / seconds:,.0f} lines/s "
            f"(load average {load_average()})"
        )
        backend = "unknown (not local)" if backend_cpu is None else f"{backend_cpu:.1f} s"
        say(f"  CPU: Python {client_cpu:.1f} s, PostgreSQL backend {backend}")
        if held:
            say(f"  held groups: {len(held)} (first: {next(iter(held.items()))})")
        problems = check_run(engine)
        say("  checks: " + ("ok" if not problems else "; ".join(problems)))
    finally:
        engine.dispose()
    copied, copy_seconds, bare_seconds, table_copy_seconds = measure_copy(url)
    copy_seconds = max(copy_seconds, 1e-6)
    ratio = seconds / copy_seconds
    say(
        f"  COPY of {copied:,} rows into a scratch table shaped like invoice_line: "
        f"{copy_seconds:.2f} s = {copied / copy_seconds:,.0f} rows/s; "
        f"billing run / COPY = {ratio:.1f}x"
    )
    say(
        f"  for information: into a bare temp table {bare_seconds:.2f} s "
        f"(run = {seconds / max(bare_seconds, 1e-6):.1f}x); into invoice_line itself "
        f"(reference trigger, WAL; rolled back) {table_copy_seconds:.2f} s "
        f"(run = {seconds / table_copy_seconds:.1f}x)"
    )
    return {"runner": runner, "seconds": seconds, "ratio": ratio, "problems": problems}


def rq_run(book_url: str, workers: int, chunk_groups: int) -> dict:
    """The chunked run on `workers` RQ workers on a fresh copy of the book, against the COPY
    floor measured on the rows it wrote."""
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    url = fresh_copy(book_url)
    seconds, warm, peaks, progress = measure_workers(url, workers, chunk_groups, redis_url)
    engine = make_engine(url)
    try:
        problems = check_run(engine)
    finally:
        engine.dispose()
    if progress.failed_chunks or progress.run.status.value != "done":
        problems.append(f"run {progress.run.status.value}")
    copied, copy_seconds, _, _ = measure_copy(url)
    ratio = seconds / max(copy_seconds, 1e-6)
    say(
        f"billing run {PERIOD:%Y-%m} (chunks of {chunk_groups} groups on {workers} RQ "
        f"workers): {progress.issued:,} invoices, {progress.line_count:,} lines in "
        f"{seconds:.2f} s on running workers (their start, {warm:.2f} s, not counted); peak "
        f"RSS per worker "
        f"{', '.join(f'{p:.0f}' for p in peaks)} MB; COPY {copy_seconds:.2f} s; "
        f"run / COPY = {ratio:.1f}x; load average {load_average()}; "
        f"checks: {'ok' if not problems else '; '.join(problems)}"
    )
    return {
        "runner": f"{workers} RQ workers",
        "seconds": seconds,
        "ratio": ratio,
        "problems": problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--members-per-group", type=int, default=100)
    parser.add_argument("--profile", metavar="FILE", help="cProfile the billing run into FILE")
    parser.add_argument("--runner", choices=("chunked", "single"), default="chunked")
    parser.add_argument("--chunk-groups", type=int, default=Settings.billing_run_chunk_groups)
    parser.add_argument(
        "--compare", action="store_true", help="single and chunked alternately, twice each"
    )
    parser.add_argument(
        "--members",
        type=int,
        help=f"a book of this many members, {MILLION_MEMBERS_PER_GROUP} a group, run on RQ workers",
    )
    parser.add_argument("--workers", default="1,2,3", help="worker counts, with --members")
    parser.add_argument(
        "--keep-book",
        action="store_true",
        help="reuse the book a previous run built with the same size (runs are on copies of it)",
    )
    parser.add_argument(
        "--rq-workers",
        type=int,
        default=2,
        help="also time the run on this many RQ workers (0: not; needs Redis)",
    )
    args = parser.parse_args()

    url = bench_url()
    if not postgres_ready(url):
        return 1 if IN_CI else 0

    say(f"machine: {os.cpu_count()} CPUs, load average {load_average()} at start")
    configure_vault(DEV_SSN_KEY)
    if args.members:
        return million(url, args)
    if args.keep_book and book_groups(url) == args.groups:
        say(f"set-up: the book of {args.groups:,} groups already built is kept (--keep-book)")
    else:
        build(url, args.groups, args.members_per_group)
    runners = ["single", "chunked", "single", "chunked"] if args.compare else [args.runner]
    results = [one_run(url, runner, args.chunk_groups, args.profile) for runner in runners]
    if args.rq_workers:
        results.append(rq_run(url, args.rq_workers, args.chunk_groups))

    say(f"load average {load_average()} at end (other work on the machine slows every figure)")
    ok = True
    for result in results:
        time_ok = result["seconds"] <= TARGET_SECONDS
        ratio_ok = result["ratio"] <= TARGET_COPY_RATIO
        ok = ok and time_ok and ratio_ok and not result["problems"]
        say(
            f"{verdict(time_ok)}: billing run ({result['runner']}) {result['seconds']:.2f} s "
            f"(target <= {TARGET_SECONDS:.0f} s)"
        )
        say(
            f"{verdict(ratio_ok)}: billing run ({result['runner']}) {result['ratio']:.1f}x COPY "
            f"(target <= {TARGET_COPY_RATIO:.0f}x)"
        )
    say(f"RESULT: {verdict(ok)}")
    return 0


def book_groups(url: str) -> int | None:
    """How many groups the built book holds (None: no book). A kept book is first migrated to
    the code's head, so a book built before a later migration is timed with today's schema."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(EmployerGroup))
    except Exception:
        return None
    finally:
        engine.dispose()


def million(url: str, args) -> int:
    """The book of `args.members` members on one, two and three RQ workers."""
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    groups = max(1, args.members // MILLION_MEMBERS_PER_GROUP)
    if not (args.keep_book and book_groups(url) == groups):
        build(url, groups, MILLION_MEMBERS_PER_GROUP)
    else:
        say(f"set-up: the book of {groups:,} groups already built is kept (--keep-book)")
    results = []
    for workers in [int(n) for n in args.workers.split(",") if n.strip()]:
        copy_url = fresh_copy(url)
        seconds, warm, peaks, progress = measure_workers(
            copy_url, workers, args.chunk_groups, redis_url
        )
        engine = make_engine(copy_url)
        try:
            problems = check_run(engine)
        finally:
            engine.dispose()
        if progress.failed_chunks or progress.run.status.value != "done":
            problems.append(
                f"run {progress.run.status.value}: {len(progress.failed_chunks)} failed chunk(s)"
                + (f", first: {progress.failed_chunks[0].error}" if progress.failed_chunks else "")
            )
        say(
            f"{workers} worker(s): {progress.issued:,} invoices, {progress.line_count:,} lines in "
            f"{seconds:.1f} s = {progress.line_count / seconds:,.0f} lines/s (on running workers; "
            f"their start {warm:.1f} s, not counted); peak RSS per "
            f"worker {', '.join(f'{p:.0f}' for p in peaks)} MB; load average {load_average()}; "
            f"checks: {'ok' if not problems else '; '.join(problems)}"
        )
        results.append((workers, seconds, max(peaks), problems))
    say(f"load average {load_average()} at end (other work on the machine slows every figure)")
    ok = True
    for workers, seconds, peak, problems in results:
        say(f"  {workers} worker(s): {seconds:.1f} s, peak RSS per worker {peak:.0f} MB")
        if workers == 2:
            time_ok = seconds < TARGET_WORKERS_SECONDS
            ok = ok and time_ok
            say(
                f"{verdict(time_ok)}: {args.members:,} members with two workers {seconds:.1f} s "
                f"(target < {TARGET_WORKERS_SECONDS:.0f} s)"
            )
        rss_ok = peak < TARGET_WORKER_RSS_MB
        ok = ok and rss_ok and not problems
        say(
            f"{verdict(rss_ok)}: peak RSS per worker with {workers} worker(s) {peak:.0f} MB "
            f"(target < {TARGET_WORKER_RSS_MB:.0f} MB)"
        )
    say(f"RESULT: {verdict(ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
