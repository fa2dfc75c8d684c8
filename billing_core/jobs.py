"""Background jobs: RQ on Redis when REDIS_URL is set, inline (at once, in the caller's process)
otherwise. A job is a function named by its dotted path that takes a session first and reads
everything else from the database by id, so any web or worker instance can run it; it commits
itself (its progress too, so a page polling the row sees it move)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from billing_core.config import Settings
from billing_core.errors import JobQueueUnavailable

QUEUE = "census"
log = logging.getLogger(__name__)


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
    is set (a worker opens its own session from DATABASE_URL), else now, in a session from
    `session_factory` (or one opened on `settings.database_url`). `args` must be plain values
    (ids, strings, dicts): they travel through Redis. The caller commits whatever the job reads
    before calling this. An inline job's exception is logged, not raised: the job records its
    own failure where the page shows it. Raises JobQueueUnavailable when Redis cannot be
    reached."""
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
    on DATABASE_URL), the job function, then the session closed. The job commits; anything it
    left uncommitted is rolled back."""
    func = resolve(func_path)
    engine = None
    if session_factory is None:
        from billing_core.db import make_engine, make_session_factory
        from billing_core.security import configure_vault

        settings = settings or Settings.from_env()
        configure_vault(settings.ssn_encryption_key, settings.ssn_encryption_old_keys)
        engine = make_engine(settings.database_url)
        session_factory = make_session_factory(engine)
    try:
        with session_factory() as session:
            try:
                return func(session, *args)
            finally:
                session.rollback()
    finally:
        if engine is not None:
            engine.dispose()
