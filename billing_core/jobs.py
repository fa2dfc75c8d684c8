"""Background jobs: RQ on Redis when REDIS_URL is set; without it, the local runner (a thread
in the web process, JOB_RUNNER=thread, the default) or inline (in the caller, JOB_RUNNER=inline:
scripts and tests). Never inside a web request unless asked for. A job is a function named by
its dotted path that takes a session first and reads everything else from the database by id,
so any web or worker instance can run it; it commits itself (its progress too, so a page
polling the row sees it move).

The local runner (LocalRunner) is for development and a single machine without Redis: one
daemon thread per process, one job at a time, started when the process first needs it. It runs
what this process enqueued and, every POLL_SECONDS, the census reads (and staff approvals too
large for a request: census.approval) any process left waiting in the database
(DATABASE_QUEUES: a restarted process's, another gunicorn worker's). Each job claims its row with a conditional UPDATE before it starts (census.processing.process_upload), so
with several processes every job runs once. When it starts, and every RECOVER_SECONDS while
idle, it recovers reads whose process died on this machine (queued again once, then failed) and
fails those silent for longer than the stuck-job sweep allows; `flask census sweep-jobs` from
cron does the latter wherever jobs run.

With REDIS_URL, a billing run's chunks go on the `billing` queue (billing_core.billing.run,
each chunk one job `billing.run.run_chunk`): start `rq worker census billing` on as many
machines as the run should use; without it a run's chunks run inline in the caller."""

from __future__ import annotations

import importlib
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from billing_core.config import Settings
from billing_core.errors import JobQueueUnavailable
from billing_core.money import format_count

QUEUE = "census"
log = logging.getLogger(__name__)
# Modules whose rows are a queue the local runner reads (and recovers) besides its own: each
# has `queued_jobs(session, limit) -> [(func_path, args)]` and
# `recover_jobs(session, now, alive) -> [row]` (alive: worker id -> True, False or None).
DATABASE_QUEUES = ("billing_core.census.processing",)
POLL_SECONDS = 10.0  # how often an idle local runner looks for rows left waiting
RECOVER_SECONDS = 300.0  # and how often it recovers jobs whose process died
MAX_WAITING = 100  # jobs this process may have waiting for its runner


@dataclass(frozen=True)
class JobHandle:
    """What was started: `id` is the RQ job id (None inline); `status` is "queued" for RQ and
    "done" or "failed" for a job that already ran inline."""

    id: str | None
    queue: str | None
    status: str

    @property
    def inline(self) -> bool:
        return self.id is None


def resolve(func_path: str) -> Callable:
    """The function at "package.module.function"."""
    module, _, name = func_path.rpartition(".")
    if not module:
        raise ValueError(f"{func_path!r} is not a dotted path to a function")
    return getattr(importlib.import_module(module), name)


def enqueue(
    func_path: str,
    *args,
    settings: Settings,
    session_factory: sessionmaker[Session] | None = None,
    queue_name: str = QUEUE,
    redis_connection=None,
) -> JobHandle:
    """Run `func_path(session, *args)`: on the RQ queue `queue_name` when `settings.redis_url`
    is set (a worker opens its own session from DATABASE_URL); else, with
    `settings.job_runner` "thread", on this process's LocalRunner (returns at once, status
    "queued"); else now, in a session from `session_factory` (or one opened on
    `settings.database_url`). `args` must be plain values (ids, strings, dicts): they travel
    through Redis. The caller commits whatever the job reads before calling this. An inline
    job's exception is logged, not raised: the job records its own failure where the page
    shows it. Raises JobQueueUnavailable when Redis cannot be reached or the local runner has
    too many jobs waiting."""
    if settings.redis_url:
        from redis import Redis
        from redis.exceptions import RedisError
        from rq import Queue

        connection = redis_connection or Redis.from_url(settings.redis_url)
        try:
            job = Queue(queue_name, connection=connection).enqueue(run_job, func_path, *args)
        except RedisError as error:
            raise JobQueueUnavailable(f"the job queue is unavailable ({error})") from error
        return JobHandle(job.id, queue_name, "queued")
    if settings.job_runner == "thread":
        return local_runner(settings).submit(func_path, *args)
    try:
        run_job(func_path, *args, settings=settings, session_factory=session_factory)
    except Exception:
        log.exception("inline job %s%r failed", func_path, args)
        return JobHandle(None, None, "failed")
    return JobHandle(None, None, "done")


def run_job(
    func_path: str,
    *args,
    settings: Settings | None = None,
    session_factory: sessionmaker[Session] | None = None,
):
    """The entry point a worker runs: a session of its own (from `session_factory`, or opened
    on DATABASE_URL through this process's engine), the job function, then the session
    closed. The job commits; anything it left uncommitted is rolled back."""
    func = resolve(func_path)
    if session_factory is None:
        from billing_core.security import configure_vault

        settings = settings or Settings.from_env()
        configure_vault(settings.ssn_encryption_key, settings.ssn_encryption_old_keys)
        session_factory = _worker_sessions(settings)
    with session_factory() as session:
        try:
            return func(session, *args)
        finally:
            session.rollback()


# (process id, database URL, busy timeout) -> a session factory on that process's engine.
_WORKER_SESSIONS: dict[tuple, sessionmaker[Session]] = {}


def _worker_sessions(settings: Settings) -> sessionmaker[Session]:
    """One engine per worker process and database, kept between jobs: a worker that runs job
    after job in one process (rq's SimpleWorker; a billing run's chunks) keeps its pooled
    connections and its compiled statements instead of connecting and compiling every
    statement again for each chunk. Keyed by the process id, so a forked child (rq's default
    worker forks per job) never uses its parent's connections."""
    key = (os.getpid(), settings.database_url, settings.sqlite_busy_timeout)
    factory = _WORKER_SESSIONS.get(key)
    if factory is None:
        from billing_core.db import make_engine, make_session_factory

        engine = make_engine(settings.database_url, busy_timeout=settings.sqlite_busy_timeout)
        factory = _WORKER_SESSIONS[key] = make_session_factory(engine)
    return factory


# ---------------------------------------------------------------------------------------------
# The local runner: background jobs without Redis.

_TOKEN = uuid.uuid4().hex[:8]  # tells this process from an earlier one that had its pid


def worker_id() -> str:
    """Who runs a job: host, process id and a token of this process (host:pid:token)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{_TOKEN}"


def worker_alive(worker: str | None) -> bool | None:
    """Whether the process `worker` (a worker_id) still runs: True or False for one of this
    host, None when it cannot be told (another host, or no worker recorded)."""
    host, _, rest = (worker or "").partition(":")
    pid, _, token = rest.partition(":")
    if host != socket.gethostname()[:100] or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return token == _TOKEN  # an earlier process that had this pid is gone
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OSError:
        return None
    return True


class LocalRunner:
    """Jobs run by one daemon thread of this process, one at a time (see the module
    docstring): what `submit` hands it first, then the rows of DATABASE_QUEUES left waiting.
    It opens its own engine on `settings.database_url`; the web process's vault (SSNs, kept
    files) is already configured."""

    def __init__(
        self, settings: Settings, *, poll_seconds: float = POLL_SECONDS, max_waiting=MAX_WAITING
    ):
        self.settings = settings
        self.poll_seconds = poll_seconds
        self._jobs: queue.Queue = queue.Queue(maxsize=max_waiting)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._engine = None
        self._session_factory = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> LocalRunner:
        """Start the thread unless it runs (cheap to call on every request that may need it)."""
        with self._lock:
            if self.running:
                return self
            from billing_core.db import make_engine, make_session_factory

            self._stopping.clear()
            if self._engine is None:
                self._engine = make_engine(
                    self.settings.database_url, busy_timeout=self.settings.sqlite_busy_timeout
                )
                self._session_factory = make_session_factory(self._engine)
            self._thread = threading.Thread(target=self._run, name="job-runner", daemon=True)
            self._thread.start()
        return self

    def submit(self, func_path: str, *args) -> JobHandle:
        """Hand a job to the thread (started if need be). JobQueueUnavailable when
        MAX_WAITING jobs are already waiting."""
        self.start()
        try:
            self._jobs.put_nowait((func_path, args))
        except queue.Full:
            waiting = format_count(self._jobs.maxsize, "background job")
            raise JobQueueUnavailable(
                f"{waiting} already waiting here; try again in a few minutes"
            ) from None
        return JobHandle(None, "local", "queued")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop after the job running now (if any); True when the thread has ended."""
        self._stopping.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            try:
                self._jobs.put_nowait(None)  # wakes an idle thread
            except queue.Full:
                pass  # a busy thread sees `_stopping` after its job
            thread.join(timeout)
        ended = thread is None or not thread.is_alive()
        if ended and self._engine is not None:
            self._engine.dispose()
            self._engine = self._session_factory = None
        return ended

    def _run(self) -> None:
        self._recover()
        recovered_at = time.monotonic()
        self._run_waiting_rows()
        while not self._stopping.is_set():
            try:
                job = self._jobs.get(timeout=self.poll_seconds)
            except queue.Empty:
                job = None
            if self._stopping.is_set():
                break
            if job is not None:
                self._run_one(*job)
                continue
            if time.monotonic() - recovered_at > RECOVER_SECONDS:
                self._recover()
                recovered_at = time.monotonic()
            self._run_waiting_rows()

    def _run_one(self, func_path: str, args: tuple) -> None:
        try:
            run_job(func_path, *args, session_factory=self._session_factory)
        except Exception:
            log.exception("background job %s%r failed", func_path, args)

    def _queues(self):
        for name in DATABASE_QUEUES:
            yield importlib.import_module(name)

    def _run_waiting_rows(self) -> None:
        for module in self._queues():
            try:
                with self._session_factory() as session:
                    waiting = module.queued_jobs(session, limit=MAX_WAITING)
            except Exception:
                log.exception("could not look for jobs waiting in %s", module.__name__)
                continue
            for func_path, args in waiting:
                if self._stopping.is_set():
                    return
                self._run_one(func_path, args)

    def _recover(self) -> None:
        from billing_core.db import utcnow

        for module in self._queues():
            try:
                with self._session_factory() as session:
                    recovered = module.recover_jobs(session, utcnow(), worker_alive)
                    session.commit()
            except Exception:
                log.exception("could not recover the jobs of %s", module.__name__)
                continue
            if recovered:
                log.warning("recovered %d job(s) of %s", len(recovered), module.__name__)


_runners: dict[str, LocalRunner] = {}
_runners_lock = threading.Lock()


def local_runner(settings: Settings) -> LocalRunner:
    """This process's runner for `settings.database_url`, started."""
    with _runners_lock:
        runner = _runners.get(settings.database_url)
        if runner is None:
            runner = _runners[settings.database_url] = LocalRunner(settings)
    return runner.start()


def ensure_runner(settings: Settings) -> None:
    """Start this process's local runner if jobs run on it (no REDIS_URL, JOB_RUNNER=thread):
    for a page showing a job that waits, so a job left by a process that stopped is picked up
    once someone looks at it."""
    if not settings.redis_url and settings.job_runner == "thread":
        local_runner(settings)


def stop_local_runners(timeout: float = 30.0) -> None:
    """Stop every local runner of this process (tests; an orderly shutdown)."""
    with _runners_lock:
        runners = list(_runners.values())
        _runners.clear()
    for runner in runners:
        runner.stop(timeout)
